public import BureauCore
public import Crypto
public import LMDB
import Foundation
import Synchronization

/// The bureau's persistent state in one LMDB environment (`<data>/lmdb`).
///
/// Key layout (every subject is keyed by its ``SubjectKey``, never by a cleartext identifier; a record
/// reference is kind byte 1 account, 2 public record, 3 list entry + furnisher code (18) + record id):
///
/// | database            | key                                                   | value                              |
/// |---------------------|-------------------------------------------------------|------------------------------------|
/// | `subjects`          | subject key (32)                                      | identity or registration (binary)  |
/// | `records`           | subject key (32) + record reference                   | the record (binary, ``RecordCodec``)|
/// | `attachments`       | subject key (32) + 1 statement / 2 dispute + id       | statement or dispute mark (binary) |
/// | `index.furnisher`   | furnisher code (18) + kind byte + record id           | subject key (32)                   |
/// | `index.retention`   | 1 + end day (4, BE days since 1970) + records key, or | empty                              |
/// |                     | 2 + category + 0x00 + behaviour end day (4) + records key |                                |
/// | `index.lists`       | list code + 0x00 + records key                        | empty                              |
/// | `index.queries`     | subject key (32) + log index (8, BE)                  | time (8) + purpose, outcome (1 each, their `indexCode`) + institution |
/// | `batches`           | furnisher code (18) + batch id                        | the first answer to that batch     |
/// | `institutions`      | Unified Social Credit Code (UTF-8)                    | JSON of ``Institution``            |
/// | `certificates`      | SHA-256 of certificate DER (32)                       | institution code (UTF-8)           |
/// | `log.entries`       | entry index (8, BE)                                   | canonical entry bytes              |
/// | `log.leaves`        | entry index (8, BE)                                   | RFC 6962 leaf hash (32)            |
/// | `log.tree`          | level (1) + index (8, BE), level >= 1                 | hash of a complete subtree (32)    |
/// | `meta`              | `log.size`, `catalogue`                               | log size (8, BE), catalogue JSON   |
/// | `consents`          | consent reference (UTF-8)                             | JSON of ``Consent``                |
/// | `protections`       | subject key (32)                                      | JSON of ``FileProtection``         |
/// | `quotas`            | institution code (18) + day (4, BE)                   | queries counted that day (8, BE)   |
/// | `disputes`          | dispute id (UTF-8)                                    | JSON of ``Dispute``                |
/// | `index.disputes`    | furnisher code (18) + dispute id                      | empty                              |
/// | `tombstones`        | records key of a deleted record                       | SHA-256 of its stored encoding     |
/// | `repairs`           | repair id (UTF-8)                                     | JSON of ``Repair``                 |
/// | `self-queries`      | subject key (32) + year (2, BE)                       | self-queries that year (8, BE)     |
/// | `anomalies`         | anomaly id (UTF-8)                                    | JSON of the anomaly and its receipt|
/// | `revoked`           | SHA-256 of a revoked certificate (32)                 | institution code (UTF-8)           |
///
/// The log lives in its own databases, apart from the files, but in the same environment, so that a
/// change and its log entry commit in one transaction.
public final class Store: Sendable {
    /// Tunables for opening a store.
    public struct Configuration: Sendable {
        /// The LMDB map size: the most the database may grow to.
        public var mapSize: Int
        /// Skip fsync at commit (bulk loads that can be redone; never for serving).
        public var noSync: Bool

        public init(mapSize: Int = 4 << 30, noSync: Bool = false) {
            self.mapSize = mapSize
            self.noSync = noSync
        }

        public static var defaults: Configuration { Configuration() }
    }

    public let environment: Environment
    let databases: Databases
    /// The secret keying subject hashes.
    public let secret: SymmetricKey
    /// The data folder.
    public let folder: String

    /// Opens the store in `folder`, creating the folder, the secret and the databases when absent.
    public init(folder: String, configuration: Configuration = .defaults) throws {
        self.folder = folder
        self.secret = try InstallationSecret.loadOrCreate(in: folder)
        self.environment = try Environment(
            path: (folder as NSString).appendingPathComponent("lmdb"),
            configuration: .init(mapSize: configuration.mapSize, noSync: configuration.noSync)
        )
        self.databases = try Databases(self.environment)
    }

    /// The keyed hash of `identifier` under this installation's secret.
    public func key(for identifier: SubjectIdentifier) -> SubjectKey {
        SubjectKey(identifier, secret: self.secret)
    }

    /// The catalogue in force: the one an operator loaded, or the built-in one.
    public func catalogue() throws -> Catalogue {
        try self.read { try $0.storedCatalogue() } ?? .default
    }

    /// Runs `body` in a read transaction (a consistent snapshot that never waits for the writer).
    public func read<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        do {
            return try self.environment.read { try body(StoreTransaction($0, self.databases)) }
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
    }

    /// Runs `body` in one write transaction, committed (and synced) when it returns.
    ///
    /// Serving code writes through ``GroupCommitWriter`` instead, which shares commits between requests.
    public func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        do {
            return try self.environment.write { try body(StoreTransaction($0, self.databases)) }
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
    }
}

/// The named databases of the store.
struct Databases: Sendable {
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
    public init(storage error: LMDBError) {
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
