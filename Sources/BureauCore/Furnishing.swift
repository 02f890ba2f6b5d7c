/// A date as it arrived in a request, before validation.
public struct DateFields: Hashable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    var isEmpty: Bool { self.year == 0 && self.month == 0 && self.day == 0 }
}

/// An account as a furnisher submitted it, before validation.
public struct SubmittedAccount: Hashable, Sendable {
    public var accountNumber: String
    public var type: AccountType?
    public var opened: DateFields?
    public var limit: Money?
    public var balance: Money?
    public var status: AccountStatus?
    public var paymentHistory: String
    public var closed: DateFields?

    public init(
        accountNumber: String, type: AccountType?, opened: DateFields?, limit: Money?, balance: Money?,
        status: AccountStatus?, paymentHistory: String, closed: DateFields?
    ) {
        self.accountNumber = accountNumber
        self.type = type
        self.opened = opened
        self.limit = limit
        self.balance = balance
        self.status = status
        self.paymentHistory = paymentHistory
        self.closed = closed
    }
}

/// A subject as a furnisher submitted it, before validation.
public struct SubmittedSubject: Hashable, Sendable {
    public var kind: SubjectKind?
    public var identifier: String
    public var name: String
    public var date: DateFields?
    public var phone: String
    public var address: Address?
    public var legalRepresentativeName: String
    public var legalRepresentativeIdentifier: String
    public var accounts: [SubmittedAccount]

    public init(
        kind: SubjectKind?, identifier: String, name: String, date: DateFields?, phone: String, address: Address?,
        legalRepresentativeName: String = "", legalRepresentativeIdentifier: String = "", accounts: [SubmittedAccount]
    ) {
        self.kind = kind
        self.identifier = identifier
        self.name = name
        self.date = date
        self.phone = phone
        self.address = address
        self.legalRepresentativeName = legalRepresentativeName
        self.legalRepresentativeIdentifier = legalRepresentativeIdentifier
        self.accounts = accounts
    }
}

/// A validated subject, ready to be merged into its file.
public struct FurnishedSubject: Hashable, Sendable {
    public var identifier: SubjectIdentifier
    /// The file as submitted: identity or registration, and the submitted accounts.
    public var file: CreditFile
}

/// The rules a furnished batch must pass. Every error names the field path
/// (`subjects[2].accounts[0].payment_history`) and the rule; a batch with one error is refused whole.
public enum Furnishing {
    /// The most subjects one batch may carry.
    public static let maxSubjectsPerBatch = 1000
    /// The most accounts one subject may carry in a batch.
    public static let maxAccountsPerSubject = 100

    /// Validates a batch from `furnisher`, dated `today`.
    ///
    /// - Throws: ``BureauError`` (invalid argument) for the first rule broken.
    public static func validate(
        batchID: String,
        subjects: [SubmittedSubject],
        furnisher: UnifiedSocialCreditCode,
        today: CalendarDate
    ) throws(BureauError) -> [FurnishedSubject] {
        let trimmedBatch = batchID.trimmingWhitespace()
        guard !trimmedBatch.isEmpty else { throw .invalid("batch_id", "is required") }
        guard trimmedBatch.count <= 128 else { throw .invalid("batch_id", "is at most 128 characters") }
        guard !subjects.isEmpty else { throw .invalid("subjects", "a batch needs at least one subject") }
        guard subjects.count <= maxSubjectsPerBatch else {
            throw .invalid("subjects", "a batch holds at most \(maxSubjectsPerBatch) subjects, got \(subjects.count)")
        }
        var seen: [SubjectIdentifier: Int] = [:]
        var result: [FurnishedSubject] = []
        for (i, subject) in subjects.enumerated() {
            let furnished = try validate(subject, at: "subjects[\(i)]", furnisher: furnisher, today: today)
            if let first = seen[furnished.identifier] {
                throw .invalid("subjects[\(i)].identifier", "the same subject appears at subjects[\(first)]; send it once")
            }
            seen[furnished.identifier] = i
            result.append(furnished)
        }
        return result
    }

