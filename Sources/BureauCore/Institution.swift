/// An institution the bureau has registered: identified by its Unified Social Credit Code, bound to one
/// or more client certificates by their SHA-256 fingerprints (several, for rotation), with its roles, its
/// licence to query and the catalogue categories it may furnish.
public struct Institution: Hashable, Codable, Sendable {
    public var code: UnifiedSocialCreditCode
    public var name: String
    public var roles: Set<Role>
    public var licence: Licence
    /// Lowercase hex SHA-256 fingerprints of the DER of its client certificates.
    public var certificateFingerprints: Set<String>
    /// The catalogue categories it is licensed to furnish.
    public var categories: Set<String>

    public init(
        code: UnifiedSocialCreditCode,
        name: String,
        roles: Set<Role>,
        licence: Licence,
        certificateFingerprints: Set<String>,
        categories: Set<String> = []
    ) {
        self.code = code
        self.name = name
        self.roles = roles
        self.licence = licence
        self.certificateFingerprints = certificateFingerprints
        self.categories = categories
    }

    /// An institution with a standing licence (tier 3, both subject kinds, no quota) for `purposes`.
    public init(
        code: UnifiedSocialCreditCode,
        name: String,
        roles: Set<Role>,
        purposes: Set<Purpose>,
        certificateFingerprints: Set<String>,
        categories: Set<String> = []
    ) {
        self.init(
            code: code, name: name, roles: roles, licence: Licence(purposes: purposes),
            certificateFingerprints: certificateFingerprints, categories: categories
        )
    }

    /// The purposes it is licensed for.
    public var purposes: Set<Purpose> { self.licence.purposes }

    /// Checks that the institution may query a file of `kind` for `purpose` on `today`.
    ///
    /// - Throws: ``BureauError`` (permission denied) naming the missing role or the licence's problem:
    ///   suspended, revoked, not yet valid, expired, purpose or subject kind not licensed.
    public func authorize(_ purpose: Purpose, kind: SubjectKind? = nil, on today: CalendarDate? = nil) throws(BureauError) {
        let role = purpose.requiredRole
        guard self.roles.contains(role) else {
            throw BureauError(.permissionDenied, "purpose \(purpose.rawValue) needs the \(role.rawValue) role, which \(self.code) does not hold")
        }
        try self.checkLicenceInForce(on: today)
        let licence = self.licence
        guard licence.purposes.contains(purpose) else {
            throw BureauError(.permissionDenied, "purpose \(purpose.rawValue) is not licensed to \(self.code)")
        }
        if let kind, !licence.subjectKinds.contains(kind) {
            throw BureauError(.permissionDenied, "licence: \(self.code) is not licensed for \(kind.rawValue) files")
        }
    }

    /// Checks that the institution's licence is in force on `today`: active (neither suspended nor revoked)
    /// and within its validity dates.
    ///
    /// This is the one standing check: the caller resolver runs it for every call of every role, before
    /// any other rule. A licence not in force stops everything its holder could do, regulators and
    /// operators included (the law gives a suspended institution no standing); a regulator cannot
    /// reinstate itself, another regulator or an operator does (`AdministrationService`).
    ///
    /// - Parameter today: the UTC day of the call; nil checks the status only.
    /// - Throws: ``BureauError`` (permission denied) naming the licence's problem: suspended, revoked, not
    ///   yet valid or expired.
    public func checkLicenceInForce(on today: CalendarDate?) throws(BureauError) {
        let licence = self.licence
        switch licence.status {
        case .active: break
        case .suspended: throw BureauError(.permissionDenied, "licence: the licence of \(self.code) is suspended")
        case .revoked: throw BureauError(.permissionDenied, "licence: the licence of \(self.code) is revoked")
        }
        if let today {
            guard today >= licence.validFrom else {
                throw BureauError(.permissionDenied, "licence: the licence of \(self.code) is valid from \(licence.validFrom)")
            }
            guard today <= licence.validUntil else {
                throw BureauError(.permissionDenied, "licence: the licence of \(self.code) expired on \(licence.validUntil)")
            }
        }
    }

    /// Checks that the institution holds `role`.
    public func require(_ role: Role) throws(BureauError) {
        guard self.roles.contains(role) else {
            throw BureauError(.permissionDenied, "this call needs the \(role.rawValue) role, which \(self.code) does not hold")
        }
    }
}

extension Institution {
    /// The most bytes of an institution's name (UTF-8).
    public static let maxNameBytes = 200
    /// The most categories an institution may furnish.
    public static let maxCategories = 32
    /// The most purposes a licence names.
    public static let maxPurposes = 16
    /// The highest daily quota a licence may set (0 is no limit).
    public static let maxDailyQuota = 10_000_000

    /// Checks a registration an operator asks for: the name (1 to ``maxNameBytes`` bytes, no national
    /// identifier, since it is logged), at least one role, a licence whose purposes each belong to a role the
    /// institution holds and whose dates, quota and hours make sense, and categories of records in
    /// `catalogue` (furnishers only).
    ///
    /// - Parameter field: the path of the institution in the request, for error messages.
    /// - Throws: ``BureauError`` (invalid argument) naming the field and the rule.
    public func validated(against catalogue: Catalogue, field: String = "institution") throws(BureauError) -> Institution {
        let name = self.name.trimmingWhitespace()
        guard !name.isEmpty, name.utf8.count <= Self.maxNameBytes else {
            throw .invalid("\(field).name", "is 1 to \(Self.maxNameBytes) bytes")
        }
        try Furnishing.validateLoggedText(name, field: "\(field).name")
        guard !self.roles.isEmpty else { throw .invalid("\(field).roles", "names at least one role") }
        let licence = self.licence
        guard licence.purposes.count <= Self.maxPurposes else { throw .invalid("\(field).licence.purposes", "names at most \(Self.maxPurposes)") }
        for purpose in Purpose.allCases where licence.purposes.contains(purpose) && !self.roles.contains(purpose.requiredRole) {
            throw .invalid("\(field).licence.purposes", "\(purpose.rawValue) needs the \(purpose.requiredRole.rawValue) role")
        }
        guard !licence.subjectKinds.isEmpty else { throw .invalid("\(field).licence.subject_kinds", "names at least one kind") }
        guard licence.validUntil >= licence.validFrom else {
            throw .invalid("\(field).licence.valid_until", "is not before valid_from")
        }
        guard (0...Self.maxDailyQuota).contains(licence.dailyQuota) else {
            throw .invalid("\(field).licence.daily_quota", "is 0 (no limit) to \(Self.maxDailyQuota)")
        }
        if let hours = licence.hours, !(0...23).contains(hours.lowerBound) || !(0...23).contains(hours.upperBound) {
            throw .invalid("\(field).licence.hours", "are UTC hours 0 to 23, from not after to")
        }
        guard self.categories.count <= Self.maxCategories else {
            throw .invalid("\(field).categories", "names at most \(Self.maxCategories)")
        }
        if !self.categories.isEmpty && !self.roles.contains(.furnisher) {
            throw .invalid("\(field).categories", "only a furnisher furnishes categories")
        }
        for code in self.categories.sorted() where catalogue.category(code)?.recordKind == nil {
            throw .invalid("\(field).categories", "\(code.utf8.count <= 64 ? code : "a code") is not a category of records in catalogue version \(catalogue.version)")
        }
        var valid = self
        valid.name = name
        return valid
    }
}
