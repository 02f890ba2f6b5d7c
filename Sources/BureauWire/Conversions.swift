public import BureauAPI
public import BureauCore
public import Foundation
import SwiftProtobuf

// Mapping between the wire contract (BureauAPI) and the domain (BureauCore). Unknown and unspecified
// enum values map to nil, which validation turns into an error naming the field.

extension Purpose {
    /// The domain purpose of a wire value, or nil for unspecified and unknown values.
    public init?(_ wire: Bureau_Purpose) {
        switch wire {
        case .loanOrigination: self = .loanOrigination
        case .creditCardOrigination: self = .creditCardOrigination
        case .postLoanManagement: self = .postLoanManagement
        case .guaranteeReview: self = .guaranteeReview
        case .employmentScreening: self = .employmentScreening
        case .tenantScreening: self = .tenantScreening
        case .insuranceUnderwriting: self = .insuranceUnderwriting
        case .regulatorySupervision: self = .regulatorySupervision
        case .courtOrder: self = .courtOrder
        case .selfAccess: self = .selfAccess
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    /// Parses a wire purpose, naming `field` when it is missing or unknown.
    public static func parse(_ wire: Bureau_Purpose, field: String = "purpose") throws(BureauError) -> Purpose {
        switch wire {
        case .unspecified: throw .invalid(field, "is required")
        case .UNRECOGNIZED(let value): throw .invalid(field, "unknown value \(value)")
        default: return Purpose(wire)!
        }
    }

    public var wire: Bureau_Purpose {
        switch self {
        case .loanOrigination: .loanOrigination
        case .creditCardOrigination: .creditCardOrigination
        case .postLoanManagement: .postLoanManagement
        case .guaranteeReview: .guaranteeReview
        case .employmentScreening: .employmentScreening
        case .tenantScreening: .tenantScreening
        case .insuranceUnderwriting: .insuranceUnderwriting
        case .regulatorySupervision: .regulatorySupervision
        case .courtOrder: .courtOrder
        case .selfAccess: .selfAccess
        }
    }
}

extension SubjectKind {
    public init?(_ wire: Bureau_SubjectKind) {
        switch wire {
        case .individual: self = .individual
        case .business: self = .business
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var wire: Bureau_SubjectKind {
        switch self {
        case .individual: .individual
        case .business: .business
        }
    }
}

extension AccountType {
    public init?(_ wire: Bureau_AccountType) {
        switch wire {
        case .creditCard: self = .creditCard
        case .mortgage: self = .mortgage
        case .personalLoan: self = .personalLoan
        case .autoLoan: self = .autoLoan
        case .businessLoan: self = .businessLoan
        case .guarantee: self = .guarantee
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var wire: Bureau_AccountType {
        switch self {
        case .creditCard: .creditCard
        case .mortgage: .mortgage
        case .personalLoan: .personalLoan
        case .autoLoan: .autoLoan
        case .businessLoan: .businessLoan
        case .guarantee: .guarantee
        }
    }
}

extension AccountStatus {
    public init?(_ wire: Bureau_AccountStatus) {
        switch wire {
        case .current: self = .current
        case .late30: self = .late30
        case .late60: self = .late60
        case .late90: self = .late90
        case .late120Plus: self = .late120Plus
        case .chargedOff: self = .chargedOff
        case .settled: self = .settled
        case .closed: self = .closed
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var wire: Bureau_AccountStatus {
        switch self {
        case .current: .current
        case .late30: .late30
        case .late60: .late60
        case .late90: .late90
        case .late120Plus: .late120Plus
        case .chargedOff: .chargedOff
        case .settled: .settled
        case .closed: .closed
        }
    }
}

extension Bureau_CalendarDate {
    public init(_ date: CalendarDate) {
        self.init()
        self.year = Int32(date.year)
        self.month = Int32(date.month)
        self.day = Int32(date.day)
    }

    public var fields: DateFields { DateFields(year: Int(self.year), month: Int(self.month), day: Int(self.day)) }
}

extension Bureau_Money {
    public init(_ money: Money) {
        self.init()
        self.minorUnits = money.minorUnits
        self.currency = money.currency
    }

    public var domain: Money { Money(minorUnits: self.minorUnits, currency: self.currency) }
}

extension Bureau_Address {
    public init(_ address: Address) {
        self.init()
        self.province = address.province
        self.city = address.city
        self.detail = address.detail
    }

    public var domain: Address { Address(province: self.province, city: self.city, detail: self.detail) }
}

extension Bureau_LogReceipt {
    public init(_ receipt: LogReceipt) {
        self.init()
        self.entryIndex = receipt.index
        self.leafHash = Data(receipt.leafHash)
    }
}

extension RecordKind {
    public init?(_ wire: Bureau_RecordKind) {
        switch wire {
        case .account: self = .account
        case .publicRecord: self = .publicRecord
        case .listEntry: self = .listEntry
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var wire: Bureau_RecordKind {
        switch self {
        case .account: .account
        case .publicRecord: .publicRecord
        case .listEntry: .listEntry
        }
    }
}

extension PublicRecordType {
    public init?(_ wire: Bureau_PublicRecordType) {
        switch wire {
        case .courtJudgment: self = .courtJudgment
        case .enforcement: self = .enforcement
        case .administrativePenalty: self = .administrativePenalty
        case .taxArrears: self = .taxArrears
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var wire: Bureau_PublicRecordType {
        switch self {
        case .courtJudgment: .courtJudgment
        case .enforcement: .enforcement
        case .administrativePenalty: .administrativePenalty
        case .taxArrears: .taxArrears
        }
    }
}

extension ListSeverity {
    public init?(_ wire: Bureau_ListSeverity) {
        switch wire {
        case .minor: self = .minor
        case .general: self = .general
        case .serious: self = .serious
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var wire: Bureau_ListSeverity {
        switch self {
        case .minor: .minor
        case .general: .general
        case .serious: .serious
        }
    }
}

extension Bureau_LegalBasis {
    public init(_ basis: LegalBasis) {
        self.init()
        self.documentNumber = basis.documentNumber
        self.authority = basis.authority
        self.date = Bureau_CalendarDate(basis.date)
    }

    public var submitted: SubmittedLegalBasis {
        SubmittedLegalBasis(documentNumber: self.documentNumber, authority: self.authority, date: self.hasDate ? self.date.fields : nil)
    }
}

extension SubmittedAccount {
    public init(_ a: Bureau_AccountRecord) {
        self.init(
            accountNumber: a.accountNumber,
            type: AccountType(a.type),
            opened: a.hasOpened ? a.opened.fields : nil,
            limit: a.hasLimit ? a.limit.domain : nil,
            balance: a.hasBalance ? a.balance.domain : nil,
            status: AccountStatus(a.status),
            paymentHistory: a.paymentHistory,
            closed: a.hasClosed ? a.closed.fields : nil,
            legalBasis: a.hasLegalBasis ? a.legalBasis.submitted : nil,
            behaviourEnded: a.hasBehaviourEnded ? a.behaviourEnded.fields : nil
        )
    }
}

extension SubmittedPublicRecord {
    public init(_ p: Bureau_PublicRecord) {
        self.init(
            recordID: p.recordID, type: PublicRecordType(p.type), authority: p.authority,
            legalBasis: p.hasLegalBasis ? p.legalBasis.submitted : nil, amount: p.hasAmount ? p.amount.domain : nil,
            filed: p.hasFiled ? p.filed.fields : nil, behaviourEnded: p.hasBehaviourEnded ? p.behaviourEnded.fields : nil,
            description: p.description_p
        )
    }
}

extension SubmittedListEntry {
    public init(_ l: Bureau_ListEntryRecord) {
        self.init(
            recordID: l.recordID, list: l.list, severity: ListSeverity(l.severity), reason: l.reason,
            legalBasis: l.hasLegalBasis ? l.legalBasis.submitted : nil, listed: l.hasListed ? l.listed.fields : nil,
            publicityEnds: l.hasPublicityEnds ? l.publicityEnds.fields : nil
        )
    }
}

extension SubmittedSubject {
    /// The domain input of a wire record (validated later by ``Furnishing``).
    public init(_ wire: Bureau_SubjectRecord) {
        self.init(
            kind: SubjectKind(wire.kind),
            identifier: wire.identifier,
            name: wire.name,
            date: wire.hasDate ? wire.date.fields : nil,
            phone: wire.phone,
            address: wire.hasAddress ? wire.address.domain : nil,
            legalRepresentativeName: wire.legalRepresentative.name,
            legalRepresentativeIdentifier: wire.legalRepresentative.identifier,
            accounts: wire.accounts.map(SubmittedAccount.init),
            publicRecords: wire.publicRecords.map(SubmittedPublicRecord.init),
            listEntries: wire.listEntries.map(SubmittedListEntry.init)
        )
    }
}

extension Bureau_PersonIdentity {
    public init(_ person: DisclosedPerson) {
        self.init()
        self.name = person.name
        self.identifier = person.identifier
        self.birthDate.year = Int32(person.birthYear)
        self.birthDate.month = Int32(person.birthMonth)
        self.birthDate.day = Int32(person.birthDay)
        self.phone = person.phone
        self.address = Bureau_Address(person.address)
    }
}

extension Bureau_IdentitySource {
    /// One source's facts for the subject's own report: unmasked, with its furnisher and dates.
    public init(_ disclosed: DisclosedIdentitySource, furnisherName: String) {
        self.init()
        let source = disclosed.source
        if let attribution = source.attribution {
            self.furnisherName = furnisherName
            self.furnisherCode = attribution.furnisher.value
            self.reported = Bureau_CalendarDate(attribution.reported)
            self.firstReported = Bureau_CalendarDate(attribution.firstReported)
        }
        self.counted = disclosed.counted
        switch source.identity {
        case .person(let p):
            var person = Bureau_PersonIdentity()
            person.name = p.name
            person.identifier = p.identifier
            person.birthDate = Bureau_CalendarDate(p.birthDate)
            person.phone = p.phone
            person.address = Bureau_Address(p.address)
            self.person = person
        case .business(let b):
            var business = Bureau_BusinessRegistration()
            business.name = b.name
            business.identifier = b.code
            business.registrationDate = Bureau_CalendarDate(b.registrationDate)
            business.address = Bureau_Address(b.address)
            business.legalRepresentative.name = b.legalRepresentativeName
            business.legalRepresentative.identifier = b.legalRepresentativeIdentifier
            self.business = business
        }
    }
}

extension Bureau_AccountLine {
    public init(_ disclosed: Disclosed<Account>, furnisherName: String) {
        let account = disclosed.record
        self.init()
        self.furnisherName = furnisherName
        self.accountNumber = account.accountNumber
        self.type = account.type.wire
        self.opened = Bureau_CalendarDate(account.opened)
        self.limit = Bureau_Money(account.limit)
        self.balance = Bureau_Money(account.balance)
        self.status = account.status.wire
        self.paymentHistory = account.paymentHistory
        if let closed = account.closed { self.closed = Bureau_CalendarDate(closed) }
        self.disputed = disclosed.disputed
        self.category = account.category
        if let basis = account.legalBasis { self.legalBasis = Bureau_LegalBasis(basis) }
        if let ended = account.behaviourEnded { self.behaviourEnded = Bureau_CalendarDate(ended) }
        if let ends = disclosed.retentionEnds { self.retentionEnds = Bureau_CalendarDate(ends) }
    }
}

extension Bureau_PublicRecordLine {
    public init(_ disclosed: Disclosed<PublicRecord>, furnisherName: String) {
        let record = disclosed.record
        self.init()
        self.furnisherName = furnisherName
        self.recordID = record.recordID
        self.type = record.type.wire
        self.authority = record.authority
        self.legalBasis = Bureau_LegalBasis(record.legalBasis)
        if let amount = record.amount { self.amount = Bureau_Money(amount) }
        self.filed = Bureau_CalendarDate(record.filed)
        self.behaviourEnded = Bureau_CalendarDate(record.behaviourEnded)
        self.description_p = record.description
        self.disputed = disclosed.disputed
        if let ends = disclosed.retentionEnds { self.retentionEnds = Bureau_CalendarDate(ends) }
    }
}

extension Bureau_ListEntryLine {
    public init(_ disclosed: Disclosed<ListEntry>, furnisherName: String, listName: String) {
        let entry = disclosed.record
        self.init()
        self.furnisherName = furnisherName
        self.recordID = entry.recordID
        self.list = entry.list
        self.listName = listName
        if let severity = entry.severity { self.severity = severity.wire }
        self.reason = entry.reason
        self.legalBasis = Bureau_LegalBasis(entry.legalBasis)
        self.listed = Bureau_CalendarDate(entry.listed)
        self.publicityEnds = Bureau_CalendarDate(entry.publicityEnds)
        self.disputed = disclosed.disputed
        if let ends = disclosed.retentionEnds { self.retentionEnds = Bureau_CalendarDate(ends) }
    }
}

extension Bureau_ReportHeader {
    public init(_ report: Report, receipt: LogReceipt, time: Date, requestedBy: String) {
        self.init()
        self.reportNumber = String(receipt.index)
        self.generatedAt = Google_Protobuf_Timestamp(date: time)
        self.purpose = report.purpose.wire
        self.requestedBy = requestedBy
        self.disclosureVersion = report.disclosureVersion
        self.withheld = report.withheld.map { w in
            var section = Bureau_WithheldSection()
            section.section = w.section.rawValue
            section.reason = w.reason
            return section
        }
        self.removedRecords = UInt32(clamping: report.removedRecords)
        self.removedAttachments = UInt32(clamping: report.removedAttachments)
    }
}

extension Bureau_Score {
    public init(_ score: CreditScore) {
        self.init()
        self.value = Int32(score.value)
        self.modelVersion = score.modelVersion
        self.reasons = score.reasons.map { reason in
            var line = Bureau_ScoreReason()
            line.code = reason.code
            line.text = reason.text
            return line
        }
    }
}
