/// A China resident identity number (GB 11643-1999): 6-digit region, 8-digit birth date, 3-digit sequence
/// and an ISO 7064 MOD 11-2 check character.
///
/// Parsing normalises (trims, upper-cases `x`) and converts the 15-digit legacy form (born 19xx, no check
/// character) to 18 characters. The value never appears in logs: callers log ``SubjectKey``s instead.
public struct ResidentIdentityNumber: Hashable, Sendable {
    /// The normalised 18-character form.
    public let value: String

    /// Province-level codes (the first two digits) in use.
    static let provinceCodes: Set<String> = [
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    ]
    private static let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    private static let checkCharacters = Array("10X98765432")

    /// Parses and validates `text`.
    ///
    /// - Parameter field: the request field named in errors.
    /// - Throws: ``BureauError`` (invalid argument) naming `field` and the rule broken.
    public init(parsing text: String, field: @autoclosure () -> String = "identifier") throws(BureauError) {
        self.value = try Self.isValidNormalised(text) ? text : Self.normalised(text, field: field())
    }

    /// The full parse: `text` normalised (trimmed, capital X, the 15-digit form converted), or the rule it breaks.
    static func normalised(_ text: String, field: String) throws(BureauError) -> String {
        try FieldLimit.identifier.check(text, field: field)
        var s = text.trimmingWhitespace().uppercased()
        if s.isEmpty { throw .invalid(field, "is required") }
        if s.count == 15 {
            guard s.allSatisfy(\.isASCIIDigit) else {
                throw .invalid(field, "a 15-character resident identity number has digits only")
            }
            let body = String(s.prefix(6)) + "19" + String(s.dropFirst(6))
            s = body + String(ResidentIdentityNumber.checkCharacter(for: Array(body)))
        }
        guard s.count == 18 else {
            throw .invalid(field, "a resident identity number has 18 characters (or 15 in the legacy form), got \(s.count)")
        }
        let chars = Array(s)
        guard chars[0..<17].allSatisfy(\.isASCIIDigit) else {
            throw .invalid(field, "the first 17 characters of a resident identity number are digits")
        }
        guard chars[17].isASCIIDigit || chars[17] == "X" else {
            throw .invalid(field, "the check character of a resident identity number is a digit or X")
        }
        guard ResidentIdentityNumber.provinceCodes.contains(String(chars[0..<2])) else {
            throw .invalid(field, "the region code does not name a province")
        }
        let year = Int(String(chars[6..<10]))!
        let month = Int(String(chars[10..<12]))!
        let day = Int(String(chars[12..<14]))!
        guard year >= 1900, CalendarDate(year: year, month: month, day: day) != nil else {
            throw .invalid(field, "the birth date in a resident identity number must be a real date after 1900")
        }
        let expected = ResidentIdentityNumber.checkCharacter(for: Array(chars[0..<17]))
        guard chars[17] == expected else {
            throw .invalid(field, "check character does not match (ISO 7064 MOD 11-2)")
        }
        return s
    }

