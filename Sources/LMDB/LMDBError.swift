internal import CLMDB
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An error returned by LMDB, carrying its return code.
///
/// Return codes become errors in one place, ``check(_:_:)``; callers match on the well-known cases
/// (``mapFull``, ``notFound``) with `==` or the `is...` helpers.
public struct LMDBError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The LMDB or errno return code.
    public let code: Int32
    /// What was being attempted when LMDB failed.
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The environment's map is full: the write did not happen; raise the map size.
    public var isMapFull: Bool { self.code == MDB_MAP_FULL }
    /// The key was not found (only surfaced by operations that require it).
    public var isNotFound: Bool { self.code == MDB_NOTFOUND }
    /// The disk refused a write: no space left on the device, a disk quota or the file-size limit reached.
    public var isNoSpace: Bool { self.code == ENOSPC || self.code == EDQUOT || self.code == EFBIG }
    /// The environment could not be opened: a bulk load in another process holds it alone
    /// (``Environment/Configuration/bulkLoad``) until it finishes.
    public var isHeldAlone: Bool { self.code == Self.heldAloneCode }
    /// The code of ``isHeldAlone``: outside both errno's and LMDB's ranges.
    static let heldAloneCode: Int32 = -31_000

    public var description: String {
        if self.isHeldAlone {
            return "LMDB \(self.operation) failed: a bulk load (bureau import) in another process holds it alone until it finishes"
        }
        let message = String(cString: mdb_strerror(self.code))
        return "LMDB \(self.operation) failed (\(self.code)): \(message)"
    }

    public static func == (lhs: LMDBError, rhs: LMDBError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}

/// Turns an LMDB return code into a thrown ``LMDBError``.
@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if code != MDB_SUCCESS {
        throw LMDBError(code: code, operation: operation())
    }
}
