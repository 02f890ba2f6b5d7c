/// An amount in minor units of an ISO 4217 currency.
public struct Money: Hashable, Codable, Sendable {
    public var minorUnits: Int64
    public var currency: String

    public init(minorUnits: Int64, currency: String) {
        self.minorUnits = minorUnits
        self.currency = currency
    }
}

/// A postal address. Masked reports show only province and city.
public struct Address: Hashable, Codable, Sendable {
    public var province: String
    public var city: String
    public var detail: String

    public init(province: String, city: String, detail: String) {
        self.province = province
        self.city = city
        self.detail = detail
    }
}

/// The legally binding document a negative record rests on.
public struct LegalBasis: Hashable, Codable, Sendable {
    public var documentNumber: String
    public var authority: String
    public var date: CalendarDate

    public init(documentNumber: String, authority: String, date: CalendarDate) {
        self.documentNumber = documentNumber
        self.authority = authority
        self.date = date
    }
}

/// The kinds of record a file holds besides the subject's identity.
public enum RecordKind: String, Hashable, Codable, Sendable, CaseIterable {
    case account
    case publicRecord = "public-record"
    case listEntry = "list-entry"
}

/// Names one record of one subject: the furnisher's own id for it (for accounts, the account number).
public struct RecordReference: Hashable, Codable, Sendable, CustomStringConvertible {
    public var kind: RecordKind
    public var furnisher: UnifiedSocialCreditCode
    public var recordID: String

    public init(kind: RecordKind, furnisher: UnifiedSocialCreditCode, recordID: String) {
        self.kind = kind
        self.furnisher = furnisher
        self.recordID = recordID
    }

    public var description: String { "\(self.kind.rawValue) \(self.recordID) of \(self.furnisher)" }
}

/// The type of a credit account (tradeline).
public enum AccountType: String, Hashable, Codable, Sendable, CaseIterable {
    case creditCard = "credit-card"
    case mortgage
    case personalLoan = "personal-loan"
    case autoLoan = "auto-loan"
    case businessLoan = "business-loan"
    case guarantee
}

/// An account's standing.
public enum AccountStatus: String, Hashable, Codable, Sendable, CaseIterable {
    case current
    case late30 = "late-30"
    case late60 = "late-60"
    case late90 = "late-90"
    case late120Plus = "late-120-plus"
    case chargedOff = "charged-off"
    case settled
    case closed

    /// Late payment and charge-off are negative information, with a retention limit.
    public var isNegative: Bool {
        switch self {
        case .late30, .late60, .late90, .late120Plus, .chargedOff: true
        case .current, .settled, .closed: false
        }
    }
}

/// A credit account furnished by a lender.
public struct Account: Hashable, Codable, Sendable {
    /// The furnishing institution.
    public var furnisher: UnifiedSocialCreditCode
    public var accountNumber: String
    public var type: AccountType
    public var opened: CalendarDate
    public var limit: Money
    public var balance: Money
    public var status: AccountStatus
    /// Oldest month first, at most 24 characters of `N 0-7 C *`.
    public var paymentHistory: String
    public var closed: CalendarDate?
    /// Required when the status is negative.
    public var legalBasis: LegalBasis?
    /// The last day of the negative behaviour (as of the furnisher's latest report); retention counts from it.
    public var behaviourEnded: CalendarDate?

    public init(
        furnisher: UnifiedSocialCreditCode, accountNumber: String, type: AccountType, opened: CalendarDate,
        limit: Money, balance: Money, status: AccountStatus, paymentHistory: String, closed: CalendarDate?,
        legalBasis: LegalBasis? = nil, behaviourEnded: CalendarDate? = nil
    ) {
        self.furnisher = furnisher
        self.accountNumber = accountNumber
        self.type = type
        self.opened = opened
        self.limit = limit
        self.balance = balance
        self.status = status
        self.paymentHistory = paymentHistory
        self.closed = closed
        self.legalBasis = legalBasis
        self.behaviourEnded = behaviourEnded
    }

    /// Whether `byte` is one a payment history may hold: `N`, `0`-`7`, `C` or `*`, each one byte of UTF-8
    /// (checked by byte: a bulk import checks 72 million of them for 1M people).
    public static func isPaymentHistoryByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "7"), UInt8(ascii: "N"), UInt8(ascii: "C"), UInt8(ascii: "*"): true
        default: false
        }
    }

    /// `account.delinquency` for a negative status, `account.credit` otherwise.
    public var category: String { self.status.isNegative ? Catalogue.accountDelinquency : Catalogue.accountCredit }

    public var reference: RecordReference { RecordReference(kind: .account, furnisher: self.furnisher, recordID: self.accountNumber) }
}

/// The type of a public record.
public enum PublicRecordType: String, Hashable, Codable, Sendable, CaseIterable {
    case courtJudgment = "court-judgment"
    case enforcement
    case administrativePenalty = "administrative-penalty"
    case taxArrears = "tax-arrears"

