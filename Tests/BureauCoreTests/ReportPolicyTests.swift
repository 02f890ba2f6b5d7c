import BureauCore
import Foundation
import Testing

/// One row of the access matrix, decided without a daemon: who asks (roles and licence), for what,
/// with which consent, about a file in which state, and what the decision must say.
struct PolicyRow: Sendable, CustomTestStringConvertible {
    enum ConsentState: Sendable { case none, valid, notOnFile, expired, notYetValid, revoked, used, singleUse, otherAgency, otherSubject, otherPurpose }
    enum FileState: Sendable { case open, absent, frozen, frozenWithCode, frozenWrongCode, frozenCodeUsed, furnishedByCaller, frozenFurnishedByCaller }
    enum Expect: Sendable, Equatable {
        case granted(tier: Tier)
        case refused(BureauError.Code, Outcome, mentioning: String)
    }

    var name: String
    var roles: Set<Role> = [.agency]
    var licence = Licence(purposes: [.loanOrigination, .postLoanManagement])
    var purpose: Purpose = .loanOrigination
    var kind: SubjectKind = .individual
    var consent: ConsentState = .valid
    var file: FileState = .open
    var scoreOnly = false
    var queriesToday: UInt64 = 0
    var expect: Expect

    var testDescription: String { self.name }

    static let today = CalendarDate(year: 2026, month: 11, day: 23)!
    static let caller = try! UnifiedSocialCreditCode.make(organisation: "70000001")
    static let other = try! UnifiedSocialCreditCode.make(organisation: "70000002")
    static let subject = SubjectKey(bytes: Array(repeating: 0x5a, count: 32))
    static let code = "12345678"

