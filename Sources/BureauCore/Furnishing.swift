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

    public init(_ date: CalendarDate) {
        self.init(year: date.year, month: date.month, day: date.day)
    }

    var isEmpty: Bool { self.year == 0 && self.month == 0 && self.day == 0 }
}

/// A legal basis as it arrived, before validation.
public struct SubmittedLegalBasis: Hashable, Sendable {
    public var documentNumber: String
    public var authority: String
    public var date: DateFields?

    public init(documentNumber: String, authority: String, date: DateFields?) {
        self.documentNumber = documentNumber
        self.authority = authority
        self.date = date
    }
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
    public var legalBasis: SubmittedLegalBasis?
    public var behaviourEnded: DateFields?

    public init(
        accountNumber: String, type: AccountType?, opened: DateFields?, limit: Money?, balance: Money?,
        status: AccountStatus?, paymentHistory: String, closed: DateFields?,
        legalBasis: SubmittedLegalBasis? = nil, behaviourEnded: DateFields? = nil
    ) {
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
}

/// A public record as submitted, before validation.
public struct SubmittedPublicRecord: Hashable, Sendable {
    public var recordID: String
    public var type: PublicRecordType?
    public var authority: String
    public var legalBasis: SubmittedLegalBasis?
    public var amount: Money?
    public var filed: DateFields?
    public var behaviourEnded: DateFields?
    public var description: String

    public init(
        recordID: String, type: PublicRecordType?, authority: String, legalBasis: SubmittedLegalBasis?, amount: Money?,
        filed: DateFields?, behaviourEnded: DateFields?, description: String
    ) {
        self.recordID = recordID
        self.type = type
        self.authority = authority
        self.legalBasis = legalBasis
        self.amount = amount
        self.filed = filed
        self.behaviourEnded = behaviourEnded
        self.description = description
    }
}

/// A list entry as submitted, before validation.
public struct SubmittedListEntry: Hashable, Sendable {
    public var recordID: String
    public var list: String
    public var severity: ListSeverity?
    public var reason: String
    public var legalBasis: SubmittedLegalBasis?
    public var listed: DateFields?
    public var publicityEnds: DateFields?

    public init(
        recordID: String, list: String, severity: ListSeverity?, reason: String, legalBasis: SubmittedLegalBasis?,
        listed: DateFields?, publicityEnds: DateFields?
    ) {
        self.recordID = recordID
        self.list = list
        self.severity = severity
        self.reason = reason
        self.legalBasis = legalBasis
        self.listed = listed
        self.publicityEnds = publicityEnds
    }
}

/// One record as submitted.
public enum SubmittedRecord: Hashable, Sendable {
    case account(SubmittedAccount)
    case publicRecord(SubmittedPublicRecord)
    case listEntry(SubmittedListEntry)
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
    public var publicRecords: [SubmittedPublicRecord]
    public var listEntries: [SubmittedListEntry]

    public init(
        kind: SubjectKind?, identifier: String, name: String, date: DateFields?, phone: String, address: Address?,
        legalRepresentativeName: String = "", legalRepresentativeIdentifier: String = "", accounts: [SubmittedAccount],
        publicRecords: [SubmittedPublicRecord] = [], listEntries: [SubmittedListEntry] = []
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
        self.publicRecords = publicRecords
        self.listEntries = listEntries
    }
}

/// A validated subject: its identity or registration and the records submitted with it, as one
/// furnisher reported them on one day.
public struct FurnishedSubject: Hashable, Sendable {
    public var identifier: SubjectIdentifier
    /// The furnisher's identity facts (they replace only its own, see ``IdentityRule``).
    public var subject: CreditFile.Subject
    public var records: [CreditRecord]
    /// The furnisher that reported the subject.
    public var furnisher: UnifiedSocialCreditCode
    /// The day of the report.
    public var reported: CalendarDate

    public init(
        identifier: SubjectIdentifier, subject: CreditFile.Subject, records: [CreditRecord], furnisher: UnifiedSocialCreditCode,
        reported: CalendarDate
    ) {
        self.identifier = identifier
        self.subject = subject
        self.records = records
        self.furnisher = furnisher
        self.reported = reported
    }
}

/// The rules a furnished batch must pass. Every error names the field path
/// (`subjects[2].accounts[0].payment_history`) and the rule; a batch with one error is refused whole.
public struct Furnishing: Sendable {
    /// The most subjects one batch may carry.
    public static let maxSubjectsPerBatch = 1000
    /// The most records one subject may carry in a batch.
    public static let maxRecordsPerSubject = 200

