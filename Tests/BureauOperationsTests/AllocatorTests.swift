import BureauOperations
import Testing

@Suite("Memory allocator")
struct AllocatorTests {
    /// This test process links BureauOperations as bureaud and bureau do, so jemalloc must be serving it: found
    /// ahead of the C library's malloc, with its own count of this thread's bytes growing by an allocation.
    @Test("jemalloc serves the allocations of a process that links BureauOperations")
    func jemallocServes() throws {
        let version = try #require(Allocator.jemallocVersion, "the C library's malloc serves this process, not jemalloc")
        #expect(version.first?.isNumber == true, "jemalloc's version: \(version)")
        #expect(Allocator.description == "jemalloc \(version)")
    }
}
