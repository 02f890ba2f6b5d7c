/// One category of information the bureau may hold.
public struct CatalogueCategory: Hashable, Codable, Sendable {
    /// Stable code, for example `account.credit`.
    public var code: String
    public var name: String
    public var legalBasis: String
    /// Negative information carries a legal basis and stops being disclosed when its retention ends.
    public var negative: Bool
    /// Years after the behaviour ends that it may be disclosed; 0: as long as it is true.
    public var retentionYears: UInt32
    public var subjectKinds: [SubjectKind]
    /// The purposes that may see it.
    public var purposes: [Purpose]
    /// The kind of record it holds (nil for identity and registration).
    public var recordKind: RecordKind?
    /// Whether entries of this category make up a published list.
    public var feedsList: Bool
    /// Whether a subject may ask for a record of this category to be repaired after rectification.
    public var repairable: Bool

    public init(
        code: String, name: String, legalBasis: String, negative: Bool, retentionYears: UInt32,
        subjectKinds: [SubjectKind], purposes: [Purpose], recordKind: RecordKind?, feedsList: Bool = false, repairable: Bool = false
    ) {
        self.repairable = repairable
        self.code = code
        self.name = name
        self.legalBasis = legalBasis
        self.negative = negative
        self.retentionYears = retentionYears
        self.subjectKinds = subjectKinds
        self.purposes = purposes
        self.recordKind = recordKind
        self.feedsList = feedsList
    }

    enum CodingKeys: String, CodingKey {
        case code, name, legalBasis, negative, retentionYears, subjectKinds, purposes, recordKind, feedsList, repairable
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.code = try c.decode(String.self, forKey: .code)
        self.name = try c.decode(String.self, forKey: .name)
        self.legalBasis = try c.decode(String.self, forKey: .legalBasis)
        self.negative = try c.decode(Bool.self, forKey: .negative)
        self.retentionYears = try c.decode(UInt32.self, forKey: .retentionYears)
        self.subjectKinds = try c.decode([SubjectKind].self, forKey: .subjectKinds)
        self.purposes = try c.decode([Purpose].self, forKey: .purposes)
        self.recordKind = try c.decodeIfPresent(RecordKind.self, forKey: .recordKind)
        self.feedsList = try c.decodeIfPresent(Bool.self, forKey: .feedsList) ?? false
        self.repairable = try c.decodeIfPresent(Bool.self, forKey: .repairable) ?? false
    }
}

/// The catalogue of every category of information the bureau may hold. Public to every caller; an
/// operator can replace it from a file (see ``validated()``).
public struct Catalogue: Hashable, Codable, Sendable {
    public var version: UInt32
    public var categories: [CatalogueCategory]

    public init(version: UInt32, categories: [CatalogueCategory]) {
        self.version = version
        self.categories = categories
    }

    public static let accountCredit = "account.credit"
    public static let accountDelinquency = "account.delinquency"
    public static let severeUntrustworthinessList = "list.severe-untrustworthiness"
    public static let redList = "list.red"

    /// The category with `code`, or nil.
    public func category(_ code: String) -> CatalogueCategory? {
        self.categories.first { $0.code == code }
    }

    /// Information the law forbids a bureau to collect (Regulation on the Administration of Credit
    /// Reporting Industry, art. 14), matched against category codes and names.
    public static let prohibited: [(term: String, label: String)] = [
        ("religio", "religious belief"), ("gene", "genes"), ("genetic", "genes"), ("fingerprint", "fingerprints"),
        ("blood", "blood type"), ("medical", "medical history"), ("disease", "medical history"), ("health", "medical history"),
        ("宗教", "religious belief"), ("基因", "genes"), ("指纹", "fingerprints"), ("血型", "blood type"), ("病史", "medical history"),
    ]

    /// The prohibited kind of information `text` names, if any.
    public static func prohibitedLabel(in text: String) -> String? {
        let lower = text.lowercased()
        return prohibited.first { lower.contains($0.term) }?.label
    }

