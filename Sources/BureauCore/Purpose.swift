/// Why a caller asks for a file. The purpose decides what is disclosed and how it is masked, and must be
/// licensed to the caller.
public enum Purpose: String, Hashable, Codable, Sendable, CaseIterable {
    case loanOrigination = "loan-origination"
    case creditCardOrigination = "credit-card-origination"
    case postLoanManagement = "post-loan-management"
    case guaranteeReview = "guarantee-review"
    case employmentScreening = "employment-screening"
    case tenantScreening = "tenant-screening"
    case insuranceUnderwriting = "insurance-underwriting"
    case regulatorySupervision = "regulatory-supervision"
    case courtOrder = "court-order"
    case selfAccess = "self-access"

    /// The purpose's stable one-byte code in the query index: loan-origination 0,
    /// credit-card-origination 1, post-loan-management 2, guarantee-review 3, employment-screening 4,
    /// tenant-screening 5, insurance-underwriting 6, regulatory-supervision 7, court-order 8,
    /// self-access 9 (the order of the cases when the index was introduced, which stored entries hold).
    /// New purposes take new codes; a code is never reused.
    public var indexCode: UInt8 {
        switch self {
        case .loanOrigination: 0
        case .creditCardOrigination: 1
        case .postLoanManagement: 2
        case .guaranteeReview: 3
        case .employmentScreening: 4
        case .tenantScreening: 5
        case .insuranceUnderwriting: 6
        case .regulatorySupervision: 7
        case .courtOrder: 8
        case .selfAccess: 9
        }
    }

    /// The purpose whose ``indexCode`` is `code`, or nil.
    public init?(indexCode code: UInt8) {
        guard let found = Self.allCases.first(where: { $0.indexCode == code }) else { return nil }
        self = found
    }

    /// The rule that allows a query for this purpose.
    public var legalBasis: String {
        switch self {
        case .loanOrigination, .creditCardOrigination, .guaranteeReview:
            "Regulation on the Administration of Credit Reporting Industry, art. 18 and 20: with the subject's written consent"
        case .postLoanManagement:
            "Regulation on the Administration of Credit Reporting Industry, art. 18: post-loan management of an existing credit relationship"
        case .employmentScreening:
            "Regulation on the Administration of Credit Reporting Industry, art. 18: with the subject's written consent for employment"
        case .tenantScreening, .insuranceUnderwriting:
            "Regulation on the Administration of Credit Reporting Industry, art. 18: with the subject's written consent"
        case .regulatorySupervision:
            "Regulation on the Administration of Credit Reporting Industry, art. 37: supervision by the People's Bank of China"
        case .courtOrder:
            "Civil Procedure Law: a court's written order"
        case .selfAccess:
            "Regulation on the Administration of Credit Reporting Industry, art. 17: the subject's right to query their own file"
        }
    }

    /// Whether a consent of the subject must be on file for this purpose.
    public var requiresConsent: Bool {
        switch self {
        case .postLoanManagement, .regulatorySupervision, .courtOrder, .selfAccess: false
        default: true
        }
    }

    /// The role an institution must hold to ask for this purpose.
    public var requiredRole: Role {
        switch self {
        case .regulatorySupervision: .regulator
        case .selfAccess: .channel
        default: .agency
        }
    }
}

/// What an institution does at the bureau. One institution may hold several roles.
public enum Role: String, Hashable, Codable, Sendable, CaseIterable {
    /// Banks, lenders and licensed agencies that query reports.
    case agency
    /// Lenders, courts and authorities that submit records.
    case furnisher
    /// The supervising authority.
    case regulator
    /// The bureau's own staff.
    case `operator`
    /// The bureau's portal or counters, which identify a person out of band.
    case channel
}
