public import BureauCore
public import BureauKeys
import Crypto
import Foundation
import Synchronization

/// Where wrapped data keys are kept: apart from the data store (its own environment, database or
/// service), so that a backup of the data carries no key and a key destroyed here is gone from every backup
/// of the data too (crypto-shredding). Keys are found by their scope's id (``KeyScopeID``), a keyed hash
/// that names no record.
///
/// ``put(_:)`` and ``destroy(_:)`` are durable when they return: the backend puts new keys before it
/// commits the data they sealed, and destroys shredded keys after it commits the deletion (see
/// Sources/BureauLMDB/DESIGN.md, "Data protection").
public protocol KeyStore: Sendable {
    /// The wrapped keys of `scope`: one, or two for a moment while a scope's key is being replaced.
    func wrappedKeys(of scope: KeyScopeID) throws -> [WrappedKey]
    /// Stores `keys`, durably, before returning.
    func put(_ keys: [(scope: KeyScopeID, key: WrappedKey)]) throws
    /// Destroys the keys `keys` names, durably, before returning; a key already gone is no error.
    func destroy(_ keys: [(scope: KeyScopeID, id: KeyID)]) throws
    /// Every wrapped key, in scope order.
    func allKeys() throws -> [(scope: KeyScopeID, key: WrappedKey)]
    /// The scope the key `id` belongs to, or nil when no such key is stored (it was destroyed).
    func scope(ofKey id: KeyID) throws -> KeyScopeID?
    /// Whether other processes change this key store too (bureaud nodes sharing a PostgreSQL key store): a key
    /// this process remembers for a scope may have been destroyed by another, so sealing asks the store which
    /// key a scope has (opening still uses the unwrapped keys it remembers, by key id).
    var isShared: Bool { get }
}

extension KeyStore {
    /// One process's key store (LMDB's): what it remembers is what the store holds.
    public var isShared: Bool { false }
}

/// The id of a key scope (a file's identity, one record, one attachment, one dispute, ...): the first 16
/// bytes of HMAC-SHA256 under the keyed-hash secret of the scope's bytes, so that the key store names no
/// subject, record or account number.
public struct KeyScopeID: Hashable, Sendable, Comparable {
    /// The 16 bytes.
    public let bytes: [UInt8]

    /// Wraps 16 stored bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }

