public import BureauAPI
public import BureauCore

// Mapping of AdministrationService's messages (institutions, licences, the catalogue) to the domain. The
// parsers check what the wire alone decides (enums, dates, sizes) and name the field; the domain's
// `validated` checks the rest.

extension Role {
    /// The domain role of a wire value, or nil for unspecified and unknown values.
    public init?(_ wire: Bureau_Role) {
        switch wire {
        case .agency: self = .agency
        case .furnisher: self = .furnisher
        case .regulator: self = .regulator
        case .operator: self = .operator
        case .channel: self = .channel
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var wire: Bureau_Role {
        switch self {
        case .agency: .agency
        case .furnisher: .furnisher
        case .regulator: .regulator
        case .operator: .operator
        case .channel: .channel
        }
    }
}

extension LicenceStatus {
    public var wire: Bureau_LicenceStatus {
        switch self {
        case .active: .active
        case .suspended: .suspended
        case .revoked: .revoked
        }
    }
}

extension Bureau_CalendarDate {
    /// The date, naming `field` when it is absent or not a real date.
    func parse(present: Bool, field: String) throws(BureauError) -> CalendarDate {
        guard present else { throw .invalid(field, "is required") }
        guard let date = CalendarDate(year: Int(self.year), month: Int(self.month), day: Int(self.day)) else {
            throw .invalid(field, "must be a real date")
        }
        return date
    }
}

extension Licence {
    /// The licence a request describes, at `field`.
    public init(wire: Bureau_Licence, field: String) throws(BureauError) {
        var purposes = Set<Purpose>()
        for (i, p) in wire.purposes.enumerated() {
            guard purposes.insert(try Purpose.parse(p, field: "\(field).purposes[\(i)]")).inserted else {
                throw .invalid("\(field).purposes[\(i)]", "appears twice")
            }
        }
        var kinds = Set<SubjectKind>()
        for (i, k) in wire.subjectKinds.enumerated() {
            guard let kind = SubjectKind(k) else { throw .invalid("\(field).subject_kinds[\(i)]", "must be individual or business") }
            kinds.insert(kind)
        }
        guard let tier = Tier(rawValue: Int(wire.tier)) else { throw .invalid("\(field).tier", "is 1 (summary), 2 (accounts) or 3 (full)") }
        let status: LicenceStatus
        switch wire.status {
        case .unspecified, .active: status = .active
        case .suspended: status = .suspended
        case .revoked: status = .revoked
        case .UNRECOGNIZED(let value): throw .invalid("\(field).status", "unknown value \(value)")
        }
        var hours: ClosedRange<Int>?
        if wire.hasHours {
            guard wire.hours.from <= 23, wire.hours.to <= 23, wire.hours.from <= wire.hours.to else {
                throw .invalid("\(field).hours", "are UTC hours 0 to 23, from not after to")
            }
            hours = Int(wire.hours.from)...Int(wire.hours.to)
        }
        guard wire.dailyQuota <= UInt32(Institution.maxDailyQuota) else {
            throw .invalid("\(field).daily_quota", "is 0 (no limit) to \(Institution.maxDailyQuota)")
        }
        self.init(
            purposes: purposes, subjectKinds: kinds, tier: tier,
            validFrom: try wire.validFrom.parse(present: wire.hasValidFrom, field: "\(field).valid_from"),
            validUntil: try wire.validUntil.parse(present: wire.hasValidUntil, field: "\(field).valid_until"),
            status: status, dailyQuota: Int(wire.dailyQuota), hours: hours
        )
    }
}

extension Bureau_Licence {
    public init(_ licence: Licence) {
        self.init()
        self.purposes = Purpose.allCases.filter { licence.purposes.contains($0) }.map(\.wire)
        self.subjectKinds = SubjectKind.allCases.filter { licence.subjectKinds.contains($0) }.map(\.wire)
        self.tier = UInt32(licence.tier.rawValue)
        self.validFrom = Bureau_CalendarDate(licence.validFrom)
        self.validUntil = Bureau_CalendarDate(licence.validUntil)
        self.status = licence.status.wire
        self.dailyQuota = UInt32(clamping: licence.dailyQuota)
        if let hours = licence.hours {
            self.hours.from = UInt32(hours.lowerBound)
            self.hours.to = UInt32(hours.upperBound)
        }
    }
}

extension Institution {
    /// The institution a request describes, at `field`, without certificates (they are bound by PEM).
    /// Check it with ``Institution/validated(against:field:)`` before use.
    public init(wire: Bureau_InstitutionRecord, field: String) throws(BureauError) {
        let code = try UnifiedSocialCreditCode(parsing: wire.code, field: "\(field).code")
        var roles = Set<Role>()
        for (i, r) in wire.roles.enumerated() {
            guard let role = Role(r) else { throw .invalid("\(field).roles[\(i)]", "must be agency, furnisher, regulator, operator or channel") }
            guard roles.insert(role).inserted else { throw .invalid("\(field).roles[\(i)]", "appears twice") }
        }
        guard wire.hasLicence else { throw .invalid("\(field).licence", "is required") }
        guard wire.categories.count <= Institution.maxCategories else {
            throw .invalid("\(field).categories", "names at most \(Institution.maxCategories)")
        }
        for (i, c) in wire.categories.enumerated() where c.isEmpty || c.utf8.count > 64 {
            throw .invalid("\(field).categories[\(i)]", "is 1 to 64 bytes")
        }
        self.init(
            code: code, name: wire.name, roles: roles, licence: try Licence(wire: wire.licence, field: "\(field).licence"),
            certificateFingerprints: [], categories: Set(wire.categories)
        )
    }
}

extension Bureau_InstitutionRecord {
    public init(_ institution: Institution) {
        self.init()
        self.code = institution.code.value
        self.name = institution.name
        self.roles = Role.allCases.filter { institution.roles.contains($0) }.map(\.wire)
        self.licence = Bureau_Licence(institution.licence)
        self.categories = institution.categories.sorted()
        self.certificateFingerprints = institution.certificateFingerprints.sorted()
    }
}

extension Bureau_Category {
    public init(_ category: CatalogueCategory) {
        self.init()
        self.code = category.code
        self.name = category.name
        self.legalBasis = category.legalBasis
        self.negative = category.negative
        self.retentionYears = category.retentionYears
        self.subjectKinds = category.subjectKinds.map(\.wire)
        self.purposes = category.purposes.map(\.wire)
        if let kind = category.recordKind { self.recordKind = kind.wire }
        self.feedsList = category.feedsList
        self.repairable = category.repairable
    }
}

extension CatalogueCategory {
    /// The category a request describes, at `field`. Check the catalogue with ``Catalogue/validated()``.
    public init(wire: Bureau_Category, field: String) throws(BureauError) {
        var kinds: [SubjectKind] = []
        for (i, k) in wire.subjectKinds.enumerated() {
            guard let kind = SubjectKind(k) else { throw .invalid("\(field).subject_kinds[\(i)]", "must be individual or business") }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        var purposes: [Purpose] = []
        for (i, p) in wire.purposes.enumerated() {
            let purpose = try Purpose.parse(p, field: "\(field).purposes[\(i)]")
            if !purposes.contains(purpose) { purposes.append(purpose) }
        }
        var recordKind: RecordKind?
        switch wire.recordKind {
        case .unspecified: recordKind = nil
        case .UNRECOGNIZED(let value): throw .invalid("\(field).record_kind", "unknown value \(value)")
        default: recordKind = RecordKind(wire.recordKind)
        }
        self.init(
            code: wire.code, name: wire.name, legalBasis: wire.legalBasis, negative: wire.negative,
            retentionYears: wire.retentionYears, subjectKinds: kinds, purposes: purposes, recordKind: recordKind,
            feedsList: wire.feedsList, repairable: wire.repairable
        )
    }
}

extension Catalogue {
    /// The catalogue a request describes: `version` and its categories, checked with ``validated()``.
    public init(version: UInt32, wire categories: [Bureau_Category]) throws(BureauError) {
        guard categories.count <= Catalogue.maxCategories else { throw .invalid("categories", "at most \(Catalogue.maxCategories)") }
        var parsed: [CatalogueCategory] = []
        for (i, c) in categories.enumerated() { parsed.append(try CatalogueCategory(wire: c, field: "categories[\(i)]")) }
        self = try Catalogue(version: version, categories: parsed).validated()
    }
}
