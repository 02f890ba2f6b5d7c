internal import Crypto
import Foundation
import Synchronization

/// The 16-byte identifier of a key: of a data key (time-ordered, made with it: ``timeOrdered()``), of a key-encryption key (a
/// fingerprint of a key file's key, or the CKA_ID of a token key), or of a keyed-hash secret.
///
/// Ids are not secret: they travel in sealed fields and wrapped keys so that the right key can be found,
/// and name keys in error messages ("wrapped under KEK 3f0c…, the configured KEK is 9a41…").
public struct KeyID: Hashable, Sendable, CustomStringConvertible {
    /// The length of every key id, in bytes.
    public static let byteCount = 16

    /// The 16 bytes.
    public let bytes: [UInt8]

    /// Wraps 16 bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    /// A fresh random id.
    public static func random() -> KeyID {
        // Two 64-bit draws, not sixteen 8-bit ones: each draw is a call into the system's generator.
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        for _ in 0..<2 { withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) } }
        return KeyID(unchecked: bytes)
    }

    /// A fresh id that sorts after every id this process made before (data keys): 8 bytes of a counter
    /// (big-endian; the wall clock's nanoseconds since 1970, or one more than the last id's when the clock
    /// has not moved on) and 8 random bytes, so that a key store keyed by id appends at its end instead of
    /// inserting at random pages, and ids made elsewhere at the same moment still differ (FORMAT.md, "Sealed
    /// field").
    public static func timeOrdered() -> KeyID { self.timeOrdered(random: SecureRandom.bytes(8)) }

    /// A time-ordered id whose random half is the 8 bytes `random` (drawn by the caller with other random bytes).
    static func timeOrdered(random: some Collection<UInt8>) -> KeyID {
        precondition(random.count == 8, "the random half of a time-ordered id is 8 bytes")
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1e9))
        var last = Self.lastCounter.load(ordering: .relaxed)
        var next = max(now, last &+ 1)
        while true {
            let (exchanged, original) = Self.lastCounter.compareExchange(expected: last, desired: next, ordering: .relaxed)
            if exchanged { break }
            last = original
            next = max(now, last &+ 1)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        withUnsafeBytes(of: next.bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: random)
        return KeyID(unchecked: bytes)
    }
    private static let lastCounter = Atomic<UInt64>(0)

    /// The first 16 bytes of SHA-256 over `label` and `parts`: a fingerprint that reveals nothing about them.
    static func fingerprint(label: String, _ parts: [UInt8]...) -> KeyID {
        var hash = SHA256()
        hash.update(data: Array(label.utf8))
        for part in parts { hash.update(data: part) }
        return KeyID(unchecked: Array(hash.finalize().prefix(Self.byteCount)))
    }

    init(unchecked bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount, "a key id is 16 bytes")
        self.bytes = bytes
    }

    public static func == (lhs: KeyID, rhs: KeyID) -> Bool { lhs.bytes == rhs.bytes }

    /// Two words instead of sixteen bytes fed one by one: ids key the caches of data keys.
    public func hash(into hasher: inout Hasher) {
        self.bytes.withUnsafeBytes { raw in
            hasher.combine(raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            hasher.combine(raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }

    /// Lowercase hex, 32 characters.
    public var hex: String { Self.hexString(self.bytes) }

    public var description: String { self.hex }
}
