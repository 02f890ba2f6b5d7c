@testable import BureauCore
import Foundation
import Testing

@Suite("Scoring")
struct ScoringTests {
    static let today = CalendarDate(year: 2026, month: 11, day: 23)!
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let person = CreditFile.Subject.person(
        PersonIdentity(name: "王建国", identifier: "11010519491231002X", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!,
                       phone: "", address: Address(province: "北京市", city: "北京市", detail: ""))
    )

    static func account(_ n: String, _ type: AccountType, opened: Int = 2010, limit: Int64 = 1_000_000, balance: Int64 = 50_000,
                        history: String = String(repeating: "0", count: 24), status: AccountStatus = .current) -> Account {
        Account(furnisher: bank, accountNumber: n, type: type, opened: CalendarDate(year: opened, month: 1, day: 1)!,
                limit: Money(minorUnits: limit, currency: "CNY"), balance: Money(minorUnits: balance, currency: "CNY"),
                status: status, paymentHistory: history, closed: nil,
                legalBasis: status.isNegative ? LegalBasis(documentNumber: "C", authority: "Bank", date: CalendarDate(year: 2010, month: 1, day: 1)!) : nil,
                behaviourEnded: status.isNegative ? today : nil)
    }

    static let clean = CreditFile(subject: person, accounts: [
        account("1", .creditCard), account("2", .mortgage), account("3", .autoLoan),
    ])

    func score(_ file: CreditFile, queries: [QueryRecord] = []) -> CreditScore {
        Scoring.score(of: file, catalogue: .default, today: Self.today, queries: queries)
    }

    @Test("a clean, long, varied file with low utilisation scores at the top of every factor and has no reasons")
    func clean() {
        let s = score(Self.clean)
        #expect(s.value == 600 + 60 + 60 + 50 + 20 + 20)
        #expect(s.reasons.isEmpty)
        #expect(s.modelVersion == Scoring.individualModel)
        #expect(score(Self.clean) == s, "deterministic")
    }

    @Test("late payments cost points and lead the reasons")
    func latePayments() {
        var file = Self.clean
        file.accounts[0] = Self.account("1", .creditCard, history: String(repeating: "0", count: 21) + "123", status: .late90)
        let s = score(file)
        // Still 60 or more months on time, so only the late months cost points.
        #expect(s.value == 810 - (15 + 30 + 45))
        #expect(s.reasons.first?.code == "R01")
    }

    @Test("high utilisation of revolving credit is a reason with its share")
    func utilisation() {
        var file = Self.clean
        file.accounts[0] = Self.account("1", .creditCard, balance: 850_000)
        let s = score(file)
        #expect(s.value == 810 - 60 - 50)
        #expect(s.reasons.first?.text == "High use of available credit (85%)")
    }

    @Test("a short history and recent applications cost points")
    func historyAndQueries() {
        let young = CreditFile(subject: Self.person, accounts: [Self.account("1", .creditCard, opened: 2026)])
        let queries = (0..<5).map { QueryRecord(time: Date(timeIntervalSince1970: 1_790_000_000 + Double($0)), institution: "X", institutionName: "X", purpose: .loanOrigination) }
        let s = score(young, queries: queries)
        #expect(s.reasons.map(\.code).contains("R03"))
        #expect(s.reasons.map(\.code).contains("R04"))
        #expect(s.reasons.count <= 4)
    }

    @Test("public records and the severe list weigh heavily, and the score stays within 300...900")
    func publicRecords() {
        var file = Self.clean
        let basis = LegalBasis(documentNumber: "J", authority: "Court", date: CalendarDate(year: 2025, month: 1, day: 1)!)
        file.publicRecords = (0..<4).map {
            PublicRecord(furnisher: Self.bank, recordID: "J\($0)", type: .courtJudgment, authority: "Court", legalBasis: basis, amount: nil,
                         filed: CalendarDate(year: 2025, month: 1, day: 1)!, behaviourEnded: CalendarDate(year: 2025, month: 6, day: 1)!, description: "")
        }
        file.listEntries = [ListEntry(furnisher: Self.bank, recordID: "L", list: Catalogue.severeUntrustworthinessList, severity: .serious,
                                      reason: "r", legalBasis: basis, listed: CalendarDate(year: 2025, month: 1, day: 1)!,
                                      publicityEnds: CalendarDate(year: 2028, month: 1, day: 1)!)]
        let s = score(file)
        #expect(s.value == 810 - 240 - 150)
        #expect(Array(s.reasons.map(\.code).prefix(2)) == ["R06", "R07"])
        file.accounts = (0..<5).map { Self.account("\($0)", .creditCard, balance: 1_000_000, history: "444444", status: .chargedOff) }
        #expect(score(file).value == 300)
    }

    @Test("a business is scored on its own scorecard")
    func business() {
        let file = CreditFile(
            subject: .business(BusinessRegistration(name: "示范", code: "91110000200000013F", registrationDate: CalendarDate(year: 2008, month: 5, day: 20)!,
                                                    address: Address(province: "北京市", city: "北京市", detail: ""),
                                                    legalRepresentativeName: "王建国", legalRepresentativeIdentifier: "11010519491231002X")),
            accounts: [Self.account("BL", .businessLoan, limit: 100_000_000, balance: 64_000_000)]
        )
        let s = score(file)
        #expect(s.modelVersion == Scoring.businessModel)
        #expect(s.value == 600 + 24 - 20 + 50)
    }

    @Test("a 128-bit amount converts to the same double as the standard library's conversion, inside and beyond 64 bits")
    func wideAmounts() {
        let samples: [Int128] = [
            0, 1, -1, 999_999, Int128(Int64.max), Int128(Int64.min), Int128(Int64.max) + 1, Int128(Int64.min) - 1,
            Int128(Int64.max) * 5_000, -Int128(Int64.max) * 3, Int128.max, Int128.min, (1 << 53) + 1, -((1 << 53) + 1),
        ]
        for value in samples {
            #expect(Scoring.double(value) == Double(value), "\(value)")
        }
    }
}
