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

/// An account line as disclosed in a report.
public struct DisclosedAccount: Hashable, Codable, Sendable {
    public var furnisher: String
    public var accountNumber: String
    public var type: AccountType
    public var opened: CalendarDate
    public var limit: Money
    public var balance: Money
    public var status: AccountStatus
    public var paymentHistory: String
    public var closed: CalendarDate?
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

/// A section left out of a report and why.
public struct WithheldSection: Hashable, Codable, Sendable {
    public var section: ReportSection
    public var reason: String
}

/// A report as the purpose allows it to be disclosed, before it is encoded for the wire.
public struct Report: Hashable, Sendable {
    public var purpose: Purpose
    public var person: DisclosedPerson?
    public var business: DisclosedBusiness?
    public var accounts: [DisclosedAccount]
    public var withheld: [WithheldSection]
    /// The disclosed fields with their treatment (`identity.name:masked`), for the log entry.
    public var disclosedFields: [String]
    public var disclosureVersion: UInt32 { DisclosureTable.version }
}

/// Builds the disclosed report of a file for a purpose, through ``DisclosureTable`` and ``Masking``.
public enum ReportBuilder {
    /// The report of `file` for `purpose`.
    public static func report(of file: CreditFile, for purpose: Purpose) -> Report {
        var report = Report(purpose: purpose, person: nil, business: nil, accounts: [], withheld: [], disclosedFields: [])

        switch file.subject {
        case .person(let person):
            let treatment = DisclosureTable.treatment(of: .identity, for: purpose)
            if treatment == .withheld {
                report.withheld.append(.init(section: .identity, reason: DisclosureTable.reason(withholding: .identity, for: purpose)))
            } else {
                report.person = disclose(person, treatment)
                report.disclosedFields += ["name", "identifier", "birth_date", "phone", "address"]
                    .map { "identity.\($0):\(treatment.rawValue)" }
            }
        case .business(let business):
            let treatment = DisclosureTable.treatment(of: .registration, for: purpose)
            if treatment == .withheld {
                report.withheld.append(.init(section: .registration, reason: DisclosureTable.reason(withholding: .registration, for: purpose)))
            } else {
                let masked = treatment == .masked
                report.business = DisclosedBusiness(
                    name: business.name,
                    code: business.code,
                    registrationDate: business.registrationDate,
                    address: business.address,
                    legalRepresentativeName: masked ? Masking.name(business.legalRepresentativeName) : business.legalRepresentativeName,
                    legalRepresentativeIdentifier: masked
                        ? Masking.residentIdentifier(business.legalRepresentativeIdentifier) : business.legalRepresentativeIdentifier
                )
                report.disclosedFields += ["name:shown", "code:shown", "registration_date:shown", "address:shown"]
                    .map { "registration.\($0)" }
                report.disclosedFields += ["name", "identifier"].map { "registration.legal_representative.\($0):\(treatment.rawValue)" }
            }
        }

        let accounts = DisclosureTable.treatment(of: .accounts, for: purpose)
        if accounts == .withheld {
            report.withheld.append(.init(section: .accounts, reason: DisclosureTable.reason(withholding: .accounts, for: purpose)))
        } else {
            report.accounts = file.accounts.map { account in
                DisclosedAccount(
                    furnisher: account.furnisher.value,
                    accountNumber: accounts == .masked ? Masking.accountNumber(account.accountNumber) : account.accountNumber,
                    type: account.type,
                    opened: account.opened,
                    limit: account.limit,
                    balance: account.balance,
                    status: account.status,
                    paymentHistory: account.paymentHistory,
                    closed: account.closed
                )
            }
            report.disclosedFields.append("accounts.account_number:\(accounts.rawValue)")
            report.disclosedFields += ["furnisher", "type", "opened", "limit", "balance", "status", "payment_history", "closed"]
                .map { "accounts.\($0):shown" }
        }
        return report
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
