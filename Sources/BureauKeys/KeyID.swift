internal import Crypto

/// The 16-byte identifier of a key: of a data key (random, made with it), of a key-encryption key (a
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

    /// Lowercase hex, 32 characters.
    public var hex: String { Self.hexString(self.bytes) }

    public var description: String { self.hex }
}
