public import BureauAPI
import BureauWire
import BureauCore
import BureauStore
import Foundation
public import GRPCCore
import Logging
import Metrics
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
        let answer = try await self.serve({ () throws(BureauError) in try ReportQuery(request) }, rpc: context)
        var response = Bureau_IndividualReportResponse()
        response.report = Self.individual(answer)
        response.receipt = Bureau_LogReceipt(answer.receipt)
        return response
    }

    public func getBusinessReport(
        request: Bureau_BusinessReportRequest,
        context: ServerContext
    ) async throws -> Bureau_BusinessReportResponse {
        let answer = try await self.serve({ () throws(BureauError) in try ReportQuery(request) }, rpc: context)
        var response = Bureau_BusinessReportResponse()
        response.report = Self.business(answer)
        response.receipt = Bureau_LogReceipt(answer.receipt)
        return response
    }

    public func getScore(request: Bureau_ScoreRequest, context: ServerContext) async throws -> Bureau_ScoreResponse {
        let answer = try await self.serve({ () throws(BureauError) in try ReportQuery(request) }, rpc: context, scoreOnly: true)
        var response = Bureau_ScoreResponse()
        if let score = answer.report.score { response.score = Bureau_Score(score) }
        response.receipt = Bureau_LogReceipt(answer.receipt)
        return response
    }

    struct Answer {
        var report: Report
        var receipt: LogReceipt
        var header: Bureau_ReportHeader
        var sections: WireSections
        /// What `annotate` said, if given.
        var note: String = ""
    }

    /// Fills a wire business report from an answer.
    static func business(_ answer: Answer) -> Bureau_BusinessReport {
        var report = Bureau_BusinessReport()
        report.header = answer.header
        if let business = answer.report.business {
            var registration = Bureau_BusinessRegistration()
            registration.name = business.name
            registration.identifier = business.code
            registration.registrationDate = Bureau_CalendarDate(business.registrationDate)
            registration.address = Bureau_Address(business.address)
            registration.legalRepresentative.name = business.legalRepresentativeName
            registration.legalRepresentative.identifier = business.legalRepresentativeIdentifier
            report.registration = registration
        }
        report.accounts = answer.sections.accounts
        report.publicRecords = answer.sections.publicRecords
        report.listEntries = answer.sections.listEntries
        report.statements = answer.sections.statements
        report.disputes = answer.sections.disputes
        report.queries = answer.sections.queries
        if let summary = answer.sections.summary { report.summary = summary }
        if let score = answer.report.score { report.score = Bureau_Score(score) }
        report.identitySources = answer.sections.identitySources
        return report
    }

    /// Fills a wire individual report from an answer.
    static func individual(_ answer: Answer) -> Bureau_IndividualReport {
        var report = Bureau_IndividualReport()
        report.header = answer.header
        if let person = answer.report.person { report.identity = Bureau_PersonIdentity(person) }
        report.accounts = answer.sections.accounts
        report.publicRecords = answer.sections.publicRecords
        report.listEntries = answer.sections.listEntries
        report.statements = answer.sections.statements
        report.disputes = answer.sections.disputes
        report.queries = answer.sections.queries
        if let summary = answer.sections.summary { report.summary = summary }
        if let score = answer.report.score { report.score = Bureau_Score(score) }
        report.identitySources = answer.sections.identitySources
        return report
    }

    /// Serves one report or score: the caller is identified first, then `parse` validates the request
    /// (so an unknown caller learns nothing about its fields), then licence, consent, file and log.
    func serve(
        _ parse: () throws(BureauError) -> ReportQuery,
        rpc: ServerContext,
        scoreOnly: Bool = false,
        annotate: (@Sendable (StoreTransaction, SubjectKey, CalendarDate) throws -> String)? = nil
    ) async throws -> Answer {
        let caller = try self.context.callers.caller(of: rpc)
        let query = try parse()
        let (identifier, kind, purpose) = (query.identifier, query.identifier.kind, query.purpose)
        let (consentReference, requestID, freezeCode) = (query.consentReference, query.requestID, query.freezeCode)
        let key = self.context.store.key(for: identifier)
        let time = self.context.now()
        let today = CalendarDate(utcDayOf: time)
        let institution = caller.institution
        var entry = AccessLogEntry(
            time: time,
            action: (scoreOnly ? "score." : "report.") + kind.rawValue,
            requestID: requestID,
            institution: institution.code.value,
            certificateFingerprint: caller.certificateFingerprint,
            operatorID: caller.operatorID,
            subjects: [key.hex],
            purpose: purpose,
            consentReference: consentReference,
            legalBasis: purpose.legalBasis,
            outcome: .hit
        )

        // Licence, role and consent first: nothing of the file is read for a caller who may not see it.
        do {
            _ = try self.context.store.read { txn in
                try Self.checkAccess(institution, purpose, kind, consent: consentReference, subject: key, on: today, in: txn)
            }
        } catch let error as BureauError {
            try await self.refuse(entry, outcome: .denied, error)
        }

        let catalogue = try self.context.catalogue.current()
        let since = time.addingTimeInterval(-Double(ReportBuilder.queryHistoryYears) * 366 * 86_400)
        let found = try await self.refusingUnreadable(entry) { try self.context.store.read { txn -> (CreditFile, [QueryRecord], [String: String], FileProtection)? in
            guard let file = try txn.file(key) else { return nil }
            var names: [String: String] = [:]
            for code in Set(file.records.map(\.reference.furnisher)).union(file.identitySources.compactMap(\.furnisher)) {
                names[code.value] = try txn.institution(code: code)?.name ?? code.value
            }
            return (file, try txn.queryRecords(of: key, since: since), names, try txn.protection(key))
        } }
        guard let (file, queries, furnisherNames, protection) = found else {
            try await self.refuse(entry, outcome: .noHit, BureauError(.notFound, "identifier: no \(kind.rawValue) file on record"))
        }
        if let error = BureauError.of({ () throws(BureauError) in try protection.check(purpose, code: freezeCode) }) {
            try await self.refuse(entry, outcome: .frozen, error)
        }
        if purpose == .postLoanManagement && !file.accounts.contains(where: { $0.furnisher == institution.code }) {
            try await self.refuse(
                entry, outcome: .denied,
                BureauError(.permissionDenied, "purpose post-loan-management needs an account furnished by \(institution.code) on this file")
            )
        }

        let report = ReportBuilder.report(
            of: file, for: purpose, catalogue: catalogue, today: today, queries: queries,
            tier: institution.licence.tier, protection: protection
        )
        if scoreOnly && report.score == nil {
            try await self.refuse(
                entry, outcome: .denied,
                BureauError(.permissionDenied, "purpose \(purpose.rawValue) does not permit the score (disclosure table v\(DisclosureTable.version))")
            )
        }
        entry.disclosedFields = scoreOnly ? ["summary.score:shown", "summary.score_reasons:shown"] : report.disclosedFields
        entry.disclosureVersion = report.disclosureVersion
        // What the snapshot showed is checked again in the transaction that commits the answer (certificate,
        // licence, consent, freeze, quota), so that a certificate revoked, a licence suspended, a consent
        // revoked or a freeze placed in between stops the report, and concurrent requests cannot both use
        // a single-use consent, a one-time freeze code or the last query of a quota. A refusal found here
        // is logged in the same transaction, its reason saying what no longer held.
        let callers = self.context.callers
        let decision = try await self.context.writer.submit { [entry] txn -> (LogReceipt, BureauError?, String) in
            var entry = entry
            var consent: Consent?
            var usedFreezeCode: FileProtection?
            var current = institution
            do {
                current = try callers.recheck(caller, in: txn, on: today)
                consent = try Self.checkAccess(current, purpose, kind, consent: consentReference, subject: key, on: today, in: txn)
                usedFreezeCode = try txn.protection(key).admitting(purpose, code: freezeCode, on: today)
                let quota = current.licence.dailyQuota
                if quota > 0, try txn.queriesCounted(current.code, on: today) >= UInt64(quota) {
                    throw BureauError(.resourceExhausted, "licence: the daily quota of \(quota) queries of \(current.code) is used up")
                }
            } catch let refusal as BureauError {
                var denied = entry
                denied.outcome = refusal.code == .failedPrecondition ? .frozen : .denied
                denied.reason = refusal.message
                denied.disclosedFields = []
                denied.disclosureVersion = 0
                return (try txn.appendLog(denied), refusal, "")
            }
            if var consent, consent.singleUse {
                consent.used = true
                try txn.putConsent(consent)
            }
            if let usedFreezeCode { try txn.putProtection(usedFreezeCode, for: key) }
            try txn.countQuery(current.code, on: today)
            let note = try annotate?(txn, key, today) ?? ""
            if !note.isEmpty { entry.reason = note }
            return (try txn.appendLog(entry), nil, note)
        }
        if let refusal = decision.1 { throw LoggedRefusal(error: refusal, receipt: decision.0) }
        let receipt = decision.0
        Counter(label: "bureau_reports_total", dimensions: [("purpose", purpose.rawValue), ("outcome", "hit")]).increment()
        self.context.logger.info(
            "report disclosed",
            metadata: [
                "institution": "\(institution.code)", "purpose": "\(purpose.rawValue)",
                "subject": "\(key.hex.prefix(16))", "entry": "\(receipt.index)",
            ]
        )
        var header = Bureau_ReportHeader(report, receipt: receipt, time: time, requestedBy: institution.name)
        header.tier = UInt32(report.tier.rawValue)
        if let alert = report.fraudAlert {
            header.fraudAlert.placed = Bureau_CalendarDate(alert.placed)
            header.fraudAlert.note = alert.note
        }
        return Answer(
            report: report,
            receipt: receipt,
            header: header,
            sections: WireSections(report, furnisherNames: furnisherNames, catalogue: catalogue),
            note: decision.2
        )
    }

    /// Checks the licence, role and consent a query needs, as `txn` holds them: before any of the file is
    /// read, and again inside the write transaction that commits the answer.
    ///
    /// - Returns: the consent relied on, when the purpose needs one.
    /// - Throws: ``BureauError`` (permission denied) naming what is missing.
    private static func checkAccess(
        _ institution: Institution, _ purpose: Purpose, _ kind: SubjectKind, consent reference: String, subject key: SubjectKey,
        on today: CalendarDate, in txn: StoreSnapshot
    ) throws -> Consent? {
        try institution.authorize(purpose, kind: kind, on: today)
        guard purpose.requiresConsent else { return nil }
        guard !reference.isEmpty else {
            throw BureauError(.permissionDenied, "consent_reference: purpose \(purpose.rawValue) requires the subject's consent on file")
        }
        guard let found = try txn.consent(reference) else {
            throw BureauError(.permissionDenied, "consent_reference: no consent \(reference) is on file")
        }
        try found.check(subject: key.hex, agency: institution.code, purpose: purpose, on: today)
        return found
    }

    /// The result of `read`; a stored file that cannot be decoded is refused with INTERNAL and logged, as
    /// every other refusal (the caller and the regulator see that the request came and why it failed).
    private func refusingUnreadable<T>(_ entry: AccessLogEntry, _ read: () throws -> T) async throws -> T {
        do {
            return try read()
        } catch let error as BureauError {
            throw error
        } catch {
            self.context.logger.error("a stored file cannot be read", metadata: ["subject": "\(entry.subjects.first?.prefix(16) ?? "")", "error": "\(error)"])
            try await self.refuse(entry, outcome: .denied, BureauError(.internal, "the file cannot be read; the bureau's staff are told"))
        }
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
        Counter(label: "bureau_reports_total", dimensions: [("purpose", entry.purpose?.rawValue ?? ""), ("outcome", outcome.rawValue)])
            .increment()
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
    var summary: Bureau_ReportSummary?
    /// Only in the subject's own report.
    var identitySources: [Bureau_IdentitySource]

    init(_ report: Report, furnisherNames: [String: String], catalogue: Catalogue) {
        if let s = report.summary {
            var summary = Bureau_ReportSummary()
            summary.accounts = UInt32(clamping: s.accounts)
            summary.openAccounts = UInt32(clamping: s.openAccounts)
            summary.delinquentAccounts = UInt32(clamping: s.delinquentAccounts)
            // A total beyond the 64 bits of Money is named as out of range, never wrapped or trapped on.
            var outOfRange: Set<String> = []
            func totals(_ sums: [String: Int128]) -> [Bureau_Money] {
                sums.sorted { $0.key < $1.key }.compactMap { currency, sum in
                    guard let units = Int64(exactly: sum) else {
                        outOfRange.insert(currency)
                        return nil
                    }
                    return Bureau_Money(Money(minorUnits: units, currency: currency))
                }
            }
            summary.totalLimit = totals(s.totalLimit)
            summary.totalBalance = totals(s.totalBalance)
            summary.totalsOutOfRange = outOfRange.sorted()
            if let worst = s.worstStatus { summary.worstStatus = worst.wire }
            summary.publicRecords = UInt32(clamping: s.publicRecords)
            summary.onSevereUntrustworthinessList = s.onSevereUntrustworthinessList
            summary.onRedList = s.onRedList
            self.summary = summary
        }
        func name(_ code: UnifiedSocialCreditCode) -> String { furnisherNames[code.value] ?? code.value }
        self.identitySources = report.identitySources.map { Bureau_IdentitySource($0, furnisherName: $0.source.furnisher.map(name) ?? "") }
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
