import BureauCore
import Crypto
import Testing

@Suite("Resident identity numbers (GB 11643-1999)")
struct ResidentIdentityNumberTests {
    @Test("valid numbers parse and normalise", arguments: [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),
        ("  310104198503121235 ", "310104198503121235"),
        ("440305199207045670", "440305199207045670"),
    ])
    func valid(input: String, normalised: String) throws {
        let id = try ResidentIdentityNumber(parsing: input)
        #expect(id.value == normalised)
    }

    @Test("the birth date and region are read from the number")
    func fields() throws {
        let id = try ResidentIdentityNumber(parsing: "11010519491231002X")
        #expect(id.birthDate == CalendarDate(year: 1949, month: 12, day: 31))
        #expect(id.regionCode == "110105")
    }

    @Test("the 15-digit legacy form converts to 18 characters with its check character")
    func legacy() throws {
        // 110105491231002 is the legacy form of 11010519491231002X.
        let id = try ResidentIdentityNumber(parsing: "110105491231002")
        #expect(id.value == "11010519491231002X")
    }

    @Test("invalid numbers are refused naming the field and the rule", arguments: [
        ("110101199001011234", "check character"),
        ("", "required"),
        ("1101051949123100", "18 characters"),
        ("11010519491231002Y", "digit or X"),
        ("1101A519491231002X", "first 17"),
        ("99010519491231002X", "region"),
        ("110105194913310027", "birth date"),
        ("110105189912310020", "birth date"),
        ("11010549123100A", "digits only"),
    ])
    func invalid(input: String, rule: String) {
        do {
            _ = try ResidentIdentityNumber(parsing: input, field: "subject.identifier")
            Issue.record("\(input) was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("subject.identifier: "))
            #expect(error.message.contains(rule), "\(error.message)")
            if !input.isEmpty { #expect(!error.message.contains(input), "an error must not echo the identifier") }
        }
    }
}

@Suite("Unified Social Credit Codes (GB 32100-2015)")
struct UnifiedSocialCreditCodeTests {
    @Test("valid codes parse", arguments: ["91110000600037341L", "91110000100000016D", "11110000100000032B", "91110000100000040x"])
    func valid(input: String) throws {
        let code = try UnifiedSocialCreditCode(parsing: input)
        #expect(code.value == input.uppercased())
    }

    @Test("invalid codes are refused with the rule", arguments: [
        ("91110000600037341M", "check character"),
        ("91110000600037341", "18 characters"),
        ("9111000060003734IL", "except I, O, S, V, Z"),
        ("911100O0600037341L", "except I, O, S, V, Z"),
        ("91A10000600037341L", "region code"),
        ("91110000600037351L", "organisation code"),
    ])
    func invalid(input: String, rule: String) {
        do {
            _ = try UnifiedSocialCreditCode(parsing: input)
            Issue.record("\(input) was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("identifier: "))
            #expect(error.message.contains(rule), "\(error.message)")
        }
    }
}

@Suite("Subject keys")
struct SubjectKeyTests {
    @Test("the key is a keyed hash: stable for one secret, different for another, never the identifier")
    func keyed() throws {
        let id = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: "11010519491231002X"))
        let secret = SymmetricKey(size: .bits256)
        let a = SubjectKey(id, secret: secret)
        let b = SubjectKey(id, secret: secret)
        let c = SubjectKey(id, secret: SymmetricKey(size: .bits256))
        #expect(a == b)
        #expect(a != c)
        #expect(a.bytes.count == 32)
        #expect(!a.hex.contains("11010519491231002"))
        #expect(SubjectKey(hex: a.hex) == a)
    }

    @Test("the same text as a person and as a business gives different keys")
    func kindSeparated() throws {
        let secret = SymmetricKey(size: .bits256)
        let person = SubjectKey(.individual(try ResidentIdentityNumber(parsing: "11010519491231002X")), secret: secret)
        let business = SubjectKey(.business(try UnifiedSocialCreditCode(parsing: "91110000600037341L")), secret: secret)
        #expect(person != business)
    }
}

@Suite("Calendar dates")
struct CalendarDateTests {
    @Test("days since the epoch round-trip", arguments: [
        (1970, 1, 1, 0), (2000, 2, 29, 11_016), (1949, 12, 31, -7306), (2026, 11, 23, 20_780),
    ])
    func epochDays(y: Int, m: Int, d: Int, days: Int) throws {
        let date = try #require(CalendarDate(year: y, month: m, day: d))
        #expect(date.daysSinceEpoch == days)
        #expect(CalendarDate(daysSinceEpoch: days) == date)
    }

    @Test("impossible dates are refused")
    func impossible() {
        #expect(CalendarDate(year: 2023, month: 2, day: 29) == nil)
        #expect(CalendarDate(year: 2024, month: 13, day: 1) == nil)
        #expect(CalendarDate(year: 2024, month: 4, day: 31) == nil)
        #expect(CalendarDate(year: 2024, month: 2, day: 29) != nil)
    }
}
