public import BureauCore
public import BureauStore
public import BureauKeys
import Foundation
import LMDB
import Synchronization

/// The embedded backend: both stores in one LMDB environment (`<data>/lmdb`), so that a change and its
/// log entry commit in one transaction. The key layout is in DESIGN.md beside this file.
public final class LMDBStorage: StorageBackend {
    let environment: Environment
    let databases: Databases
    /// The keys values are sealed with, and the key store.
    public let protection: DataProtection

    /// Whether this process holds the data alone, writing through the map: a bulk load
    /// (``Store/Configuration/bulkLoad``) that found no other process with the data folder open.
    public var isHeldAlone: Bool { self.environment.isHeldAlone }
    /// The bytes of disk the data file takes (its blocks; held alone, LMDB sizes the file to the map).
    public var fileBytes: Int { self.environment.allocatedBytes }

    /// Opens (creating when absent) the environment in the folder `path`, sealing with `protection`.
    public init(path: String, configuration: Store.Configuration = .defaults, protection: DataProtection) throws {
        self.environment = try Environment(
            path: path, configuration: .init(mapSize: configuration.mapSize, noSync: configuration.noSync, bulkLoad: configuration.bulkLoad)
        )
        self.databases = try Databases(self.environment)
        self.protection = protection
    }

    /// Opens the backend of the data folder `folder`: the KEK that `configuration` names, the key store
    /// (`<folder>/keystore` unless configured), the wrapped keyed-hash secret, and the data in `<folder>/lmdb`.
    ///
    /// - Throws: ``BureauError`` (failed precondition) naming the key problem (see ``KeyConfiguration`` and
    ///   ``DataProtection``), or when the data exists without its key store.
    public static func open(folder: String, configuration: Store.Configuration = .defaults) throws -> LMDBStorage {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // First: such a folder has no key store either, and may have no KEK configured yet.
        try DataProtection.refuseMadeBeforeEncryption(folder)
        let kek = try configuration.keys.open(dataFolder: folder)
        let hasData = fm.fileExists(atPath: (folder as NSString).appendingPathComponent("lmdb/data.mdb"))
        let keyStorePath = configuration.keyStore ?? (folder as NSString).appendingPathComponent(LMDBKeyStore.defaultFolderName)
        if hasData && !fm.fileExists(atPath: (keyStorePath as NSString).appendingPathComponent("data.mdb")) {
            throw BureauError(
                .failedPrecondition,
                "the key store \(keyStorePath) is missing: the data in \(folder) cannot be opened without it (restore it from the key store backup, or give its path)"
            )
        }
        let keyStore = try LMDBKeyStore(path: keyStorePath, mapSize: configuration.mapSize, bulkLoad: configuration.bulkLoad)
        let protection = try DataProtection(folder: folder, kek: kek, keyStore: keyStore, hasData: hasData)
        let storage = try LMDBStorage(path: (folder as NSString).appendingPathComponent("lmdb"), configuration: configuration, protection: protection)
        try storage.sweepShredded()
        return storage
    }

