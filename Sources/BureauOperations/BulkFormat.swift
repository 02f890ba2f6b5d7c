public import BureauCore

/// One line of a bulk file (JSON Lines): one furnisher's records about one subject. Dates are
/// `YYYY-MM-DD`, amounts in minor units, enums in their lowercase names (`credit-card`, `late-30`).
///
/// ```json
/// {"furnisher":"91110000100000016D","kind":"individual","identifier":"11010519491231002X","name":"王建国",
///  "date":"1949-12-31","phone":"13812345678","address":{"province":"北京市","city":"北京市","detail":"…"},
///  "accounts":[{"account_number":"6222020200112233","type":"credit-card","opened":"2015-06-01",
///    "limit":{"minor_units":5000000,"currency":"CNY"},"balance":{"minor_units":123456,"currency":"CNY"},
///    "status":"current","payment_history":"000000000000000000000000"}]}
/// ```
public struct SubjectLine: Codable, Sendable, Hashable {
    public struct LegalBasisLine: Codable, Sendable, Hashable {
        public var documentNumber: String
        public var authority: String
        public var date: String

        enum CodingKeys: String, CodingKey {
            case documentNumber = "document_number", authority, date
        }
    }

    public struct MoneyLine: Codable, Sendable, Hashable {
        public var minorUnits: Int64
        public var currency: String

        enum CodingKeys: String, CodingKey {
            case minorUnits = "minor_units", currency
        }
    }

    public struct AccountLine: Codable, Sendable, Hashable {
        public var accountNumber: String
        public var type: String
        public var opened: String
        public var limit: MoneyLine
        public var balance: MoneyLine
        public var status: String
        public var paymentHistory: String
        public var closed: String?
        public var legalBasis: LegalBasisLine?
        public var behaviourEnded: String?

        enum CodingKeys: String, CodingKey {
            case accountNumber = "account_number", type, opened, limit, balance, status
            case paymentHistory = "payment_history", closed
            case legalBasis = "legal_basis", behaviourEnded = "behaviour_ended"
        }
    }

    public struct PublicRecordLine: Codable, Sendable, Hashable {
        public var recordID: String
        public var type: String
        public var authority: String
        public var legalBasis: LegalBasisLine?
        public var amount: MoneyLine?
        public var filed: String
        public var behaviourEnded: String?
        public var description: String?

        enum CodingKeys: String, CodingKey {
            case recordID = "record_id", type, authority, legalBasis = "legal_basis", amount, filed
            case behaviourEnded = "behaviour_ended", description
        }
    }

    public struct ListEntryLine: Codable, Sendable, Hashable {
        public var recordID: String
        public var list: String
        public var severity: String?
        public var reason: String
        public var legalBasis: LegalBasisLine?
        public var listed: String
        public var publicityEnds: String

        enum CodingKeys: String, CodingKey {
            case recordID = "record_id", list, severity, reason, legalBasis = "legal_basis", listed
            case publicityEnds = "publicity_ends"
        }
    }

    public struct RepresentativeLine: Codable, Sendable, Hashable {
        public var name: String
        public var identifier: String
    }

    public var furnisher: String
    public var kind: String
    public var identifier: String
    public var name: String
    public var date: String
    public var phone: String?
    public var address: Address
    public var legalRepresentative: RepresentativeLine?
    public var accounts: [AccountLine]?
    public var publicRecords: [PublicRecordLine]?
    public var listEntries: [ListEntryLine]?

    enum CodingKeys: String, CodingKey {
        case furnisher, kind, identifier, name, date, phone, address
        case legalRepresentative = "legal_representative", accounts
        case publicRecords = "public_records", listEntries = "list_entries"
    }

    /// The submission this line makes, for ``Furnishing`` to validate. Text that is not a date or an
    /// enum value maps to a value validation refuses, naming the field.
    public var submitted: SubmittedSubject {
        SubmittedSubject(
            kind: SubjectKind(rawValue: self.kind),
            identifier: self.identifier,
            name: self.name,
            date: Self.date(self.date),
            phone: self.phone ?? "",
            address: self.address,
            legalRepresentativeName: self.legalRepresentative?.name ?? "",
            legalRepresentativeIdentifier: self.legalRepresentative?.identifier ?? "",
            accounts: (self.accounts ?? []).map { a in
                SubmittedAccount(
                    accountNumber: a.accountNumber, type: AccountType(rawValue: a.type), opened: Self.date(a.opened),
                    limit: Money(minorUnits: a.limit.minorUnits, currency: a.limit.currency),
                    balance: Money(minorUnits: a.balance.minorUnits, currency: a.balance.currency),
                    status: AccountStatus(rawValue: a.status), paymentHistory: a.paymentHistory,
                    closed: a.closed.map(Self.date) ?? nil, legalBasis: a.legalBasis.map(Self.basis),
                    behaviourEnded: a.behaviourEnded.map(Self.date) ?? nil
                )
            },
            publicRecords: (self.publicRecords ?? []).map { p in
                SubmittedPublicRecord(
                    recordID: p.recordID, type: PublicRecordType(rawValue: p.type), authority: p.authority,
                    legalBasis: p.legalBasis.map(Self.basis), amount: p.amount.map { Money(minorUnits: $0.minorUnits, currency: $0.currency) },
                    filed: Self.date(p.filed), behaviourEnded: p.behaviourEnded.map(Self.date) ?? nil, description: p.description ?? ""
                )
            },
            listEntries: (self.listEntries ?? []).map { l in
                SubmittedListEntry(
                    recordID: l.recordID, list: l.list, severity: l.severity.flatMap(ListSeverity.init(rawValue:)), reason: l.reason,
                    legalBasis: l.legalBasis.map(Self.basis), listed: Self.date(l.listed), publicityEnds: Self.date(l.publicityEnds)
                )
            }
        )
    }

    /// `YYYY-MM-DD` as date fields; anything else as an impossible date that validation names.
    static func date(_ text: String) -> DateFields? {
        if text.isEmpty { return nil }
        // The usual form, read in place: ten ASCII bytes, digits but at 4 and 7.
        if text.utf8.count == 10, let fields = text.utf8.withContiguousStorageIfAvailable({ b -> DateFields? in
            func number(_ range: Range<Int>) -> Int? {
                var value = 0
                for i in range {
                    guard (0x30...0x39).contains(b[i]) else { return nil }
                    value = value * 10 + Int(b[i] - 0x30)
                }
                return value
            }
            guard b[4] == 0x2D, b[7] == 0x2D, let y = number(0..<4), let m = number(5..<7), let d = number(8..<10) else { return nil }
            return DateFields(year: y, month: m, day: d)
        }), let fields {
            return fields
        }
        let parts = text.split(separator: "-")
        guard parts.count == 3, let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else {
            return DateFields(year: -1, month: -1, day: -1)
        }
        return DateFields(year: y, month: m, day: d)
    }

    static func basis(_ line: LegalBasisLine) -> SubmittedLegalBasis {
        SubmittedLegalBasis(documentNumber: line.documentNumber, authority: line.authority, date: date(line.date))
    }
}