    static let rows: [PolicyRow] = [
        PolicyRow(name: "tier 3 agency with consent is granted the full report", expect: .granted(tier: .full)),
        PolicyRow(name: "tier 1 is granted at tier 1", licence: Licence(purposes: [.loanOrigination], tier: .summary), expect: .granted(tier: .summary)),
        PolicyRow(name: "tier 2 is granted at tier 2", licence: Licence(purposes: [.loanOrigination], tier: .accounts), expect: .granted(tier: .accounts)),
        PolicyRow(
            name: "a suspended licence is refused", licence: Licence(purposes: [.loanOrigination], status: .suspended),
            expect: .refused(.permissionDenied, .denied, mentioning: "suspended")
        ),
        PolicyRow(
            name: "a revoked licence is refused", licence: Licence(purposes: [.loanOrigination], status: .revoked),
            expect: .refused(.permissionDenied, .denied, mentioning: "revoked")
        ),
        PolicyRow(
            name: "an expired licence is refused", licence: Licence(purposes: [.loanOrigination], validUntil: today.adding(years: -1)),
            expect: .refused(.permissionDenied, .denied, mentioning: "expired")
        ),
        PolicyRow(
            name: "a licence not yet valid is refused", licence: Licence(purposes: [.loanOrigination], validFrom: today.adding(years: 1)),
            expect: .refused(.permissionDenied, .denied, mentioning: "valid from")
        ),
        PolicyRow(name: "an unlicensed purpose is refused", purpose: .creditCardOrigination, expect: .refused(.permissionDenied, .denied, mentioning: "not licensed")),
        PolicyRow(
            name: "a licence for business files does not cover people", licence: Licence(purposes: [.loanOrigination], subjectKinds: [.business]),
            expect: .refused(.permissionDenied, .denied, mentioning: "individual files")
        ),
        PolicyRow(name: "a furnisher without the agency role is refused", roles: [.furnisher], expect: .refused(.permissionDenied, .denied, mentioning: "agency role")),
        PolicyRow(
            name: "an agency cannot ask for the subject's own report", licence: Licence(purposes: [.selfAccess]), purpose: .selfAccess,
            consent: .none, expect: .refused(.permissionDenied, .denied, mentioning: "channel role")
        ),
        PolicyRow(name: "no consent reference", consent: .none, expect: .refused(.permissionDenied, .denied, mentioning: "requires the subject's consent")),
        PolicyRow(name: "a consent not on file", consent: .notOnFile, expect: .refused(.permissionDenied, .denied, mentioning: "no consent")),
        PolicyRow(name: "an expired consent", consent: .expired, expect: .refused(.permissionDenied, .denied, mentioning: "expired on")),
        PolicyRow(name: "a consent not yet valid", consent: .notYetValid, expect: .refused(.permissionDenied, .denied, mentioning: "valid from")),
        PolicyRow(name: "a revoked consent", consent: .revoked, expect: .refused(.permissionDenied, .denied, mentioning: "revoked")),
        PolicyRow(name: "a used single-use consent", consent: .used, expect: .refused(.permissionDenied, .denied, mentioning: "already used")),
        PolicyRow(name: "an unused single-use consent is granted and settled", consent: .singleUse, expect: .granted(tier: .full)),
        PolicyRow(name: "another agency's consent", consent: .otherAgency, expect: .refused(.permissionDenied, .denied, mentioning: "another agency")),
        PolicyRow(name: "another subject's consent", consent: .otherSubject, expect: .refused(.permissionDenied, .denied, mentioning: "another subject")),
        PolicyRow(name: "a consent for another purpose", consent: .otherPurpose, expect: .refused(.permissionDenied, .denied, mentioning: "not loan-origination")),
        PolicyRow(name: "no file on record is a no-hit", file: .absent, expect: .refused(.notFound, .noHit, mentioning: "no individual file")),
        PolicyRow(
            name: "a refused licence is refused before the file is looked for", licence: Licence(purposes: [.loanOrigination], status: .suspended),
            file: .absent, expect: .refused(.permissionDenied, .denied, mentioning: "suspended")
        ),
        PolicyRow(
            name: "post-loan management needs an account the caller furnished", purpose: .postLoanManagement, consent: .none,
            expect: .refused(.permissionDenied, .denied, mentioning: "post-loan-management needs an account")
        ),
        PolicyRow(
            name: "post-loan management with the caller's account needs no consent", purpose: .postLoanManagement, consent: .none,
            file: .furnishedByCaller, expect: .granted(tier: .full)
        ),
        PolicyRow(name: "a frozen file refuses new credit", file: .frozen, expect: .refused(.failedPrecondition, .frozen, mentioning: "needs the subject's one-time code")),
        PolicyRow(name: "the subject's one-time code passes the freeze", file: .frozenWithCode, expect: .granted(tier: .full)),
        PolicyRow(name: "a wrong code does not", file: .frozenWrongCode, expect: .refused(.failedPrecondition, .frozen, mentioning: "freeze_code")),
        PolicyRow(name: "a used code does not", file: .frozenCodeUsed, expect: .refused(.failedPrecondition, .frozen, mentioning: "already let a query through")),
        PolicyRow(
            name: "a freeze does not stop post-loan management", purpose: .postLoanManagement, consent: .none, file: .frozenFurnishedByCaller,
            expect: .granted(tier: .full)
        ),
        PolicyRow(name: "a score at tier 3", scoreOnly: true, expect: .granted(tier: .full)),
        PolicyRow(
            name: "employment screening does not permit the score", licence: Licence(purposes: [.employmentScreening]),
            purpose: .employmentScreening, consent: .valid, scoreOnly: true,
            expect: .refused(.permissionDenied, .denied, mentioning: "does not permit the score")
        ),
        PolicyRow(
            name: "a quota not used up", licence: Licence(purposes: [.loanOrigination], dailyQuota: 2), queriesToday: 1,
            expect: .granted(tier: .full)
        ),
        PolicyRow(
            name: "a quota used up is RESOURCE_EXHAUSTED", licence: Licence(purposes: [.loanOrigination], dailyQuota: 2), queriesToday: 2,
            expect: .refused(.resourceExhausted, .denied, mentioning: "daily quota of 2")
        ),
        PolicyRow(
            name: "a quota used up still says no-hit for no file", licence: Licence(purposes: [.loanOrigination], dailyQuota: 2), file: .absent,
            queriesToday: 2, expect: .refused(.notFound, .noHit, mentioning: "no individual file")
        ),
    ]