    /// Its catalogue category.
    public var category: String { "public-record.\(self.rawValue)" }
}

/// A court judgment, an enforcement (judgment defaulter), an administrative penalty or tax arrears.
public struct PublicRecord: Hashable, Codable, Sendable {
    public var furnisher: UnifiedSocialCreditCode
    public var recordID: String
    public var type: PublicRecordType
    /// The court or authority that decided.
    public var authority: String
    public var legalBasis: LegalBasis
    public var amount: Money?
    public var filed: CalendarDate
    public var behaviourEnded: CalendarDate
    public var description: String

    public init(
        furnisher: UnifiedSocialCreditCode, recordID: String, type: PublicRecordType, authority: String, legalBasis: LegalBasis,
        amount: Money?, filed: CalendarDate, behaviourEnded: CalendarDate, description: String
    ) {
        self.furnisher = furnisher
        self.recordID = recordID
        self.type = type
        self.authority = authority
        self.legalBasis = legalBasis
        self.amount = amount
        self.filed = filed
        self.behaviourEnded = behaviourEnded
        self.description = description
    }

    public var category: String { self.type.category }
    public var reference: RecordReference { RecordReference(kind: .publicRecord, furnisher: self.furnisher, recordID: self.recordID) }
}

/// How serious a listing on the severe-untrustworthiness list is; decides its publicity period.
public enum ListSeverity: String, Hashable, Codable, Sendable, CaseIterable {
    case minor
    case general
    case serious
}

/// An entry on a list the catalogue defines (the severe-untrustworthiness list, red lists).
public struct ListEntry: Hashable, Codable, Sendable {
    public var furnisher: UnifiedSocialCreditCode
    public var recordID: String
    /// The list's catalogue code.
    public var list: String
    public var severity: ListSeverity?
    public var reason: String
    public var legalBasis: LegalBasis
    public var listed: CalendarDate
    /// Publication stops after this day.
    public var publicityEnds: CalendarDate

    public init(
        furnisher: UnifiedSocialCreditCode, recordID: String, list: String, severity: ListSeverity?, reason: String,
        legalBasis: LegalBasis, listed: CalendarDate, publicityEnds: CalendarDate
    ) {
        self.furnisher = furnisher
        self.recordID = recordID
        self.list = list
        self.severity = severity
        self.reason = reason
        self.legalBasis = legalBasis
        self.listed = listed
        self.publicityEnds = publicityEnds
    }

    public var category: String { self.list }
    public var reference: RecordReference { RecordReference(kind: .listEntry, furnisher: self.furnisher, recordID: self.recordID) }
}

/// A statement the subject attached to their file or to one record.
public struct Statement: Hashable, Codable, Sendable {
    public var id: String
    public var text: String
    public var added: CalendarDate
    public var about: RecordReference?

    public init(id: String, text: String, added: CalendarDate, about: RecordReference?) {
        self.id = id
        self.text = text
        self.added = added
        self.about = about
    }
}

/// A mark that the subject disputes a record; shown on every report until resolved.
public struct DisputeMark: Hashable, Codable, Sendable {
    public var id: String
    public var record: RecordReference
    public var filed: CalendarDate
    public var description: String

    public init(id: String, record: RecordReference, filed: CalendarDate, description: String) {
        self.id = id
        self.record = record
        self.filed = filed
        self.description = description
    }
}

/// A person's identity as kept on file (cleartext; only ever disclosed through ``Masking``).
public struct PersonIdentity: Hashable, Codable, Sendable {
    public var name: String
    /// The normalised resident identity number.
    public var identifier: String
    public var birthDate: CalendarDate
    public var phone: String
    public var address: Address

    public init(name: String, identifier: String, birthDate: CalendarDate, phone: String, address: Address) {
        self.name = name
        self.identifier = identifier
        self.birthDate = birthDate
        self.phone = phone
        self.address = address
    }
}

/// A business's registration as kept on file.
public struct BusinessRegistration: Hashable, Codable, Sendable {
    public var name: String
    public var code: String
    public var registrationDate: CalendarDate
    public var address: Address
    public var legalRepresentativeName: String
    public var legalRepresentativeIdentifier: String

    public init(
        name: String, code: String, registrationDate: CalendarDate, address: Address,
        legalRepresentativeName: String, legalRepresentativeIdentifier: String
    ) {
        self.name = name
        self.code = code
        self.registrationDate = registrationDate
        self.address = address
        self.legalRepresentativeName = legalRepresentativeName
        self.legalRepresentativeIdentifier = legalRepresentativeIdentifier
    }
}

/// One record of any kind.
public enum CreditRecord: Hashable, Codable, Sendable {
    case account(Account)
    case publicRecord(PublicRecord)
    case listEntry(ListEntry)

