/// A part of a report that is disclosed, masked or withheld as a whole.
public enum ReportSection: String, Hashable, Codable, Sendable, CaseIterable, Comparable {
    case identity
    case registration
    case accounts

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
/// log entry so that a regulator can tell which rules decided a disclosure.
public enum DisclosureTable {
    /// Bumped whenever a row changes.
    public static let version: UInt32 = 1

    /// The treatment of `section` for `purpose`.
    public static func treatment(of section: ReportSection, for purpose: Purpose) -> Treatment {
        switch (purpose, section) {
        case (.selfAccess, _):
            return .shown
        case (_, .identity), (_, .registration):
            return .masked
        case (.employmentScreening, .accounts):
            // An employer may confirm identity but has no need for credit account detail.
            return .withheld
        case (_, .accounts):
            return .masked
        }
    }

    /// Why a section is withheld, in words for the report.
    public static func reason(withholding section: ReportSection, for purpose: Purpose) -> String {
        "purpose \(purpose.rawValue) does not permit the \(section.rawValue) section (disclosure table v\(version))"
    }
}