    public static func < (lhs: KeyScopeID, rhs: KeyScopeID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

/// What a data key protects. One key per scope: destroying it shreds exactly that content.
public struct KeyScope: Hashable, Sendable {
    let bytes: [UInt8]
    private init(_ tag: UInt8, _ parts: [UInt8]) { self.bytes = [tag] + parts }

    /// A file's identity (every source's facts) and its freeze and fraud alert.
    public static func identity(_ subject: SubjectKey) -> KeyScope { KeyScope(1, subject.bytes) }
    /// One record, by its stored key (``DataProtection/recordKey(_:_:)``).
    public static func record(_ recordKey: [UInt8]) -> KeyScope { KeyScope(2, recordKey) }
    /// One statement or dispute mark, by its stored key: subject key + type + id.
    public static func attachment(_ attachmentKey: [UInt8]) -> KeyScope { KeyScope(3, attachmentKey) }
    /// One consent, by its reference.
    public static func consent(_ reference: String) -> KeyScope { KeyScope(4, Array(reference.utf8)) }
    /// One dispute, by its id.
    public static func dispute(_ id: String) -> KeyScope { KeyScope(5, Array(id.utf8)) }
    /// One repair request, by its id.
    public static func repair(_ id: String) -> KeyScope { KeyScope(6, Array(id.utf8)) }
    /// One furnishing batch's stored answer.
    public static func batch(_ furnisher: UnifiedSocialCreditCode, _ batchID: String) -> KeyScope {
        KeyScope(7, Array(furnisher.value.utf8) + [0] + Array(batchID.utf8))
    }
}

/// Why a stored value cannot be opened. ``removed`` means its data key was destroyed (the record was
/// deleted since this copy of the data was made): the content is gone by design, not damaged.
public struct SealedValueError: Error, Sendable, CustomStringConvertible {
    /// The value's data key is not in the key store: the value was deleted (crypto-shredded).
    public var removed: Bool
    /// What is wrong, naming the value's kind and the key ids, never its content.
    public var message: String

    public var description: String { self.message }
}

/// The key-encryption key, the keyed-hash secret and the key store of one installation, and the data keys
/// unwrapped so far (a bounded cache, so that a report does not unwrap per record per request).
///
/// Every backend seals and opens its stored values through ``StoredValues`` (one per transaction), made by
/// ``values(_:)``, and tells the protection about its commit through ``KeyChanges``.
public final class DataProtection: Sendable {
    /// The KEK that wraps every key.
    public let keyEncryptionKey: any KeyEncryptionKey
    /// The keyed-hash secret (unwrapped), which keys subject hashes, record tokens and scope ids.
    public let secret: KeyedHashSecret
    /// Where the wrapped data keys live.
    public let keyStore: any KeyStore
    private let cache = Mutex<Cache>(Cache())
    /// The most unwrapped data keys kept in memory; beyond, the cache starts over.
    static let cacheLimit = 200_000

    private struct Cache {
        var byID: [KeyID: (key: DataKey, scope: KeyScopeID)] = [:]
        var byScope: [KeyScopeID: DataKey] = [:]
    }

    /// The file in the data folder holding the keyed-hash secret, wrapped by the KEK (94 bytes).
    public static let secretFileName = "secret.wrapped"

    /// Opens the protection of the data folder `folder`: unwraps its keyed-hash secret (`secret.wrapped`)
    /// with `kek`, or makes one when the folder holds no data yet.
    ///
    /// - Throws: ``BureauError`` (failed precondition) naming what is wrong: the KEK the secret needs (by
    ///   id) when another is given, a damaged or missing secret file beside existing data, a cleartext
    ///   `secret.key` of an installation made before encryption.
    public init(folder: String, kek: any KeyEncryptionKey, keyStore: any KeyStore, hasData: Bool) throws {
        self.keyEncryptionKey = kek
        self.keyStore = keyStore
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = (folder as NSString).appendingPathComponent(Self.secretFileName)
        if fm.fileExists(atPath: (folder as NSString).appendingPathComponent(InstallationSecret.fileName)) {
            throw BureauError(
                .failedPrecondition,
                "\(folder) was made before encryption at rest (it holds a cleartext secret.key); convert it with `bureau keys encrypt-existing`"
            )
        }
        if let data = fm.contents(atPath: path) {
            do {
                self.secret = try kek.unwrapKeyedHashSecret(try WrappedKey(bytes: Array(data)))
            } catch {
                throw BureauError(.failedPrecondition, "cannot unwrap the keyed-hash secret \(path): \(error)")
            }
        } else if hasData {
            throw BureauError(.failedPrecondition, "\(path) is missing: the data in \(folder) cannot be read without its wrapped keyed-hash secret")
        } else {
            let secret = KeyedHashSecret.generate()
            try PrivateFile.write(Data(try kek.wrap(secret).bytes), to: path)
            self.secret = secret
        }
    }

    /// A protection over a keyed-hash secret its caller found (a key store that holds it, as PostgreSQL's does).
    public init(keyEncryptionKey: any KeyEncryptionKey, secret: KeyedHashSecret, keyStore: any KeyStore) {
        self.keyEncryptionKey = keyEncryptionKey
        self.secret = secret
        self.keyStore = keyStore
    }

    /// The values of one transaction; `changes` is nil for a read-only one (sealing then fails).
    public func values(_ changes: KeyChanges?) -> StoredValues { StoredValues(protection: self, changes: changes) }

    // MARK: Tokens

    /// The key of a record in the store: subject key (32) + kind (1) + furnisher code (18) + a 16-byte
    /// token of the record id (HMAC under the keyed-hash secret), so that no account number is in a key.
    public func recordKey(_ subject: SubjectKey, _ reference: RecordReference) -> [UInt8] {
        subject.bytes + [RecordKeyBytes.kindByte(reference.kind)] + Array(reference.furnisher.value.utf8) + self.recordToken(reference)
    }

    /// The record part of a record's key without the subject: kind (1) + furnisher code (18) + token (16).
    public func recordIndexKey(_ reference: RecordReference) -> [UInt8] {
        Array(reference.furnisher.value.utf8) + [RecordKeyBytes.kindByte(reference.kind)] + self.recordToken(reference)
    }

    /// The 16-byte token of a record id.
    public func recordToken(_ reference: RecordReference) -> [UInt8] {
        self.mac("bureau.record.v1", [RecordKeyBytes.kindByte(reference.kind)] + Array(reference.furnisher.value.utf8) + [0] + Array(reference.recordID.utf8))
    }

    /// The id of `scope` in the key store.
    public func scopeID(_ scope: KeyScope) -> KeyScopeID { KeyScopeID(bytes: self.mac("bureau.scope.v1", scope.bytes))! }

    private func mac(_ label: String, _ bytes: [UInt8]) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: self.secret.key)
        hmac.update(data: Array(label.utf8))
        hmac.update(data: [0])
        hmac.update(data: bytes)
        return Array(hmac.finalize().prefix(16))
    }

    // MARK: Keys

    /// The data key to seal `scope` with in the transaction of `changes`: one made or found earlier, or a
    /// new one (put in the key store before the transaction commits).
    func sealingKey(_ scope: KeyScope, _ changes: KeyChanges) throws -> DataKey {
        let id = self.scopeID(scope)
        if let key = changes.pendingKey(id) { return key }
        if !changes.isShredded(id) {
            if !self.keyStore.isShared, let key = self.cache.withLock({ $0.byScope[id] }) { return key }
            if let wrapped = try self.keyStore.wrappedKeys(of: id).first {
                if let hit = self.cache.withLock({ $0.byID[wrapped.keyID] }), hit.scope == id { return hit.key }
                let key = try self.unwrap(wrapped)
                self.remember(key, scope: id)
                return key
            }
        }
        let key = DataKey.generate()
        let wrapped: WrappedKey
        do { wrapped = try self.keyEncryptionKey.wrap(key) } catch { throw BureauError(.unavailable, "cannot wrap a new data key: \(error)") }
        changes.add(key, wrapped, scope: id)
        return key
    }

