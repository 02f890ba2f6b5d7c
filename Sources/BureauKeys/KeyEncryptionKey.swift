public import Crypto

/// A key-encryption key (KEK): the one key that wraps every data key and the keyed-hash secret, kept
/// apart from the data (a key file outside the data folder, ``FileKeyEncryptionKey``, or a key on a
/// PKCS#11 token, ``PKCS11KeyEncryptionKey``).
///
/// Implementations encrypt and decrypt small secrets with AES-256-GCM under a key they never hand out.
/// Callers use `wrap(_:)` / `unwrapDataKey(_:)` and ``KeyRotation``, which fix the
/// ``WrappedKey`` format and bind every wrapped key to its kind, its id and the KEK's id, so the store only
/// ever holds ``WrappedKey`` bytes and never the KEK.
public protocol KeyEncryptionKey: Sendable {
    /// The KEK's id, written into every key it wraps.
    var id: KeyID { get }

    /// Where the KEK lives, for operators' messages ("key file /etc/bureau/kek.key"); never the key.
    var location: String { get }

    /// Encrypts `plaintext` with AES-256-GCM under the KEK and a fresh random 12-byte nonce.
    ///
    /// - Parameters:
    ///   - plaintext: a key to wrap (32 bytes).
    ///   - aad: associated data to authenticate with it.
    /// - Returns: the nonce (12 bytes) and the ciphertext followed by the 16-byte tag.
    func encrypt(_ plaintext: [UInt8], authenticating aad: [UInt8]) throws(KeyError) -> (nonce: [UInt8], sealed: [UInt8])

    /// Decrypts what ``encrypt(_:authenticating:)`` made.
    ///
    /// - Throws: ``KeyError/Code/authenticationFailed`` when the tag does not verify.
    func decrypt(_ sealed: [UInt8], nonce: [UInt8], authenticating aad: [UInt8]) throws(KeyError) -> [UInt8]
}

/// The secret that keys subject hashes (HMAC-SHA256 of the normalised identifier), with an id so that its
/// wrapped form names it.
public struct KeyedHashSecret: Sendable, Equatable, CustomStringConvertible {
    /// The secret's id.
    public let id: KeyID
    /// The 256-bit HMAC key.
    public let key: SymmetricKey

    /// An existing secret (for example an installation's `secret.key`) under `id`.
    public init(id: KeyID, key: SymmetricKey) {
        precondition(key.bitCount == 256, "a keyed-hash secret is 256 bits")
        self.id = id
        self.key = key
    }

    /// A new random secret with a new random id.
    public static func generate() -> KeyedHashSecret {
        KeyedHashSecret(id: .random(), key: SymmetricKey(size: .bits256))
    }

    /// The id only: a secret printed by accident leaks nothing.
    public var description: String { "KeyedHashSecret(\(self.id))" }
}

/// A 256-bit key (a ``DataKey`` or a ``KeyedHashSecret``) encrypted under a ``KeyEncryptionKey``: the only
/// form in which keys are stored. 94 bytes:
///
/// | offset | bytes | content |
/// |---|---|---|
/// | 0 | 1 | format version, `0x01` |
/// | 1 | 1 | kind: `0x01` data key, `0x02` keyed-hash secret, `0x03` master data key |
/// | 2 | 16 | id of the KEK that wrapped it |
/// | 18 | 16 | id of the wrapped key |
/// | 34 | 12 | AES-GCM nonce, random |
/// | 46 | 32 | the key, encrypted |
/// | 78 | 16 | AES-GCM tag |
///
/// The associated data is bytes 0..<34 (version, kind and both ids), so none of them can be changed.
public struct WrappedKey: Hashable, Sendable {
    /// What a wrapped key is; a struct over its format byte so kinds can be added.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// The format byte.
        public let rawValue: UInt8
        private init(_ rawValue: UInt8) { self.rawValue = rawValue }

        /// A ``DataKey``.
        public static let dataKey = Kind(1)
        /// A ``KeyedHashSecret``.
        public static let keyedHashSecret = Kind(2)
        /// A ``MasterDataKey``, from which data keys are derived.
        public static let masterDataKey = Kind(3)

        init?(rawValue: UInt8) {
            switch rawValue {
            case Kind.dataKey.rawValue: self = .dataKey
            case Kind.keyedHashSecret.rawValue: self = .keyedHashSecret
            case Kind.masterDataKey.rawValue: self = .masterDataKey
            default: return nil
            }
        }

        public var description: String {
            switch self.rawValue {
            case Kind.dataKey.rawValue: "data key"
            case Kind.masterDataKey.rawValue: "master data key"
            default: "keyed-hash secret"
            }
        }
    }

    /// The format version this library writes and reads.
    public static let version: UInt8 = 1
    /// The length of every wrapped key.
    public static let byteCount = 94
    static let headerCount = 34

    /// The 94 bytes, as stored.
    public let bytes: [UInt8]

    /// Reads stored bytes.
    ///
    /// - Throws: ``KeyError/Code/malformedWrappedKey`` for another length, version or kind.
    public init(bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == Self.byteCount else {
            throw KeyError(.malformedWrappedKey, "a wrapped key is \(Self.byteCount) bytes; this one is \(bytes.count)")
        }
        guard bytes[0] == Self.version else {
            throw KeyError(.malformedWrappedKey, "wrapped key format version \(bytes[0]) is unknown; this build reads version \(Self.version)")
        }
        guard Kind(rawValue: bytes[1]) != nil else {
            throw KeyError(.malformedWrappedKey, "wrapped key kind \(bytes[1]) is unknown")
        }
        self.bytes = bytes
    }

    private init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// What is wrapped.
    public var kind: Kind { Kind(rawValue: self.bytes[1])! }
    /// The id of the KEK that wrapped it: the KEK needed to unwrap it.
    public var keyEncryptionKeyID: KeyID { KeyID(unchecked: Array(self.bytes[2..<18])) }
    /// The id of the wrapped key.
    public var keyID: KeyID { KeyID(unchecked: Array(self.bytes[18..<34])) }

    static func header(kind: Kind, kek: KeyID, key: KeyID) -> [UInt8] {
        [Self.version, kind.rawValue] + kek.bytes + key.bytes
    }

    static func assemble(header: [UInt8], nonce: [UInt8], sealed: [UInt8]) throws(KeyError) -> WrappedKey {
        guard nonce.count == 12, sealed.count == 32 + 16 else {
            throw KeyError(.tokenFailure, "the KEK returned \(nonce.count) nonce and \(sealed.count) sealed bytes; expected 12 and 48")
        }
        return WrappedKey(unchecked: header + nonce + sealed)
    }
}

