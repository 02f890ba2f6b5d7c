/// Durations counted in fixed buckets: how long the writer's commits and its waiters took, kept without a
/// sample per event (a counter per bucket), so that it costs the same after a billion commits as after one.
///
/// The buckets' upper bounds grow by a factor of about 1.25 from 25 microseconds to 10 seconds (59 bounded buckets and
/// one for anything longer): a quantile read from them is the upper bound of its bucket, at most 25% above
/// the true value. Two readings subtract (``subtracting(_:)``), so the durations of one period are the
/// difference of the readings at its ends, and periods add up (``adding(_:)``).
public struct DurationBuckets: Sendable, Equatable {
    /// The buckets' upper bounds in seconds, ascending; the last bucket (``counts``' last) has none.
    public static let bounds: [Double] = {
        var bounds: [Double] = []
        var bound = 25e-6
        while bound < 10 {
            bounds.append((bound * 1e6).rounded() / 1e6)
            bound *= 1.25
        }
        bounds.append(10)
        return bounds
    }()

    /// Events in each bucket: `counts[i]` took at most `bounds[i]` and more than `bounds[i - 1]`; the last
    /// one took more than ten seconds.
    public private(set) var counts: [UInt64]
    /// The sum of all durations, in seconds.
    public private(set) var sum: Double

    /// An empty histogram.
    public init() {
        self.counts = Array(repeating: 0, count: Self.bounds.count + 1)
        self.sum = 0
    }

    /// Events counted.
    public var count: UInt64 { self.counts.reduce(0, +) }

    /// Counts one event that took `duration`.
    public mutating func record(_ duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
        let bucket = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
        self.counts[bucket] += 1
        self.sum += seconds
    }

    /// The `p` quantile (0...1) in seconds: the upper bound of the bucket it falls in (infinity past the last
    /// bound), or nil when nothing was counted.
    public func quantile(_ p: Double) -> Double? {
        let total = self.count
        guard total > 0 else { return nil }
        let rank = max(1, UInt64((Double(total) * p).rounded(.up)))
        var seen: UInt64 = 0
        for (bucket, count) in self.counts.enumerated() {
            seen += count
            if seen >= rank { return bucket < Self.bounds.count ? Self.bounds[bucket] : .infinity }
        }
        return .infinity
    }

    /// What was counted since `earlier`, a reading of the same histogram.
    public func subtracting(_ earlier: DurationBuckets) -> DurationBuckets {
        var difference = self
        for bucket in difference.counts.indices {
            difference.counts[bucket] -= min(difference.counts[bucket], earlier.counts[bucket])
        }
        difference.sum = max(0, self.sum - earlier.sum)
        return difference
    }

    /// The durations of this period and `other`'s together (two periods of one histogram, each a difference of
    /// readings, or histograms of two writers).
    public func adding(_ other: DurationBuckets) -> DurationBuckets {
        var sum = self
        for bucket in sum.counts.indices { sum.counts[bucket] += other.counts[bucket] }
        sum.sum += other.sum
        return sum
    }

    /// A histogram with these bucket counts (as a Prometheus scrape gives them, not cumulative) and sum.
    public init?(counts: [UInt64], sum: Double) {
        guard counts.count == Self.bounds.count + 1 else { return nil }
        self.counts = counts
        self.sum = sum
    }
}
