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

    public init(
        furnisher: UnifiedSocialCreditCode, accountNumber: String, type: AccountType, opened: CalendarDate,
        limit: Money, balance: Money, status: AccountStatus, paymentHistory: String, closed: CalendarDate?
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
    }

    /// The characters a payment history may hold.
    public static let paymentHistoryAlphabet: Set<Character> = ["N", "0", "1", "2", "3", "4", "5", "6", "7", "C", "*"]
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

/// Everything on file about one subject.
public struct CreditFile: Hashable, Codable, Sendable {
    public enum Subject: Hashable, Codable, Sendable {
        case person(PersonIdentity)
        case business(BusinessRegistration)
    }

    public var subject: Subject
    public var accounts: [Account]

    public init(subject: Subject, accounts: [Account]) {
        self.subject = subject
        self.accounts = accounts
    }

    public var kind: SubjectKind {
        switch self.subject {
        case .person: .individual
        case .business: .business
        }
    }

    /// Merges furnished accounts into the file: an account with the same furnisher and account number
    /// is replaced, others are appended.
    public mutating func merge(accounts incoming: [Account]) {
        for account in incoming {
            if let i = self.accounts.firstIndex(where: {
                $0.furnisher == account.furnisher && $0.accountNumber == account.accountNumber
            }) {
                self.accounts[i] = account
            } else {
                self.accounts.append(account)
            }
        }
    }
}
