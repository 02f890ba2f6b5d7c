public import BureauCore
public import BureauStore
import Foundation
import LMDB
import Synchronization

/// The embedded backend: both stores in one LMDB environment (`<data>/lmdb`), so that a change and its
/// log entry commit in one transaction. The key layout is in DESIGN.md beside this file.
public final class LMDBStorage: StorageBackend {
    let environment: Environment
    let databases: Databases

    /// Opens (creating when absent) the environment in the folder `path`.
    public init(path: String, configuration: Store.Configuration = .defaults) throws {
        self.environment = try Environment(path: path, configuration: .init(mapSize: configuration.mapSize, noSync: configuration.noSync))
        self.databases = try Databases(self.environment)
    }

    /// Runs `body` in an LMDB read transaction (an MVCC snapshot); LMDB errors become ``BureauError``.
    public func read<T>(_ body: (any ReadOnlyStoreTransaction) throws -> T) throws -> T {
        do {
            return try self.environment.read { try body(LMDBTransaction($0, self.databases)) }
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
    }

    /// Runs `body` in the LMDB write transaction, committed (and synced unless `noSync`) when it returns;
    /// LMDB errors become ``BureauError`` (a full map is resource exhausted).
    public func write<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T {
        do {
            return try self.environment.write { try body(LMDBTransaction($0, self.databases)) }
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
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
    /// Opens the store in `folder` on the embedded LMDB backend (`<folder>/lmdb`), creating the folder, the
    /// secret and the databases when absent; on the backend `configuration.openBackend` opens when it is set.
    public convenience init(folder: String, configuration: Configuration = .defaults) throws {
        _ = try InstallationSecret.loadOrCreate(in: folder)  // makes the folder before LMDB opens in it
        let backend: any StorageBackend = try configuration.openBackend?(folder)
            ?? LMDBStorage(path: (folder as NSString).appendingPathComponent("lmdb"), configuration: configuration)
        try self.init(folder: folder, backend: backend)
    }
}

extension Backup {
    /// Puts the backup in `source` in place as the data folder `destination`, which must not hold a database.
    public static func restore(from source: String, to destination: String) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: source + "/lmdb/data.mdb") else {
            throw BureauError.invalid("source", "\(source) is not a backup (no lmdb/data.mdb)")
        }
        guard !fm.fileExists(atPath: destination + "/lmdb/data.mdb") else {
            throw BureauError.invalid("destination", "\(destination) already holds a database; restore into a new folder")
        }
        let partial = destination + ".restoring-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: partial)
        try fm.copyItem(atPath: source, toPath: partial)
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
    let meta: Database

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
        self.meta = try env.openDatabase(named: "meta")
    }
}

extension BureauError {
    /// The status a storage failure surfaces as: a full map is RESOURCE_EXHAUSTED, anything else
    /// UNAVAILABLE. Nothing of the failed transaction was kept.
    init(storage error: LMDBError) {
        if error.isMapFull {
            self.init(.resourceExhausted, "storage is full (LMDB map size reached); nothing was written")
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
    private let values = Mutex<[[UInt8]: Value]>([:])

    func value(for bytes: UnsafeRawBufferPointer, decode: (UnsafeRawBufferPointer) throws -> Value) rethrows -> Value {
        let key = Array(bytes)
        if let hit = self.values.withLock({ $0[key] }) { return hit }
        let value = try decode(bytes)
        self.values.withLock { values in
            if values.count > 10_000 { values.removeAll() }
            values[key] = value
        }
        return value
    }
}
