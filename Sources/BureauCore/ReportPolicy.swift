/// A request for a report or a score, as the decision sees it.
public struct ReportRequest: Hashable, Sendable {
    public var kind: SubjectKind
    /// The file asked about.
    public var subject: SubjectKey
    public var purpose: Purpose
    public var consentReference: String
    public var freezeCode: String
    /// A score only (`GetScore`), not the report.
    public var scoreOnly: Bool
    /// The subject's own report through the bureau's channel: counted against the free self-queries.
    public var ownReport: Bool

    public init(
        kind: SubjectKind, subject: SubjectKey, purpose: Purpose, consentReference: String = "", freezeCode: String = "",
        scoreOnly: Bool = false, ownReport: Bool = false
    ) {
        self.kind = kind
        self.subject = subject
        self.purpose = purpose
        self.consentReference = consentReference
        self.freezeCode = freezeCode
        self.scoreOnly = scoreOnly
        self.ownReport = ownReport
    }

    /// The log action: `report.<kind>` or `score.<kind>`.
    public var action: LogAction { self.scoreOnly ? .score(self.kind) : .report(self.kind) }
}

/// What the store holds that a report decision needs, all read in one transaction: the snapshot the
/// answer is built from, or the write transaction that commits it.
public struct ReportFacts: Sendable {
    /// The caller's institution with its roles and licence, as the transaction holds it.
    public var institution: Institution
    /// The consent on file under the request's reference (nil when none is, or none was named).
    public var consent: Consent?
    /// What the file holds that the rules need; nil when there is no file on record.
    public var file: FileFacts?
    /// The file's freeze and fraud alert.
    public var protection: FileProtection
    /// The queries already counted against the institution's daily quota today.
    public var queriesToday: UInt64

    public init(institution: Institution, consent: Consent?, file: FileFacts?, protection: FileProtection = FileProtection(), queriesToday: UInt64 = 0) {
        self.institution = institution
        self.consent = consent
        self.file = file
        self.protection = protection
        self.queriesToday = queriesToday
    }
}

/// The facts of a file the decision needs (not its records).
public struct FileFacts: Hashable, Sendable {
    /// The institutions that furnished an account on the file (the post-loan management rule).
    public var accountFurnishers: Set<UnifiedSocialCreditCode>

    public init(accountFurnishers: Set<UnifiedSocialCreditCode>) {
        self.accountFurnishers = accountFurnishers
    }

    /// The facts of `file`.
    public init(_ file: CreditFile) {
        self.accountFurnishers = Set(file.accounts.map(\.furnisher))
    }
}

/// The subject's own report counted against its free self-queries of the year.
public struct SelfQueryCount: Hashable, Sendable {
    /// Free self-queries a year.
    public static let free: UInt64 = 2

    /// This query's number in `year` (1 for the first).
    public var number: UInt64
    public var year: Int

    public init(number: UInt64, year: Int) {
        self.number = number
        self.year = year
    }

    /// Beyond the free self-queries of the year.
    public var chargeable: Bool { self.number > Self.free }

    /// What the log entry's reason says.
    public var note: String {
        self.chargeable ? "chargeable self-query \(self.number) in \(self.year)" : "free self-query \(self.number) of \(Self.free) in \(self.year)"
    }
}

/// What a report decision charges when it is granted.
public struct ReportCharges: Hashable, Sendable {
    /// A single-use consent, now marked used, to store.
    public var settledConsent: Consent?
    /// The file's protection with the one-time freeze code marked used, to store.
    public var usedFreezeCode: FileProtection?
    /// One query counted against the institution's daily quota (every granted request).
    public var countsQuery: Bool = false
    /// One self-query counted for the subject this year (``ReportRequest/ownReport``); the count is
    /// recorded with ``ReportDecision/record(_:)``.
    public var countsSelfQuery: Bool = false

    public init() {}
}

/// The answer of ``ReportPolicy``: granted or refused, what is charged, what is logged.
public struct ReportDecision: Sendable {
    /// The refusal the caller gets; nil when granted.
    public var refusal: BureauError?
    /// What the log entry records: hit when granted, else no-hit, denied or frozen.
    public var outcome: Outcome
    /// The log entry's reason: the refusal's message, or the self-query note; empty otherwise.
    public var reason: String
    /// The licence tier the report is built for (when granted).
    public var tier: Tier
    /// What is charged (nothing when refused).
    public var charges: ReportCharges
    /// The self-query this was, once counted.
    public var selfQuery: SelfQueryCount?
    /// The disclosed fields the log records, once ``disclose(_:scoreOnly:)`` has seen the report.
    public var disclosedFields: [String] = []
    /// The disclosure table's version that decided them (0 when nothing was disclosed).
    public var disclosureVersion: UInt32 = 0

    public var granted: Bool { self.refusal == nil }

    /// A refusal, logged with `outcome`.
    public static func refused(_ error: BureauError, _ outcome: Outcome) -> ReportDecision {
        ReportDecision(refusal: error, outcome: outcome, reason: error.message, tier: .summary, charges: ReportCharges())
    }

    /// A refusal found outside the policy (the caller's standing re-checked at commit): frozen for a
    /// failed precondition, else denied.
    public static func refused(_ error: BureauError) -> ReportDecision {
        .refused(error, error.code == .failedPrecondition ? .frozen : .denied)
    }

