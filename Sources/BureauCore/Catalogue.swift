/// One category of information the bureau may hold.
public struct CatalogueCategory: Hashable, Codable, Sendable {
    public var code: String
    public var name: String
    public var legalBasis: String
    public var negative: Bool
    /// Years after the behaviour ends that it may be disclosed; 0: as long as it is true.
    public var retentionYears: UInt32
    public var subjectKinds: [SubjectKind]
    public var purposes: [Purpose]

    public init(
        code: String, name: String, legalBasis: String, negative: Bool, retentionYears: UInt32,
        subjectKinds: [SubjectKind], purposes: [Purpose]
    ) {
        self.code = code
        self.name = name
        self.legalBasis = legalBasis
        self.negative = negative
        self.retentionYears = retentionYears
        self.subjectKinds = subjectKinds
        self.purposes = purposes
    }
}

/// The catalogue of every category the bureau may hold. Public to every caller.
public struct Catalogue: Hashable, Codable, Sendable {
    public var version: UInt32
    public var categories: [CatalogueCategory]

    public init(version: UInt32, categories: [CatalogueCategory]) {
        self.version = version
        self.categories = categories
    }

    /// The built-in catalogue.
    public static let `default` = Catalogue(
        version: 1,
        categories: [
            CatalogueCategory(
                code: "identity.person", name: "Identity of a person (name, identifier, birth date, contacts, address)",
                legalBasis: "Regulation on the Administration of Credit Reporting Industry, art. 13",
                negative: false, retentionYears: 0, subjectKinds: [.individual], purposes: Purpose.allCases
            ),
            CatalogueCategory(
                code: "identity.business", name: "Registration of a business (name, code, date, address, legal representative)",
                legalBasis: "Regulation on the Administration of Credit Reporting Industry, art. 14",
                negative: false, retentionYears: 0, subjectKinds: [.business], purposes: Purpose.allCases
            ),
            CatalogueCategory(
                code: "account.credit", name: "Credit accounts in good standing: limits, balances, 24-month payment history",
                legalBasis: "Regulation on the Administration of Credit Reporting Industry, art. 13 and 14",
                negative: false, retentionYears: 0, subjectKinds: [.individual, .business],
                purposes: Purpose.allCases.filter { $0 != .employmentScreening }
            ),
            CatalogueCategory(
                code: "account.delinquency", name: "Late payment, charge-off and other negative account information",
                legalBasis: "Regulation on the Administration of Credit Reporting Industry, art. 16 (5 years after the behaviour ends)",
                negative: true, retentionYears: 5, subjectKinds: [.individual, .business],
                purposes: Purpose.allCases.filter { $0 != .employmentScreening }
            ),
        ]
    )
}
