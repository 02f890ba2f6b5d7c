public import BureauAPI
public import BureauCore
import Foundation
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
    static func parse(_ wire: Bureau_Purpose, field: String = "purpose") throws(BureauError) -> Purpose {
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
    init(_ date: CalendarDate) {
        self.init()
        self.year = Int32(date.year)
        self.month = Int32(date.month)
        self.day = Int32(date.day)
    }

    var fields: DateFields { DateFields(year: Int(self.year), month: Int(self.month), day: Int(self.day)) }
}

extension Bureau_Money {
    init(_ money: Money) {
        self.init()
        self.minorUnits = money.minorUnits
        self.currency = money.currency
    }

    var domain: Money { Money(minorUnits: self.minorUnits, currency: self.currency) }
}

extension Bureau_Address {
    init(_ address: Address) {
        self.init()
        self.province = address.province
        self.city = address.city
        self.detail = address.detail
    }

    var domain: Address { Address(province: self.province, city: self.city, detail: self.detail) }
}

extension Bureau_LogReceipt {
    public init(_ receipt: LogReceipt) {
        self.init()
        self.entryIndex = receipt.index
        self.leafHash = Data(receipt.leafHash)
    }
}

extension SubmittedSubject {
    /// The domain input of a wire record (validated later by ``Furnishing``).
    init(_ wire: Bureau_SubjectRecord) {
        self.init(
            kind: SubjectKind(wire.kind),
            identifier: wire.identifier,
            name: wire.name,
            date: wire.hasDate ? wire.date.fields : nil,
            phone: wire.phone,
            address: wire.hasAddress ? wire.address.domain : nil,
            legalRepresentativeName: wire.legalRepresentative.name,
            legalRepresentativeIdentifier: wire.legalRepresentative.identifier,
            accounts: wire.accounts.map { a in
                SubmittedAccount(
                    accountNumber: a.accountNumber,
                    type: AccountType(a.type),
                    opened: a.hasOpened ? a.opened.fields : nil,
                    limit: a.hasLimit ? a.limit.domain : nil,
                    balance: a.hasBalance ? a.balance.domain : nil,
                    status: AccountStatus(a.status),
                    paymentHistory: a.paymentHistory,
                    closed: a.hasClosed ? a.closed.fields : nil
                )
            }
        )
    }
}

extension Bureau_PersonIdentity {
    init(_ person: DisclosedPerson) {
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

extension Bureau_AccountLine {
    init(_ account: DisclosedAccount, furnisherName: String) {
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
    }
}

extension Bureau_ReportHeader {
    init(_ report: Report, receipt: LogReceipt, time: Date, requestedBy: String) {
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
    }
}
