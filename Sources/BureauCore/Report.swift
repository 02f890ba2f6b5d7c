public import struct Foundation.Date

/// A person as disclosed in a report: masked for agencies, whole for the subject.
public struct DisclosedPerson: Hashable, Codable, Sendable {
    public var name: String
    public var identifier: String
    public var birthYear: Int
    /// Zero when masked.
    public var birthMonth: Int
    /// Zero when masked.
    public var birthDay: Int
    public var phone: String
    public var address: Address
}

/// A business's registration as disclosed in a report. The code is public and shown whole; the legal
/// representative is masked as a person.
public struct DisclosedBusiness: Hashable, Codable, Sendable {
    public var name: String
    public var code: String
    public var registrationDate: CalendarDate
    public var address: Address
    public var legalRepresentativeName: String
    public var legalRepresentativeIdentifier: String
}

/// One source's identity facts as the subject's own report shows them: unmasked, with its dates.
public struct DisclosedIdentitySource: Hashable, Sendable {
    public var source: IdentitySource
    /// Whether the source counts for the identity the report shows (``IdentityRule``): false when its
    /// furnisher no longer holds a record on the file.
    public var counted: Bool
}

/// A record as disclosed, with whether the subject disputes it.
public struct Disclosed<Record: Hashable & Sendable>: Hashable, Sendable {
    public var record: Record
    public var disputed: Bool
    /// The day the record stops being disclosed (its retention or publicity ends), nil when it has no limit.
    public var retentionEnds: CalendarDate? = nil
}

/// A section (or part of one) left out of a report and why.
public struct WithheldSection: Hashable, Codable, Sendable {
    public var section: ReportSection
    public var reason: String
}

/// One query of the file, derived from the access log.
public struct QueryRecord: Hashable, Codable, Sendable {
    public var time: Date
    public var institution: String
    public var institutionName: String
    public var purpose: Purpose

    public init(time: Date, institution: String, institutionName: String, purpose: Purpose) {
        self.time = time
        self.institution = institution
        self.institutionName = institutionName
        self.purpose = purpose
    }
}

/// The figures of a file at a glance (over the records the purpose may see).
public struct ReportSummary: Hashable, Sendable {
    public var accounts = 0
    public var openAccounts = 0
    public var delinquentAccounts = 0
    /// Sums in minor units, per currency, in 128 bits: no number of stored amounts can overflow them
    /// (a sum beyond the wire's 64 bits is reported as out of range, not wrapped or trapped on).
    public var totalLimit: [String: Int128] = [:]
    public var totalBalance: [String: Int128] = [:]
    public var worstStatus: AccountStatus?
    public var publicRecords = 0
    public var onSevereUntrustworthinessList = false
    public var onRedList = false
}

/// A report as the purpose allows it to be disclosed, before it is encoded for the wire.
public struct Report: Hashable, Sendable {
    public var purpose: Purpose
    public var person: DisclosedPerson?
    public var business: DisclosedBusiness?
    /// Every source of the identity or registration, best first: for the subject's own report only
    /// (self-access), empty for every other purpose.
    public var identitySources: [DisclosedIdentitySource] = []
    public var summary: ReportSummary?
    /// The score with its reasons, shown with the summary.
    public var score: CreditScore?
    public var tier: Tier = .full
    public var fraudAlert: FraudAlert?
    /// Account numbers already masked where the purpose says so.
    public var accounts: [Disclosed<Account>] = []
    public var publicRecords: [Disclosed<PublicRecord>] = []
    public var listEntries: [Disclosed<ListEntry>] = []
    public var statements: [Statement] = []
    public var disputes: [DisputeMark] = []
    public var queries: [QueryRecord] = []
    public var withheld: [WithheldSection] = []
    /// Records of the file removed by crypto-shredding (``CreditFile/removedRecords``): their content is
    /// unrecoverable and not shown; the report says only how many there were.
    public var removedRecords = 0
    /// Statements and dispute marks removed by crypto-shredding (``CreditFile/removedAttachments``).
    public var removedAttachments = 0
    /// The disclosed fields with their treatment (`identity.name:masked`), for the log entry.
    public var disclosedFields: [String] = []
    public var disclosureVersion: UInt32 { DisclosureTable.version }
}