    var request: ReportRequest {
        ReportRequest(
            kind: self.kind, subject: Self.subject, purpose: self.purpose, consentReference: self.consent == .none ? "" : "C-1",
            freezeCode: self.file == .frozenWithCode || self.file == .frozenCodeUsed ? Self.code : self.file == .frozenWrongCode ? "00000000" : "",
            scoreOnly: self.scoreOnly
        )
    }

    var facts: ReportFacts {
        let institution = Institution(code: Self.caller, name: "Caller", roles: self.roles, licence: self.licence, certificateFingerprints: [])
        var consent: Consent? = Consent(
            reference: "C-1", subject: Self.subject, agency: Self.caller, purpose: self.purpose, validFrom: Self.today.adding(years: -1),
            validUntil: Self.today.adding(years: 1), evidenceDigest: "", singleUse: false
        )
        switch self.consent {
        case .none, .notOnFile: consent = nil
        case .valid: break
        case .expired: consent?.validUntil = Self.today.adding(years: -1)
        case .notYetValid: consent?.validFrom = Self.today.adding(years: 1)
        case .revoked: consent?.revokedOn = Self.today
        case .used: consent?.singleUse = true; consent?.used = true
        case .singleUse: consent?.singleUse = true
        case .otherAgency: consent?.agency = Self.other
        case .otherSubject: consent?.subject = SubjectKey(bytes: Array(repeating: 0x11, count: 32))
        case .otherPurpose: consent?.purpose = .creditCardOrigination
        }
        var protection = FileProtection()
        switch self.file {
        case .frozen, .frozenWithCode, .frozenWrongCode, .frozenFurnishedByCaller: protection.freeze = Freeze(placed: Self.today, code: Self.code, salt: "ab")
        case .frozenCodeUsed:
            protection.freeze = Freeze(placed: Self.today, code: Self.code, salt: "ab")
            protection.freeze?.codeUsedOn = Self.today
        default: break
        }
        let file: FileFacts? = switch self.file {
        case .absent: nil
        case .furnishedByCaller, .frozenFurnishedByCaller: FileFacts(accountFurnishers: [Self.caller, Self.other])
        default: FileFacts(accountFurnishers: [Self.other])
        }
        return ReportFacts(institution: institution, consent: consent, file: file, protection: protection, queriesToday: self.queriesToday)
    }
}

@Suite("Report policy")
struct ReportPolicyTests {
    @Test("each row of the access matrix gets its decision, charges and log outcome", arguments: PolicyRow.rows)
    func matrix(_ row: PolicyRow) {
        let decision = ReportPolicy.decide(row.request, row.facts, on: PolicyRow.today)
        switch row.expect {
        case .granted(let tier):
            #expect(decision.refusal == nil, "\(decision.refusal?.message ?? "")")
            #expect(decision.outcome == .hit)
            #expect(decision.reason.isEmpty)
            #expect(decision.tier == tier)
            #expect(decision.charges.countsQuery)
            #expect(!decision.charges.countsSelfQuery)
            #expect((decision.charges.settledConsent != nil) == (row.consent == .singleUse))
            #expect(decision.charges.settledConsent?.used != false)
            #expect((decision.charges.usedFreezeCode != nil) == (row.file == .frozenWithCode))
            #expect(decision.charges.usedFreezeCode.map { $0.freeze?.codeUsedOn == PolicyRow.today } != false)
        case .refused(let code, let outcome, let mentioning):
            #expect(decision.refusal?.code == code)
            #expect(decision.refusal?.message.contains(mentioning) == true, "\(decision.refusal?.message ?? "granted")")
            #expect(decision.outcome == outcome)
            #expect(decision.reason == decision.refusal?.message)
            #expect(decision.charges == ReportCharges())
        }
        // The first rule decides before anything of the file is read, and agrees with the whole decision.
        let early = ReportPolicy.access(row.request, institution: row.facts.institution, consent: row.facts.consent, on: PolicyRow.today)
        if let early {
            #expect(early.refusal?.message == decision.refusal?.message)
            #expect(early.outcome == .denied)
        }
    }

