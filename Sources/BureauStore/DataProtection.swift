public import BureauCore
public import BureauKeys
import Crypto
import Foundation
import Synchronization

/// Where data keys are kept: apart from the data store (its own environment, database or service), so that
/// a backup of the data carries no key and a key destroyed here is gone from every backup of the data too
/// (crypto-shredding). Keys are found by their scope's id (``KeyScopeID``), a keyed hash that names no
/// record. A key is stored as a salt of the master data key (``DataKeySalt``, written now) or wrapped by the
/// KEK (``WrappedKey``, key stores written before derived keys); the master is stored once, wrapped by the
/// KEK.
///
/// ``put(_:)`` and ``destroy(_:)`` are durable when they return: the backend puts new keys before it
/// commits the data they sealed, and destroys shredded keys after it commits the deletion (see
/// Sources/BureauLMDB/DESIGN.md, "Data protection").
public protocol KeyStore: Sendable {
    /// The stored keys of `scope`: one, or two for a moment while a scope's key is being replaced.
    func keys(of scope: KeyScopeID) throws -> [StoredDataKey]
    /// Stores `keys`, durably, before returning.
    func put(_ keys: [(scope: KeyScopeID, key: StoredDataKey)]) throws
    /// Destroys the keys `keys` names, durably, before returning; a key already gone is no error.
    func destroy(_ keys: [(scope: KeyScopeID, id: KeyID)]) throws
    /// Every stored key, in scope order.
    func allKeys() throws -> [(scope: KeyScopeID, key: StoredDataKey)]
    /// The scope the key `id` belongs to, or nil when no such key is stored (it was destroyed).
    func scope(ofKey id: KeyID) throws -> KeyScopeID?
    /// In one transaction, replaces each of up to `limit` keys after the stored position `cursor` (nil: from
    /// the first) by what `transform` makes of it (nil: leave it); returns how many were replaced and the
    /// position to go on from, nil at the end.
    func rewrap(
        after cursor: [UInt8]?, limit: Int, _ transform: (StoredDataKey) throws -> StoredDataKey?
    ) throws -> (rewrapped: Int, next: [UInt8]?)
    /// Whether other processes change this key store too (bureaud nodes sharing a PostgreSQL key store): a key
    /// this process remembers for a scope may have been destroyed by another, so sealing asks the store which
    /// key a scope has (opening still uses the unwrapped keys it remembers, by key id).
    var isShared: Bool { get }
    /// Replaces the wrapped keyed-hash secret when the key store keeps it; false when it does not (a rotation
    /// then writes the data folder's `secret.wrapped`).
    func replaceWrappedSecret(_ wrapped: WrappedKey) throws -> Bool
    /// The master data key, wrapped by the KEK; nil while none is stored (a new key store, or one written
    /// before derived keys).
    func masterKey() throws -> WrappedKey?
    /// Stores `wrapped` as the master data key, durably, unless one is stored already (another process or
    /// node made it first); returns the one stored.
    func addMasterKey(_ wrapped: WrappedKey) throws -> WrappedKey
    /// Replaces the stored master data key by the same key wrapped under another KEK (a rotation).
    func replaceMasterKey(_ wrapped: WrappedKey) throws
    /// A write of keys that goes on, on a thread of its own, while the data transaction that makes them does
    /// (a bulk import's millions), and is durable when it finishes; nil when the key store has none (the
    /// keys are then put at the commit, or in large batches ahead of it).
    func stream() throws -> (any KeyStream)?
}

/// Keys put in the key store while the data transaction that made them goes on: one key store transaction
/// from the first key to ``finish()``, so that the keys take no time of the data's writer at its commit and
/// none of them is stored unless the data commits too.
public protocol KeyStream: Sendable {
    /// Queues `keys` for the transaction (any error is thrown by ``finish()``).
    func put(_ keys: [(scope: KeyScopeID, key: StoredDataKey)])
    /// The keys of `scope` the transaction holds, in key id order, once what was queued before is put.
    func keys(of scope: KeyScopeID) throws -> [StoredDataKey]
    /// Puts what is queued and commits, durably, before returning.
    func finish() throws
    /// Discards every key of the transaction.
    func abandon()
}

extension KeyStore {
    /// One process's key store (LMDB's): what it remembers is what the store holds.
    public var isShared: Bool { false }

    /// No stream: keys are put at the commit, or in large batches ahead of it.
    public func stream() throws -> (any KeyStream)? { nil }

    /// Replaces the wrapped keyed-hash secret when this key store keeps it (PostgreSQL's, shared by every node)
    /// and says so; false when the secret lives in the data folder's `secret.wrapped` (LMDB's).
    public func replaceWrappedSecret(_ wrapped: WrappedKey) throws -> Bool { false }
}

/// The id of a key scope (a file's identity, one record, one attachment, one dispute, ...): the first 16
/// bytes of HMAC-SHA256 under the keyed-hash secret of the scope's bytes, so that the key store names no
/// subject, record or account number.
public struct KeyScopeID: Hashable, Sendable, Comparable {
    /// The 16 bytes as two big-endian words, held inline: scope ids key every transaction's new keys (a bulk
    /// import's millions), and a dictionary of inline keys hashes and compares without following a pointer.
    private let high: UInt64
    private let low: UInt64

