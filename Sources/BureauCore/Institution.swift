/// An institution the bureau has registered: identified by its Unified Social Credit Code, bound to one
/// or more client certificates by their SHA-256 fingerprints, with the roles and purposes it is licensed for.
public struct Institution: Hashable, Codable, Sendable {
    public var code: UnifiedSocialCreditCode
    public var name: String
    public var roles: Set<Role>
    /// The purposes it may query for.
    public var purposes: Set<Purpose>
    /// Lowercase hex SHA-256 fingerprints of the DER of its client certificates.
    public var certificateFingerprints: Set<String>
    /// The catalogue categories it is licensed to furnish.
    public var categories: Set<String>

    public init(
        code: UnifiedSocialCreditCode,
        name: String,
        roles: Set<Role>,
        purposes: Set<Purpose>,
        certificateFingerprints: Set<String>,
        categories: Set<String> = []
    ) {
        self.code = code
        self.name = name
        self.roles = roles
        self.purposes = purposes
        self.certificateFingerprints = certificateFingerprints
        self.categories = categories
    }

    enum CodingKeys: String, CodingKey {
        case code, name, roles, purposes, certificateFingerprints, categories
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.code = try c.decode(UnifiedSocialCreditCode.self, forKey: .code)
        self.name = try c.decode(String.self, forKey: .name)
        self.roles = try c.decode(Set<Role>.self, forKey: .roles)
        self.purposes = try c.decode(Set<Purpose>.self, forKey: .purposes)
        self.certificateFingerprints = try c.decode(Set<String>.self, forKey: .certificateFingerprints)
        self.categories = try c.decodeIfPresent(Set<String>.self, forKey: .categories) ?? []
    }

    /// Checks that the institution may query for `purpose`.
    ///
    /// - Throws: ``BureauError`` (permission denied) naming the missing role or licence.
    public func authorize(_ purpose: Purpose) throws(BureauError) {
        let role = purpose.requiredRole
        guard self.roles.contains(role) else {
            throw BureauError(.permissionDenied, "purpose \(purpose.rawValue) needs the \(role.rawValue) role, which \(self.code) does not hold")
        }
        guard self.purposes.contains(purpose) else {
            throw BureauError(.permissionDenied, "purpose \(purpose.rawValue) is not licensed to \(self.code)")
        }
    }

    /// Checks that the institution holds `role`.
    public func require(_ role: Role) throws(BureauError) {
        guard self.roles.contains(role) else {
            throw BureauError(.permissionDenied, "this call needs the \(role.rawValue) role, which \(self.code) does not hold")
        }
    }
}
