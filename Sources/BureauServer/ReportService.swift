public import BureauAPI
import BureauCore
import BureauStore
import Foundation
public import GRPCCore
import Logging
import SwiftProtobuf

/// Serves credit reports to licensed agencies.
///
/// Every request that names a valid subject and purpose is logged, granted or denied, and the answer
/// leaves only after its log entry is committed (DESIGN.md invariant 1).
public struct ReportService: Bureau_ReportService.SimpleServiceProtocol {
    let context: BureauContext

    init(context: BureauContext) {
        self.context = context
    }

    public func getIndividualReport(
        request: Bureau_IndividualReportRequest,
        context: ServerContext
    ) async throws -> Bureau_IndividualReportResponse {
        let answer = try await self.serve(
            kind: .individual, identifier: request.identifier, purpose: request.purpose,
            consentReference: request.consentReference, requestID: request.requestID, rpc: context
        )
        var response = Bureau_IndividualReportResponse()
        response.report.header = answer.header
        if let person = answer.report.person { response.report.identity = Bureau_PersonIdentity(person) }
        response.report.accounts = answer.sections.accounts
        response.report.publicRecords = answer.sections.publicRecords
        response.report.listEntries = answer.sections.listEntries
        response.report.statements = answer.sections.statements
        response.report.disputes = answer.sections.disputes
        response.report.queries = answer.sections.queries
        response.receipt = Bureau_LogReceipt(answer.receipt)
        return response
    }

    public func getBusinessReport(
        request: Bureau_BusinessReportRequest,
        context: ServerContext
    ) async throws -> Bureau_BusinessReportResponse {
        let answer = try await self.serve(
            kind: .business, identifier: request.identifier, purpose: request.purpose,
            consentReference: request.consentReference, requestID: request.requestID, rpc: context
        )
        var response = Bureau_BusinessReportResponse()
        response.report.header = answer.header
        if let business = answer.report.business {
            var registration = Bureau_BusinessRegistration()
            registration.name = business.name
            registration.identifier = business.code
            registration.registrationDate = Bureau_CalendarDate(business.registrationDate)
            registration.address = Bureau_Address(business.address)
            registration.legalRepresentative.name = business.legalRepresentativeName
            registration.legalRepresentative.identifier = business.legalRepresentativeIdentifier
            response.report.registration = registration
        }
        response.report.accounts = answer.sections.accounts
        response.report.publicRecords = answer.sections.publicRecords
        response.report.listEntries = answer.sections.listEntries
        response.report.statements = answer.sections.statements
        response.report.disputes = answer.sections.disputes
        response.report.queries = answer.sections.queries
        response.receipt = Bureau_LogReceipt(answer.receipt)
        return response
    }

    private struct Answer {
        var report: Report
        var receipt: LogReceipt
        var header: Bureau_ReportHeader
        var sections: WireSections
    }

