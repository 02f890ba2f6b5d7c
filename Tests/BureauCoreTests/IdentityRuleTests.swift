import BureauCore
import Testing

@Suite("Identity rule")
struct IdentityRuleTests {
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let lender = try! UnifiedSocialCreditCode(parsing: "911100001000000248")
    static let court = try! UnifiedSocialCreditCode(parsing: "111100001000000593")

    static func day(_ d: Int) -> CalendarDate { CalendarDate(year: 2026, month: 3, day: d)! }

    static func person(_ name: String, phone: String = "", detail: String = "") -> CreditFile.Subject {
        .person(
            PersonIdentity(
                name: name, identifier: "11010519491231002X", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!, phone: phone,
                address: Address(province: "北京市", city: "北京市", detail: detail)
            )
        )
    }

    static func source(_ furnisher: UnifiedSocialCreditCode?, first: Int, reported: Int, _ identity: CreditFile.Subject) -> IdentitySource {
        IdentitySource(
            attribution: furnisher.map { .init(furnisher: $0, firstReported: day(first), reported: day(reported)) }, identity: identity
        )
    }

    static func name(_ subject: CreditFile.Subject?) -> String? {
        if case .person(let p)? = subject { p.name } else { nil }
    }

    @Test("a source whose furnisher holds no record on the file does not count")
    func noRecordNoVote() {
        let sources = [
            Self.source(Self.bank, first: 1, reported: 1, Self.person("王建国")),
            Self.source(Self.court, first: 5, reported: 5, Self.person("李四")),
        ]
        #expect(Self.name(IdentityRule.best(of: sources, holders: [Self.bank])) == "王建国")
        #expect(Self.name(IdentityRule.best(of: sources, holders: [Self.bank, Self.court])) == "李四")
    }

    @Test("the latest non-empty value wins field by field; an empty field does not erase an earlier one")
    func latestNonEmpty() {
        let sources = [
            Self.source(Self.bank, first: 1, reported: 3, Self.person("王建国", phone: "13700001111", detail: "东城区 1 号")),
            Self.source(Self.lender, first: 2, reported: 4, Self.person("王建国", phone: "", detail: "朝阳区 9 号")),
        ]
        guard case .person(let best)? = IdentityRule.best(of: sources, holders: [Self.bank, Self.lender]) else {
            Issue.record("no identity")
            return
        }
        #expect(best.phone == "13700001111")
        #expect(best.address.detail == "朝阳区 9 号")
    }

    @Test("a tie on the day goes to the earlier first report, then to the lower furnisher code")
    func ties() {
        let earlier = [
            Self.source(Self.lender, first: 1, reported: 4, Self.person("甲")),
            Self.source(Self.bank, first: 2, reported: 4, Self.person("乙")),
        ]
        #expect(Self.name(IdentityRule.best(of: earlier, holders: [Self.bank, Self.lender])) == "甲")
        let sameDays = [
            Self.source(Self.lender, first: 2, reported: 4, Self.person("甲")),
            Self.source(Self.bank, first: 2, reported: 4, Self.person("乙")),
        ]
        // 91110000100000016D < 911100001000000248
        #expect(Self.name(IdentityRule.best(of: sameDays, holders: [Self.bank, Self.lender])) == "乙")
    }

    @Test("when no source holds a record every source counts, the unattributed one last")
    func fallback() {
        let sources = [
            Self.source(nil, first: 0, reported: 0, Self.person("旧名")),
            Self.source(Self.bank, first: 1, reported: 2, Self.person("王建国")),
        ]
        #expect(Self.name(IdentityRule.best(of: sources, holders: [])) == "王建国")
        #expect(Self.name(IdentityRule.best(of: [sources[0]], holders: [Self.bank])) == "旧名")
        #expect(IdentityRule.counts(sources[0], among: sources, holders: [Self.bank]) == false)
        #expect(IdentityRule.best(of: [], holders: []) == nil)
    }

    @Test("a furnisher's report replaces only its own facts and keeps its first day")
    func replaceOwn() throws {
        var sources = [Self.source(Self.bank, first: 1, reported: 1, Self.person("王建国"))]
        try IdentityRule.report(Self.person("王建国", phone: "13700001111"), by: Self.lender, on: Self.day(3), into: &sources)
        try IdentityRule.report(Self.person("王建国", phone: "13800000000"), by: Self.bank, on: Self.day(5), into: &sources)
        #expect(sources.map(\.furnisher) == [Self.bank, Self.lender])
        #expect(sources[0].attribution == .init(furnisher: Self.bank, firstReported: Self.day(1), reported: Self.day(5)))
        #expect(sources[1].identity == Self.person("王建国", phone: "13700001111"))
        #expect(throws: BureauError.self) {
            try IdentityRule.requireRecord(false, of: Self.court, at: "subjects[0]")
        }
    }
}
