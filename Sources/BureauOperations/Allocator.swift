internal import CJemalloc

/// The memory allocator that serves this process's `malloc` and `free`.
///
/// bureaud and bureau link jemalloc (Debian's libjemalloc2, through this module), which the dynamic linker
/// then finds ahead of the C library, so that it serves every allocation of the process: Swift's runtime,
/// swift-nio, BoringSSL and LMDB alike. Measured against glibc's malloc on the same build (issue 17, two
/// bureauds benched in turn): 5-8% less of bureaud's CPU per audited report, where glibc's malloc spent a
/// tenth of it merging freed chunks (`malloc_consolidate`, `unlink_chunk`); and `bureau import` 4-14% faster.
/// Pings, whose allocations are few and small, cost the same.
public enum Allocator {
    /// jemalloc's version when jemalloc serves this process's allocations; nil when the C library's
    /// `malloc` does (jemalloc loaded after it, or not at all).
    public static let jemallocVersion: String? = {
        var version: UnsafePointer<CChar>? = nil
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &version, &size, nil, 0) == 0, let version else { return nil }
        // jemalloc counts the bytes it hands each thread: they grow with an allocation only if it served it.
        guard let before = threadAllocated() else { return nil }
        let block = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 16)
        let after = threadAllocated()
        block.deallocate()
        guard let after, after > before else { return nil }
        return String(cString: version)
    }()

    /// What serves this process's allocations, for a log line: "jemalloc 5.3.0-..." or "the C library's malloc".
    public static var description: String {
        self.jemallocVersion.map { "jemalloc \($0)" } ?? "the C library's malloc"
    }

    private static func threadAllocated() -> UInt64? {
        var bytes: UInt64 = 0
        var size = MemoryLayout<UInt64>.size
        return mallctl("thread.allocated", &bytes, &size, nil, 0) == 0 ? bytes : nil
    }
}