    /// Destroys the data keys of committed deletions that were never destroyed (a crash, or a key store that
    /// failed, between a deletion's commit and its keys' destruction), then forgets them; returns how many.
    /// Run at open. It cannot race a write about to commit: it destroys only keys that a committed deletion
    /// recorded (database `shredding`, written in the deletion's own transaction), never a key merely without
    /// data, and a key id is never reused.
    @discardableResult
    public func sweepShredded() throws -> Int {
        do {
            let pending = try self.environment.read { txn in
                var out: [[UInt8]] = []
                try txn.scan(self.databases.shredding) { k, _ in
                    out.append(Array(k))
                    return true
                }
                return out
            }
            let keys = pending.compactMap { k in KeyScopeID(bytes: k.prefix(16)).flatMap { scope in KeyID(bytes: k.dropFirst(16)).map { (scope, $0) } } }
            guard !pending.isEmpty else { return 0 }
            try self.protection.keyStore.destroy(keys)
            try self.environment.write { txn in
                for k in pending { _ = try txn.delete(k, in: self.databases.shredding) }
            }
            return keys.count
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
    }

    /// Runs `body` in an LMDB read transaction (an MVCC snapshot); LMDB errors become ``BureauError``.
    public func read<T>(_ body: (any ReadOnlyStoreTransaction) throws -> T) throws -> T {
        do {
            return try self.environment.read { try body(LMDBTransaction($0, self.databases, self.protection, nil)) }
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
    }

    /// Runs `body` in the LMDB write transaction, committed (and synced unless `noSync`) when it returns;
    /// LMDB errors become ``BureauError`` (a full map is resource exhausted). The data keys it made go into
    /// the key store just before the commit; the keys of what it deleted are destroyed just after.
    public func write<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T {
        try self.write(body, beforeCommit: {})
    }

    /// ``write(_:)``, calling `beforeCommit` between the key store's write and the data commit (a test's crash).
    func write<T>(_ body: (any ReadWriteStoreTransaction) throws -> T, beforeCommit: () throws -> Void) throws -> T {
        let changes = KeyChanges()
        let result: T
        do {
            result = try self.environment.write { txn in
                let result = try body(LMDBTransaction(txn, self.databases, self.protection, changes))
                try self.protection.persist(changes)
                // The keys to destroy after this commit are recorded with it, so that a crash before they are
                // destroyed leaves them to the sweep at the next open; those destroyed since are forgotten.
                for key in changes.shreddedKeys { try txn.put([], forKey: key, in: self.databases.shredding) }
                for key in self.protection.takeDestroyed() { _ = try txn.delete(key, in: self.databases.shredding) }
                try beforeCommit()
                return result
            }
        } catch {
            self.protection.abandoned(changes)
            if let error = error as? LMDBError { throw BureauError(storage: error) }
            throw error
        }
        self.protection.committed(changes)
        return result
    }

    /// The status of an LMDB error, or nil for any other error.
    public func storageFailure(_ error: any Error) -> BureauError? {
        (error as? LMDBError).map { BureauError(storage: $0) }
    }

    /// LMDB's compacting copy, taken in one read transaction, into `destination/lmdb` (files of mode 0600).
    public func hotCopy(into destination: String) throws {
        let fm = FileManager.default
        let folder = (destination as NSString).appendingPathComponent("lmdb")
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        do {
            try self.environment.copy(to: folder, compact: true)
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
        for name in try fm.contentsOfDirectory(atPath: folder) {
            try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: (folder as NSString).appendingPathComponent(name))
        }
    }

    /// The map size and the pages in use.
    public func statistics() throws -> StorageStatistics {
        do {
            let info = try self.environment.info()
            return StorageStatistics(capacityBytes: info.mapSize, usedBytes: info.usedBytes)
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
    }
}

extension LMDBStorage {
    // Raw access, for the backend's own tests that check or write an older layout on disk.

    /// Every key and value of the database `name`, in key order.
    public func rawEntries(of name: String) throws -> [(key: [UInt8], value: [UInt8])] {
        let database = try self.environment.openDatabase(named: name)
        return try self.environment.read { txn in
            var out: [(key: [UInt8], value: [UInt8])] = []
            try txn.scan(database) { k, v in
                out.append((Array(k), Array(v)))
                return true
            }
            return out
        }
    }

    /// The pages each named database takes, by name, and the page size: where the store's bytes go.
    public func pagesByDatabase() throws -> (pageSize: Int, pages: [String: Int]) {
        let pageSize = try self.environment.info().pageSize
        return try self.environment.read { txn in
            var pages: [String: Int] = [:]
            for database in self.databases.all { pages[database.name] = try txn.pages(database) }
            return (pageSize, pages)
        }
    }

    /// Deletes `deleting`, then puts `putting`, in the database `name`, in one transaction.
    public func rawWrite(in name: String, deleting: [[UInt8]] = [], putting: [(key: [UInt8], value: [UInt8])] = []) throws {
        let database = try self.environment.openDatabase(named: name)
        try self.environment.write { txn in
            for key in deleting { try txn.delete(key, in: database) }
            for (key, value) in putting { try txn.put(value, forKey: key, in: database) }
        }
    }
}

extension Store {
    /// Opens the store in `folder` on the embedded LMDB backend (`<folder>/lmdb`, keys in
    /// `<folder>/keystore` unless configured), creating the folder, the wrapped secret and the databases when
    /// absent; on the backend `configuration.openBackend` opens when it is set.
    public convenience init(folder: String, configuration: Configuration = .defaults) throws {
        guard let open = configuration.openBackend else {
            try self.init(folder: folder, backend: try LMDBStorage.open(folder: folder, configuration: configuration))
            return
        }
        // The folder holds the checkpoint's key and note whatever the backend.
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try self.init(folder: folder, backend: try open(folder))
    }
}

extension Store {
    /// Opens a copy of the data (a backup) in `folder` with the keys of the open store `store`: its KEK
    /// and key store, neither opened twice.
    ///
    /// - Throws: ``BureauError`` (failed precondition) when the copy's keyed-hash secret is not `store`'s.
    public convenience init(copyIn folder: String, keysOf store: Store, configuration: Configuration = .defaults) throws {
        let protection = store.backend.protection
        let path = (folder as NSString).appendingPathComponent(DataProtection.secretFileName)
        let wrapped = FileManager.default.contents(atPath: path).flatMap { try? WrappedKey(bytes: Array($0)) }
        guard let wrapped, wrapped.keyID == protection.secret.id else {
            throw BureauError(.failedPrecondition, "\(path) is not the keyed-hash secret of \(store.folder)")
        }
        try self.init(folder: folder, backend: try LMDBStorage(path: (folder as NSString).appendingPathComponent("lmdb"), configuration: configuration, protection: protection))
    }
}

extension LMDBKeyStore {
    /// A consistent copy of the key store into the new folder `destination` (files of mode 0600), taken
    /// while bureaud serves: the key store's own backup, kept apart from the data's and for a short time.
    public func copy(to destination: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: destination, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        do {
            try self.environment.copy(to: destination, compact: true)
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
        for name in try fm.contentsOfDirectory(atPath: destination) {
            try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: (destination as NSString).appendingPathComponent(name))
        }
    }
}

extension Backup {
    /// Checks, before anything is restored, that `kek` is the key-encryption key the backup in `source` needs.
    ///
    /// - Throws: ``BureauError`` (invalid argument) when `source` holds no wrapped secret; (failed
    ///   precondition) naming the KEK the backup needs and the one given.
    public static func checkKey(_ kek: any KeyEncryptionKey, for source: String) throws {
        let path = (source as NSString).appendingPathComponent(DataProtection.secretFileName)
        guard let data = FileManager.default.contents(atPath: path), let wrapped = try? WrappedKey(bytes: Array(data)) else {
            throw BureauError.invalid("source", "\(source) holds no wrapped keyed-hash secret (\(DataProtection.secretFileName)): not a backup of this version")
        }
        guard kek.id == wrapped.keyEncryptionKeyID else {
            throw BureauError(
                .failedPrecondition,
                "\(source) needs the key-encryption key \(wrapped.keyEncryptionKeyID); the one given (\(kek.location)) is \(kek.id). Nothing was restored."
            )
        }
    }

    /// Puts the backup in `source` in place as the data folder `destination`, which must not hold a database.
    ///
    /// A backup holds no key store. The destination's own key store (`<destination>/keystore`) stays in
    /// place; when there is none, the key store at `keyStore` (the installation's current one, or its
    /// backup) is copied in. The current key store opens the old data except what was deleted since the
    /// backup: those keys are destroyed, so that content stays unreadable (crypto-shredding).
    public static func restore(from source: String, to destination: String, keyStore: LMDBKeyStore? = nil) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: source + "/lmdb/data.mdb") else {
            throw BureauError.invalid("source", "\(source) is not a backup (no lmdb/data.mdb)")
        }
        guard !fm.fileExists(atPath: destination + "/lmdb/data.mdb") else {
            throw BureauError.invalid("destination", "\(destination) already holds a database; restore into a new folder")
        }
        let ownKeyStore = (destination as NSString).appendingPathComponent(LMDBKeyStore.defaultFolderName)
        let keepsOwnKeyStore = fm.fileExists(atPath: ownKeyStore + "/data.mdb")
        if !keepsOwnKeyStore {
            guard keyStore != nil else {
                throw BureauError.invalid(
                    "key_store", "a backup holds no keys: give the installation's current key store (or its backup) to restore with"
                )
            }
        }
        let partial = destination + ".restoring-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: partial)
        try fm.copyItem(atPath: source, toPath: partial)
        let partialKeyStore = (partial as NSString).appendingPathComponent(LMDBKeyStore.defaultFolderName)
        do {
            if keepsOwnKeyStore {
                try fm.moveItem(atPath: ownKeyStore, toPath: partialKeyStore)
            } else if let keyStore {
                try keyStore.copy(to: partialKeyStore)
            }
        } catch {
            try? fm.removeItem(atPath: partial)
            throw error
        }
        if fm.fileExists(atPath: destination) { try fm.removeItem(atPath: destination) }
        try fm.moveItem(atPath: partial, toPath: destination)
    }
}

/// The named databases of the store.
final class Databases: Sendable {
    /// Decoded institutions by their stored bytes: a hit skips the JSON decode, a changed record misses.
    let institutionCache = DecodeCache<Institution>()
    let subjects: Database
    let records: Database
    let attachments: Database
    let furnisherIndex: Database
    let retentionIndex: Database
    let listIndex: Database
    let queryIndex: Database
    let batches: Database
    let consents: Database
    let protections: Database
    let quotas: Database
    let revoked: Database
    let anomalies: Database
    let selfQueries: Database
    let disputes: Database
    let disputeIndex: Database
    let tombstones: Database
    let repairs: Database
    let institutions: Database
    let certificates: Database
    let logEntries: Database
    let logLeaves: Database
    let logTree: Database
    let logNodes: Database
    let logParts: Database
    let meta: Database
    let shredding: Database