    /// Wraps 16 stored bytes; nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (i, byte) in bytes.enumerated() {
            if i < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.high = high
        self.low = low
    }

    /// The two words, for a filter over ids: they are the leading bytes of an HMAC, so already uniform.
    var words: (UInt64, UInt64) { (self.high, self.low) }

    /// The first 16 of `raw`'s bytes (at least 16).
    init(prefixOf raw: UnsafeRawBufferPointer) {
        self.high = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        self.low = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// The 16 bytes.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16)
        withUnsafeBytes(of: self.high.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: self.low.bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// In byte order.
    public static func < (lhs: KeyScopeID, rhs: KeyScopeID) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
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
    /// The KEK that wraps new keys, and while a rotation runs the one being retired (which still unwraps
    /// the keys not re-wrapped yet).
    private let keks: Mutex<(current: any KeyEncryptionKey, retiring: (any KeyEncryptionKey)?)>
    /// The data folder (its `secret.wrapped` is re-wrapped by a rotation).
    private let folder: String

    /// The KEK that wraps every new key.
    public var keyEncryptionKey: any KeyEncryptionKey { self.keks.withLock { $0.current } }
    /// The keyed-hash secret (unwrapped), which keys subject hashes, record tokens and scope ids.
    public let secret: KeyedHashSecret
    /// Where the wrapped data keys live.
    public let keyStore: any KeyStore
    /// HMAC-SHA256 keyed with the secret (its key blocks and, for tokens and scope ids, its label hashed once):
    /// record tokens, scope ids and subject keys.
    private let recordMAC: KeyedHash
    private let scopeMAC: KeyedHash
    private let subjectMAC: KeyedHash
    /// The key every new data key is derived from (with a random salt per scope, kept in the key store).
    private let master: MasterDataKey
    private let cache = Mutex<Cache>(Cache())
    /// The most unwrapped data keys kept in memory; beyond, the cache starts over.
    static let cacheLimit = 200_000
    /// The most new keys of one transaction that are remembered when it commits (a request's are; a bulk
    /// import's millions are not).
    static let cacheFillLimit = 4096

    private struct Cache {
        /// By key id: the key and the scope it belongs to (as given, so that a hit needs no HMAC).
        var byID: [KeyID: (key: DataKey, scope: KeyScope)] = [:]
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
    ///
    /// - Parameter persistEarlyCount: see ``defaultPersistEarlyCount``.
    public init(
        folder: String, kek: any KeyEncryptionKey, keyStore: any KeyStore, hasData: Bool, persistEarlyCount: Int = DataProtection.defaultPersistEarlyCount
    ) throws {
        self.persistEarlyCount = persistEarlyCount
        self.keks = Mutex((kek, nil))
        self.folder = folder
        self.keyStore = keyStore
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = (folder as NSString).appendingPathComponent(Self.secretFileName)
        try Self.refuseMadeBeforeEncryption(folder)
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
        self.recordMAC = Self.labelled("bureau.record.v1", self.secret)
        self.scopeMAC = Self.labelled("bureau.scope.v1", self.secret)
        self.subjectMAC = KeyedHash(key: self.secret.key)
        self.master = try Self.master(of: keyStore, kek)
    }

    /// Refuses a data folder made before encryption at rest (or one whose conversion has not finished): it
    /// holds the cleartext `secret.key`, which `bureau keys encrypt-existing` removes last.
    ///
    /// - Throws: ``BureauError`` (failed precondition) naming the command that converts it.
    public static func refuseMadeBeforeEncryption(_ folder: String) throws {
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent(InstallationSecret.fileName)) {
            throw BureauError(
                .failedPrecondition,
                "\(folder) was made before encryption at rest, or its conversion has not finished (it holds a cleartext secret.key); stop bureaud, take a backup and convert it with `bureau keys encrypt-existing`"
            )
        }
    }

    /// A protection over a keyed-hash secret its caller found (a key store that holds it, as PostgreSQL's does).
    /// `folder` is the data folder (a rotation writes no `secret.wrapped` there when the key store keeps the
    /// secret: ``KeyStore/replaceWrappedSecret(_:)``).
    ///
    /// - Throws: ``BureauError`` as ``init(folder:kek:keyStore:hasData:)`` for the master data key.
    public init(keyEncryptionKey: any KeyEncryptionKey, secret: KeyedHashSecret, keyStore: any KeyStore, folder: String) throws {
        self.persistEarlyCount = Self.defaultPersistEarlyCount
        self.keks = Mutex((keyEncryptionKey, nil))
        self.folder = folder
        self.secret = secret
        self.keyStore = keyStore
        self.recordMAC = Self.labelled("bureau.record.v1", self.secret)
        self.scopeMAC = Self.labelled("bureau.scope.v1", self.secret)
        self.subjectMAC = KeyedHash(key: self.secret.key)
        self.master = try Self.master(of: keyStore, keyEncryptionKey)
    }

    /// The master data key of `keyStore`, unwrapped with `kek`; made and stored when the key store has none
    /// (a new one, or one written before derived keys: its wrapped data keys still open, new keys derive).
    private static func master(of keyStore: any KeyStore, _ kek: any KeyEncryptionKey) throws -> MasterDataKey {
        var wrapped = try keyStore.masterKey()
        if wrapped == nil {
            let made: WrappedKey
            do { made = try kek.wrap(MasterDataKey.generate()) } catch { throw BureauError(.unavailable, "cannot wrap a new master data key: \(error)") }
            wrapped = try keyStore.addMasterKey(made)
        }
        do {
            return try kek.unwrapMasterDataKey(wrapped!)
        } catch {
            throw BureauError(.failedPrecondition, "cannot unwrap the key store's master data key: \(error)")
        }
    }

    /// The values of one transaction; `changes` is nil for a read-only one (sealing then fails).
    public func values(_ changes: KeyChanges?) -> StoredValues { StoredValues(protection: self, changes: changes) }

    // MARK: Tokens

    /// The key of a record in the store: subject key (32) + kind (1) + furnisher code (18) + a 16-byte
    /// token of the record id (HMAC under the keyed-hash secret), so that no account number is in a key.
    public func recordKey(_ subject: SubjectKey, _ reference: RecordReference) -> [UInt8] {
        Self.recordKey(subject, reference, token: self.recordToken(reference))
    }

    /// The record part of a record's key without the subject: furnisher code (18) + kind (1) + token (16).
    public func recordIndexKey(_ reference: RecordReference) -> [UInt8] {
        Self.recordIndexKey(reference, token: self.recordToken(reference))
    }

    /// Both keys of a record, with one token computation: its ``recordKey(_:_:)`` and ``recordIndexKey(_:)``.
    public func recordKeys(_ subject: SubjectKey, _ reference: RecordReference) -> (record: [UInt8], index: [UInt8]) {
        let token = self.recordToken(reference)
        return (Self.recordKey(subject, reference, token: token), Self.recordIndexKey(reference, token: token))
    }

    private static func recordKey(_ subject: SubjectKey, _ reference: RecordReference, token: [UInt8]) -> [UInt8] {
        var key = subject.bytes
        key.reserveCapacity(32 + 1 + 18 + token.count)
        key.append(RecordKeyBytes.kindByte(reference.kind))
        key.append(contentsOf: reference.furnisher.value.utf8)
        key.append(contentsOf: token)
        return key
    }

    private static func recordIndexKey(_ reference: RecordReference, token: [UInt8]) -> [UInt8] {
        var key = [UInt8]()
        key.reserveCapacity(18 + 1 + token.count)
        key.append(contentsOf: reference.furnisher.value.utf8)
        key.append(RecordKeyBytes.kindByte(reference.kind))
        key.append(contentsOf: token)
        return key
    }

    /// The key of the file of `identifier`: ``SubjectKey/init(_:secret:)`` under the keyed-hash secret, with
    /// the secret's key blocks hashed once (an import computes one per line).
    public func subjectKey(_ identifier: SubjectIdentifier) -> SubjectKey {
        SubjectKey(bytes: Array(self.subjectMAC.code(of: SubjectKey.message(identifier))))
    }

    /// The 16-byte token of a record id.
    public func recordToken(_ reference: RecordReference) -> [UInt8] {
        var input = [UInt8]()
        input.reserveCapacity(1 + 18 + 1 + reference.recordID.utf8.count)
        input.append(RecordKeyBytes.kindByte(reference.kind))
        input.append(contentsOf: reference.furnisher.value.utf8)
        input.append(0)
        input.append(contentsOf: reference.recordID.utf8)
        return Self.mac(self.recordMAC, input)
    }

    /// The id of `scope` in the key store.
    public func scopeID(_ scope: KeyScope) -> KeyScopeID {
        self.scopeMAC.code(of: scope.bytes).withUnsafeBytes { KeyScopeID(prefixOf: $0) }
    }

    private static func labelled(_ label: String, _ secret: KeyedHashSecret) -> KeyedHash {
        KeyedHash(key: secret.key).labelled(Array(label.utf8) + [0])
    }

    /// The first 16 bytes of HMAC-SHA256(secret, label || 0x00 || bytes), `labelled` holding the key and label.
    private static func mac(_ labelled: KeyedHash, _ bytes: [UInt8]) -> [UInt8] {
        labelled.code(of: bytes).withUnsafeBytes { Array($0.prefix(16)) }
    }

    // MARK: Keys

    /// The data key to seal `scope` with in the transaction of `changes`: one made or found earlier, or a
    /// new one (put in the key store before the transaction commits).
    ///
    /// - Parameter fresh: the value is new (nothing was stored under it before), so its scope has no key to
    ///   look up; a key left from an interrupted write would simply stay unused.
    func sealingKey(_ scope: KeyScope, _ changes: KeyChanges, fresh: Bool = false) throws -> DataKey {
        let id = self.scopeID(scope)
        if let key = try self.pendingKey(id, changes) { return key }
        if !fresh, !changes.isShredded(id) {
            if !self.keyStore.isShared, let key = self.cache.withLock({ $0.byScope[id] }) { return key }
            if let stored = try self.keyStore.keys(of: id).first {
                if let hit = self.cache.withLock({ $0.byID[stored.keyID] }), hit.scope == scope { return hit.key }
                let key = try self.unwrap(stored, scope: id)
                self.remember(key, scope: scope, id: id)
                return key
            }
        }
        let (key, salt) = self.newDataKey(scope: id)
        try self.added(StoredDataKey(salt), scope: id, raw: scope, changes) { key }
        return key
    }

    /// The key the transaction of `changes` (or one it is nested in) made for the scope `id`, if any.
    private func pendingKey(_ id: KeyScopeID, _ changes: KeyChanges) throws -> DataKey? {
        guard let made = try changes.pending(id) else { return nil }
        return try made.remembered?.key ?? self.unwrap(made.stored, scope: id)
    }

    /// A new data key of the scope `id`: derived, not wrapped (no KEK call, no token call, per new key, and a
    /// 65-byte row in the key store).
    func newDataKey(scope id: KeyScopeID) -> (key: DataKey, salt: DataKeySalt) {
        self.master.newDataKey(scope: id.bytes)
    }

    /// Records a key made for `scope` in the transaction of `changes` (put in the key store before it
    /// commits); `key` gives the key itself when the transaction keeps it (``KeyChanges/Made/remembered``).
    func added(_ stored: StoredDataKey, scope id: KeyScopeID, raw scope: KeyScope, _ changes: KeyChanges, key: () -> DataKey?) throws {
        let count = changes.add(stored, scope: id, remember: { key().map { ($0, scope) } })
        if count >= self.streamChunk, try changes.streamKeys(opening: { try self.keyStore.stream() }) { return }
        if count >= self.persistEarlyCount {
            try self.persistEarly(changes)
        }
    }

    /// How many new keys a top-level transaction holds before it streams them to the key store (when the key
    /// store has a ``KeyStream``), and how many it streams at a time from then on: 65,536, or
    /// ``persistEarlyCount`` when that is smaller (tests).
    var streamChunk: Int { min(1 << 16, self.persistEarlyCount) }

    /// How many new keys a transaction holds before they are put in the key store ahead of its commit (a bulk
    /// import makes one per record: held to the end, they would take memory in proportion to the file). Large,
    /// because each put of random scope ids into a large key store rewrites most of its pages (at 1M people
    /// with batches of 65,536 keys, the key store grew to 1.5 GB and the import slowed several times over);
    /// 1,048,576 keys take about 0.5 GB while held.
    public static let defaultPersistEarlyCount = 1 << 20
    /// This protection's count (``defaultPersistEarlyCount`` but in tests).
    package let persistEarlyCount: Int

    /// Puts the keys `changes` made so far in the key store and forgets them there (from then on they are
    /// found in the key store, like any stored key); a transaction that fails afterwards destroys them
    /// (``abandoned(_:)``). Only for a top-level transaction: a nested one's keys wait for its parent.
    ///
    /// The put runs on a thread of its own while the transaction goes on (one at a time: the next waits for
    /// it); ``persist(_:)`` waits for it before the commit, so every key is stored before its data commits.
    private func persistEarly(_ changes: KeyChanges) throws {
        try changes.early.wait()
        guard let made = changes.takeMade() else { return }
        let keys = made.map { ($0.scope, $0.stored) }
        let keyStore = self.keyStore
        changes.early.start { try keyStore.put(keys) }
    }

    /// The data key with `id` of `scope`, for opening.
    func openingKey(_ id: KeyID, _ scope: KeyScope, _ changes: KeyChanges?, what: @autoclosure () -> String) throws -> DataKey {
        // A report reads in a write transaction that has made no key: no keyed hash of the scope to look for one.
        var pending: KeyScopeID?
        if let changes, changes.hasMade {
            let scopeID = self.scopeID(scope)
            if let key = try self.pendingKey(scopeID, changes), key.id == id { return key }
            pending = scopeID
        }
        if let hit = self.cache.withLock({ $0.byID[id] }) {
            guard hit.scope == scope else { throw Self.moved(what(), id) }
            return hit.key
        }
        let scopeID = pending ?? self.scopeID(scope)
        guard let stored = try self.keyStore.keys(of: scopeID).first(where: { $0.keyID == id }) else {
            if try self.keyStore.scope(ofKey: id) != nil { throw Self.moved(what(), id) }
            throw SealedValueError(removed: true, message: "\(what()) was removed: its data key \(id) is no longer in the key store")
        }
        let key = try self.unwrap(stored, scope: scopeID)
        self.remember(key, scope: scope, id: scopeID)
        return key
    }

    private static func moved(_ what: String, _ id: KeyID) -> SealedValueError {
        SealedValueError(
            removed: false, message: "\(what) cannot be opened: it is sealed under data key \(id) of another value (ciphertext moved or swapped)"
        )
    }

    /// The data key `stored` holds for `scope`: derived from the master and its salt, or (a key store written
    /// before derived keys) unwrapped by the KEK.
    func unwrap(_ stored: StoredDataKey, scope: KeyScopeID) throws -> DataKey {
        if let salt = stored.salt {
            do {
                return try self.master.dataKey(salt, scope: scope.bytes)
            } catch {
                throw BureauError(.failedPrecondition, "cannot derive data key \(salt.keyID): \(error)")
            }
        }
        guard let wrapped = stored.wrapped else { throw BureauError(.internal, "the key store holds a damaged data key \(stored.keyID)") }
        let (current, retiring) = self.keks.withLock { ($0.current, $0.retiring) }
        let kek = retiring.flatMap { $0.id == wrapped.keyEncryptionKeyID ? $0 : nil } ?? current
        do {
            return try kek.unwrapDataKey(wrapped)
        } catch {
            throw BureauError(.unavailable, "cannot unwrap data key \(wrapped.keyID): \(error)")
        }
    }

    private func remember(_ key: DataKey, scope: KeyScope, id: KeyScopeID) {
        self.cache.withLock { cache in
            if cache.byID.count >= Self.cacheLimit { cache = Cache() }
            cache.byID[key.id] = (key, scope)
            cache.byScope[id] = key
        }
    }

    // MARK: Rotation

    /// What a rotation did.
    public struct Rotation: Sendable {
        /// The KEK retired and the one now in force.
        public var from: KeyID
        public var to: KeyID
        /// Data keys re-wrapped (keys made during the rotation were wrapped under the new KEK already).
        public var rewrapped: Int
        /// Data keys in the key store at the end, every one under the new KEK.
        public var keys: Int
    }

    /// Starts a rotation to `new`: from now on new keys are wrapped under `new`, and keys under the current
    /// KEK still unwrap. Called inside a write transaction of the data (see ``Store/rotateKeys(to:batch:)``),
    /// so that every key made under the old KEK was put in the key store before.
    func beginRotation(to new: any KeyEncryptionKey) throws {
        try self.keks.withLock { keks in
            if let retiring = keks.retiring, retiring.id != new.id {
                throw BureauError(.failedPrecondition, "a rotation from KEK \(retiring.id) to \(keks.current.id) is running")
            }
            if keks.current.id != new.id { keks = (new, keks.current) }
        }
    }

    /// Re-wraps the keyed-hash secret, the master data key and every data key wrapped by the KEK (those of key
    /// stores written before derived keys; a salt needs nothing) under the KEK ``beginRotation(to:)`` named, in
    /// batches of `batch` keys (each batch one key store transaction, so a key destroyed meanwhile is never
    /// put back), then retires the old KEK. Running it again after an interruption goes on where it stopped:
    /// keys already under the new KEK are left alone.
    func finishRotation(batch: Int) throws -> Rotation {
        let (new, old) = self.keks.withLock { ($0.current, $0.retiring) }
        do {
            var keys = 0
            var rewrapped = 0
            var cursor: [UInt8]? = nil
            if let old {
                let wrappedSecret = try new.wrap(self.secret)
                if try !self.keyStore.replaceWrappedSecret(wrappedSecret) {
                    let path = (self.folder as NSString).appendingPathComponent(Self.secretFileName)
                    try PrivateFile.write(Data(wrappedSecret.bytes), to: path)
                }
                try self.keyStore.replaceMasterKey(try new.wrap(self.master))
            }
            // Every key is seen (and counted); with no rotation running, nothing is replaced.
            repeat {
                let step = try self.keyStore.rewrap(after: cursor, limit: batch) { stored in
                    keys += 1
                    guard let old, let wrapped = stored.wrapped, wrapped.keyEncryptionKeyID != new.id else { return nil }
                    return StoredDataKey(try KeyRotation.rewrap(wrapped, from: old, to: new))
                }
                rewrapped += step.rewrapped
                cursor = step.next
            } while cursor != nil
            guard let old else { return Rotation(from: new.id, to: new.id, rewrapped: 0, keys: keys) }
            self.keks.withLock { $0.retiring = nil }
            return Rotation(from: old.id, to: new.id, rewrapped: rewrapped, keys: keys)
        } catch let error as KeyError {
            throw BureauError(.unavailable, "the rotation from KEK \(old?.id ?? new.id) to \(new.id) stopped: \(error); run it again with both keys")
        }
    }

    /// Puts the keys made in a transaction into the key store: called just before the data commits.
    public func persist(_ changes: KeyChanges) throws {
        try changes.early.wait()
        if let (stream, rest) = changes.takeStream() {
            stream.put(rest)
            return try stream.finish()
        }
        let made = changes.made
        guard !made.isEmpty else { return }
        try self.keyStore.put(made.map { ($0.scope, $0.stored) })
    }

    /// Destroys the keys a transaction that failed had put in the key store ahead of its commit (a bulk
    /// import's, ``persistEarly(_:)``): nothing was sealed under them that will ever be stored. Best effort:
    /// a key left behind is an orphan with nothing sealed under it, harmless.
    public func abandoned(_ changes: KeyChanges) {
        changes.takeStream()?.stream.abandon()
        try? changes.early.wait()
        let early = changes.persistedEarly
        guard !early.isEmpty else { return }
        try? self.keyStore.destroy(early)
    }

    /// Destroys the keys of what a committed transaction deleted, and forgets the keys it made or found:
    /// called just after the data commits.
    ///
    /// It never throws: the data is committed, so the write succeeded. Keys the key store fails to destroy
    /// are kept and destroyed at the next commit (``pendingDestruction``); until then the shred covers this
    /// store but not older backups.
    public func committed(_ changes: KeyChanges) {
        // A bulk transaction's keys are not kept: its values are not read again soon, and filling the cache
        // with them would cost the import time and evict the keys requests use.
        let made = changes.madeCount <= Self.cacheFillLimit ? changes.made : []
        let shredded = changes.shredded
        self.cache.withLock { cache in
            for (scope, ids) in shredded {
                cache.byScope[scope] = nil
                for id in ids { cache.byID[id] = nil }
            }
            if cache.byID.count + made.count > Self.cacheLimit { cache = Cache() }
            for entry in made {
                guard let (key, raw) = entry.remembered else { continue }
                cache.byID[key.id] = (key, raw)
                cache.byScope[entry.scope] = key
            }
        }
        let due = self.undestroyed.withLock { $0 } + shredded.flatMap { scope, ids in ids.map { (scope, $0) } }
        guard !due.isEmpty else { return }
        do {
            try self.keyStore.destroy(due)
            self.undestroyed.withLock { $0.removeAll() }
            self.destroyed.withLock { $0.append(contentsOf: due.map { $0.scope.bytes + $0.id.bytes }) }
        } catch {
            self.undestroyed.withLock { $0 = due }
        }
    }

    /// Scope id (16) + key id (16) of each key destroyed after its deletion committed, since the last call: a
    /// backend that records the keys a deletion shreds with its commit (``KeyChanges/shreddedKeys``) forgets
    /// these in its next write transaction.
    public func takeDestroyed() -> [[UInt8]] {
        self.destroyed.withLock { destroyed in
            defer { destroyed.removeAll() }
            return destroyed
        }
    }
    private let destroyed = Mutex<[[UInt8]]>([])

    /// Data keys of committed deletions that the key store failed to destroy, retried at each commit.
    public var pendingDestruction: Int { self.undestroyed.withLock { $0.count } }
    private let undestroyed = Mutex<[(scope: KeyScopeID, id: KeyID)]>([])

    /// Marks `scope`'s keys for destruction when the transaction of `changes` commits.
    func shred(_ scope: KeyScope, _ changes: KeyChanges) throws {
        let id = self.scopeID(scope)
        let stored = try self.keyStore.keys(of: id).map(\.keyID)
        changes.shred(id, stored: stored)
    }
}

/// The keys one write transaction made and the scopes it shredded, kept until it commits. A nested
/// transaction has its own, merged into its parent's when it succeeds and dropped when it fails, so that a
/// request that is undone destroys nothing.
public final class KeyChanges: Sendable {
    struct Made: Sendable {
        var stored: StoredDataKey
        var scope: KeyScopeID
        /// The key and what it protects, kept for a transaction's first ``DataProtection/cacheFillLimit`` keys
        /// (what its commit puts in the cache); beyond, a key is derived again from `stored` when it is
        /// needed before the commit (rarely: a bulk import seals each scope once). Millions of keys held
        /// as one stored value each take a fraction of the memory, and of the time to free.
        var remembered: (key: DataKey, raw: KeyScope)?
    }

    private struct State {
        var made: [KeyScopeID: Made] = [:]
        var shredded: [KeyScopeID: Set<KeyID>] = [:]
        /// Scope id (16) + key id (16) of each key put in the key store before the commit, packed.
        var early: [UInt8] = []
        /// The file the writer is about to furnish, sealed ahead (``PreparedFile``).
        var prepared: PreparedFile?
        /// The key store's stream this transaction's keys go to (``KeyStore/stream()``), once it holds
        /// ``DataProtection/streamChunk`` keys; `streams` is false when the key store has none.
        var stream: (any KeyStream)?
        var streams = true
        /// The scopes whose keys went to the stream (no longer in `made`: the stream's transaction has them).
        var streamed = ScopeFilter()
    }

    /// A Bloom filter over scope ids, for the keys sent to the stream: a bulk import sends millions, which a
    /// `Set` held at 24 bytes each and rehashed as it grew (its inserts 6.6% of a 1M import's writer thread,
    /// 114 MB of its memory). "No" is certain;
    /// a false "maybe" (0.06% at 4 million keys, 3% at 16 million) only asks the stream, whose transaction
    /// answers with the committed keys as well. Nothing is ever removed: a shredded scope is answered before
    /// the stream is asked (``pending(_:)``).
    struct ScopeFilter {
        /// 2^27 bits (16 MiB), made with the first insert: only a transaction that streams has one.
        private static let bitCount = 1 << 27
        private var bits: [UInt64] = []

        var isEmpty: Bool { self.bits.isEmpty }

        /// Three bits by double hashing of the id's two (uniform) words.
        private static func positions(of id: KeyScopeID) -> (Int, Int, Int) {
            let (a, b) = id.words
            let shift = UInt64(64 - 27)
            return (Int(truncatingIfNeeded: a >> shift), Int(truncatingIfNeeded: (a &+ b) >> shift), Int(truncatingIfNeeded: (a &+ 2 &* b) >> shift))
        }

        mutating func insert(_ id: KeyScopeID) {
            if self.bits.isEmpty { self.bits = [UInt64](repeating: 0, count: Self.bitCount / 64) }
            let (i, j, k) = Self.positions(of: id)
            self.bits[i >> 6] |= 1 << UInt64(i & 63)
            self.bits[j >> 6] |= 1 << UInt64(j & 63)
            self.bits[k >> 6] |= 1 << UInt64(k & 63)
        }

        func mayContain(_ id: KeyScopeID) -> Bool {
            guard !self.bits.isEmpty else { return false }
            let (i, j, k) = Self.positions(of: id)
            return self.bits[i >> 6] & (1 << UInt64(i & 63)) != 0 && self.bits[j >> 6] & (1 << UInt64(j & 63)) != 0
                && self.bits[k >> 6] & (1 << UInt64(k & 63)) != 0
        }
    }

    private let state = Mutex(State())
    /// The transaction this one is nested in: what it made and shredded is seen here too.
    private let parent: KeyChanges?
    /// The put of keys taken by ``takeMade()`` running apart, if any.
    let early = Background()

    /// One job at a time on a thread of its own; its error is thrown by the next ``wait()``.
    final class Background: Sendable {
        private let done = Mutex<(running: DispatchSemaphore?, error: (any Error)?)>((nil, nil))

        /// Runs `job` apart; call ``wait()`` first.
        func start(_ job: @escaping @Sendable () throws -> Void) {
            let semaphore = DispatchSemaphore(value: 0)
            self.done.withLock { $0.running = semaphore }
            Thread.detachNewThread { [self] in
                do { try job() } catch { self.done.withLock { $0.error = error } }
                semaphore.signal()
            }
        }

        /// Waits for the job started last; throws its error.
        func wait() throws {
            let running = self.done.withLock { state in defer { state.running = nil }; return state.running }
            running?.wait()
            if let error = self.done.withLock({ state in defer { state.error = nil }; return state.error }) { throw error }
        }
    }

    public init() { self.parent = nil }
    private init(parent: KeyChanges) { self.parent = parent }

    /// The key made for `scope` in this transaction or one it is nested in: held here, or (sent to the key
    /// store's stream) read back from the stream's transaction.
    func pending(_ scope: KeyScopeID) throws -> Made? {
        let own = self.state.withLock { state -> (made: Made?, shredded: Bool, stream: (any KeyStream)?) in
            (state.made[scope], state.shredded[scope] != nil, state.streamed.mayContain(scope) ? state.stream : nil)
        }
        if let made = own.made { return made }
        if own.shredded { return nil }
        if let stream = own.stream, let stored = try stream.keys(of: scope).last { return Made(stored: stored, scope: scope, remembered: nil) }
        return try self.parent?.pending(scope)
    }

    /// Offers the values of the file written next, sealed ahead; nil withdraws the offer.
    func offer(_ prepared: PreparedFile?) {
        self.state.withLock { $0.prepared = prepared }
    }

    /// The file offered (``offer(_:)``) to this transaction or the one it is nested in.
    var prepared: PreparedFile? {
        self.state.withLock { $0.prepared } ?? self.parent?.prepared
    }

    /// Whether this transaction or one it is nested in made a key (``pending(_:)`` finds none otherwise).
    var hasMade: Bool {
        self.state.withLock { !$0.made.isEmpty || !$0.streamed.isEmpty } || self.parent?.hasMade == true
    }

    func isShredded(_ scope: KeyScopeID) -> Bool {
        self.state.withLock { $0.shredded[scope] != nil } || self.parent?.isShredded(scope) == true
    }

    /// Adds a key made in this transaction; returns how many it holds, or 0 for a nested transaction
    /// (whose keys are never put in the key store before its parent commits).
    func add(_ stored: StoredDataKey, scope: KeyScopeID, remember: () -> (key: DataKey, raw: KeyScope)?) -> Int {
        self.state.withLock { state in
            let remembered = state.stream == nil && state.made.count < DataProtection.cacheFillLimit ? remember() : nil
            // Grown four times over when full, not twice: a bulk import's millions of keys are rehashed a third as often.
            if state.made.count >= state.made.capacity { state.made.reserveCapacity(max(64, state.made.capacity * 4)) }
            state.made[scope] = Made(stored: stored, scope: scope, remembered: remembered)
            return self.parent == nil ? state.made.count : 0
        }
    }

    /// Sends the keys made so far to the key store's stream, opening it with `opening` the first time;
    /// returns false when the key store has no stream. A top-level transaction only (a nested one's keys wait
    /// for its parent). The keys sent leave ``made``, so that a bulk import holds at most a chunk of them;
    /// ``pending(_:)`` reads them back from the stream's transaction. One replaced or shredded after it was
    /// sent is stored with nothing sealed under it (harmless).
    func streamKeys(opening: () throws -> (any KeyStream)?) throws -> Bool {
        guard self.parent == nil else { return false }
        let sent = try self.state.withLock { state -> (stream: any KeyStream, keys: [(scope: KeyScopeID, key: StoredDataKey)])? in
            guard state.streams else { return nil }
            if state.stream == nil {
                guard let opened = try opening() else {
                    state.streams = false
                    return nil
                }
                state.stream = opened
            }
            let keys = state.made.values.map { ($0.scope, $0.stored) }
            for scope in state.made.keys { state.streamed.insert(scope) }
            state.made.removeAll(keepingCapacity: true)
            return (state.stream!, keys)
        }
        guard let sent else { return false }
        sent.stream.put(sent.keys)
        return true
    }

    /// The stream this transaction's keys went to, if any, and the keys not sent to it yet (taken out).
    func takeStream() -> (stream: any KeyStream, rest: [(scope: KeyScopeID, key: StoredDataKey)])? {
        self.state.withLock { state in
            guard let stream = state.stream else { return nil }
            defer {
                state.stream = nil
                state.made.removeAll()
                state.streamed = ScopeFilter()
            }
            return (stream, state.made.values.map { ($0.scope, $0.stored) })
        }
    }

    /// Takes the keys made so far out of a top-level transaction, to be put in the key store before it
    /// commits; nil for a nested transaction or when there are none.
    func takeMade() -> [Made]? {
        guard self.parent == nil else { return nil }
        return self.state.withLock { state -> [Made]? in
            guard !state.made.isEmpty else { return nil }
            let made = Array(state.made.values)
            state.made.removeAll(keepingCapacity: true)  // the next batch fills as many
            for entry in made {
                state.early.append(contentsOf: entry.scope.bytes)
                state.early.append(contentsOf: entry.stored.keyID.bytes)
            }
            return made
        }
    }

    /// The keys put in the key store before the commit (``takeMade()``).
    var persistedEarly: [(scope: KeyScopeID, id: KeyID)] {
        let early = self.state.withLock { $0.early }
        return stride(from: 0, to: early.count, by: 32).map { at in
            (KeyScopeID(bytes: early[at..<(at + 16)])!, KeyID(bytes: early[(at + 16)..<(at + 32)])!)
        }
    }

    func shred(_ scope: KeyScopeID, stored: [KeyID]) {
        self.state.withLock { state in
            // A key made in this transaction and shredded in it is never stored (or, sent to the stream already,
            // stored with nothing sealed under it).
            state.made[scope] = nil
            state.shredded[scope, default: []].formUnion(stored)
        }
    }

    /// How many keys ``made`` holds.
    var madeCount: Int {
        self.parent == nil ? self.state.withLock { $0.made.count } : self.made.count
    }

    /// The keys made, this transaction's and (for a nested one) its parents', the newest per scope.
    var made: [Made] {
        if self.parent == nil { return self.state.withLock { Array($0.made.values) } }
        var out = self.parent.map { Dictionary(uniqueKeysWithValues: $0.made.map { ($0.scope, $0) }) } ?? [:]
        self.state.withLock { state in
            for scope in state.shredded.keys { out[scope] = nil }
            for (scope, made) in state.made { out[scope] = made }
        }
        return Array(out.values)
    }

    var shredded: [KeyScopeID: Set<KeyID>] {
        var out = self.parent?.shredded ?? [:]
        self.state.withLock { state in
            for (scope, ids) in state.shredded { out[scope, default: []].formUnion(ids) }
        }
        return out
    }

    /// A transaction nested in this one.
    public func child() -> KeyChanges { KeyChanges(parent: self) }

    /// Takes over what a nested transaction (made by ``child()``) did, when it succeeded.
    public func adopt(_ child: KeyChanges) {
        let delta = child.state.withLock { $0 }
        self.state.withLock { state in
            for (scope, ids) in delta.shredded {
                state.made[scope] = nil
                state.shredded[scope, default: []].formUnion(ids)
            }
            for (scope, made) in delta.made { state.made[scope] = made }
        }
    }

    /// Scope id (16) + key id (16) of each stored key this transaction shreds: to be recorded with its commit,
    /// so that a crash between the commit and the keys' destruction leaves them to be swept.
    public var shreddedKeys: [[UInt8]] {
        self.shredded.flatMap { scope, ids in ids.map { scope.bytes + $0.bytes } }
    }

    /// Whether the transaction made or shredded any key.
    public var isEmpty: Bool { self.made.isEmpty && self.shredded.isEmpty && !self.state.withLock({ $0.stream != nil }) }
}