/// Builds the disclosed report of a file for a purpose, through ``DisclosureTable``, the catalogue's
/// purposes per category, retention and ``Masking``.
public enum ReportBuilder {
    /// How far back query records go.
    public static let queryHistoryYears = 2

    /// The report of `file` for `purpose` on `today`.
    ///
    /// A record whose retention has ended is never disclosed, nor mentioned.
    public static func report(
        of file: CreditFile, for purpose: Purpose, catalogue: Catalogue, today: CalendarDate, queries: [QueryRecord] = [],
        tier: Tier = .full, protection: FileProtection = FileProtection()
    ) -> Report {
        var report = Report(purpose: purpose, person: nil, business: nil)
        report.tier = tier
        report.disclosedFields = Self.disclosedFields(for: purpose, tier: tier, kind: file.kind)
        report.fraudAlert = protection.fraudAlert
        report.removedRecords = file.removedRecords
        report.removedAttachments = file.removedAttachments
        func treatment(_ section: ReportSection) -> Treatment {
            let t = DisclosureTable.treatment(of: section, for: purpose)
            if t == .withheld {
                report.withheld.append(.init(section: section, reason: DisclosureTable.reason(withholding: section, for: purpose)))
                return .withheld
            }
            if tier < Tier.minimum(for: section) {
                report.withheld.append(.init(section: section, reason: DisclosureTable.reason(withholding: section, tier: tier)))
                return .withheld
            }
            return t
        }
        func sources(_ section: ReportSection, _ t: Treatment) {
            guard purpose == .selfAccess, t == .shown else { return }
            let holders = file.recordHolders
            report.identitySources = file.identitySources.sorted(by: IdentityRule.precedes).map {
                DisclosedIdentitySource(source: $0, counted: IdentityRule.counts($0, among: file.identitySources, holders: holders))
            }
        }

        switch file.subject {
        case .person(let person):
            let t = treatment(.identity)
            if t != .withheld {
                report.person = disclose(person, t)
                sources(.identity, t)
            }
        case .business(let business):
            let t = treatment(.registration)
            if t != .withheld {
                let masked = t == .masked
                report.business = DisclosedBusiness(
                    name: business.name, code: business.code, registrationDate: business.registrationDate,
                    address: masked ? Masking.address(business.address) : business.address,
                    legalRepresentativeName: masked ? Masking.name(business.legalRepresentativeName) : business.legalRepresentativeName,
                    legalRepresentativeIdentifier: masked
                        ? Masking.residentIdentifier(business.legalRepresentativeIdentifier) : business.legalRepresentativeIdentifier
                )
                sources(.registration, t)
            }
        }

        // Records: retention first (expired records do not exist for a report), then the catalogue's purposes.
        var refused: [ReportSection: Set<String>] = [:]
        func visible(_ record: CreditRecord, in section: ReportSection) -> Bool {
            if let expiry = record.expiry(under: catalogue), expiry <= today { return false }
            guard let category = catalogue.category(record.category), category.purposes.contains(purpose) else {
                refused[section, default: []].insert(record.category)
                return false
            }
            return true
        }

        if treatment(.summary) != .withheld {
            var summary = ReportSummary()
            for account in file.accounts where visible(.account(account), in: .summary) {
                summary.accounts += 1
                if account.closed == nil { summary.openAccounts += 1 }
                if account.status.isNegative {
                    summary.delinquentAccounts += 1
                    let rank = AccountStatus.allCases.firstIndex(of: account.status)!
                    if summary.worstStatus.map({ AccountStatus.allCases.firstIndex(of: $0)! < rank }) ?? true {
                        summary.worstStatus = account.status
                    }
                }
                summary.totalLimit[account.limit.currency, default: 0] += Int128(account.limit.minorUnits)
                summary.totalBalance[account.balance.currency, default: 0] += Int128(account.balance.minorUnits)
            }
            summary.publicRecords = file.publicRecords.filter { visible(.publicRecord($0), in: .summary) }.count
            for entry in file.listEntries where visible(.listEntry(entry), in: .summary) {
                if entry.list == Catalogue.severeUntrustworthinessList { summary.onSevereUntrustworthinessList = true }
                if entry.list == Catalogue.redList { summary.onRedList = true }
            }
            report.summary = summary
            report.score = Scoring.score(of: file, catalogue: catalogue, today: today, queries: queries)
        }

        var disclosedRecords = Set<RecordReference>()
        let accounts = treatment(.accounts)
        if accounts != .withheld {
            report.accounts = file.accounts.filter { visible(.account($0), in: .accounts) }.map { account in
                var shown = account
                if accounts == .masked { shown.accountNumber = Masking.accountNumber(account.accountNumber) }
                shown.paymentHistory = Retention.paymentHistory(of: account, on: today, under: catalogue)
                disclosedRecords.insert(account.reference)
                return Disclosed(
                    record: shown, disputed: file.isDisputed(account.reference), retentionEnds: CreditRecord.account(account).expiry(under: catalogue)
                )
            }
        }
        if treatment(.publicRecords) != .withheld {
            report.publicRecords = file.publicRecords.filter { visible(.publicRecord($0), in: .publicRecords) }
                .map { Disclosed(record: $0, disputed: file.isDisputed($0.reference), retentionEnds: CreditRecord.publicRecord($0).expiry(under: catalogue)) }
            disclosedRecords.formUnion(report.publicRecords.map(\.record.reference))
        }
        if treatment(.listEntries) != .withheld {
            report.listEntries = file.listEntries.filter { visible(.listEntry($0), in: .listEntries) }
                .map { Disclosed(record: $0, disputed: file.isDisputed($0.reference), retentionEnds: CreditRecord.listEntry($0).expiry(under: catalogue)) }
            disclosedRecords.formUnion(report.listEntries.map(\.record.reference))
        }
        // Statements and dispute marks follow their record: shown only with it (expired, purged or not
        // disclosed for this purpose, it is not named).
        if treatment(.statements) != .withheld {
            report.statements = file.statements.filter { $0.about.map(disclosedRecords.contains) ?? true }
        }
        if treatment(.disputes) != .withheld {
            report.disputes = file.disputes.filter { disclosedRecords.contains($0.record) }
        }
        if treatment(.queryRecords) != .withheld {
            let since = today.adding(years: -queryHistoryYears)
            report.queries = queries.filter { CalendarDate(utcDayOf: $0.time) > since }
        }
        refused[.summary] = nil
        for (section, categories) in refused.sorted(by: { $0.key < $1.key }) {
            report.withheld.append(
                .init(
                    section: section,
                    reason: "\(categories.sorted().joined(separator: ", ")): the catalogue (v\(catalogue.version)) does not disclose it for purpose \(purpose.rawValue)"
                )
            )
        }
        return report
    }

