public import BureauCore
public import Foundation

/// The RFC 6962 tree's right edge: the roots of its perfect subtrees, largest first. Appending a leaf and
/// computing the root take O(log n), so the console verifies a growing log without rehashing it.
public struct MerkleFrontier: Hashable, Sendable {
    /// (subtree size, subtree root), sizes strictly decreasing powers of two.
    private var stack: [(size: UInt64, hash: [UInt8])] = []
    public private(set) var size: UInt64 = 0

    public init() {}

    public mutating func append(leafHash: [UInt8]) {
        var node = (size: UInt64(1), hash: leafHash)
        while let last = self.stack.last, last.size == node.size {
            self.stack.removeLast()
            node = (size: last.size * 2, hash: Merkle.nodeHash(last.hash, node.hash))
        }
        self.stack.append(node)
        self.size += 1
    }

    /// The tree's root hash (the hash of no bytes for the empty tree, as RFC 6962 has it).
    public var root: [UInt8] {
        guard var root = self.stack.last?.hash else { return Merkle.root(of: [][...]) }
        for node in self.stack.dropLast().reversed() { root = Merkle.nodeHash(node.hash, root) }
        return root
    }

    public static func == (a: MerkleFrontier, b: MerkleFrontier) -> Bool {
        a.size == b.size && a.stack.map(\.hash) == b.stack.map(\.hash)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.size)
        for node in self.stack { hasher.combine(node.hash) }
    }
}

/// Counts of verified entries for the dashboard: per UTC day by purpose, outcome and institution, and each
/// institution's refusals among its queries.
public struct LogStatistics: Hashable, Sendable {
    /// Counts of one day, by label.
    public struct Day: Hashable, Sendable {
        public var byPurpose: [String: Int] = [:]
        public var byOutcome: [String: Int] = [:]
        public var byInstitution: [String: Int] = [:]
        public var total = 0
    }

    /// An institution's queries (entries that state a purpose) and how many were refused (denied or frozen).
    public struct Refusals: Hashable, Sendable {
        public var queries = 0
        public var refused = 0
        /// refused / queries, 0 without queries.
        public var ratio: Double { self.queries == 0 ? 0 : Double(self.refused) / Double(self.queries) }
    }

    /// The label of entries that state no purpose (changes: furnishing, consents, licences).
    public static let noPurpose = "(no purpose)"

    public private(set) var days: [CalendarDate: Day] = [:]
    public private(set) var refusals: [String: Refusals] = [:]
    public private(set) var entries = 0
    /// Entries whose bytes this console could not decode (still verified, counted here).
    public private(set) var undecodable = 0
    public private(set) var latest: Date?

    public init() {}

    /// Counts one entry (nil: bytes this console could not decode).
    public mutating func count(_ entry: AccessLogEntry?) {
        self.entries += 1
        guard let entry else {
            self.undecodable += 1
            return
        }
        let day = CalendarDate(utcDayOf: entry.time)
        let purpose = entry.purpose?.rawValue ?? Self.noPurpose
        let institution = entry.institution.isEmpty ? "-" : entry.institution
        self.days[day, default: Day()].byPurpose[purpose, default: 0] += 1
        self.days[day, default: Day()].byOutcome[entry.outcome.rawValue, default: 0] += 1
        self.days[day, default: Day()].byInstitution[institution, default: 0] += 1
        self.days[day, default: Day()].total += 1
        if entry.purpose != nil {
            self.refusals[institution, default: Refusals()].queries += 1
            if entry.outcome == .denied || entry.outcome == .frozen { self.refusals[institution, default: Refusals()].refused += 1 }
        }
        if self.latest.map({ entry.time > $0 }) ?? true { self.latest = entry.time }
    }

    /// The last `count` days that hold entries, oldest first.
    public func recentDays(_ count: Int) -> [(day: CalendarDate, counts: Day)] {
        self.days.keys.sorted().suffix(count).map { ($0, self.days[$0]!) }
    }
}
