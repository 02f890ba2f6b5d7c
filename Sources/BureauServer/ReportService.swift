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
        /// The subject's own report: its self-query count this year.
        var selfQuery: SelfQueryCount?
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

    /// Serves one report or score: caller, parse, snapshot, decide, commit, answer. The caller is
    /// identified first, then `parse` validates the request (so an unknown caller learns nothing about its
    /// fields); ``ReportPolicy`` decides on a snapshot, and decides again inside the write transaction that
    /// commits the answer, with what that transaction holds.
    ///
    /// - Parameter ownReport: the subject's own report through the channel (counted as a self-query).
    func serve(
        _ parse: () throws(BureauError) -> ReportQuery,
        rpc: ServerContext,
        scoreOnly: Bool = false,
        ownReport: Bool = false
    ) async throws -> Answer {
        let caller = try self.context.callers.caller(of: rpc)
        let query = try parse()
        let key = self.context.store.key(for: query.identifier)
        let request = ReportRequest(
            kind: query.identifier.kind, subject: key, purpose: query.purpose, consentReference: query.consentReference,
            freezeCode: query.freezeCode, scoreOnly: scoreOnly, ownReport: ownReport
        )
        let time = self.context.now()
        let today = CalendarDate(utcDayOf: time)
        let institution = caller.institution
        let logged = LoggedQuery(request: request, actor: caller.actor, time: time, requestID: query.requestID)

        // The snapshot: licence, role and consent first, so that nothing of the file is read for a caller who
        // may not see it; then the file, its queries, furnishers' names and protection, and the quota count.
        let catalogue = try self.context.catalogue.current()
        let since = time.addingTimeInterval(-Double(ReportBuilder.queryHistoryYears) * 366 * 86_400)
        let snapshot = try await self.refusingUnreadable(logged) { try self.context.store.read { txn -> Snapshot in
            let consent = try Self.consent(for: request, in: txn)
            if let refusal = ReportPolicy.access(request, institution: institution, consent: consent, on: today) { return Snapshot(decision: refusal) }
            let file = try txn.file(key)
            let protection = file == nil ? FileProtection() : try txn.protection(key)
            let facts = ReportFacts(
                institution: institution, consent: consent, file: file.map(FileFacts.init), protection: protection,
                queriesToday: try txn.queriesCounted(institution.code, on: today)
            )
            let decision = ReportPolicy.decide(request, facts, on: today)
            guard decision.granted, let file, let fileFacts = facts.file else { return Snapshot(decision: decision) }
            var names: [String: String] = [:]
            for code in Set(file.records.map(\.reference.furnisher)).union(file.identitySources.compactMap(\.furnisher)) {
                names[code.value] = try txn.institution(code: code)?.name ?? code.value
            }
            return Snapshot(
                decision: decision, file: file, fileFacts: fileFacts, queries: try txn.queryRecords(of: key, since: since), furnisherNames: names,
                protection: protection
            )
        } }
        var decision = snapshot.decision
        guard decision.granted, let file = snapshot.file, let fileFacts = snapshot.fileFacts else {
            try await self.refuse(logged, decision)
        }
        let (queries, furnisherNames, protection) = (snapshot.queries, snapshot.furnisherNames, snapshot.protection)
        let report = ReportBuilder.report(
            of: file, for: request.purpose, catalogue: catalogue, today: today, queries: queries, tier: decision.tier, protection: protection
        )
        decision.disclose(report, scoreOnly: scoreOnly)

        // What the snapshot showed is decided again in the transaction that commits the answer (certificate,
        // licence, consent, freeze, quota), so that a certificate revoked, a licence suspended, a consent
        // revoked or a freeze placed in between stops the report, and concurrent requests cannot both use
        // a single-use consent, a one-time freeze code or the last query of a quota. A refusal found here
        // is logged in the same transaction, its reason saying what no longer held.
        let callers = self.context.callers
        let committed = try await self.context.writer.submit { [decision] txn -> (LogReceipt, ReportDecision) in
            var verdict: ReportDecision
            do {
                let current = try callers.recheck(caller, in: txn, on: today)
                let facts = ReportFacts(
                    institution: current, consent: try Self.consent(for: request, in: txn), file: fileFacts,
                    protection: try txn.protection(key), queriesToday: try txn.queriesCounted(current.code, on: today)
                )
                verdict = ReportPolicy.decide(request, facts, on: today)
            } catch let refusal as BureauError {
                verdict = .refused(refusal)
            }
            guard verdict.granted else { return (try txn.appendLog(logged.entry(verdict)), verdict) }
            let charges = verdict.charges
            if let consent = charges.settledConsent { try txn.putConsent(consent) }
            if let protection = charges.usedFreezeCode { try txn.putProtection(protection, for: key) }
            if charges.countsQuery { try txn.countQuery(caller.institution.code, on: today) }
            // What is disclosed is the report built from the snapshot.
            verdict.disclosedFields = decision.disclosedFields
            verdict.disclosureVersion = decision.disclosureVersion
            if charges.countsSelfQuery { verdict.record(SelfQueryCount(number: try txn.countSelfQuery(key, year: today.year), year: today.year)) }
            return (try txn.appendLog(logged.entry(verdict)), verdict)
        }
        let (receipt, verdict) = committed
        if let refusal = verdict.refusal { throw LoggedRefusal(error: refusal, receipt: receipt) }
        self.context.metrics.counter("bureau_reports_total", [("purpose", request.purpose.rawValue), ("outcome", "hit")]).increment()
        if self.context.requestLines.sample() {
            self.context.logger.info(
                "report disclosed",
                metadata: [
                    "institution": "\(institution.code)", "purpose": "\(request.purpose.rawValue)",
                    "subject": "\(key.hex.prefix(16))", "entry": "\(receipt.index)",
                    "sampled": "\(self.context.requestLines.lines)",
                ]
            )
        }
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
            selfQuery: verdict.selfQuery
        )
    }

    /// What the snapshot read: the decision on it and, when granted, what the report is built from.
    private struct Snapshot {
        var decision: ReportDecision
        var file: CreditFile?
        var fileFacts: FileFacts?
        var queries: [QueryRecord] = []
        var furnisherNames: [String: String] = [:]
        var protection = FileProtection()
    }

    /// The consent `request` names, as `txn` holds it: read only when its purpose rests on one.
    private static func consent(for request: ReportRequest, in txn: StoreSnapshot) throws -> Consent? {
        guard request.purpose.requiresConsent, !request.consentReference.isEmpty else { return nil }
        return try txn.consent(request.consentReference)
    }

    /// The result of `read`; a stored file that cannot be decoded is refused with INTERNAL and logged, as
    /// every other refusal (the caller and the regulator see that the request came and why it failed).
    private func refusingUnreadable<T>(_ logged: LoggedQuery, _ read: () throws -> T) async throws -> T {
        do {
            return try read()
        } catch let error as BureauError {
            throw error
        } catch {
            let id = StatusOfError(logger: self.context.logger, method: logged.request.action.name).log(error, "a stored file cannot be read")
            try await self.refuse(
                logged, .refused(BureauError(.internal, "the file cannot be read (error \(id)); the bureau's staff are told"), .denied)
            )
        }
    }

    /// Logs a refused request and throws its error with the receipt attached.
    private func refuse(_ logged: LoggedQuery, _ decision: ReportDecision) async throws -> Never {
        let entry = logged.entry(decision)
        let receipt = try await self.context.writer.submit { txn in try txn.appendLog(entry) }
        // A no-hit is an answer (nobody on file under that identifier), as common as thin files are: its line is
        // sampled as a disclosed report's is. A denial or a freeze is always logged.
        if decision.outcome != .noHit || self.context.requestLines.sample() {
            var metadata: Logger.Metadata = ["institution": "\(entry.institution)", "outcome": "\(decision.outcome.rawValue)", "entry": "\(receipt.index)"]
            if decision.outcome == .noHit { metadata["sampled"] = "\(self.context.requestLines.lines)" }
            self.context.logger.info("report refused", metadata: metadata)
        }
        self.context.metrics.counter("bureau_reports_total", [("purpose", logged.request.purpose.rawValue), ("outcome", decision.outcome.rawValue)])
            .increment()
        throw LoggedRefusal(error: decision.refusal ?? BureauError(.internal, "a refusal without its error"), receipt: receipt)
    }
}

/// A report request as its log entry names it; the decision fills in the outcome, reason and fields.
private struct LoggedQuery: Sendable {
    var request: ReportRequest
    var actor: LogActor
    var time: Date
    var requestID: String

    func entry(_ decision: ReportDecision) -> AccessLogEntry {
        AccessLogEntry(
            self.request.action, by: self.actor, time: self.time, requestID: self.requestID, subjects: [self.request.subject],
            purpose: self.request.purpose, consentReference: self.request.consentReference, legalBasis: self.request.purpose.legalBasis,
            outcome: decision.outcome, reason: decision.reason, disclosedFields: decision.granted ? decision.disclosedFields : [],
            disclosureVersion: decision.granted ? decision.disclosureVersion : 0
        )
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
