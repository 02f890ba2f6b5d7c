/// The size of every text field of every request, and the rules for text the bureau logs or discloses, in
/// one place. The proto field comments quote these limits; a field over its limit is refused with
/// INVALID_ARGUMENT naming the field path and the limit.
///
/// Limits are in UTF-8 bytes, not characters: a character can be any number of scalars (a letter with
/// thousands of combining marks is one `Character`), while bytes are what the bureau stores and logs.
/// A Chinese character is 3 bytes, so 200 bytes hold a name of 66 of them.
///
/// | field | bytes |
/// |---|---|
/// | request id, batch id, consent reference | 128 |
/// | freeze code, operator id, identifiers (resident identity number, credit code), record ids, account numbers, list codes, dispute and repair ids, institution code | 64 |
/// | person's name, legal representative's name | 200 |
/// | business name | 300 |
/// | phone | 32 |
/// | address province, address city | 64 each |
/// | address detail (street) | 300 |
/// | legal basis document number | 200 |
/// | authority (court, agency) | 300 |
/// | free text: reasons, notes, descriptions, statements, rectifications, fraud alert notes | 2000 |
/// | access log query filters: outcome, page token | 32 |
/// | payment history | 24 (one ASCII character a month) |
/// | currency | 3 (ISO 4217, capitals) |
///
/// Amounts (`Money.minor_units`) are 0 to ``Money/maximumMinorUnits`` (10^15) in every request.
public struct FieldLimit: Hashable, Sendable, CustomStringConvertible {
    /// The most UTF-8 bytes the field may hold.
    public let bytes: Int

    private init(bytes: Int) { self.bytes = bytes }

    /// Request ids and batch ids chosen by the caller.
    public static let requestID = FieldLimit(bytes: 128)
    /// A consent reference quoted by an agency.
    public static let consentReference = FieldLimit(bytes: 128)
    /// A freeze code the subject received.
    public static let freezeCode = FieldLimit(bytes: 64)
    /// The id of a member of an operator's staff (`bureau-operator-id`).
    public static let operatorID = FieldLimit(bytes: 64)
    /// A resident identity number or unified social credit code, before it is parsed.
    public static let identifier = FieldLimit(bytes: 64)
    /// A furnisher's record id or account number; dispute and repair ids.
    public static let recordID = FieldLimit(bytes: 64)
    /// A catalogue code (a list or category).
    public static let code = FieldLimit(bytes: 64)
    /// A person's name (also a business's legal representative).
    public static let personName = FieldLimit(bytes: 200)
    /// A business's registered name.
    public static let businessName = FieldLimit(bytes: 300)
    /// A phone number as sent (7 to 15 digits, an optional +, surrounding spaces).
    public static let phone = FieldLimit(bytes: 32)
    /// An address's province or city.
    public static let region = FieldLimit(bytes: 64)
    /// An address's street-level detail.
    public static let addressDetail = FieldLimit(bytes: 300)
    /// A legal document's number.
    public static let documentNumber = FieldLimit(bytes: 200)
    /// The court or authority that issued a document or a record.
    public static let authority = FieldLimit(bytes: 300)
    /// Free text: reasons, notes, descriptions, statements, rectifications.
    public static let freeText = FieldLimit(bytes: 2000)
    /// Small filter values (an outcome name, a page token).
    public static let filter = FieldLimit(bytes: 32)

    public var description: String { "\(self.bytes) bytes" }

    /// Checks that `text` fits.
    ///
    /// - Parameter field: the field path named in the error.
    /// - Throws: ``BureauError`` (invalid argument) naming `field` and the limit.
    public func check(_ text: String, field: @autoclosure () -> String) throws(BureauError) {
        let count = text.utf8.count
        guard count <= self.bytes else { throw .invalid(field(), "is at most \(self.bytes) bytes (UTF-8), got \(count)") }
    }
}

/// The rules for text the bureau writes to its access log or discloses in reports.
public enum LoggedText {
    /// Checks `text` against `limit`, then refuses control characters and national identifiers.
    ///
    /// - Parameter field: the field path named in the error.
    /// - Throws: ``BureauError`` (invalid argument) naming `field` and the rule broken.
    public static func check(_ text: String, field: @autoclosure () -> String, limit: FieldLimit) throws(BureauError) {
        try limit.check(text, field: field())
        try self.check(text, field: field())
    }

    /// Checks `text` against `limit` and refuses control characters: for text that is disclosed in reports
    /// (names, addresses) but not logged.
    ///
    /// - Throws: ``BureauError`` (invalid argument) naming `field` and the rule broken.
    public static func checkPrintable(_ text: String, field: @autoclosure () -> String, limit: FieldLimit) throws(BureauError) {
        try limit.check(text, field: field())
        if let scalar = self.firstControlCharacter(in: text) {
            throw .invalid(field(), "must not contain control characters (found U+\(self.hex(scalar.value)))")
        }
    }

    /// Refuses control characters and national identifiers in `text`.
    ///
    /// - Throws: ``BureauError`` (invalid argument) naming `field` and the rule broken.
    public static func check(_ text: String, field: @autoclosure () -> String) throws(BureauError) {
        if let scalar = self.firstControlCharacter(in: text) {
            throw .invalid(field(), "must not contain control characters (found U+\(self.hex(scalar.value)))")
        }
        if ResidentIdentityNumber.occurs(in: text) { throw .invalid(field(), "must not contain a national identifier") }
    }

    /// The first character that could rewrite a terminal, a log line or the order of text around it: C0
    /// controls (tab, CR, LF and ESC among them), DEL, C1 controls, the line and paragraph separators and the
    /// bidirectional embeddings, overrides and isolates.
    public static func firstControlCharacter(in text: String) -> Unicode.Scalar? {
        // Fast path: printable ASCII only (the common case).
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return nil }
        return text.unicodeScalars.first { s in
            switch s.value {
            case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
            default: false
            }
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

extension Money {
    /// The largest amount the bureau accepts, in minor units: 10^15 (ten trillion yuan in fen). Sums of
    /// amounts are computed in 128 bits, so no number of accounts can overflow them.
    public static let maximumMinorUnits: Int64 = 1_000_000_000_000_000
}
