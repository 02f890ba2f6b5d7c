public import BureauAPI
import BureauWire
import BureauCore
import BureauStore
import Crypto
import Foundation
public import GRPCCore
import Logging
import SwiftProtobuf

/// Takes records from licensed furnishers: batches all or nothing and once per batch id, corrections and
/// deletions of their own records only. Every change is a log entry carrying the digest of the request.
public struct FurnishService: Bureau_FurnishService.SimpleServiceProtocol {
    let context: BureauContext

    init(context: BureauContext) {
        self.context = context
    }

    public func submitRecords(
        request: Bureau_SubmitRecordsRequest,
        context: ServerContext
    ) async throws -> Bureau_SubmitRecordsResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.furnisher)
        try Furnishing.validateBatchID(request.batchID)
        let furnisher = caller.institution.code
        // A batch id seen before is answered with its first answer, whatever this request holds.
        if let first = try self.context.store.read({ try $0.batchResult(furnisher: furnisher, batchID: request.batchID) }) {
            return try Bureau_SubmitRecordsResponse(serializedBytes: first)
        }
        let time = self.context.now()
        let catalogue = try self.context.catalogue.current()
        let subjects = try Furnishing(furnisher: caller.institution, catalogue: catalogue, today: CalendarDate(utcDayOf: time))
            .validate(batchID: request.batchID, subjects: request.subjects.map(SubmittedSubject.init))
        let keyed = subjects.map { (self.context.store.key(for: $0.identifier), $0) }
        let entry = AccessLogEntry(
            .furnishSubmit,
            by: caller.actor,
            time: time,
            requestID: request.batchID,
            subjects: keyed.map(\.0),
            outcome: .applied,
            changeDigest: try Self.digest(request)
        )
        let counts = subjects.reduce(into: [RecordKind: UInt32]()) { counts, subject in
            for record in subject.records { counts[record.reference.kind, default: 0] += 1 }
        }
        let bytes = try await self.context.commit(for: caller) { txn -> [UInt8] in
            if let first = try txn.batchResult(furnisher: furnisher, batchID: request.batchID) { return first }
            for (i, (key, subject)) in keyed.enumerated() {
                try txn.furnish(subject, as: key, catalogue: catalogue, path: "subjects[\(i)]")
            }
            var response = Bureau_SubmitRecordsResponse()
            response.batchID = request.batchID
            response.subjectsApplied = UInt32(keyed.count)
            response.accountsApplied = counts[.account] ?? 0
            response.publicRecordsApplied = counts[.publicRecord] ?? 0
            response.listEntriesApplied = counts[.listEntry] ?? 0
            response.receipt = Bureau_LogReceipt(try txn.appendLog(entry))
            let bytes: [UInt8] = try response.serializedBytes()
            try txn.putBatchResult(bytes, furnisher: furnisher, batchID: request.batchID)
            return bytes
        }
        let response = try Bureau_SubmitRecordsResponse(serializedBytes: bytes)
        self.context.logger.info(
            "records furnished",
            metadata: ["institution": "\(furnisher)", "subjects": "\(subjects.count)", "entry": "\(response.receipt.entryIndex)"]
        )
        return response
    }

    public func correctRecord(request: Bureau_CorrectRecordRequest, context: ServerContext) async throws -> Bureau_ChangeResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.furnisher)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        let (key, reference, kind) = try self.resolve(request.ref, furnisher: caller.institution.code)
        guard !request.reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw BureauError.invalid("reason", "is required") }
        try Furnishing.validateLoggedText(request.reason, field: "reason")
        let submitted: SubmittedRecord
        switch request.record {
        case .account(let a) where reference.kind == .account: submitted = .account(SubmittedAccount(a))
        case .publicRecord(let p) where reference.kind == .publicRecord: submitted = .publicRecord(SubmittedPublicRecord(p))
        case .listEntry(let l) where reference.kind == .listEntry: submitted = .listEntry(SubmittedListEntry(l))
        case nil: throw BureauError.invalid("record", "is required")
        default: throw BureauError.invalid("record", "must be of the kind ref.kind names (\(reference.kind.rawValue))")
        }
        let time = self.context.now()
        let catalogue = try self.context.catalogue.current()
        let record = try Furnishing(furnisher: caller.institution, catalogue: catalogue, today: CalendarDate(utcDayOf: time))
            .validate(submitted, at: "record", kind: kind)
        guard record.reference == reference else {
            throw BureauError.invalid("record", "its id must equal ref.record_id (\(reference.recordID))")
        }
        let entry = try self.changeEntry(.furnishCorrect, request.requestID, caller, key, time, request, reason: request.reason)
        let receipt = try await self.context.commit(for: caller) { txn in
            guard try txn.record(reference, of: key) != nil else { throw Self.notYours(reference) }
            try txn.putRecord(record, for: key, catalogue: catalogue)
            return try txn.appendLog(entry)
        }
        var response = Bureau_ChangeResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func deleteRecord(request: Bureau_DeleteRecordRequest, context: ServerContext) async throws -> Bureau_ChangeResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.furnisher)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        let (key, reference, _) = try self.resolve(request.ref, furnisher: caller.institution.code)
        guard !request.reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw BureauError.invalid("reason", "is required") }
        try Furnishing.validateLoggedText(request.reason, field: "reason")
        let catalogue = try self.context.catalogue.current()
        let entry = try self.changeEntry(.furnishDelete, request.requestID, caller, key, self.context.now(), request, reason: request.reason)
        let receipt = try await self.context.commit(for: caller) { txn in
            guard try txn.deleteRecord(reference, of: key, catalogue: catalogue, tombstone: true) != nil else { throw Self.notYours(reference) }
            return try txn.appendLog(entry)
        }
        var response = Bureau_ChangeResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func listOpenDisputes(request: Bureau_ListOpenDisputesRequest, context: ServerContext) async throws -> Bureau_ListOpenDisputesResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.furnisher)
        let today = CalendarDate(utcDayOf: self.context.now())
        let catalogue = try self.context.catalogue.current()
        var response = Bureau_ListOpenDisputesResponse()
        // A dispute follows its record: once the record's retention ended, it is not listed (the purge deletes it).
        response.disputes = try self.context.store.read { txn in
            try txn.openDisputes(of: caller.institution.code).filter { !(try txn.hasExpired($0.record, ofSubject: $0.subject, on: today, under: catalogue)) }
        }.map { dispute in
            var line = Bureau_OpenDispute()
            line.disputeID = dispute.id
            line.kind = dispute.record.kind.wire
            line.recordID = dispute.record.recordID
            line.filed = Bureau_CalendarDate(dispute.filed)
            line.deadline = Bureau_CalendarDate(dispute.deadline)
            line.description_p = dispute.description
            line.overdue = dispute.isOverdue(on: today)
            return line
        }
        return response
    }

    public func answerDispute(request: Bureau_AnswerDisputeRequest, context: ServerContext) async throws -> Bureau_ChangeResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.furnisher)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        let status: Dispute.Status
        switch request.outcome {
        case .corrected: status = .corrected
        case .confirmed: status = .confirmed
        case .unresolved: status = .unresolved
        default: throw BureauError.invalid("outcome", "is corrected, confirmed or unresolved")
        }
        let note = request.note.trimmingCharacters(in: .whitespacesAndNewlines)
        try Furnishing.validateLoggedText(request.note, field: "note")
        guard !request.disputeID.isEmpty else { throw BureauError.invalid("dispute_id", "is required") }
        try LoggedText.check(request.disputeID, field: "dispute_id", limit: .recordID)
        let time = self.context.now()
        let furnisher = caller.institution.code
        let id = request.disputeID
        let digest = try Self.digest(request)
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard var dispute = try txn.dispute(id), dispute.record.furnisher == furnisher else {
                throw BureauError(.notFound, "dispute_id: no dispute \(id) on your records")
            }
            guard dispute.status == .open else { throw BureauError(.failedPrecondition, "dispute_id: \(id) was answered already") }
            dispute.status = status
            dispute.answeredOn = CalendarDate(utcDayOf: time)
            dispute.note = note
            try txn.putDispute(dispute)
            if status != .unresolved { try txn.removeDisputeMark(id: id, of: dispute.subject) }
            return try txn.appendLog(
                AccessLogEntry(
                    .disputeAnswer, by: caller.actor, time: time, requestID: request.requestID, subjects: [dispute.subject], outcome: .applied,
                    reason: "\(id): \(status.rawValue)", changeDigest: digest
                )
            )
        }
        var response = Bureau_ChangeResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    /// The file and the caller's own record a `RecordRef` names. Only the caller's records can be named:
    /// the reference carries the caller's code.
    private func resolve(_ ref: Bureau_RecordRef, furnisher: UnifiedSocialCreditCode) throws -> (SubjectKey, RecordReference, SubjectKind) {
        guard let kind = SubjectKind(ref.subjectKind) else { throw BureauError.invalid("ref.subject_kind", "must be individual or business") }
        let identifier = try SubjectIdentifier(kind: kind, parsing: ref.subjectIdentifier, field: "ref.subject_identifier")
        guard let recordKind = RecordKind(ref.kind) else {
            throw BureauError.invalid("ref.kind", "must be account, public record or list entry")
        }
        guard !ref.recordID.isEmpty else { throw BureauError.invalid("ref.record_id", "is required") }
        try LoggedText.check(ref.recordID, field: "ref.record_id", limit: .recordID)
        return (self.context.store.key(for: identifier), RecordReference(kind: recordKind, furnisher: furnisher, recordID: ref.recordID), kind)
    }

    private static func notYours(_ reference: RecordReference) -> BureauError {
        BureauError(.notFound, "ref: no \(reference.kind.rawValue) \(reference.recordID) of \(reference.furnisher) on this file")
    }

    private func changeEntry(
        _ action: LogAction, _ requestID: String, _ caller: Caller, _ key: SubjectKey, _ time: Date, _ request: some SwiftProtobuf.Message,
        reason: String
    ) throws -> AccessLogEntry {
        AccessLogEntry(
            action, by: caller.actor, time: time, requestID: requestID, subjects: [key], outcome: .applied,
            reason: String(reason.prefix(500)), changeDigest: try Self.digest(request)
        )
    }

    /// SHA-256 of the request's deterministic protobuf encoding: the digest of what changed.
    static func digest(_ message: some SwiftProtobuf.Message) throws -> String {
        var deterministic = BinaryEncodingOptions()
        deterministic.useDeterministicOrdering = true
        return SHA256.hash(data: try message.serializedBytes(options: deterministic) as [UInt8]).hexString
    }
}

/// Serves the public catalogue to every registered caller.
public struct CatalogService: Bureau_CatalogService.SimpleServiceProtocol {
    let context: BureauContext

    init(context: BureauContext) {
        self.context = context
    }

    public func listCategories(
        request: Bureau_ListCategoriesRequest,
        context: ServerContext
    ) async throws -> Bureau_ListCategoriesResponse {
        _ = try self.context.callers.caller(of: context)
        let catalogue = try self.context.catalogue.current()
        var response = Bureau_ListCategoriesResponse()
        response.version = catalogue.version
        response.categories = catalogue.categories.map(Bureau_Category.init)
        return response
    }
}