    public let furnisher: Institution
    public let catalogue: Catalogue
    public let today: CalendarDate
    private let categories: [String: CatalogueCategory]

    /// Rules for records from `furnisher`, under `catalogue`, dated `today`.
    public init(furnisher: Institution, catalogue: Catalogue, today: CalendarDate) {
        self.furnisher = furnisher
        self.catalogue = catalogue
        self.today = today
        self.categories = Dictionary(catalogue.categories.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Validates a batch.
    ///
    /// - Throws: ``BureauError`` for the first rule broken: invalid argument, or permission denied for a
    ///   category the furnisher is not licensed for.
    public func validate(batchID: String, subjects: [SubmittedSubject]) throws(BureauError) -> [FurnishedSubject] {
        try Furnishing.validateBatchID(batchID)
        guard !subjects.isEmpty else { throw .invalid("subjects", "a batch needs at least one subject") }
        guard subjects.count <= Furnishing.maxSubjectsPerBatch else {
            throw .invalid("subjects", "a batch holds at most \(Furnishing.maxSubjectsPerBatch) subjects, got \(subjects.count)")
        }
        var seen: [SubjectIdentifier: Int] = [:]
        var result: [FurnishedSubject] = []
        result.reserveCapacity(subjects.count)
        for (i, subject) in subjects.enumerated() {
            let furnished = try self.validate(subject, at: "subjects[\(i)]")
            if let first = seen[furnished.identifier] {
                throw .invalid("subjects[\(i)].identifier", "the same subject appears at subjects[\(first)]; send it once")
            }
            seen[furnished.identifier] = i
            result.append(furnished)
        }
        return result
    }

    /// Checks a client batch or request id: required, at most ``FieldLimit/requestID``, and logged text.
    public static func validateBatchID(_ batchID: String, field: String = "batch_id") throws(BureauError) {
        guard !batchID.trimmingWhitespace().isEmpty else { throw .invalid(field, "is required") }
        try LoggedText.check(batchID, field: field, limit: .requestID)
    }

    /// Checks free text that goes into the access log (at most ``FieldLimit/freeText``): no control
    /// characters, no national identifier (see ``LoggedText``).
    public static func validateLoggedText(_ text: String, field: String, limit: FieldLimit = .freeText) throws(BureauError) {
        try LoggedText.check(text, field: field, limit: limit)
    }

    /// Validates one subject at `path`.
    public func validate(_ s: SubmittedSubject, at path: String) throws(BureauError) -> FurnishedSubject {
        guard let kind = s.kind else { throw .invalid("\(path).kind", "must be individual or business") }
        let identifier = try SubjectIdentifier(kind: kind, parsing: s.identifier, field: "\(path).identifier")
        try LoggedText.checkPrintable(s.name, field: "\(path).name", limit: kind == .individual ? .personName : .businessName)
        let name = s.name.trimmingWhitespace()
        guard !name.isEmpty else { throw .invalid("\(path).name", "is required") }
        let date = try self.date(s.date, at: "\(path).date")
        try LoggedText.checkPrintable(s.phone, field: "\(path).phone", limit: .phone)
        let phone = s.phone.trimmingWhitespace()
        if !phone.isEmpty {
            let digits = phone.hasPrefix("+") ? String(phone.dropFirst()) : phone
            guard (7...15).contains(digits.utf8.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                throw .invalid("\(path).phone", "is 7 to 15 digits, optionally after a +")
            }
        }
        guard let address = s.address, !address.province.trimmingWhitespace().isEmpty,
            !address.city.trimmingWhitespace().isEmpty
        else { throw .invalid("\(path).address", "province and city are required") }
        try LoggedText.checkPrintable(address.province, field: "\(path).address.province", limit: .region)
        try LoggedText.checkPrintable(address.city, field: "\(path).address.city", limit: .region)
        try LoggedText.check(address.detail, field: "\(path).address.detail", limit: .addressDetail)

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
            try LoggedText.checkPrintable(s.legalRepresentativeName, field: "\(path).legal_representative.name", limit: .personName)
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

        let count = s.accounts.count + s.publicRecords.count + s.listEntries.count
        guard count <= Furnishing.maxRecordsPerSubject else {
            throw .invalid(path, "at most \(Furnishing.maxRecordsPerSubject) records a subject in one batch, got \(count)")
        }
        var records: [CreditRecord] = []
        records.reserveCapacity(count)
        // Where each record was given, by reference (its list and index: the path is spelt only for an error).
        var references: [RecordReference: (list: String, index: Int)] = [:]
        func add(_ record: CreditRecord, list: String, index: Int, idField: String) throws(BureauError) {
            if let first = references[record.reference] {
                throw .invalid("\(path).\(list)[\(index)].\(idField)", "repeats \(first.list)[\(first.index)] of the same subject")
            }
            references[record.reference] = (list, index)
            records.append(try self.retained(record, at: "\(path).\(list)[\(index)]"))
        }
        for (j, a) in s.accounts.enumerated() {
            try add(.account(try self.validate(a, at: "\(path).accounts[\(j)]", kind: kind)), list: "accounts", index: j, idField: "account_number")
        }
        for (j, p) in s.publicRecords.enumerated() {
            try add(
                .publicRecord(try self.validate(p, at: "\(path).public_records[\(j)]", kind: kind)), list: "public_records", index: j, idField: "record_id"
            )
        }
        for (j, l) in s.listEntries.enumerated() {
            try add(.listEntry(try self.validate(l, at: "\(path).list_entries[\(j)]", kind: kind)), list: "list_entries", index: j, idField: "record_id")
        }
        return FurnishedSubject(identifier: identifier, subject: subject, records: records, furnisher: self.furnisher.code, reported: self.today)
    }

    /// Validates one record of a subject of `kind` (for corrections as for batches).
    public func validate(_ record: SubmittedRecord, at path: String, kind: SubjectKind) throws(BureauError) -> CreditRecord {
        let validated: CreditRecord = switch record {
        case .account(let a): .account(try self.validate(a, at: path, kind: kind))
        case .publicRecord(let p): .publicRecord(try self.validate(p, at: path, kind: kind))
        case .listEntry(let l): .listEntry(try self.validate(l, at: path, kind: kind))
        }
        return try self.retained(validated, at: path)
    }

    func validate(_ a: SubmittedAccount, at path: @autoclosure () -> String, kind: SubjectKind) throws(BureauError) -> Account {
        let number = try Self.recordID(a.accountNumber, at: "\(path()).account_number", letters: "-")
        guard let type = a.type else { throw .invalid("\(path()).type", "must name an account type") }
        if kind == .individual && type == .businessLoan {
            throw .invalid("\(path()).type", "a business loan cannot be furnished on an individual's file")
        }
        let opened = try self.date(a.opened, at: "\(path()).opened")
        guard let limit = a.limit else { throw .invalid("\(path()).limit", "is required") }
        try Self.money(limit, at: "\(path()).limit")
        guard let balance = a.balance else { throw .invalid("\(path()).balance", "is required") }
        try Self.money(balance, at: "\(path()).balance")
        guard balance.currency == limit.currency else {
            throw .invalid("\(path()).balance.currency", "must equal the limit's currency \(limit.currency)")
        }
        guard let status = a.status else { throw .invalid("\(path()).status", "must name an account status") }
        guard a.paymentHistory.utf8.count <= 24 else {
            throw .invalid("\(path()).payment_history", "holds at most 24 months (24 bytes), got \(a.paymentHistory.utf8.count) bytes")
        }
        guard a.paymentHistory.utf8.allSatisfy(Account.isPaymentHistoryByte) else {
            throw .invalid("\(path()).payment_history", "uses only N, 0-7, C and *")
        }
        var closed: CalendarDate?
        if let fields = a.closed, !fields.isEmpty {
            closed = try self.date(fields, at: "\(path()).closed")
        }
        switch status {
        case .closed, .settled, .chargedOff:
            guard let closedDate = closed else {
                throw .invalid("\(path()).closed", "is required when the status is \(status.rawValue)")
            }
            guard closedDate >= opened else { throw .invalid("\(path()).closed", "cannot be before opened") }
        case .current, .late30, .late60, .late90, .late120Plus:
            guard closed == nil else { throw .invalid("\(path()).closed", "must be empty for an open account") }
        }
        var account = Account(
            furnisher: self.furnisher.code, accountNumber: number, type: type, opened: opened, limit: limit, balance: balance,
            status: status, paymentHistory: a.paymentHistory, closed: closed
        )
        let category = try self.category(account.category, at: path(), kind: kind, recordKind: .account)
        if category.negative {
            account.legalBasis = try self.legalBasis(a.legalBasis, at: "\(path()).legal_basis", category: category)
            account.behaviourEnded = try self.behaviourEnded(a.behaviourEnded, at: "\(path()).behaviour_ended", notBefore: opened)
        } else if a.legalBasis != nil || (a.behaviourEnded.map { !$0.isEmpty } ?? false) {
            throw .invalid("\(path()).behaviour_ended", "only negative records (here \(category.code) is positive) carry a legal basis and behaviour end")
        }
        return account
    }

    func validate(_ p: SubmittedPublicRecord, at path: @autoclosure () -> String, kind: SubjectKind) throws(BureauError) -> PublicRecord {
        let id = try Self.recordID(p.recordID, at: "\(path()).record_id", letters: "-_/.")
        guard let type = p.type else { throw .invalid("\(path()).type", "must name a public record type") }
        let category = try self.category(type.category, at: path(), kind: kind, recordKind: .publicRecord)
        try LoggedText.check(p.authority, field: "\(path()).authority", limit: .authority)
        let authority = p.authority.trimmingWhitespace()
        guard !authority.isEmpty else { throw .invalid("\(path()).authority", "is required") }
        guard let basis = try self.legalBasis(p.legalBasis, at: "\(path()).legal_basis", category: category, required: true) else {
            throw .invalid("\(path()).legal_basis", "is required")
        }
        if let amount = p.amount { try Self.money(amount, at: "\(path()).amount") }
        let filed = try self.date(p.filed, at: "\(path()).filed")
        let ended = try self.behaviourEnded(p.behaviourEnded, at: "\(path()).behaviour_ended", notBefore: filed)
        try LoggedText.check(p.description, field: "\(path()).description", limit: .freeText)
        return PublicRecord(
            furnisher: self.furnisher.code, recordID: id, type: type, authority: authority, legalBasis: basis, amount: p.amount,
            filed: filed, behaviourEnded: ended, description: p.description.trimmingWhitespace()
        )
    }

    func validate(_ l: SubmittedListEntry, at path: @autoclosure () -> String, kind: SubjectKind) throws(BureauError) -> ListEntry {
        let id = try Self.recordID(l.recordID, at: "\(path()).record_id", letters: "-_/.")
        try FieldLimit.code.check(l.list, field: "\(path()).list")
        let category = try self.category(l.list, at: path(), kind: kind, recordKind: .listEntry, field: "list")
        guard category.feedsList else { throw .invalid("\(path()).list", "\(category.code) is not a list the catalogue defines") }
        if category.code == Catalogue.severeUntrustworthinessList && l.severity == nil {
            throw .invalid("\(path()).severity", "is required for the severe-untrustworthiness list (minor, general or serious)")
        }
        try LoggedText.check(l.reason, field: "\(path()).reason", limit: .freeText)
        let reason = l.reason.trimmingWhitespace()
        guard !reason.isEmpty else { throw .invalid("\(path()).reason", "is required") }
        // Lists only on a legally binding document, whatever the list.
        guard let basis = try self.legalBasis(l.legalBasis, at: "\(path()).legal_basis", category: category, required: true) else {
            throw .invalid("\(path()).legal_basis", "is required")
        }
        let listed = try self.date(l.listed, at: "\(path()).listed")
        guard let endsFields = l.publicityEnds, !endsFields.isEmpty,
            let ends = CalendarDate(year: endsFields.year, month: endsFields.month, day: endsFields.day)
        else { throw .invalid("\(path()).publicity_ends", "is required and must be a real date") }
        guard ends > listed else { throw .invalid("\(path()).publicity_ends", "must be after listed") }
        if category.code == Catalogue.severeUntrustworthinessList, let severity = l.severity {
            let maximum = ListPolicy.maximumPublicity(severity)
            guard ends <= listed.adding(years: maximum.years) else {
                throw .invalid("\(path()).publicity_ends", "a \(severity.rawValue) listing is published at most \(maximum.text)")
            }
        }
        return ListEntry(
            furnisher: self.furnisher.code, recordID: id, list: category.code, severity: l.severity, reason: reason,
            legalBasis: basis, listed: listed, publicityEnds: ends
        )
    }

    // MARK: Shared rules

    func category(
        _ code: String, at path: @autoclosure () -> String, kind: SubjectKind, recordKind: RecordKind, field: String = "category"
    ) throws(BureauError) -> CatalogueCategory {
        // A validated catalogue holds nothing prohibited, so only an unknown code needs that check.
        guard let category = self.categories[code], category.recordKind == recordKind else {
            if let label = Catalogue.prohibitedLabel(in: code) {
                throw .invalid("\(path()).\(field)", "\(label) is information a credit bureau may not collect")
            }
            throw .invalid("\(path()).\(field)", "\(code) is not in the catalogue (version \(self.catalogue.version))")
        }
        guard category.subjectKinds.contains(kind) else {
            throw .invalid("\(path()).\(field)", "\(code) is not held for \(kind.rawValue) subjects")
        }
        guard self.furnisher.categories.contains(code) else {
            throw BureauError(.permissionDenied, "\(path()): \(self.furnisher.code) is not licensed to furnish \(code)")
        }
        return category
    }

    func legalBasis(
        _ submitted: SubmittedLegalBasis?, at path: @autoclosure () -> String, category: CatalogueCategory, required: Bool = false
    ) throws(BureauError) -> LegalBasis? {
        guard let submitted else {
            if required || category.negative {
                throw .invalid(path(), "\(category.code) needs a legal basis: document number, authority and date")
            }
            return nil
        }
        try LoggedText.check(submitted.documentNumber, field: "\(path()).document_number", limit: .documentNumber)
        let number = submitted.documentNumber.trimmingWhitespace()
        guard !number.isEmpty else { throw .invalid("\(path()).document_number", "is required") }
        try LoggedText.check(submitted.authority, field: "\(path()).authority", limit: .authority)
        let authority = submitted.authority.trimmingWhitespace()
        guard !authority.isEmpty else { throw .invalid("\(path()).authority", "is required") }
        let date = try self.date(submitted.date, at: "\(path()).date")
        return LegalBasis(documentNumber: number, authority: authority, date: date)
    }

    func behaviourEnded(_ fields: DateFields?, at path: @autoclosure () -> String, notBefore start: CalendarDate) throws(BureauError) -> CalendarDate {
        guard let fields, !fields.isEmpty else {
            throw .invalid(path(), "negative information needs the end date of the behaviour (retention counts from it)")
        }
        let ended = try self.date(fields, at: path())
        guard ended >= start else { throw .invalid(path(), "cannot be before the record began") }
        return ended
    }

    func date(_ fields: DateFields?, at path: @autoclosure () -> String) throws(BureauError) -> CalendarDate {
        guard let fields, !fields.isEmpty else { throw .invalid(path(), "is required") }
        guard let date = CalendarDate(year: fields.year, month: fields.month, day: fields.day), date.year >= 1900 else {
            throw .invalid(path(), "must be a real date after 1900")
        }
        guard date <= self.today else { throw .invalid(path(), "cannot be in the future") }
        return date
    }

    static func recordID(_ text: String, at path: @autoclosure () -> String, letters: String) throws(BureauError) -> String {
        try FieldLimit.recordID.check(text, field: path())
        let id = text.trimmingWhitespace()
        guard !id.isEmpty else { throw .invalid(path(), "is required") }
        guard id.utf8.count <= 64, id.utf8.allSatisfy({ b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || letters.utf8.contains(b)
        }) else {
            throw .invalid(path(), "is 1 to 64 letters, digits or \(letters.map { "'\($0)'" }.joined(separator: " "))")
        }
        return id
    }

    static func money(_ money: Money, at path: @autoclosure () -> String) throws(BureauError) {
        guard money.minorUnits >= 0 else { throw .invalid("\(path()).minor_units", "cannot be negative") }
        guard money.minorUnits <= Money.maximumMinorUnits else {
            throw .invalid("\(path()).minor_units", "is at most \(Money.maximumMinorUnits) minor units (10^15)")
        }
        guard money.currency.utf8.count == 3, money.currency.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            throw .invalid("\(path()).currency", "is a 3-letter ISO 4217 code in capitals")
        }
    }
}