    /// Whether `text` is already a valid number in its normalised 18-character form (ASCII, capital X): the
    /// common case (every stored or well-formed identifier), decided on its bytes without building
    /// characters. Anything else (`false`) goes through the full parse, which normalises it or names the rule
    /// it breaks; both accept exactly the same normalised numbers.
    static func isValidNormalised(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { b in
            guard b.count == 18 else { return false }
            var sum = 0
            for i in 0..<17 {
                let d = Int(b[i]) &- 0x30
                guard d >= 0, d <= 9 else { return false }
                sum += d * Self.weights[i]
            }
            func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(b[$1] - 0x30) } }
            guard Self.provinceNumbers.contains(number(0..<2)) else { return false }
            let year = number(6..<10)
            guard year >= 1900, CalendarDate(year: year, month: number(10..<12), day: number(12..<14)) != nil else { return false }
            return b[17] == Self.checkBytes[sum % 11]
        }
    }

    /// ``provinceCodes`` as numbers, and ``checkCharacters`` as bytes, for ``isValidNormalised(_:)``.
    private static let provinceNumbers = Set(provinceCodes.map { Int($0)! })
    private static let checkBytes = Array("10X98765432".utf8)

    /// Makes a valid number from its parts (for synthetic data and tests).
    ///
    /// - Parameters:
    ///   - region: a 6-digit region code whose first two digits name a province.
    ///   - sequence: 0 to 999 (odd for men, even for women).
    public static func make(region: String, birthDate: CalendarDate, sequence: Int) throws(BureauError) -> ResidentIdentityNumber {
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let body = region + pad(birthDate.year, 4) + pad(birthDate.month, 2) + pad(birthDate.day, 2) + pad(sequence % 1000, 3)
        guard body.count == 17, body.allSatisfy(\.isASCIIDigit) else { throw .invalid("region", "is 6 digits") }
        return try ResidentIdentityNumber(parsing: body + String(checkCharacter(for: Array(body))))
    }

    /// Whether `text` holds a valid resident identity number anywhere in it. Free-text fields that are
    /// logged are checked with it.
    ///
    /// The text is normalised first, so that a number cannot hide behind its writing: any decimal digit
    /// (full-width `１`, Arabic-Indic, superscript, circled ...) counts as its ASCII digit, a full-width `Ｘ` or
    /// a Roman numeral ten as `X`, and spaces, dashes and invisible characters (zero-width space and
    /// joiners, soft hyphen, bidi marks, combining marks) between digits are dropped. Invisible characters
    /// are dropped anywhere; visible spaces and dashes only where people group a number: after the 6th and
    /// 14th characters (and the 10th: `110105 19491231 002X`, `110105-1949-1231-002X`), every 4 characters
    /// (`1101 0519 4912 3100 2X`), or between every character. So the dashes of a UUID (8-4-4-4-12) join its
    /// digits into a number only where they happen to fall in one of those places. A number is then
    /// recognised by the real rules, not by the length of a digit run: an 18-character window whose region
    /// names a province, whose birth date is a real date after 1900 and whose check character matches
    /// (ISO 7064 MOD 11-2). The legacy 15-digit form has no check character, so it is taken only as written
    /// whole (15 digits, nothing dropped inside, no digit on either side) with a province and a real birth
    /// date: 15 digits inside a nanosecond timestamp, or joined across the dashes of a UUID, are not one.
    public static func occurs(in text: String) -> Bool {
        // Fast path: text with fewer than 15 characters that may be digits holds no number (the shortest is the
        // 15-digit form): ASCII digits, and every non-ASCII character (full-width and other digits normalise),
        // counted by their UTF-8 lead bytes. A name or an address of a few Chinese characters stops here.
        var candidates = 0
        for byte in text.utf8 where (byte >= 0x30 && byte <= 0x39) || byte >= 0xC0 { candidates += 1 }
        if candidates < 15 { return false }
        if self.digitRuns(self.normalisedDigits(of: text, droppingSeparators: true)).contains(where: self.holdsCheckedNumber) {
            return true
        }
        return self.digitRuns(self.normalisedDigits(of: text, droppingSeparators: false)).contains { run in
            run.count == 15 && run.last != 0x58
                && self.isNumber(Array(run.prefix(6)) + Array("19".utf8) + Array(run.suffix(9)), checked: false)
        }
    }

    /// The maximal runs of digits in `normalised`, each with an `X` that directly follows it (where a
    /// check character stands).
    private static func digitRuns(_ normalised: [UInt8]) -> [ArraySlice<UInt8>] {
        func isDigit(_ i: Int) -> Bool { normalised[i] >= 0x30 && normalised[i] <= 0x39 }
        var runs: [ArraySlice<UInt8>] = []
        var start = 0
        while start < normalised.count {
            guard isDigit(start) else {
                start += 1
                continue
            }
            var end = start
            // Digits, with visible separators between them (a separator run counts once).
            while end < normalised.count {
                if isDigit(end) {
                    end += 1
                } else if normalised[end] == Self.visibleSeparator {
                    var next = end
                    while next < normalised.count && normalised[next] == Self.visibleSeparator { next += 1 }
                    guard next < normalised.count, isDigit(next) || normalised[next] == 0x58 else { break }
                    end = next
                } else {
                    break
                }
            }
            if end < normalised.count && normalised[end] == 0x58 { end += 1 }
            runs.append(normalised[start..<end])
            start = end
        }
        return runs
    }

    /// Stands for a visible space or dash between digits in ``normalisedDigits(of:droppingSeparators:)``.
    static let visibleSeparator: UInt8 = 0x2D

    /// `text` as ASCII digits and `X`, every other character a 0 byte; when `droppingSeparators`, invisible
    /// characters are dropped and visible spaces and dashes become ``visibleSeparator``, else both are 0.
    static func normalisedDigits(of text: String, droppingSeparators: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        // Fast path: ASCII text needs no Unicode properties.
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            for b in text.utf8 {
                switch b {
                case 0x30...0x39: out.append(b)
                case 0x58, 0x78: out.append(0x58)
                case 0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x2D: out.append(droppingSeparators ? Self.visibleSeparator : 0)
                default: out.append(0)
                }
            }
            return out
        }
        for scalar in text.unicodeScalars {
            let properties = scalar.properties
            if properties.numericType == .decimal || properties.numericType == .digit, let value = properties.numericValue,
                value == value.rounded(), (0...9).contains(value)
            {
                out.append(0x30 + UInt8(value))
                continue
            }
            switch scalar.value {
            case 0x58, 0x78, 0xFF38, 0xFF58, 0x2169, 0x2179:
                out.append(0x58)
            case 0x2212, 0xFF0D, 0xFE63, 0xFE58, 0x30FC:
                out.append(droppingSeparators ? Self.visibleSeparator : 0)
            default:
                switch properties.generalCategory {
                case .spaceSeparator, .lineSeparator, .paragraphSeparator, .dashPunctuation:
                    out.append(droppingSeparators ? Self.visibleSeparator : 0)
                case .format, .control, .nonspacingMark, .enclosingMark:
                    if !droppingSeparators { out.append(0) }
                default:
                    out.append(0)
                }
            }
        }
        return out
    }

    /// Whether a run of digits (and a final `X`) holds an 18-character number with a matching check character.
    private static func holdsCheckedNumber(_ run: ArraySlice<UInt8>) -> Bool {
        // The characters, and where visible separators stood (as the count of characters before each).
        var characters: [UInt8] = []
        var separators: [Int] = []
        for byte in run {
            if byte == Self.visibleSeparator {
                if separators.last != characters.count { separators.append(characters.count) }
            } else {
                characters.append(byte)
            }
        }
        guard characters.count >= 18 else { return false }
        for offset in 0...(characters.count - 18) {
            let inside = Set(separators.lazy.map { $0 - offset }.filter { $0 > 0 && $0 < 18 })
            guard inside.isEmpty || Self.groupings.contains(inside) else { continue }
            if self.isNumber(Array(characters[offset..<(offset + 18)]), checked: true) { return true }
        }
        return false
    }

    /// Where people put spaces or dashes in a number: 6-8-4 (or only one of those), 6-4-4-4, groups of 4, or
    /// between every character. Exactly these: a UUID's dashes (8-4-4-4-12) across 18 digits fall elsewhere.
    private static let groupings: Set<Set<Int>> = [[6], [14], [6, 14], [6, 10, 14], [4, 8, 12, 16], Set(1..<18)]

    /// Whether 18 (or, unchecked, 17) ASCII bytes follow the rules of a number.
    private static func isNumber(_ bytes: [UInt8], checked: Bool) -> Bool {
        let body = bytes.prefix(17)
        guard body.count == 17, body.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(bytes[$1] - 0x30) } }
        guard self.provinceCodes.contains(String(decoding: bytes[0..<2], as: UTF8.self)) else { return false }
        let year = number(6..<10)
        guard year >= 1900, CalendarDate(year: year, month: number(10..<12), day: number(12..<14)) != nil else { return false }
        guard checked else { return true }
        return bytes.count == 18 && Character(UnicodeScalar(bytes[17])) == self.checkCharacter(for: body.map { Character(UnicodeScalar($0)) })
    }

    static func checkCharacter(for body: [Character]) -> Character {
        var sum = 0
        for (i, c) in body.enumerated() { sum += c.wholeNumberValue! * weights[i] }
        return checkCharacters[sum % 11]
    }

    /// The birth date the number encodes.
    public var birthDate: CalendarDate {
        // The value is the normalised form: 17 ASCII digits and a check character.
        let b = Array(self.value.utf8)
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(b[$1] - 0x30) } }
        return CalendarDate(year: number(6..<10), month: number(10..<12), day: number(12..<14))!
    }

    /// The 6-digit administrative region code.
    public var regionCode: String { String(self.value.prefix(6)) }
}

