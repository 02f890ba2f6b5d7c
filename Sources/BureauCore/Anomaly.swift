import struct Foundation.Date

/// The rules the bureau watches query behaviour with (the regulation asks it to).
public struct AnomalyRules: Hashable, Codable, Sendable {
    /// A day's queries above this multiple of the institution's own daily average over the baseline.
    public var spikeFactor: Double
    /// ...and at least this many queries in the day.
    public var spikeMinimum: Int
    /// Days before the current one that make the baseline.
    public var baselineDays: Int
    /// A day's denials above this share of the institution's report requests...
    public var denialRatio: Double
    /// ...over at least this many requests.
    public var denialMinimum: Int
    /// A consent quoted for more than this many different subjects.
    public var consentSubjectsMaximum: Int

    public init(
        spikeFactor: Double = 3, spikeMinimum: Int = 100, baselineDays: Int = 7, denialRatio: Double = 0.3,
        denialMinimum: Int = 20, consentSubjectsMaximum: Int = 1
    ) {
        self.spikeFactor = spikeFactor
        self.spikeMinimum = spikeMinimum
        self.baselineDays = baselineDays
        self.denialRatio = denialRatio
        self.denialMinimum = denialMinimum
        self.consentSubjectsMaximum = consentSubjectsMaximum
    }

    public static var defaults: AnomalyRules { AnomalyRules() }
}

/// Something in the access log a regulator should look at, with the evidence.
public struct Anomaly: Hashable, Codable, Sendable {
    public enum Kind: String, Hashable, Codable, Sendable, CaseIterable {
        case volumeSpike = "volume-spike"
        case denialRatio = "denial-ratio"
        case consentReuse = "consent-reuse"
        case outsideHours = "outside-hours"
    }

    public var kind: Kind
    public var institution: String
    /// The UTC day it concerns.
    public var day: CalendarDate
    public var evidence: String
    /// Log indexes of entries that show it (a sample).
    public var entries: [UInt64]

    /// One anomaly of a kind per institution and day (per consent for consent reuse).
    public var id: String {
        "\(self.kind.rawValue)/\(self.institution)/\(self.day)" + (self.kind == .consentReuse ? "/\(self.entries.first ?? 0)" : "")
    }
}

/// Finds anomalies in the access log, as a pure function of its entries.
public enum AnomalyDetector {
    /// The anomalies of `day` among `entries` (which cover `day` and the baseline days before it).
    ///
    /// - Parameter hours: the UTC hours each institution is licensed to query in, if limited.
    public static func detect(
        _ entries: [(index: UInt64, entry: AccessLogEntry)], day: CalendarDate, rules: AnomalyRules,
        hours: [String: ClosedRange<Int>] = [:]
    ) -> [Anomaly] {
        var found: [Anomaly] = []
        let reports = entries.filter { $0.entry.action.isQuery && !$0.entry.institution.isEmpty }
        let today = reports.filter { CalendarDate(utcDayOf: $0.entry.time) == day }
        let baselineStart = day.daysSinceEpoch - rules.baselineDays
        let baseline = reports.filter {
            let d = CalendarDate(utcDayOf: $0.entry.time).daysSinceEpoch
            return d >= baselineStart && d < day.daysSinceEpoch
        }
        let byInstitution = Dictionary(grouping: today, by: \.entry.institution)
        for (institution, queries) in byInstitution.sorted(by: { $0.key < $1.key }) {
            let average = Double(baseline.filter { $0.entry.institution == institution }.count) / Double(max(1, rules.baselineDays))
            if queries.count >= rules.spikeMinimum && Double(queries.count) > rules.spikeFactor * average {
                found.append(
                    Anomaly(
                        kind: .volumeSpike, institution: institution, day: day,
                        evidence: "\(queries.count) report requests on \(day) against a daily average of "
                            + String(format: "%.1f", average) + " over the \(rules.baselineDays) days before",
                        entries: queries.prefix(10).map(\.index)
                    )
                )
            }
            let denied = queries.filter { $0.entry.outcome == .denied }
            if queries.count >= rules.denialMinimum && Double(denied.count) > rules.denialRatio * Double(queries.count) {
                found.append(
                    Anomaly(
                        kind: .denialRatio, institution: institution, day: day,
                        evidence: "\(denied.count) of \(queries.count) report requests on \(day) were denied",
                        entries: denied.prefix(10).map(\.index)
                    )
                )
            }
            if let allowed = hours[institution] {
                let outside = queries.filter {
                    let hour = Int(($0.entry.time.timeIntervalSince1970.truncatingRemainder(dividingBy: 86_400)) / 3600)
                    return !allowed.contains(hour)
                }
                if !outside.isEmpty {
                    found.append(
                        Anomaly(
                            kind: .outsideHours, institution: institution, day: day,
                            evidence: "\(outside.count) report requests on \(day) outside the licensed hours \(allowed.lowerBound):00-\(allowed.upperBound):59 UTC",
                            entries: outside.prefix(10).map(\.index)
                        )
                    )
                }
            }
        }
        // One consent quoted for several subjects.
        let quoted = today.filter { !$0.entry.consentReference.isEmpty }
        for (reference, uses) in Dictionary(grouping: quoted, by: \.entry.consentReference).sorted(by: { $0.key < $1.key }) {
            let subjects = Set(uses.flatMap(\.entry.subjects))
            if subjects.count > rules.consentSubjectsMaximum {
                found.append(
                    Anomaly(
                        kind: .consentReuse, institution: uses[0].entry.institution, day: day,
                        evidence: "consent \(reference) was quoted for \(subjects.count) different subjects on \(day)",
                        entries: uses.prefix(10).map(\.index)
                    )
                )
            }
        }
        return found
    }
}
