/// How deep a licence sees into a file.
///
/// | tier | sees |
/// |---|---|
/// | 1 | identity (masked), the summary, statements and dispute marks |
/// | 2 | and accounts with their 24-month history, and query records |
/// | 3 | and public records and list entries in detail |
public enum Tier: Int, Hashable, Codable, Sendable, CaseIterable, Comparable {
    case summary = 1
    case accounts = 2
    case full = 3

    public static func < (lhs: Tier, rhs: Tier) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The lowest tier that sees `section`.
    public static func minimum(for section: ReportSection) -> Tier {
        switch section {
        case .identity, .registration, .summary, .statements, .disputes: .summary
        case .accounts, .queryRecords: .accounts
        case .publicRecords, .listEntries: .full
        }
    }
}

/// Whether a licence is in force.
public enum LicenceStatus: String, Hashable, Codable, Sendable, CaseIterable {
    case active
    case suspended
    case revoked
}

/// An institution's licence to query: purposes, subject kinds, tier, validity, status and a daily quota.
public struct Licence: Hashable, Codable, Sendable {
    public var purposes: Set<Purpose>
    public var subjectKinds: Set<SubjectKind>
    public var tier: Tier
    public var validFrom: CalendarDate
    public var validUntil: CalendarDate
    public var status: LicenceStatus
    /// Queries a day (UTC), granted or not counted when denied; 0 means no limit.
    public var dailyQuota: Int
    /// The UTC hours queries are expected in (for anomaly monitoring); nil: any hour.
    public var hours: ClosedRange<Int>?

    public init(
        purposes: Set<Purpose>, subjectKinds: Set<SubjectKind> = [.individual, .business], tier: Tier = .full,
        validFrom: CalendarDate = CalendarDate(year: 2000, month: 1, day: 1)!,
        validUntil: CalendarDate = CalendarDate(year: 2099, month: 12, day: 31)!,
        status: LicenceStatus = .active, dailyQuota: Int = 0, hours: ClosedRange<Int>? = nil
    ) {
        self.hours = hours
        self.purposes = purposes
        self.subjectKinds = subjectKinds
        self.tier = tier
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.status = status
        self.dailyQuota = dailyQuota
    }
}