    static func validate(
        _ s: SubmittedSubject, at path: String, furnisher: UnifiedSocialCreditCode, today: CalendarDate
    ) throws(BureauError) -> FurnishedSubject {
        guard let kind = s.kind else { throw .invalid("\(path).kind", "must be individual or business") }
        let identifier = try SubjectIdentifier(kind: kind, parsing: s.identifier, field: "\(path).identifier")
        let name = s.name.trimmingWhitespace()
        guard !name.isEmpty else { throw .invalid("\(path).name", "is required") }
        guard name.count <= 100 else { throw .invalid("\(path).name", "is at most 100 characters") }
        let date = try validDate(s.date, at: "\(path).date", today: today)
        let phone = s.phone.trimmingWhitespace()
        if !phone.isEmpty {
            let digits = phone.hasPrefix("+") ? String(phone.dropFirst()) : phone
            guard (7...15).contains(digits.count), digits.allSatisfy(\.isASCIIDigit) else {
                throw .invalid("\(path).phone", "is 7 to 15 digits, optionally after a +")
            }
        }
        guard let address = s.address, !address.province.trimmingWhitespace().isEmpty,
            !address.city.trimmingWhitespace().isEmpty
        else { throw .invalid("\(path).address", "province and city are required") }

        let subject: CreditFile.Subject
        switch identifier {
        case .individual(let id):
            guard date == id.birthDate else {
                throw .invalid("\(path).date", "must equal the birth date encoded in the identifier")
            }
            guard s.legalRepresentativeName.isEmpty, s.legalRepresentativeIdentifier.isEmpty else {
                throw .invalid("\(path).legal_representative", "is only for businesses")
            }
            subject = .person(PersonIdentity(name: name, identifier: id.value, birthDate: date, phone: phone, address: address))
        case .business(let code):
            let repName = s.legalRepresentativeName.trimmingWhitespace()
            guard !repName.isEmpty else { throw .invalid("\(path).legal_representative.name", "is required for a business") }
            let rep = try ResidentIdentityNumber(parsing: s.legalRepresentativeIdentifier, field: "\(path).legal_representative.identifier")
            subject = .business(
                BusinessRegistration(
                    name: name, code: code.value, registrationDate: date, address: address,
                    legalRepresentativeName: repName, legalRepresentativeIdentifier: rep.value
                )
            )
        }

        guard s.accounts.count <= maxAccountsPerSubject else {
            throw .invalid("\(path).accounts", "at most \(maxAccountsPerSubject) accounts a subject in one batch")
        }
        var numbers: [String: Int] = [:]
        var accounts: [Account] = []
        for (j, a) in s.accounts.enumerated() {
            let account = try validate(a, at: "\(path).accounts[\(j)]", kind: kind, furnisher: furnisher, today: today)
            if let first = numbers[account.accountNumber] {
                throw .invalid("\(path).accounts[\(j)].account_number", "repeats accounts[\(first)] of the same subject")
            }
            numbers[account.accountNumber] = j
            accounts.append(account)
        }
        return FurnishedSubject(identifier: identifier, file: CreditFile(subject: subject, accounts: accounts))
    }

    static func validate(
        _ a: SubmittedAccount, at path: String, kind: SubjectKind, furnisher: UnifiedSocialCreditCode, today: CalendarDate
    ) throws(BureauError) -> Account {
        let number = a.accountNumber.trimmingWhitespace()
        guard !number.isEmpty else { throw .invalid("\(path).account_number", "is required") }
        guard number.count <= 32, number.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw .invalid("\(path).account_number", "is 1 to 32 letters, digits or dashes")
        }
        guard let type = a.type else { throw .invalid("\(path).type", "must name an account type") }
        if kind == .individual && type == .businessLoan {
            throw .invalid("\(path).type", "a business loan cannot be furnished on an individual's file")
        }
        let opened = try validDate(a.opened, at: "\(path).opened", today: today)
        guard let limit = a.limit else { throw .invalid("\(path).limit", "is required") }
        try validMoney(limit, at: "\(path).limit")
        guard let balance = a.balance else { throw .invalid("\(path).balance", "is required") }
        try validMoney(balance, at: "\(path).balance")
        guard balance.currency == limit.currency else {
            throw .invalid("\(path).balance.currency", "must equal the limit's currency \(limit.currency)")
        }
        guard let status = a.status else { throw .invalid("\(path).status", "must name an account status") }
        guard a.paymentHistory.count <= 24 else {
            throw .invalid("\(path).payment_history", "holds at most 24 months, got \(a.paymentHistory.count)")
        }
        guard a.paymentHistory.allSatisfy({ Account.paymentHistoryAlphabet.contains($0) }) else {
            throw .invalid("\(path).payment_history", "uses only N, 0-7, C and *")
        }
        var closed: CalendarDate?
        if let fields = a.closed, !fields.isEmpty {
            closed = try validDate(fields, at: "\(path).closed", today: today)
        }
        switch status {
        case .closed, .settled, .chargedOff:
            guard let closedDate = closed else {
                throw .invalid("\(path).closed", "is required when the status is \(status.rawValue)")
            }
            guard closedDate >= opened else { throw .invalid("\(path).closed", "cannot be before opened") }
        case .current, .late30, .late60, .late90, .late120Plus:
            guard closed == nil else { throw .invalid("\(path).closed", "must be empty for an open account") }
        }
        return Account(
            furnisher: furnisher, accountNumber: number, type: type, opened: opened, limit: limit, balance: balance,
            status: status, paymentHistory: a.paymentHistory, closed: closed
        )
    }

    static func validDate(_ fields: DateFields?, at path: String, today: CalendarDate) throws(BureauError) -> CalendarDate {
        guard let fields, !fields.isEmpty else { throw .invalid(path, "is required") }
        guard let date = CalendarDate(year: fields.year, month: fields.month, day: fields.day), date.year >= 1900 else {
            throw .invalid(path, "must be a real date after 1900")
        }
        guard date <= today else { throw .invalid(path, "cannot be in the future") }
        return date
    }

    static func validMoney(_ money: Money, at path: String) throws(BureauError) {
        guard money.minorUnits >= 0 else { throw .invalid("\(path).minor_units", "cannot be negative") }
        guard money.currency.count == 3, money.currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw .invalid("\(path).currency", "is a 3-letter ISO 4217 code in capitals")
        }
    }
}
