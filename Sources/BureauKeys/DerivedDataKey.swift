package import Crypto
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one key every new data key is derived from, with a random salt per scope (FORMAT.md, "Derived data
/// key"). It is stored once, wrapped by the KEK (``WrappedKey/Kind/masterDataKey``), so that making a data key
/// needs no KEK call (one token call per record would be a non-starter with an HSM) and a rotation re-wraps
/// one key; each scope's salt is kept in the key store instead of a wrapped key, and destroying the salt
/// shreds what the derived key sealed exactly as destroying a wrapped key did: without the salt's 256 random
/// bits the key cannot be derived again, from the master or anything else.
///
/// The derivation is HKDF-SHA256's expand step (RFC 5869, section 2.3) with the master as the pseudorandom
/// key (it is 256 uniformly random bits, so the extract step is not needed, section 3.3) and the info
/// `"bureau.data-key.v2" || 00 || key id (16) || u32be(len scope) scope || salt (32)`: one HMAC per data key,
/// whose key schedule is done once.
///
/// ```swift
/// let master = MasterDataKey.generate()
/// let (key, salt) = master.newDataKey(scope: scopeID)   // store `salt`, seal with `key`
/// let again = try master.dataKey(salt, scope: scopeID)  // == key
/// ```
public struct MasterDataKey: Sendable, CustomStringConvertible {
    /// The master's id, written into every salt derived from it.
    public let id: KeyID
    /// The 256-bit key.
    let key: SymmetricKey
    /// HMAC-SHA256 keyed with the master, its padded key blocks hashed once.
    private let expander: KeyedHash

    /// The label that starts every derivation's info.
    static let label = Array("bureau.data-key.v2".utf8) + [0]

    /// A master from its id and 32 bytes (unwrapping, tests).
    package init(id: KeyID, key: SymmetricKey) {
        precondition(key.bitCount == 256, "a master data key is 256 bits")
        self.id = id
        self.key = key
        self.expander = KeyedHash(key: key)
    }

    /// A new random master with a new random id.
    public static func generate() -> MasterDataKey {
        MasterDataKey(id: .random(), key: SymmetricKey(size: .bits256))
    }

    /// A new data key of `scope`: a time-ordered id (``KeyID/timeOrdered()``) and a random salt, and the key they derive. The salt goes to
    /// the key store (before anything sealed with the key is stored); the key is never stored.
    ///
    /// - Parameter scope: the bytes naming what the key protects (the key store's scope id); the same bytes
    ///   must be given to ``dataKey(_:scope:)``.
    public func newDataKey(scope: [UInt8]) -> (key: DataKey, salt: DataKeySalt) {
        let random = SecureRandom.bytes(8 + DataKeySalt.saltCount)  // one system call for both
        let id = KeyID.timeOrdered(random: random[0..<8])
        let salt = DataKeySalt(master: self.id, key: id, salt: random[8...])
        return (self.derive(id, salt.salt, scope: scope), salt)
    }

    /// The data key `salt` derives for `scope`.
    ///
    /// - Throws: ``KeyError/Code/wrongMasterKey`` when `salt` was made under another master (naming both).
    public func dataKey(_ salt: DataKeySalt, scope: [UInt8]) throws(KeyError) -> DataKey {
        guard salt.masterID == self.id else {
            throw KeyError(.wrongMasterKey, "data key \(salt.keyID) derives from master data key \(salt.masterID); the key store's master is \(self.id)")
        }
        return self.derive(salt.keyID, salt.salt, scope: scope)
    }

    /// HKDF-Expand(master, info, 32): T(1) = HMAC(master, info || 0x01).
    private func derive(_ id: KeyID, _ salt: some Collection<UInt8>, scope: [UInt8]) -> DataKey {
        var info = Self.label
        info.reserveCapacity(Self.label.count + KeyID.byteCount + 4 + scope.count + DataKeySalt.saltCount + 1)
        info.append(contentsOf: id.bytes)
        info.appendBigEndian(UInt32(scope.count))
        info.append(contentsOf: scope)
        info.append(contentsOf: salt)
        info.append(1)
        let key = SymmetricKey(data: self.expander.code(of: info))
        info.zeroize()
        return DataKey(id: id, key: key)
    }

    /// The info HKDF-Expand is given for a data key (FORMAT.md), without the counter byte: for tests that
    /// check the derivation against another HKDF implementation.
    package static func info(key id: KeyID, scope: [UInt8], salt: [UInt8]) -> [UInt8] {
        var info = Self.label + id.bytes
        info.appendBigEndian(UInt32(scope.count))
        return info + scope + salt
    }

    /// The id only: a key printed by accident leaks nothing.
    public var description: String { "MasterDataKey(\(self.id))" }
}

/// A data key as the key store keeps it in format 2: the master it derives from, its id and its random salt,
/// 65 bytes (FORMAT.md, "Derived data key"). The salt is the secret that destroying shreds.
public struct DataKeySalt: Hashable, Sendable {
    /// The format byte of a salt (a wrapped key's is 1).
    public static let version: UInt8 = 2
    /// The length of a stored salt.
    public static let byteCount = 1 + 2 * KeyID.byteCount + saltCount
    static let saltCount = 32

    /// The 65 bytes, as stored.
    public let bytes: [UInt8]

    init(master: KeyID, key: KeyID, salt: some Collection<UInt8>) {
        var bytes = [Self.version]
        bytes.reserveCapacity(Self.byteCount)
        bytes.append(contentsOf: master.bytes)
        bytes.append(contentsOf: key.bytes)
        bytes.append(contentsOf: salt)
        self.bytes = bytes
    }

    /// Reads stored bytes.
    ///
    /// - Throws: ``KeyError/Code/malformedWrappedKey`` for another length or version.
    public init(bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == Self.byteCount, bytes[0] == Self.version else {
            throw KeyError(.malformedWrappedKey, "a stored data key salt is \(Self.byteCount) bytes of format \(Self.version); this one is \(bytes.count) bytes of format \(bytes.first ?? 0)")
        }
        self.bytes = bytes
    }

    /// The id of the master data key it derives from.
    public var masterID: KeyID { KeyID(unchecked: Array(self.bytes[1..<17])) }
    /// The id of the data key it derives (the id in front of every field that key sealed).
    public var keyID: KeyID { KeyID(unchecked: Array(self.bytes[17..<33])) }
    var salt: ArraySlice<UInt8> { self.bytes[33...] }
}

/// A data key as a key store holds it, in either format: wrapped by the KEK (format 1, ``WrappedKey``, what
/// key stores written before derived keys hold, still read) or a salt of the master data key (format 2,
/// ``DataKeySalt``, what is written now). The first byte tells them apart.
public struct StoredDataKey: Hashable, Sendable {
    /// The stored bytes: 94 of a wrapped key, or 65 of a salt.
    public let bytes: [UInt8]

    /// Reads stored bytes of either format.
    ///
    /// - Throws: ``KeyError/Code/malformedWrappedKey`` when they are neither.
    public init(bytes: [UInt8]) throws(KeyError) {
        if bytes.first == DataKeySalt.version {
            _ = try DataKeySalt(bytes: bytes)
        } else {
            _ = try WrappedKey(bytes: bytes)
        }
        self.bytes = bytes
    }

    /// A wrapped data key, as stored.
    public init(_ wrapped: WrappedKey) { self.bytes = wrapped.bytes }
    /// A salt, as stored.
    public init(_ salt: DataKeySalt) { self.bytes = salt.bytes }

    /// The key wrapped by the KEK, when this is one (format 1).
    public var wrapped: WrappedKey? { self.bytes.first == WrappedKey.version ? try? WrappedKey(bytes: self.bytes) : nil }
    /// The salt the master derives the key from, when this is one (format 2).
    public var salt: DataKeySalt? { self.bytes.first == DataKeySalt.version ? try? DataKeySalt(bytes: self.bytes) : nil }
    /// The id of the data key.
    public var keyID: KeyID { KeyID(unchecked: Array(self.bytes.first == DataKeySalt.version ? self.bytes[17..<33] : self.bytes[18..<34])) }
}

extension KeyEncryptionKey {
    /// Wraps the master data key for storage.
    public func wrap(_ master: MasterDataKey) throws(KeyError) -> WrappedKey {
        try self.wrap(master.key, kind: .masterDataKey, id: master.id)
    }

    /// Unwraps the master data key.
    ///
    /// - Throws: as ``unwrapDataKey(_:)``.
    public func unwrapMasterDataKey(_ wrapped: WrappedKey) throws(KeyError) -> MasterDataKey {
        MasterDataKey(id: wrapped.keyID, key: try self.unwrap(wrapped, as: .masterDataKey))
    }
}

/// Random bytes from the system's generator (`getentropy`, the kernel's CSPRNG), drawn 256 bytes at a time
/// into a pool that hands them out once each and zeroes what it handed out: a bulk import makes a data key (40
/// bytes) and a nonce (12) per record, and one system call per draw was 4% of its time. swift-crypto and the
/// standard library draw 8 bytes per call.
enum SecureRandom {
    private static let pool = Mutex<(bytes: [UInt8], next: Int)>(([UInt8](repeating: 0, count: 256), 256))

    static func bytes(_ count: Int) -> [UInt8] {
        guard count <= 64 else { return self.draw(count) }
        return self.pool.withLock { pool in
            if pool.next + count > pool.bytes.count {
                pool.bytes.withUnsafeMutableBytes { Self.fill($0) }
                pool.next = 0
            }
            defer {
                pool.bytes.withUnsafeMutableBytes { raw in
                    _ = UnsafeMutableRawBufferPointer(rebasing: raw[pool.next..<(pool.next + count)]).initializeMemory(as: UInt8.self, repeating: 0)
                }
                pool.next += count
            }
            return Array(pool.bytes[pool.next..<(pool.next + count)])
        }
    }

    /// `count` bytes straight from the system.
    private static func draw(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            Self.fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    private static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var done = 0
        while done < buffer.count {
            let n = min(256, buffer.count - done)
            precondition(getentropy(buffer.baseAddress! + done, n) == 0, "the system's random generator failed: errno \(errno)")
            done += n
        }
    }
}