extension KeyEncryptionKey {
    /// Wraps a data key for storage.
    public func wrap(_ key: DataKey) throws(KeyError) -> WrappedKey {
        try self.wrap(key.key, kind: .dataKey, id: key.id)
    }

    /// Wraps the keyed-hash secret for storage.
    public func wrap(_ secret: KeyedHashSecret) throws(KeyError) -> WrappedKey {
        try self.wrap(secret.key, kind: .keyedHashSecret, id: secret.id)
    }

    /// Unwraps a data key.
    ///
    /// - Throws: ``KeyError`` with ``KeyError/Code/wrongKeyEncryptionKey`` (wrapped under another KEK: the
    ///   id expected and the id given), ``KeyError/Code/wrongKeyKind`` (not a data key), or
    ///   ``KeyError/Code/authenticationFailed`` (altered, or a KEK that does not match its id).
    public func unwrapDataKey(_ wrapped: WrappedKey) throws(KeyError) -> DataKey {
        DataKey(id: wrapped.keyID, key: try self.unwrap(wrapped, as: .dataKey))
    }

    /// Unwraps the keyed-hash secret.
    ///
    /// - Throws: as ``unwrapDataKey(_:)``.
    public func unwrapKeyedHashSecret(_ wrapped: WrappedKey) throws(KeyError) -> KeyedHashSecret {
        KeyedHashSecret(id: wrapped.keyID, key: try self.unwrap(wrapped, as: .keyedHashSecret))
    }

    func wrap(_ key: SymmetricKey, kind: WrappedKey.Kind, id: KeyID) throws(KeyError) -> WrappedKey {
        let header = WrappedKey.header(kind: kind, kek: self.id, key: id)
        var raw = key.withUnsafeBytes { Array($0) }
        defer { raw.zeroize() }
        let (nonce, sealed) = try self.encrypt(raw, authenticating: header)
        return try WrappedKey.assemble(header: header, nonce: nonce, sealed: sealed)
    }

    func unwrap(_ wrapped: WrappedKey, as kind: WrappedKey.Kind) throws(KeyError) -> SymmetricKey {
        guard wrapped.kind == kind else {
            throw KeyError(.wrongKeyKind, "wrapped key \(wrapped.keyID) is a \(wrapped.kind), not a \(kind)")
        }
        guard wrapped.keyEncryptionKeyID == self.id else {
            throw KeyError(
                .wrongKeyEncryptionKey,
                "\(kind) \(wrapped.keyID) is wrapped under KEK \(wrapped.keyEncryptionKeyID); the KEK given (\(self.location)) is \(self.id)"
            )
        }
        let b = wrapped.bytes
        var plain: [UInt8]
        do {
            plain = try self.decrypt(Array(b[46..<94]), nonce: Array(b[34..<46]), authenticating: Array(b[0..<WrappedKey.headerCount]))
        } catch where error.code == .authenticationFailed {
            throw KeyError(
                .authenticationFailed,
                "\(kind) \(wrapped.keyID) does not unwrap under KEK \(self.id) (\(self.location)): the wrapped key was altered, or this KEK is not the one its id names (\(error.message))"
            )
        }
        defer { plain.zeroize() }
        guard plain.count == 32 else {
            throw KeyError(.tokenFailure, "\(self.location) decrypted \(plain.count) bytes; a key is 32")
        }
        return SymmetricKey(data: plain)
    }
}

/// Moving wrapped keys from one KEK to another.
public enum KeyRotation {
    /// Re-wraps `wrapped` from `old` to `new`: the key and its id stay the same, so everything it sealed
    /// still opens; the key itself is never returned. A key already wrapped under `new` comes back
    /// unchanged, so an interrupted rotation can simply run again.
    ///
    /// - Parameters:
    ///   - wrapped: a data key or keyed-hash secret wrapped under `old` (or already under `new`).
    ///   - old: the KEK being retired.
    ///   - new: the KEK taking over.
    /// - Returns: the same key wrapped under `new`.
    /// - Throws: ``KeyError`` as ``KeyEncryptionKey/unwrapDataKey(_:)`` when `old` cannot unwrap it.
    public static func rewrap(
        _ wrapped: WrappedKey,
        from old: some KeyEncryptionKey,
        to new: some KeyEncryptionKey
    ) throws(KeyError) -> WrappedKey {
        if wrapped.keyEncryptionKeyID == new.id, wrapped.keyEncryptionKeyID != old.id { return wrapped }
        let key = try old.unwrap(wrapped, as: wrapped.kind)
        return try new.wrap(key, kind: wrapped.kind, id: wrapped.keyID)
    }
}