    /// The data key with `id` of `scope`, for opening.
    func openingKey(_ id: KeyID, _ scope: KeyScope, _ changes: KeyChanges?, what: String) throws -> DataKey {
        let scopeID = self.scopeID(scope)
        if let key = changes?.pendingKey(scopeID), key.id == id { return key }
        if let hit = self.cache.withLock({ $0.byID[id] }) {
            guard hit.scope == scopeID else { throw Self.moved(what, id) }
            return hit.key
        }
        guard let wrapped = try self.keyStore.wrappedKeys(of: scopeID).first(where: { $0.keyID == id }) else {
            if try self.keyStore.scope(ofKey: id) != nil { throw Self.moved(what, id) }
            throw SealedValueError(removed: true, message: "\(what) was removed: its data key \(id) is no longer in the key store")
        }
        let key = try self.unwrap(wrapped)
        self.remember(key, scope: scopeID)
        return key
    }

    private static func moved(_ what: String, _ id: KeyID) -> SealedValueError {
        SealedValueError(
            removed: false, message: "\(what) cannot be opened: it is sealed under data key \(id) of another value (ciphertext moved or swapped)"
        )
    }

    private func unwrap(_ wrapped: WrappedKey) throws -> DataKey {
        do {
            return try self.keyEncryptionKey.unwrapDataKey(wrapped)
        } catch {
            throw BureauError(.unavailable, "cannot unwrap data key \(wrapped.keyID): \(error)")
        }
    }

    private func remember(_ key: DataKey, scope: KeyScopeID) {
        self.cache.withLock { cache in
            if cache.byID.count >= Self.cacheLimit { cache = Cache() }
            cache.byID[key.id] = (key, scope)
            cache.byScope[scope] = key
        }
    }

    /// Puts the keys made in a transaction into the key store: called just before the data commits.
    public func persist(_ changes: KeyChanges) throws {
        let made = changes.made
        guard !made.isEmpty else { return }
        try self.keyStore.put(made.map { ($0.scope, $0.wrapped) })
    }

    /// Destroys the keys of what a committed transaction deleted, and forgets the keys it made or found:
    /// called just after the data commits.
    public func committed(_ changes: KeyChanges) throws {
        let made = changes.made
        let shredded = changes.shredded
        self.cache.withLock { cache in
            for (scope, ids) in shredded {
                cache.byScope[scope] = nil
                for id in ids { cache.byID[id] = nil }
            }
        }
        for entry in made { self.remember(entry.key, scope: entry.scope) }
        guard !shredded.isEmpty else { return }
        try self.keyStore.destroy(shredded.flatMap { scope, ids in ids.map { (scope, $0) } })
    }

    /// Marks `scope`'s keys for destruction when the transaction of `changes` commits.
    func shred(_ scope: KeyScope, _ changes: KeyChanges) throws {
        let id = self.scopeID(scope)
        let stored = try self.keyStore.wrappedKeys(of: id).map(\.keyID)
        changes.shred(id, stored: stored)
    }
}

/// The keys one write transaction made and the scopes it shredded, kept until it commits. A nested
/// transaction has its own, merged into its parent's when it succeeds and dropped when it fails, so that a
/// request that is undone destroys nothing.
public final class KeyChanges: Sendable {
    struct Made: Sendable {
        var key: DataKey
        var wrapped: WrappedKey
        var scope: KeyScopeID
    }

    private struct State {
        var made: [KeyScopeID: Made] = [:]
        var shredded: [KeyScopeID: Set<KeyID>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    func pendingKey(_ scope: KeyScopeID) -> DataKey? { self.state.withLock { $0.made[scope]?.key } }
    func isShredded(_ scope: KeyScopeID) -> Bool { self.state.withLock { $0.shredded[scope] != nil } }

    func add(_ key: DataKey, _ wrapped: WrappedKey, scope: KeyScopeID) {
        self.state.withLock { $0.made[scope] = Made(key: key, wrapped: wrapped, scope: scope) }
    }

    func shred(_ scope: KeyScopeID, stored: [KeyID]) {
        self.state.withLock { state in
            // A key made in this transaction and shredded in it is simply never stored.
            state.made[scope] = nil
            state.shredded[scope, default: []].formUnion(stored)
        }
    }

    var made: [Made] { self.state.withLock { Array($0.made.values) } }
    var shredded: [KeyScopeID: Set<KeyID>] { self.state.withLock { $0.shredded } }

    /// A transaction nested in this one.
    public func child() -> KeyChanges {
        let child = KeyChanges()
        child.state.withLock { $0 = self.state.withLock { $0 } }
        return child
    }

    /// Takes over what a nested transaction (made by ``child()``) did, when it succeeded.
    public func adopt(_ child: KeyChanges) {
        let state = child.state.withLock { $0 }
        self.state.withLock { $0 = state }
    }

    /// Whether the transaction made or shredded any key.
    public var isEmpty: Bool { self.state.withLock { $0.made.isEmpty && $0.shredded.isEmpty } }
}