/// A Unified Social Credit Code (GB 32100-2015): registration authority, organisation type, 6-digit
/// region, the 9-character organisation code (GB 11714, with its own check) and a weighted check character
/// over a 31-symbol alphabet without I, O, S, V and Z.
public struct UnifiedSocialCreditCode: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The normalised 18-character form. Business identifiers are public.
    public let value: String

    static let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    private static let weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    private static let organisationWeights = [3, 7, 9, 10, 5, 8, 4, 2]

    /// Real codes issued before validation was enforced whose check character is wrong. They are
    /// accepted as they are; anything else must pass both checks.
    public static let legacyExceptions: Set<String> = []

    /// Parses and validates `text`.
    ///
    /// - Parameter field: the request field named in errors.
    /// - Throws: ``BureauError`` (invalid argument) naming `field` and the rule broken.
    public init(parsing text: String, field: @autoclosure () -> String = "identifier") throws(BureauError) {
        self.value = try Self.isValidNormalised(text) ? text : Self.normalised(text, field: field())
    }

    /// The full parse: `text` normalised (trimmed, upper case), or the rule it breaks.
    static func normalised(_ text: String, field: String) throws(BureauError) -> String {
        try FieldLimit.identifier.check(text, field: field)
        let s = text.trimmingWhitespace().uppercased()
        if s.isEmpty { throw .invalid(field, "is required") }
        guard s.count == 18 else {
            throw .invalid(field, "a unified social credit code has 18 characters, got \(s.count)")
        }
        if UnifiedSocialCreditCode.legacyExceptions.contains(s) { return s }
        let chars = Array(s)
        var values: [Int] = []
        for c in chars {
            guard let v = UnifiedSocialCreditCode.alphabet.firstIndex(of: c) else {
                throw .invalid(field, "a unified social credit code uses digits and capitals except I, O, S, V, Z")
            }
            values.append(v)
        }
        guard chars[2..<8].allSatisfy(\.isASCIIDigit) else {
            throw .invalid(field, "characters 3 to 8 of a unified social credit code are the region code (digits)")
        }
        guard UnifiedSocialCreditCode.organisationCodeIsValid(Array(chars[8..<17])) else {
            throw .invalid(field, "the organisation code (characters 9 to 17) fails its GB 11714 check")
        }
        var sum = 0
        for i in 0..<17 { sum += values[i] * UnifiedSocialCreditCode.weights[i] }
        let check = (31 - sum % 31) % 31
        guard values[17] == check else {
            throw .invalid(field, "check character does not match (GB 32100)")
        }
        return s
    }

    /// Whether `text` is already a valid code in its normalised form (18 ASCII capitals and digits, both
    /// checks passing): the common case (every stored code, every code a well-behaved caller sends), decided
    /// on its bytes without building characters. Anything else (`false`) goes through the full parse, which
    /// normalises it, accepts a legacy exception or names the rule it breaks; both accept exactly the same
    /// normalised codes.
    static func isValidNormalised(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { b in
            guard b.count == 18 else { return false }
            var sum = 0
            var organisationSum = 0
            var last = 0
            for i in 0..<18 {
                let byte = b[i]
                guard byte < 128 else { return false }
                let v = Int(Self.symbolValues[Int(byte)])
                guard v >= 0 else { return false }
                if (2..<8).contains(i), byte > 0x39 { return false }  // the region code is digits
                if (8..<16).contains(i) { organisationSum += (byte <= 0x39 ? v : Int(byte) - 55) * Self.organisationWeights[i - 8] }
                if i < 17 { sum += v * Self.weights[i] } else { last = v }
            }
            let r = 11 - organisationSum % 11
            let organisationCheck: UInt8 = r == 10 ? 0x58 : r == 11 ? 0x30 : UInt8(0x30 + r)
            return b[16] == organisationCheck && last == (31 - sum % 31) % 31
        }
    }

    /// The value of each ASCII byte in ``alphabet`` (-1 for a byte not in it), for ``isValidNormalised(_:)``.
    private static let symbolValues: [Int8] = (0..<128).map { byte in
        alphabet.firstIndex(of: Character(UnicodeScalar(UInt8(byte)))).map { Int8($0) } ?? -1
    }

    /// Makes a valid code from its parts (for synthetic data and tests): both check characters are computed.
    ///
    /// - Parameters:
    ///   - prefix: registration authority and type, for example "91" (an enterprise registered with market regulation).
    ///   - region: 6 digits.
    ///   - organisation: the first 8 characters of the organisation code (digits and capitals).
    public static func make(prefix: String = "91", region: String = "110000", organisation: String) throws(BureauError) -> UnifiedSocialCreditCode {
        let org = Array(organisation)
        guard org.count == 8 else { throw .invalid("organisation", "is 8 characters") }
        var sum = 0
        for i in 0..<8 {
            guard let v = org[i].isASCIIDigit ? org[i].wholeNumberValue : org[i].asciiValue.map({ Int($0) - 55 }) else {
                throw .invalid("organisation", "is digits and capitals")
            }
            sum += v * organisationWeights[i]
        }
        let r = 11 - sum % 11
        let body = prefix + region + organisation + (r == 10 ? "X" : r == 11 ? "0" : String(r))
        var total = 0
        for (i, c) in body.enumerated() {
            guard let v = alphabet.firstIndex(of: c) else { throw .invalid("code", "uses the GB 32100 alphabet") }
            total += v * weights[i]
        }
        return try UnifiedSocialCreditCode(parsing: body + String(alphabet[(31 - total % 31) % 31]))
    }

    static func organisationCodeIsValid(_ code: [Character]) -> Bool {
        var sum = 0
        for i in 0..<8 {
            let c = code[i]
            let v: Int
            if let d = c.wholeNumberValue, c.isASCIIDigit {
                v = d
            } else if let a = c.asciiValue, (65...90).contains(a) {
                v = Int(a) - 55
            } else {
                return false
            }
            sum += v * organisationWeights[i]
        }
        let r = 11 - sum % 11
        let expected: Character = r == 10 ? "X" : r == 11 ? "0" : Character(String(r))
        return code[8] == expected
    }

    public var description: String { self.value }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try UnifiedSocialCreditCode(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.value)
    }
}

