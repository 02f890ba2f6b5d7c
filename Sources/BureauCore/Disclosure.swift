/// A part of a report that is disclosed, masked or withheld as a whole.
public enum ReportSection: String, Hashable, Codable, Sendable, CaseIterable, Comparable {
    case identity
    case registration
    case summary
    case accounts
    case publicRecords = "public-records"
    case listEntries = "list-entries"
    case statements
    case disputes
    case queryRecords = "query-records"

    public static func < (lhs: ReportSection, rhs: ReportSection) -> Bool {
        Self.allCases.firstIndex(of: lhs)! < Self.allCases.firstIndex(of: rhs)!
    }
}

/// How a section is treated for a purpose.
public enum Treatment: String, Hashable, Codable, Sendable {
    case shown
    case masked
    case withheld
}

/// The fixed table purpose x section -> treatment (DESIGN.md invariant 4). Its version goes into every
/// log entry so that a regulator can tell which rules decided a disclosure. Within a shown section the
/// catalogue decides, category by category, which purposes may see a record.
public enum DisclosureTable {
    /// Bumped whenever a row changes.
    public static let version: UInt32 = 3

    /// The treatment of `section` for `purpose`.
    public static func treatment(of section: ReportSection, for purpose: Purpose) -> Treatment {
        switch (purpose, section) {
        case (.selfAccess, _):
            return .shown
        case (_, .identity), (_, .registration):
            return .masked
        case (.employmentScreening, .accounts), (.employmentScreening, .summary):
            // An employer may confirm identity and public records, but has no need for account detail.
            return .withheld
        case (.employmentScreening, .queryRecords), (.tenantScreening, .queryRecords), (.insuranceUnderwriting, .queryRecords):
            // Who else asked about a person is credit information, not needed outside lending.
            return .withheld
        case (_, .accounts):
            return .masked
        default:
            return .shown
        }
    }

    /// Why a section is withheld, in words for the report.
    public static func reason(withholding section: ReportSection, for purpose: Purpose) -> String {
        "purpose \(purpose.rawValue) does not permit the \(section.rawValue) section (disclosure table v\(version))"
    }

    /// Why a section is withheld for the caller's tier.
    public static func reason(withholding section: ReportSection, tier: Tier) -> String {
        "a tier \(tier.rawValue) licence does not include the \(section.rawValue) section (tier \(Tier.minimum(for: section).rawValue) does)"
    }
}
