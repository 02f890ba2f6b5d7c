import BureauStore
import Testing

@Suite("Duration buckets")
struct DurationBucketsTests {
    @Test("bounds grow by a quarter from 25 us to 10 s; a quantile is the upper bound of its bucket, within 25% above")
    func quantiles() throws {
        let bounds = DurationBuckets.bounds
        #expect(bounds.first == 25e-6)
        #expect(bounds.last == 10)
        #expect(zip(bounds, bounds.dropFirst()).allSatisfy { $1 > $0 && $1 <= $0 * 1.26 })

        var buckets = DurationBuckets()
        #expect(buckets.quantile(0.5) == nil)
        for _ in 0..<98 { buckets.record(.milliseconds(1)) }
        buckets.record(.milliseconds(100))
        buckets.record(.seconds(11))
        #expect(buckets.count == 100)
        let p50 = try #require(buckets.quantile(0.5))
        #expect(p50 >= 0.001 && p50 <= 0.00125)
        #expect(try #require(buckets.quantile(0.98)) == p50)
        let p99 = try #require(buckets.quantile(0.99))
        #expect(p99 >= 0.1 && p99 <= 0.125)
        #expect(buckets.quantile(1) == .infinity, "past the last bound")
        #expect(abs(buckets.sum - 11.198) < 1e-9)
    }

    @Test("a later reading minus an earlier one is what was counted in between")
    func subtracting() throws {
        var buckets = DurationBuckets()
        for _ in 0..<10 { buckets.record(.microseconds(300)) }
        let earlier = buckets
        for _ in 0..<5 { buckets.record(.milliseconds(4)) }
        let between = buckets.subtracting(earlier)
        #expect(between.count == 5)
        let only = try #require(between.quantile(0))
        #expect(only >= 0.004 && only <= 0.005)
        #expect(abs(between.sum - 0.02) < 1e-9)
        #expect(buckets.subtracting(buckets).count == 0)
    }

    @Test("counts that are not one per bucket are refused")
    func wrongShape() {
        #expect(DurationBuckets(counts: [1, 2, 3], sum: 1) == nil)
        #expect(DurationBuckets(counts: Array(repeating: 0, count: DurationBuckets.bounds.count + 1), sum: 0) == DurationBuckets())
    }
}