/// The kind of subject a file describes.
public enum SubjectKind: String, Hashable, Codable, Sendable, CaseIterable {
    case individual
    case business
}

/// A validated identifier of a person or a business.
public enum SubjectIdentifier: Hashable, Sendable {
    case individual(ResidentIdentityNumber)
    case business(UnifiedSocialCreditCode)

    /// Parses `text` as the identifier of `kind`.
    public init(kind: SubjectKind, parsing text: String, field: @autoclosure () -> String = "identifier") throws(BureauError) {
        switch kind {
        case .individual: self = .individual(try ResidentIdentityNumber(parsing: text, field: field()))
        case .business: self = .business(try UnifiedSocialCreditCode(parsing: text, field: field()))
        }
    }

    public var kind: SubjectKind {
        switch self {
        case .individual: .individual
        case .business: .business
        }
    }

    /// The normalised text.
    public var value: String {
        switch self {
        case .individual(let id): id.value
        case .business(let code): code.value
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}

extension String {
    func trimmingWhitespace() -> String {
        // Fast path: nothing to trim (the common case) needs no Character walk. A Character is whitespace by its
        // first scalar, and neither a visible ASCII character nor a CJK ideograph begins or ends a cluster that
        // is: no trailing mark can follow the last scalar, and no cluster joins a space to an ideograph.
        if let first = self.unicodeScalars.first, let last = self.unicodeScalars.last, Self.neverWhitespace(first), Self.neverWhitespace(last) {
            return self
        }
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    /// A visible ASCII character or a CJK unified ideograph (names and addresses on file are mostly these).
    private static func neverWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        (0x21..<0x7F).contains(scalar.value) || (0x4E00...0x9FFF).contains(scalar.value)
    }
}