    /// Records what the report built for this decision disclosed: for a score, only the score and its reasons.
    public mutating func disclose(_ report: Report, scoreOnly: Bool) {
        guard self.granted else { return }
        self.disclosedFields = scoreOnly ? ["summary.score:shown", "summary.score_reasons:shown"] : report.disclosedFields
        self.disclosureVersion = report.disclosureVersion
    }

    /// Records the self-query's count once the commit has counted it; its note becomes the entry's reason.
    public mutating func record(_ count: SelfQueryCount) {
        self.selfQuery = count
        self.reason = count.note
    }
}

/// Decides a report or score request: may this caller see this file, for this purpose, today; what is
/// disclosed, what is charged, what is logged. A pure function of its inputs: the report service only
/// gathers them (in the snapshot, and again in the write transaction that commits the answer) and acts
/// on the result.
///
/// The rules, in the order they are applied (the first that fails decides the refusal):
/// 1. licence, role and subject kind (``Institution/authorize(_:kind:on:)``), then the consent when
///    the purpose rests on one: named, on file, for this subject, agency and purpose, in force, unused;
/// 2. a file on record (else no-hit);
/// 3. a freeze blocks purposes that open new credit unless the subject's one-time code comes with it
///    (frozen); a code that lets a query through is used up;
/// 4. post-loan management needs an account the caller furnished on the file;
/// 5. a score needs a purpose and tier that show the summary;
/// 6. the daily quota, if the licence sets one.
public enum ReportPolicy {
    /// Rule 1 alone: what may be decided before anything of the file is read.
    ///
    /// - Returns: nil when the caller may go on to the file, else the refusal.
    public static func access(
        _ request: ReportRequest, institution: Institution, consent: Consent?, on today: CalendarDate
    ) -> ReportDecision? {
        do throws(BureauError) {
            _ = try self.checkAccess(request, institution: institution, consent: consent, on: today)
            return nil
        } catch {
            return .refused(error, .denied)
        }
    }

    /// The whole decision over `facts`.
    public static func decide(_ request: ReportRequest, _ facts: ReportFacts, on today: CalendarDate) -> ReportDecision {
        let institution = facts.institution
        let consent: Consent?
        do throws(BureauError) {
            consent = try self.checkAccess(request, institution: institution, consent: facts.consent, on: today)
        } catch {
            return .refused(error, .denied)
        }
        guard let file = facts.file else {
            return .refused(BureauError(.notFound, "identifier: no \(request.kind.rawValue) file on record"), .noHit)
        }
        let usedFreezeCode: FileProtection?
        do throws(BureauError) {
            usedFreezeCode = try facts.protection.admitting(request.purpose, code: request.freezeCode, on: today)
        } catch {
            return .refused(error, .frozen)
        }
        if request.purpose == .postLoanManagement && !file.accountFurnishers.contains(institution.code) {
            return .refused(
                BureauError(.permissionDenied, "purpose post-loan-management needs an account furnished by \(institution.code) on this file"),
                .denied
            )
        }
        let tier = institution.licence.tier
        if request.scoreOnly && !self.showsScore(request.purpose, tier: tier) {
            return .refused(
                BureauError(
                    .permissionDenied,
                    "purpose \(request.purpose.rawValue) does not permit the score (disclosure table v\(DisclosureTable.version))"
                ),
                .denied
            )
        }
        let quota = institution.licence.dailyQuota
        if quota > 0, facts.queriesToday >= UInt64(quota) {
            return .refused(
                BureauError(.resourceExhausted, "licence: the daily quota of \(quota) queries of \(institution.code) is used up"), .denied
            )
        }
        var charges = ReportCharges()
        if var consent, consent.singleUse {
            consent.used = true
            charges.settledConsent = consent
        }
        charges.usedFreezeCode = usedFreezeCode
        charges.countsQuery = true
        charges.countsSelfQuery = request.ownReport
        return ReportDecision(refusal: nil, outcome: .hit, reason: "", tier: tier, charges: charges)
    }

    /// Whether a report for `purpose` at `tier` shows the summary, which carries the score (as
    /// ``ReportBuilder`` builds it).
    public static func showsScore(_ purpose: Purpose, tier: Tier) -> Bool {
        DisclosureTable.treatment(of: .summary, for: purpose) != .withheld && tier >= Tier.minimum(for: .summary)
    }

    /// Licence, role and consent: the consent relied on, when the purpose needs one.
    private static func checkAccess(
        _ request: ReportRequest, institution: Institution, consent: Consent?, on today: CalendarDate
    ) throws(BureauError) -> Consent? {
        let purpose = request.purpose
        try institution.authorize(purpose, kind: request.kind, on: today)
        guard purpose.requiresConsent else { return nil }
        let reference = request.consentReference
        guard !reference.isEmpty else {
            throw BureauError(.permissionDenied, "consent_reference: purpose \(purpose.rawValue) requires the subject's consent on file")
        }
        guard let consent, consent.reference == reference else {
            throw BureauError(.permissionDenied, "consent_reference: no consent \(reference) is on file")
        }
        try consent.check(subject: request.subject, agency: institution.code, purpose: purpose, on: today)
        return consent
    }
}