    public var reference: RecordReference {
        switch self {
        case .account(let a): a.reference
        case .publicRecord(let p): p.reference
        case .listEntry(let l): l.reference
        }
    }

    /// The record's catalogue category.
    public var category: String {
        switch self {
        case .account(let a): a.category
        case .publicRecord(let p): p.category
        case .listEntry(let l): l.category
        }
    }

    /// The day the record stops being disclosed under `catalogue`, or nil when it has no limit.
    public func expiry(under catalogue: Catalogue) -> CalendarDate? {
        switch self {
        case .listEntry(let entry):
            return entry.publicityEnds
        case .account(let account):
            guard let ended = account.behaviourEnded, let category = catalogue.category(account.category),
                category.negative, category.retentionYears > 0
            else { return nil }
            return ended.adding(years: Int(category.retentionYears))
        case .publicRecord(let record):
            guard let category = catalogue.category(record.category), category.negative, category.retentionYears > 0 else { return nil }
            return record.behaviourEnded.adding(years: Int(category.retentionYears))
        }
    }
}

/// Everything on file about one subject.
public struct CreditFile: Hashable, Codable, Sendable {
    public enum Subject: Hashable, Codable, Sendable {
        case person(PersonIdentity)
        case business(BusinessRegistration)
    }

    /// The identity reports show: the best current value of ``identitySources`` (``IdentityRule``), set by
    /// whoever assembles the file (the store).
    public var subject: Subject
    /// Every source's identity facts, attributed and dated (empty for a file built without them).
    public var identitySources: [IdentitySource] = []
    public var accounts: [Account]
    public var publicRecords: [PublicRecord]
    public var listEntries: [ListEntry]
    public var statements: [Statement]
    public var disputes: [DisputeMark]
    /// Records (accounts, public records, list entries) stored on this copy of the file whose content was
    /// crypto-shredded: deleted after this copy of the data was made (a restored backup), their data key
    /// destroyed, so nothing of them can be opened. Counted, never shown; distinct from a record that fails
    /// to open because it was altered, which is an error.
    public var removedRecords = 0
    /// Statements and dispute marks stored on this copy whose content was crypto-shredded, as ``removedRecords``.
    public var removedAttachments = 0

    public init(
        subject: Subject, accounts: [Account] = [], publicRecords: [PublicRecord] = [], listEntries: [ListEntry] = [],
        statements: [Statement] = [], disputes: [DisputeMark] = []
    ) {
        self.subject = subject
        self.accounts = accounts
        self.publicRecords = publicRecords
        self.listEntries = listEntries
        self.statements = statements
        self.disputes = disputes
    }

    public var kind: SubjectKind {
        switch self.subject {
        case .person: .individual
        case .business: .business
        }
    }

    /// Every record, accounts first.
    public var records: [CreditRecord] {
        self.accounts.map(CreditRecord.account) + self.publicRecords.map(CreditRecord.publicRecord)
            + self.listEntries.map(CreditRecord.listEntry)
    }

    /// Adds or replaces a record (same kind, furnisher and record id).
    public mutating func upsert(_ record: CreditRecord) {
        switch record {
        case .account(let a):
            if let i = self.accounts.firstIndex(where: { $0.reference == a.reference }) { self.accounts[i] = a } else { self.accounts.append(a) }
        case .publicRecord(let p):
            if let i = self.publicRecords.firstIndex(where: { $0.reference == p.reference }) { self.publicRecords[i] = p } else { self.publicRecords.append(p) }
        case .listEntry(let l):
            if let i = self.listEntries.firstIndex(where: { $0.reference == l.reference }) { self.listEntries[i] = l } else { self.listEntries.append(l) }
        }
    }

    /// Puts each kind of record in the order reports show them: by furnisher, then by the furnisher's record id
    /// (the account number for accounts). Stores keep records under keyed tokens, whose order means nothing, so
    /// whoever assembles a file calls this once it holds every record.
    public mutating func putRecordsInOrder() {
        func precedes(_ a: RecordReference, _ b: RecordReference) -> Bool {
            (a.furnisher.value, a.recordID) < (b.furnisher.value, b.recordID)
        }
        self.accounts.sort { precedes($0.reference, $1.reference) }
        self.publicRecords.sort { precedes($0.reference, $1.reference) }
        self.listEntries.sort { precedes($0.reference, $1.reference) }
    }

    /// The furnishers holding at least one record on the file.
    public var recordHolders: Set<UnifiedSocialCreditCode> {
        Set(self.accounts.map(\.furnisher)).union(self.publicRecords.map(\.furnisher)).union(self.listEntries.map(\.furnisher))
    }

    /// Whether a dispute mark stands on `reference`.
    public func isDisputed(_ reference: RecordReference) -> Bool {
        self.disputes.contains { $0.record == reference }
    }
}
