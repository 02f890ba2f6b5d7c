public import BureauAPI
import BureauWire
import BureauCore
import BureauStore
import Foundation
public import GRPCCore
import Logging
import SwiftProtobuf

/// The subject's rights through the bureau's channel: freezes and fraud alerts.
public struct SubjectService: Bureau_SubjectService.SimpleServiceProtocol {
    let context: BureauContext
    let reports: ReportService

    init(context: BureauContext) {
        self.context = context
        self.reports = ReportService(context: context)
    }

    /// Free self-queries a year.
    public static let freeSelfQueries: UInt64 = SelfQueryCount.free

    public func getOwnReport(request: Bureau_SubjectRequest, context: ServerContext) async throws -> Bureau_OwnReportResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.channel)
        guard let kind = SubjectKind(request.subjectKind) else {
            throw BureauError.invalid("subject_kind", "must be individual or business")
        }
        let answer = try await self.reports.serve(
            { () throws(BureauError) in
                try ReportQuery(
                    kind: kind, identifier: request.subjectIdentifier, purpose: .selfAccess, consentReference: "",
                    requestID: request.requestID, freezeCode: ""
                )
            },
            rpc: context,
            ownReport: true
        )
        var response = Bureau_OwnReportResponse()
        switch kind {
        case .individual: response.individual = ReportService.individual(answer)
        case .business: response.business = ReportService.business(answer)
        }
        let count = answer.selfQuery ?? SelfQueryCount(number: 0, year: 0)
        response.selfQueriesThisYear = UInt32(clamping: count.number)
        response.chargeable = count.chargeable
        response.receipt = Bureau_LogReceipt(answer.receipt)
        return response
    }

    public func getAccessHistory(request: Bureau_SubjectRequest, context: ServerContext) async throws -> Bureau_AccessHistoryResponse {
        let (caller, key) = try self.subject(request, context)
        let time = self.context.now()
        let since = time.addingTimeInterval(-Double(ReportBuilder.queryHistoryYears) * 366 * 86_400)
        let items = try self.context.store.read { txn -> [Bureau_AccessHistoryItem] in
            var names: [String: String] = [:]
            return try txn.fileQueriesKeepingDisclosed(of: key, since: since).map { query in
                if names[query.institution] == nil { names[query.institution] = txn.institutionName(query.institution) }
                var item = Bureau_AccessHistoryItem()
                item.time = Google_Protobuf_Timestamp(date: query.time)
                item.institution = query.institution
                item.institutionName = names[query.institution]!
                item.purpose = query.purpose.wire
                item.outcome = query.outcome.rawValue
                item.receipt.entryIndex = query.index
                item.receipt.leafHash = Data(try txn.treeNode(level: 0, index: query.index))
                return item
            }
        }
        let entry = AccessLogEntry(
            .subjectHistory, by: caller.actor, time: time, requestID: request.requestID, subjects: [key], purpose: .selfAccess, outcome: .hit
        )
        let receipt = try await self.context.commit(for: caller) { txn in try txn.appendLog(entry) }
        var response = Bureau_AccessHistoryResponse()
        response.items = items
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    /// A record of the subject's own file, checked to exist.
    private func record(_ ref: Bureau_SubjectRecordRef, field: String) throws -> RecordReference {
        guard let kind = RecordKind(ref.kind) else { throw BureauError.invalid("\(field).kind", "must be account, public record or list entry") }
        let furnisher = try UnifiedSocialCreditCode(parsing: ref.furnisher, field: "\(field).furnisher")
        guard !ref.recordID.isEmpty else { throw BureauError.invalid("\(field).record_id", "is required") }
        try LoggedText.check(ref.recordID, field: "\(field).record_id", limit: .recordID)
        return RecordReference(kind: kind, furnisher: furnisher, recordID: ref.recordID)
    }

    public func addStatement(request: Bureau_StatementRequest, context: ServerContext) async throws -> Bureau_ProtectionResponse {
        let (caller, key) = try self.subject(request.subject, context)
        let text = request.text.trimmingCharacters(in: .whitespacesAndNewlines)
        try Furnishing.validateLoggedText(request.text, field: "text")
        guard !text.isEmpty else { throw BureauError.invalid("text", "is required") }
        let about = request.hasAbout ? try self.record(request.about, field: "about") : nil
        let time = self.context.now()
        let catalogue = try self.context.catalogue.current()
        let statement = Statement(id: "S-" + randomHex(bytes: 8), text: text, added: CalendarDate(utcDayOf: time), about: about)
        let entry = AccessLogEntry(
            .subjectStatement, by: caller.actor, time: time, requestID: request.subject.requestID, subjects: [key], outcome: .applied,
            changeDigest: try FurnishService.digest(request)
        )
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard try txn.hasFile(key) else { throw BureauError(.notFound, "subject.subject_identifier: no file on record") }
            // A record past its retention no longer exists for anyone, the subject included.
            if let about {
                guard let record = try txn.record(about, of: key), Retention.isRetained(record, on: statement.added, under: catalogue) else {
                    throw BureauError(.notFound, "about: no such record on this file")
                }
            }
            try txn.putStatement(statement, for: key)
            return try txn.appendLog(entry)
        }
        var response = Bureau_ProtectionResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func requestRepair(request: Bureau_RepairRequest, context: ServerContext) async throws -> Bureau_RepairResponse {
        let (caller, key) = try self.subject(request.subject, context)
        let reference = try self.record(request.record, field: "record")
        let rectification = request.rectification.trimmingCharacters(in: .whitespacesAndNewlines)
        try Furnishing.validateLoggedText(request.rectification, field: "rectification")
        guard !rectification.isEmpty else { throw BureauError.invalid("rectification", "is required") }
        guard request.evidenceSha256.count == 32 else { throw BureauError.invalid("evidence_sha256", "is the 32-byte SHA-256 of the evidence") }
        let time = self.context.now()
        let today = CalendarDate(utcDayOf: time)
        let catalogue = try self.context.catalogue.current()
        let repair = Repair(
            id: "R-" + randomHex(bytes: 8), subject: key, record: reference, requested: today, rectification: rectification,
            evidenceDigest: Array(request.evidenceSha256).hexString
        )
        let entry = AccessLogEntry(
            .repairRequest, by: caller.actor, time: time, requestID: repair.id, subjects: [key], outcome: .applied,
            reason: reference.logged, changeDigest: try FurnishService.digest(request)
        )
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard let record = try txn.record(reference, of: key), Retention.isRetained(record, on: today, under: catalogue) else {
                throw BureauError(.notFound, "record: no such record on this file")
            }
            try Repair.check(record, catalogue: catalogue, today: today)
            try txn.putRepair(repair)
            return try txn.appendLog(entry)
        }
        var response = Bureau_RepairResponse()
        response.repairID = repair.id
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func fileDispute(request: Bureau_DisputeRequest, context: ServerContext) async throws -> Bureau_DisputeResponse {
        let (caller, key) = try self.subject(request.subject, context)
        let reference = try self.record(request.record, field: "record")
        let description = request.description_p.trimmingCharacters(in: .whitespacesAndNewlines)
        try Furnishing.validateLoggedText(request.description_p, field: "description")
        guard !description.isEmpty else { throw BureauError.invalid("description", "is required") }
        let time = self.context.now()
        let catalogue = try self.context.catalogue.current()
        let dispute = Dispute(
            id: "D-" + randomHex(bytes: 8), subject: key, record: reference, filed: CalendarDate(utcDayOf: time), description: description
        )
        let entry = AccessLogEntry(
            .disputeFile, by: caller.actor, time: time, requestID: dispute.id, subjects: [key], outcome: .applied,
            reason: reference.logged, changeDigest: try FurnishService.digest(request)
        )
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard let record = try txn.record(reference, of: key), Retention.isRetained(record, on: dispute.filed, under: catalogue) else {
                throw BureauError(.notFound, "record: no such record on this file")
            }
            try txn.putDispute(dispute)
            try txn.putDispute(DisputeMark(id: dispute.id, record: reference, filed: dispute.filed, description: description), for: key)
            return try txn.appendLog(entry)
        }
        var response = Bureau_DisputeResponse()
        response.disputeID = dispute.id
        response.deadline = Bureau_CalendarDate(dispute.deadline)
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    private func subject(_ request: Bureau_SubjectRequest, _ context: ServerContext) throws -> (Caller, SubjectKey) {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.channel)
        try Furnishing.validateBatchID(request.requestID, field: "subject.request_id")
        guard let kind = SubjectKind(request.subjectKind) else {
            throw BureauError.invalid("subject.subject_kind", "must be individual or business")
        }
        let identifier = try SubjectIdentifier(kind: kind, parsing: request.subjectIdentifier, field: "subject.subject_identifier")
        return (caller, self.context.store.key(for: identifier))
    }

    private func change(
        _ action: LogAction, _ caller: Caller, _ key: SubjectKey, _ requestID: String,
        _ body: @escaping @Sendable (inout FileProtection, CalendarDate) throws -> Void
    ) async throws -> LogReceipt {
        let time = self.context.now()
        let entry = AccessLogEntry(action, by: caller.actor, time: time, requestID: requestID, subjects: [key], outcome: .applied)
        return try await self.context.commit(for: caller) { txn in
            guard try txn.hasFile(key) else { throw BureauError(.notFound, "subject.subject_identifier: no file on record") }
            var protection = try txn.protection(key)
            try body(&protection, CalendarDate(utcDayOf: time))
            try txn.putProtection(protection, for: key)
            return try txn.appendLog(entry)
        }
    }

    public func placeFreeze(request: Bureau_SubjectRequest, context: ServerContext) async throws -> Bureau_FreezeResponse {
        let (caller, key) = try self.subject(request, context)
        // Eight digits, shown once to the subject.
        let code = String(UInt64.random(in: 10_000_000...99_999_999))
        let salt = randomHex(bytes: 16)
        let receipt = try await self.change(.subjectFreeze, caller, key, request.requestID) { protection, today in
            guard protection.freeze == nil else { throw BureauError(.failedPrecondition, "the file is already frozen") }
            protection.freeze = Freeze(placed: today, code: code, salt: salt)
        }
        var response = Bureau_FreezeResponse()
        response.freezeCode = code
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func liftFreeze(request: Bureau_LiftFreezeRequest, context: ServerContext) async throws -> Bureau_ProtectionResponse {
        let (caller, key) = try self.subject(request.subject, context)
        let code = request.freezeCode
        try FieldLimit.freezeCode.check(code, field: "freeze_code")
        let receipt = try await self.change(.subjectUnfreeze, caller, key, request.subject.requestID) { protection, _ in
            guard let freeze = protection.freeze else { throw BureauError(.failedPrecondition, "the file is not frozen") }
            guard freeze.accepts(code: code) else { throw BureauError(.permissionDenied, "freeze_code: the code does not lift this freeze") }
            protection.freeze = nil
        }
        var response = Bureau_ProtectionResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func placeFraudAlert(request: Bureau_FraudAlertRequest, context: ServerContext) async throws -> Bureau_ProtectionResponse {
        let (caller, key) = try self.subject(request.subject, context)
        let note = request.note.trimmingCharacters(in: .whitespacesAndNewlines)
        try Furnishing.validateLoggedText(request.note, field: "note")
        guard !note.isEmpty else { throw BureauError.invalid("note", "is required") }
        let receipt = try await self.change(.subjectFraudAlert, caller, key, request.subject.requestID) { protection, today in
            protection.fraudAlert = FraudAlert(placed: today, note: note)
        }
        var response = Bureau_ProtectionResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func removeFraudAlert(request: Bureau_SubjectRequest, context: ServerContext) async throws -> Bureau_ProtectionResponse {
        let (caller, key) = try self.subject(request, context)
        let receipt = try await self.change(.subjectFraudAlertRemoved, caller, key, request.requestID) { protection, _ in
            guard protection.fraudAlert != nil else { throw BureauError(.failedPrecondition, "the file has no fraud alert") }
            protection.fraudAlert = nil
        }
        var response = Bureau_ProtectionResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }
}
