/// The masking rules of the bureau (DESIGN.md, "Masking"). Applied on the server, per purpose, before a
/// report is encoded.
public enum Masking {
    /// Resident identity number: first 6 and last 4 shown (`110105********002X`).
    public static func residentIdentifier(_ id: String) -> String {
        let chars = Array(id)
        guard chars.count > 10 else { return String(repeating: "*", count: chars.count) }
        return String(chars.prefix(6)) + String(repeating: "*", count: chars.count - 10) + String(chars.suffix(4))
    }

    /// Names: the first character and a star for each other character.
    public static func name(_ name: String) -> String {
        guard let first = name.first else { return "" }
        return String(first) + String(repeating: "*", count: max(1, name.count - 1))
    }

    /// Phone numbers: first 3 and last 4.
    public static func phone(_ phone: String) -> String {
        let chars = Array(phone)
        guard chars.count > 7 else { return String(repeating: "*", count: chars.count) }
        return String(chars.prefix(3)) + String(repeating: "*", count: chars.count - 7) + String(chars.suffix(4))
    }

    /// Account and card numbers: last 4.
    public static func accountNumber(_ number: String) -> String {
        let chars = Array(number)
        guard chars.count > 4 else { return String(repeating: "*", count: chars.count) }
        return String(repeating: "*", count: chars.count - 4) + String(chars.suffix(4))
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
