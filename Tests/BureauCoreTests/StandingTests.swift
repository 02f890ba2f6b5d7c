import BureauCore
import Testing

@Suite("Licence standing and the freeze code")
struct StandingTests {
    static let today = CalendarDate(year: 2026, month: 6, day: 15)!

    static func institution(_ roles: Set<Role>, _ change: (inout Licence) -> Void = { _ in }) throws -> Institution {
        var licence = Licence(purposes: [.regulatorySupervision], validFrom: today, validUntil: today.adding(years: 1))
        change(&licence)
        return Institution(code: try UnifiedSocialCreditCode.make(organisation: "74000001"), name: "Standing", roles: roles, licence: licence, certificateFingerprints: [])
    }

    @Test("a licence is in force only while active and within its dates, for every role", arguments: [Role.regulator, .operator, .channel, .furnisher])
    func inForce(role: Role) throws {
        try Self.institution([role]).checkLicenceInForce(on: Self.today)
        try Self.institution([role]).checkLicenceInForce(on: Self.today.adding(years: 1))
        let refused: [(Institution, CalendarDate, String)] = [
            (try Self.institution([role]) { $0.status = .suspended }, Self.today, "is suspended"),
            (try Self.institution([role]) { $0.status = .revoked }, Self.today, "is revoked"),
            (try Self.institution([role]), CalendarDate(daysSinceEpoch: Self.today.daysSinceEpoch - 1), "is valid from 2026-06-15"),
            (try Self.institution([role]), CalendarDate(daysSinceEpoch: Self.today.adding(years: 1).daysSinceEpoch + 1), "expired on 2027-06-15"),
        ]
        for (institution, day, message) in refused {
            #expect {
                try institution.checkLicenceInForce(on: day)
            } throws: { error in
                (error as? BureauError)?.code == .permissionDenied && (error as? BureauError)?.message.contains(message) == true
            }
        }
    }

    @Test("the one-time code admits one query and is then used up; purposes the freeze does not block leave it alone")
    func freezeCode() throws {
        let protection = FileProtection(freeze: Freeze(placed: Self.today, code: "12345678", salt: "salt"))
        #expect(try protection.admitting(.postLoanManagement, code: "", on: Self.today) == nil)
        let used = try #require(try protection.admitting(.loanOrigination, code: "12345678", on: Self.today))
        #expect(used.freeze?.codeUsedOn == Self.today)
        #expect(throws: BureauError(.failedPrecondition, "freeze_code: the one-time code already let a query through on 2026-06-15")) {
            try used.check(.creditCardOrigination, code: "12345678")
        }
        #expect(used.freeze?.accepts(code: "12345678") == true, "it still lifts the freeze")
    }
}