    /// The fields a report discloses for `purpose` to an institution of `tier` about a file of `kind`, with
    /// their treatment (`identity.name:masked`), in report order, as its log entry names them. They follow from
    /// ``DisclosureTable`` and the tier alone, never from what the file holds, so they are made once for each
    /// combination and looked up for each report.
    public static func disclosedFields(for purpose: Purpose, tier: Tier, kind: SubjectKind) -> [String] {
        Self.disclosedFieldTable[DisclosedFieldsKey(purpose: purpose, tier: tier, kind: kind)]
            ?? Self.makeDisclosedFields(for: purpose, tier: tier, kind: kind)
    }

    private struct DisclosedFieldsKey: Hashable {
        var purpose: Purpose
        var tier: Tier
        var kind: SubjectKind
    }

    private static let disclosedFieldTable: [DisclosedFieldsKey: [String]] = {
        var table: [DisclosedFieldsKey: [String]] = [:]
        for purpose in Purpose.allCases {
            for tier in Tier.allCases {
                for kind in SubjectKind.allCases {
                    table[DisclosedFieldsKey(purpose: purpose, tier: tier, kind: kind)] = makeDisclosedFields(for: purpose, tier: tier, kind: kind)
                }
            }
        }
        return table
    }()

    /// ``disclosedFields(for:tier:kind:)`` worked out: each section the report does not withhold, with the
    /// treatment ``report(of:for:catalogue:today:queries:tier:protection:)`` gives it.
    private static func makeDisclosedFields(for purpose: Purpose, tier: Tier, kind: SubjectKind) -> [String] {
        var disclosed: [String] = []
        func treatment(_ section: ReportSection) -> Treatment {
            let t = DisclosureTable.treatment(of: section, for: purpose)
            return t == .withheld || tier < Tier.minimum(for: section) ? .withheld : t
        }
        func fields(_ section: ReportSection, _ names: [String], _ t: Treatment) {
            disclosed += names.map { "\(section.rawValue).\($0):\(t.rawValue)" }
        }
        switch kind {
        case .individual:
            let t = treatment(.identity)
            if t != .withheld {
                fields(.identity, ["name", "identifier", "birth_date", "phone", "address"], t)
                if purpose == .selfAccess, t == .shown { fields(.identity, ["sources"], t) }
            }
        case .business:
            let t = treatment(.registration)
            if t != .withheld {
                fields(.registration, ["name", "code", "registration_date"], .shown)
                fields(.registration, ["address", "legal_representative.name", "legal_representative.identifier"], t)
                if purpose == .selfAccess, t == .shown { fields(.registration, ["sources"], t) }
            }
        }
        if treatment(.summary) != .withheld {
            fields(.summary, ["counts", "totals", "worst_status", "list_flags", "score", "score_reasons"], .shown)
        }
        let accounts = treatment(.accounts)
        if accounts != .withheld {
            fields(.accounts, ["account_number"], accounts)
            fields(.accounts, ["furnisher", "type", "opened", "limit", "balance", "status", "payment_history", "closed", "legal_basis", "retention_ends"], .shown)
        }
        if treatment(.publicRecords) != .withheld {
            fields(.publicRecords, ["type", "authority", "legal_basis", "amount", "filed", "behaviour_ended", "description", "retention_ends"], .shown)
        }
        if treatment(.listEntries) != .withheld {
            fields(.listEntries, ["list", "severity", "reason", "legal_basis", "listed", "publicity_ends", "retention_ends"], .shown)
        }
        if treatment(.statements) != .withheld { fields(.statements, ["text", "added"], .shown) }
        if treatment(.disputes) != .withheld { fields(.disputes, ["record", "filed", "description"], .shown) }
        if treatment(.queryRecords) != .withheld { fields(.queryRecords, ["time", "institution", "purpose"], .shown) }
        return disclosed
    }

    static func disclose(_ person: PersonIdentity, _ treatment: Treatment) -> DisclosedPerson {
        if treatment == .shown {
            return DisclosedPerson(
                name: person.name, identifier: person.identifier, birthYear: person.birthDate.year,
                birthMonth: person.birthDate.month, birthDay: person.birthDate.day, phone: person.phone, address: person.address
            )
        }
        return DisclosedPerson(
            name: Masking.name(person.name),
            identifier: Masking.residentIdentifier(person.identifier),
            birthYear: person.birthDate.year,
            birthMonth: 0,
            birthDay: 0,
            phone: Masking.phone(person.phone),
            address: Masking.address(person.address)
        )
    }
}

extension CalendarDate {
    /// The UTC calendar day of `date`, clamped to years 1 to 9999 (a stored or sent time far outside them
    /// must not trap in the conversion or the calendar arithmetic).
    public init(utcDayOf date: Date) {
        let days = (date.timeIntervalSince1970 / 86_400).rounded(.down)
        let range = CalendarDate.earliest.daysSinceEpoch...CalendarDate.latest.daysSinceEpoch
        self.init(daysSinceEpoch: days.isNaN ? 0 : Int(min(max(days, Double(range.lowerBound)), Double(range.upperBound))))
    }
}