    @Test("the subject's own report is counted as a self-query, free twice a year, then chargeable")
    func ownReport() {
        let channel = Institution(code: PolicyRow.caller, name: "Channel", roles: [.channel], purposes: [.selfAccess], certificateFingerprints: [])
        let request = ReportRequest(kind: .individual, subject: PolicyRow.subject, purpose: .selfAccess, ownReport: true)
        var decision = ReportPolicy.decide(request, ReportFacts(institution: channel, consent: nil, file: FileFacts(accountFurnishers: [])), on: PolicyRow.today)
        #expect(decision.granted && decision.charges.countsSelfQuery && decision.charges.countsQuery)
        decision.record(SelfQueryCount(number: 2, year: 2026))
        #expect(decision.reason == "free self-query 2 of 2 in 2026")
        #expect(decision.selfQuery?.chargeable == false)
        decision.record(SelfQueryCount(number: 3, year: 2026))
        #expect(decision.reason == "chargeable self-query 3 in 2026")
        #expect(decision.selfQuery?.chargeable == true)
        let report = ReportRequest(kind: .individual, subject: PolicyRow.subject, purpose: .selfAccess)
        #expect(!ReportPolicy.decide(report, ReportFacts(institution: channel, consent: nil, file: FileFacts(accountFurnishers: [])), on: PolicyRow.today).charges.countsSelfQuery)
    }

    @Test("a score discloses the score and its reasons only; a report what the builder disclosed")
    func disclosure() {
        var decision = ReportPolicy.decide(PolicyRow.rows[0].request, PolicyRow.rows[0].facts, on: PolicyRow.today)
        let report = ReportBuilder.report(of: DisclosureTests.file, for: .loanOrigination, catalogue: .default, today: DisclosureTests.today)
        #expect(report.disclosedFields.count > 2)
        decision.disclose(report, scoreOnly: false)
        #expect(decision.disclosedFields == report.disclosedFields && decision.disclosureVersion == DisclosureTable.version)
        decision.disclose(report, scoreOnly: true)
        #expect(decision.disclosedFields == ["summary.score:shown", "summary.score_reasons:shown"])
        var refused = ReportDecision.refused(BureauError(.permissionDenied, "no"))
        refused.disclose(report, scoreOnly: false)
        #expect(refused.disclosedFields.isEmpty && refused.disclosureVersion == 0 && refused.outcome == .denied)
        #expect(ReportDecision.refused(BureauError(.failedPrecondition, "frozen")).outcome == .frozen)
    }

    @Test("the score rule agrees with the report builder for every purpose and tier", arguments: Tier.allCases)
    func scoreRuleMatchesBuilder(_ tier: Tier) {
        for purpose in Purpose.allCases {
            let report = ReportBuilder.report(of: DisclosureTests.file, for: purpose, catalogue: .default, today: DisclosureTests.today, tier: tier)
            #expect(ReportPolicy.showsScore(purpose, tier: tier) == (report.score != nil), "\(purpose) at \(tier)")
        }
    }

    @Test("the tier granted decides the sections: tier 1 the summary, tier 2 adds accounts and query records, tier 3 all")
    func tiers() {
        let expected: [Tier: Set<ReportSection>] = [
            .summary: [.accounts, .queryRecords, .publicRecords, .listEntries], .accounts: [.publicRecords, .listEntries], .full: [],
        ]
        for tier in Tier.allCases {
            let row = PolicyRow(name: "tier", licence: Licence(purposes: [.loanOrigination], tier: tier), expect: .granted(tier: tier))
            let decision = ReportPolicy.decide(row.request, row.facts, on: PolicyRow.today)
            #expect(decision.tier == tier)
            let report = ReportBuilder.report(
                of: DisclosureTests.file, for: .loanOrigination, catalogue: .default, today: DisclosureTests.today, tier: decision.tier
            )
            #expect(Set(report.withheld.map(\.section)) == expected[tier], "\(tier)")
            #expect(report.summary != nil)
            #expect(report.accounts.isEmpty == (tier == .summary))
        }
    }
}
