/// The masking rules of the bureau (DESIGN.md, "Masking"). Applied on the server, per purpose, before a
/// report is encoded.
public enum Masking {
    /// Resident identity number: first 6 and last 4 shown (`110105********002X`).
    public static func residentIdentifier(_ id: String) -> String {
        Self.keeping(id, first: 6, last: 4)
    }

    /// Names: the first character and a star for each other character.
    public static func name(_ name: String) -> String {
        guard let first = name.first else { return "" }
        return String(first) + String(repeating: "*", count: max(1, name.count - 1))
    }

    /// Phone numbers: first 3 and last 4.
    public static func phone(_ phone: String) -> String {
        Self.keeping(phone, first: 3, last: 4)
    }

    /// Account and card numbers: last 4.
    public static func accountNumber(_ number: String) -> String {
        Self.keeping(number, first: 0, last: 4)
    }

    /// `text` with its `first` and `last` characters kept and a star for each other one; all stars when it
    /// has no more than `first + last` characters.
    static func keeping(_ text: String, first: Int, last: Int) -> String {
        // Printable ASCII (what identifiers, phones and account numbers are): one byte a character, so the
        // bytes are masked in place instead of the string being split into characters (a report masks a dozen).
        if text.utf8.allSatisfy({ (0x20..<0x7F).contains($0) }) {
            var bytes = Array(text.utf8)
            let starred = bytes.count > first + last ? first..<(bytes.count - last) : 0..<bytes.count
            for i in starred { bytes[i] = UInt8(ascii: "*") }
            return String(decoding: bytes, as: UTF8.self)
        }
        let chars = Array(text)
        guard chars.count > first + last else { return String(repeating: "*", count: chars.count) }
        return String(chars.prefix(first)) + String(repeating: "*", count: chars.count - first - last) + String(chars.suffix(last))
    }

    /// Addresses: province and city only.
    public static func address(_ address: Address) -> Address {
        Address(province: address.province, city: address.city, detail: "")
    }
}

extension RecordReference {
    /// The record as a log entry names it: kind, the record id masked to its last 4 characters, furnisher.
    /// The log is kept for years, exported to regulators and never sealed, so it carries no full account
    /// number (issue 15); the entry's change digest still binds the exact request.
    public var logged: String { "\(self.kind.rawValue) \(Masking.accountNumber(self.recordID)) of \(self.furnisher)" }
}
