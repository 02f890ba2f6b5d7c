@testable import BureauStore
import Testing

@Suite("The filter of the scopes whose keys a transaction sent to the key store's stream")
struct ScopeFilterTests {
    private static func randomID() -> KeyScopeID {
        let words = (UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))
        return KeyScopeID(bytes: withUnsafeBytes(of: words) { Array($0) })!
    }

    @Test("an empty filter says no; every scope inserted is a maybe; scopes never inserted are a no but for the rare false maybe")
    func answers() {
        var filter = KeyChanges.ScopeFilter()
        #expect(filter.isEmpty)
        #expect(!filter.mayContain(Self.randomID()))
        let inserted = (0..<200_000).map { _ in Self.randomID() }
        for scope in inserted { filter.insert(scope) }
        #expect(!filter.isEmpty)
        #expect(inserted.allSatisfy { filter.mayContain($0) })
        // 200,000 in 2^27 bits with three bits each: a false maybe about once in ten million.
        let falseMaybes = (0..<200_000).count { _ in filter.mayContain(Self.randomID()) }
        #expect(falseMaybes <= 5)
    }
}