    private func serve(
        kind: SubjectKind,
        identifier text: String,
        purpose wirePurpose: Bureau_Purpose,
        consentReference: String,
        requestID: String,
        rpc: ServerContext
    ) async throws -> Answer {
        let caller = try self.context.callers.caller(of: rpc)
        let purpose = try Purpose.parse(wirePurpose)
        let identifier = try SubjectIdentifier(kind: kind, parsing: text)
        guard requestID.utf8.count <= 128 else { throw BureauError.invalid("request_id", "is at most 128 bytes") }
        guard consentReference.utf8.count <= 128 else {
            throw BureauError.invalid("consent_reference", "is at most 128 bytes")
        }
        let key = self.context.store.key(for: identifier)
        let time = self.context.now()
        var entry = AccessLogEntry(
            time: time,
            action: kind == .individual ? "report.individual" : "report.business",
            requestID: requestID,
            institution: caller.institution.code.value,
            certificateFingerprint: caller.certificateFingerprint,
            subjects: [key.hex],
            purpose: purpose,
            consentReference: consentReference,
            legalBasis: purpose.legalBasis,
            outcome: .hit
        )

        do {
            try caller.institution.authorize(purpose)
            if purpose.requiresConsent && consentReference.isEmpty {
                throw BureauError(
                    .permissionDenied,
                    "consent_reference: purpose \(purpose.rawValue) requires the subject's consent on file"
                )
            }
        } catch let error as BureauError {
            try await self.refuse(entry, outcome: .denied, error)
        }

        let catalogue = try self.context.catalogue.current()
        let since = time.addingTimeInterval(-Double(ReportBuilder.queryHistoryYears) * 366 * 86_400)
        let found = try self.context.store.read { txn -> (CreditFile, [QueryRecord], [String: String])? in
            guard let file = try txn.file(key) else { return nil }
            var names: [String: String] = [:]
            for code in Set(file.records.map(\.reference.furnisher)) {
                names[code.value] = try txn.institution(code: code)?.name ?? code.value
            }
            return (file, try txn.queryRecords(of: key, since: since), names)
        }
        guard let (file, queries, furnisherNames) = found else {
            try await self.refuse(entry, outcome: .noHit, BureauError(.notFound, "identifier: no \(kind.rawValue) file on record"))
        }
        if purpose == .postLoanManagement && !file.accounts.contains(where: { $0.furnisher == caller.institution.code }) {
            try await self.refuse(
                entry, outcome: .denied,
                BureauError(.permissionDenied, "purpose post-loan-management needs an account furnished by \(caller.institution.code) on this file")
            )
        }

        let report = ReportBuilder.report(
            of: file, for: purpose, catalogue: catalogue, today: CalendarDate(utcDayOf: time), queries: queries
        )
        entry.disclosedFields = report.disclosedFields
        entry.disclosureVersion = report.disclosureVersion
        let receipt = try await self.context.writer.submit { [entry] txn in try txn.appendLog(entry) }
        self.context.logger.info(
            "report disclosed",
            metadata: [
                "institution": "\(caller.institution.code)", "purpose": "\(purpose.rawValue)",
                "subject": "\(key.hex.prefix(16))", "entry": "\(receipt.index)",
            ]
        )
        return Answer(
            report: report,
            receipt: receipt,
            header: Bureau_ReportHeader(report, receipt: receipt, time: time, requestedBy: caller.institution.name),
            sections: WireSections(report, furnisherNames: furnisherNames, catalogue: catalogue)
        )
    }

    /// Logs a refused request and throws its error with the receipt attached.
    private func refuse(_ entry: AccessLogEntry, outcome: Outcome, _ error: BureauError) async throws -> Never {
        var entry = entry
        entry.outcome = outcome
        entry.reason = error.message
        let receipt = try await self.context.writer.submit { [entry] txn in try txn.appendLog(entry) }
        self.context.logger.info(
            "report refused",
            metadata: ["institution": "\(entry.institution)", "outcome": "\(outcome.rawValue)", "entry": "\(receipt.index)"]
        )
        throw LoggedRefusal(error: error, receipt: receipt)
    }
}

/// The record sections of a report, for the wire; the same for people and businesses.
struct WireSections {
    var accounts: [Bureau_AccountLine]
    var publicRecords: [Bureau_PublicRecordLine]
    var listEntries: [Bureau_ListEntryLine]
    var statements: [Bureau_StatementLine]
    var disputes: [Bureau_DisputeLine]
    var queries: [Bureau_QueryLine]

    init(_ report: Report, furnisherNames: [String: String], catalogue: Catalogue) {
        func name(_ code: UnifiedSocialCreditCode) -> String { furnisherNames[code.value] ?? code.value }
        self.accounts = report.accounts.map { Bureau_AccountLine($0, furnisherName: name($0.record.furnisher)) }
        self.publicRecords = report.publicRecords.map { Bureau_PublicRecordLine($0, furnisherName: name($0.record.furnisher)) }
        self.listEntries = report.listEntries.map {
            Bureau_ListEntryLine($0, furnisherName: name($0.record.furnisher), listName: catalogue.category($0.record.list)?.name ?? $0.record.list)
        }
        self.statements = report.statements.map { statement in
            var line = Bureau_StatementLine()
            line.text = statement.text
            line.added = Bureau_CalendarDate(statement.added)
            if let about = statement.about { line.about = "\(about.kind.rawValue) \(about.recordID) of \(name(about.furnisher))" }
            return line
        }
        self.disputes = report.disputes.map { dispute in
            var line = Bureau_DisputeLine()
            line.kind = dispute.record.kind.wire
            line.recordID = dispute.record.recordID
            line.furnisherName = name(dispute.record.furnisher)
            line.filed = Bureau_CalendarDate(dispute.filed)
            line.description_p = dispute.description
            return line
        }
        self.queries = report.queries.map { query in
            var line = Bureau_QueryLine()
            line.time = Google_Protobuf_Timestamp(date: query.time)
            line.institutionName = query.institutionName
            line.purpose = query.purpose.wire
            return line
        }
    }
}
