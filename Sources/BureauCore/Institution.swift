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
    /// reinstate itself, another regulator does, or the bureau's own machine (`bureau institution add`).
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
