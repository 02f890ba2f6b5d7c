@testable import BureauCore
import Testing

/// The byte-level check that lets a stored or well-formed identifier skip the full parse must accept exactly
/// what the full parse accepts unchanged: every valid normalised identifier, and nothing else.
@Suite("Identifiers: the fast path accepts exactly the valid normalised identifiers")
struct IdentifierFastPathTests {
    /// `valid` and every one-character change of it (each position set to each of `symbols`), plus the lower-case,
    /// padded, shortened and lengthened forms.
    static func variants(of valid: [String], symbols: String) -> [String] {
        var out: Set<String> = []
        for text in valid {
            out.insert(text)
            out.insert(text.lowercased())
            out.insert(" " + text)
            out.insert(String(text.dropLast()))
            out.insert(text + "0")
            let chars = Array(text)
            for i in chars.indices {
                for symbol in symbols {
                    var changed = chars
                    changed[i] = symbol
                    out.insert(String(changed))
                }
            }
        }
        return out.sorted()
    }

    @Test("resident identity numbers")
    func residentIdentityNumbers() throws {
        var valid: [String] = []
        for (region, year, sequence) in [("110105", 1949, 2), ("440305", 1992, 567), ("650102", 2000, 999), ("310104", 1985, 123)] {
            for (month, day) in [(2, 29), (12, 31), (1, 1), (2, 28)] {
                if let date = CalendarDate(year: year, month: month, day: day) {
                    valid.append(try ResidentIdentityNumber.make(region: region, birthDate: date, sequence: sequence).value)
                }
            }
        }
        let inputs = Self.variants(of: valid + ["11010519491231002X"], symbols: "0123456789Xx A/:")
        var accepted = 0
        for text in inputs {
            let full = try? ResidentIdentityNumber.normalised(text, field: "identifier")
            #expect(ResidentIdentityNumber.isValidNormalised(text) == (full == text), "\(text)")
            if full == text { accepted += 1 }
        }
        #expect(accepted >= Set(valid).count)
    }

    @Test("unified social credit codes")
    func unifiedSocialCreditCodes() throws {
        var valid = ["91110000600037341L", "91110000100000016D", "11110000100000032B"]
        for organisation in ["10000001", "ABCDEFGH", "MA01B2C3", "99999999", "7XY00123"] {
            if let code = try? UnifiedSocialCreditCode.make(organisation: organisation) { valid.append(code.value) }
        }
        let inputs = Self.variants(of: valid, symbols: "0123456789ADHIOSVXYZa /:")
        var accepted = 0
        for text in inputs {
            let full = try? UnifiedSocialCreditCode.normalised(text, field: "identifier")
            #expect(UnifiedSocialCreditCode.isValidNormalised(text) == (full == text), "\(text)")
            if full == text { accepted += 1 }
        }
        #expect(accepted >= Set(valid).count)
    }
}