    /// Every database, for statistics.
    var all: [Database] {
        [
            subjects, records, attachments, furnisherIndex, retentionIndex, listIndex, queryIndex, batches, consents, protections, quotas,
            revoked, anomalies, selfQueries, disputes, disputeIndex, tombstones, repairs, institutions, certificates, logEntries, logLeaves,
            logTree, logNodes, logParts, meta, shredding,
        ]
    }

    init(_ env: Environment) throws {
        self.subjects = try env.openDatabase(named: "subjects")
        self.records = try env.openDatabase(named: "records")
        self.attachments = try env.openDatabase(named: "attachments")
        self.furnisherIndex = try env.openDatabase(named: "index.furnisher")
        self.retentionIndex = try env.openDatabase(named: "index.retention")
        self.listIndex = try env.openDatabase(named: "index.lists")
        self.queryIndex = try env.openDatabase(named: "index.queries")
        self.batches = try env.openDatabase(named: "batches")
        self.consents = try env.openDatabase(named: "consents")
        self.protections = try env.openDatabase(named: "protections")
        self.quotas = try env.openDatabase(named: "quotas")
        self.revoked = try env.openDatabase(named: "revoked")
        self.anomalies = try env.openDatabase(named: "anomalies")
        self.selfQueries = try env.openDatabase(named: "self-queries")
        self.disputes = try env.openDatabase(named: "disputes")
        self.disputeIndex = try env.openDatabase(named: "index.disputes")
        self.tombstones = try env.openDatabase(named: "tombstones")
        self.repairs = try env.openDatabase(named: "repairs")
        self.institutions = try env.openDatabase(named: "institutions")
        self.certificates = try env.openDatabase(named: "certificates")
        self.logEntries = try env.openDatabase(named: "log.entries")
        self.logLeaves = try env.openDatabase(named: "log.leaves")
        self.logTree = try env.openDatabase(named: "log.tree")
        self.logNodes = try env.openDatabase(named: "log.nodes")
        self.logParts = try env.openDatabase(named: "log.parts")
        self.meta = try env.openDatabase(named: "meta")
        self.shredding = try env.openDatabase(named: "shredding")
    }
}

extension BureauError {
    /// The status a storage failure surfaces as: a full map is RESOURCE_EXHAUSTED, anything else
    /// UNAVAILABLE. Nothing of the failed transaction was kept.
    init(storage error: LMDBError) {
        if error.isMapFull {
            self.init(.resourceExhausted, "storage is full (LMDB map size reached); nothing was written")
        } else if error.isHeldAlone {
            self.init(.unavailable, "the data folder is held by a bulk import (bureau import) in another process until it finishes; nothing was read or written")
        } else if error.isNoSpace {
            self.init(.unavailable, "storage device is full; nothing was written")
        } else {
            self.init(.unavailable, "storage failed: \(error)")
        }
    }
}

/// Remembers decoded values by the exact bytes they were decoded from, so that a value read on every
/// request is decoded once, while any change to the stored bytes is seen at once.
final class DecodeCache<Value: Sendable>: Sendable {
    /// Stored bytes as a key, hashed in one call over the whole buffer (an array of bytes hashes them one
    /// by one, which for an institution's few hundred bytes cost more than the lookup).
    private struct Key: Hashable {
        let bytes: [UInt8]

        func hash(into hasher: inout Hasher) {
            self.bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }

        static func == (a: Key, b: Key) -> Bool {
            a.bytes.count == b.bytes.count
                && (a.bytes.isEmpty || a.bytes.withUnsafeBytes { x in b.bytes.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } })
        }
    }

    private let values = Mutex<[Key: Value]>([:])

    func value(for bytes: UnsafeRawBufferPointer, decode: (UnsafeRawBufferPointer) throws -> Value) rethrows -> Value {
        let key = Key(bytes: Array(bytes))
        if let hit = self.values.withLock({ $0[key] }) { return hit }
        let value = try decode(bytes)
        self.values.withLock { values in
            if values.count > 10_000 { values.removeAll() }
            values[key] = value
        }
        return value
    }
}