    /// Checks that a catalogue is usable: codes unique and well formed, nothing prohibited, every negative
    /// category with a retention, the record kinds furnishing relies on present.
    ///
    /// - Throws: ``BureauError`` (invalid argument) naming the category and the rule.
    public func validated() throws(BureauError) -> Catalogue {
        guard !self.categories.isEmpty else { throw .invalid("categories", "a catalogue needs at least one category") }
        guard self.categories.count <= Catalogue.maxCategories else { throw .invalid("categories", "at most \(Catalogue.maxCategories)") }
        var seen = Set<String>()
        for (i, c) in self.categories.enumerated() {
            let field = "categories[\(i)]"
            guard !c.code.isEmpty, c.code.utf8.count <= 64, c.code.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "." || $0 == "-") }) else {
                throw .invalid("\(field).code", "is 1 to 64 lowercase letters, digits, dots and dashes")
            }
            guard seen.insert(c.code).inserted else { throw .invalid("\(field).code", "\(c.code) appears twice") }
            if let label = Catalogue.prohibitedLabel(in: c.code + " " + c.name) {
                throw .invalid(field, "\(label) is information a credit bureau may not collect")
            }
            guard !c.name.isEmpty, c.name.utf8.count <= 500 else { throw .invalid("\(field).name", "is 1 to 500 bytes") }
            guard !c.legalBasis.isEmpty, c.legalBasis.utf8.count <= 500 else { throw .invalid("\(field).legal_basis", "is 1 to 500 bytes") }
            guard !c.subjectKinds.isEmpty else { throw .invalid("\(field).subject_kinds", "names at least one kind") }
            if c.negative && c.retentionYears == 0 && c.recordKind != .listEntry {
                throw .invalid("\(field).retention_years", "a negative category needs a retention period")
            }
        }
        for code in [Catalogue.accountCredit, Catalogue.accountDelinquency] where self.category(code) == nil {
            throw .invalid("categories", "\(code) is required: accounts are filed under it")
        }
        return self
    }

    /// The most categories a catalogue holds.
    public static let maxCategories = 256

    private static let regulation = "Regulation on the Administration of Credit Reporting Industry"
    private static let creditPurposes: [Purpose] = Purpose.allCases.filter { $0 != .employmentScreening }

    /// The built-in catalogue.
    public static let `default` = Catalogue(
        version: 1,
        categories: [
            CatalogueCategory(
                code: "identity.person", name: "Identity of a person: name, identifier, birth date, contacts, address",
                legalBasis: "\(regulation), art. 13", negative: false, retentionYears: 0,
                subjectKinds: [.individual], purposes: Purpose.allCases, recordKind: nil
            ),
            CatalogueCategory(
                code: "identity.business", name: "Registration of a business: name, code, date, address, legal representative",
                legalBasis: "\(regulation), art. 14", negative: false, retentionYears: 0,
                subjectKinds: [.business], purposes: Purpose.allCases, recordKind: nil
            ),
            CatalogueCategory(
                code: accountCredit, name: "Credit accounts in good standing: limits, balances, 24-month payment history",
                legalBasis: "\(regulation), art. 13 and 14", negative: false, retentionYears: 0,
                subjectKinds: [.individual, .business], purposes: creditPurposes, recordKind: .account
            ),
            CatalogueCategory(
                code: accountDelinquency, name: "Late payment, charge-off and other negative account information",
                legalBasis: "\(regulation), art. 16: kept 5 years after the behaviour ends", negative: true, retentionYears: 5,
                subjectKinds: [.individual, .business], purposes: creditPurposes, recordKind: .account
            ),
            CatalogueCategory(
                code: PublicRecordType.courtJudgment.category, name: "Civil judgments in force against the subject",
                legalBasis: "\(regulation), art. 16; Civil Procedure Law", negative: true, retentionYears: 5,
                subjectKinds: [.individual, .business], purposes: Purpose.allCases, recordKind: .publicRecord
            ),
            CatalogueCategory(
                code: PublicRecordType.enforcement.category, name: "Enforcement: judgment defaulters",
                legalBasis: "\(regulation), art. 16; Supreme People's Court provisions on judgment defaulters", negative: true,
                retentionYears: 5, subjectKinds: [.individual, .business], purposes: Purpose.allCases, recordKind: .publicRecord
            ),
            CatalogueCategory(
                code: PublicRecordType.administrativePenalty.category, name: "Administrative penalties",
                legalBasis: "\(regulation), art. 16; Administrative Penalty Law", negative: true, retentionYears: 5,
                subjectKinds: [.individual, .business], purposes: creditPurposes, recordKind: .publicRecord, repairable: true
            ),
            CatalogueCategory(
                code: PublicRecordType.taxArrears.category, name: "Tax arrears",
                legalBasis: "\(regulation), art. 16; Tax Collection Administration Law", negative: true, retentionYears: 5,
                subjectKinds: [.individual, .business], purposes: creditPurposes, recordKind: .publicRecord, repairable: true
            ),
            CatalogueCategory(
                code: severeUntrustworthinessList, name: "The list of severely untrustworthy entities",
                legalBasis: "Social credit system policy: listing only on a legally binding document", negative: true,
                retentionYears: 5, subjectKinds: [.individual, .business], purposes: Purpose.allCases, recordKind: .listEntry,
                feedsList: true
            ),
            CatalogueCategory(
                code: redList, name: "Red lists of trustworthy entities (taxpayer grade A, customs advanced certification)",
                legalBasis: "Social credit system policy: joint incentives for the trustworthy", negative: false, retentionYears: 0,
                subjectKinds: [.individual, .business], purposes: Purpose.allCases, recordKind: .listEntry, feedsList: true
            ),
            CatalogueCategory(
                code: "statement", name: "Statements the subject attaches to the file",
                legalBasis: "\(regulation), art. 17 and 25", negative: false, retentionYears: 0,
                subjectKinds: [.individual, .business], purposes: Purpose.allCases, recordKind: nil
            ),
            CatalogueCategory(
                code: "query-record", name: "Who queried the file, when and for what purpose (2 years)",
                legalBasis: "\(regulation), art. 23", negative: false, retentionYears: 2,
                subjectKinds: [.individual, .business], purposes: creditPurposes, recordKind: nil
            ),
        ]
    )
}
