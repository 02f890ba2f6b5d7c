public import BureauCore

/// A storage engine behind the bureau's two stores, in the shape of trillian's `LogStorage`: the
/// credit-file store (``CreditFileReader``/``CreditFileWriter``) and the log store (``LogReader``/
/// ``LogWriter``), read in snapshots and written in transactions.
///
/// The two stores share one transaction, because a change to a file and the log entry that records it
/// commit together or not at all (log before answer). A backend is a module of its own (`BureauLMDB`, the
/// embedded default) and hides its engine: nothing outside it imports the engine's library. Every backend
/// passes the conformance suite in `BureauStoreConformance`.
///
/// Engine-independent logic lives in BureauStore on top of each protocol's primitives (the Merkle tree
/// kept over stored subtree hashes, ``LogWriter/appendLog(_:)``, proofs, the log checks, furnishing's
/// identity rule), so that a backend implements storage, not rules.
public protocol StorageBackend: Sendable {
    /// Runs `body` in a read-only transaction: a consistent snapshot that never waits for the writer.
    /// - Throws: what `body` throws; engine failures as ``BureauError`` (see ``storageFailure(_:)``).
    func read<T>(_ body: (any ReadOnlyStoreTransaction) throws -> T) throws -> T

    /// Runs `body` in one read-write transaction, committed (durably) when it returns; when it throws,
    /// nothing of it is kept.
    /// - Throws: what `body` throws; engine failures (the commit included) as ``BureauError``.
    func write<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T

    /// The status an engine failure surfaces as (resource exhausted when the store is full, unavailable
    /// otherwise), or nil when `error` is not the engine's (a refusal thrown by the request itself).
    func storageFailure(_ error: any Error) -> BureauError?

    /// Copies a consistent snapshot of the data into the folder `destination` (which exists and is empty)
    /// while writers go on, in the engine's own format, readable as a backend of the same kind.
    func hotCopy(into destination: String) throws

    /// How much room the engine has and uses.
    func statistics() throws -> StorageStatistics

    /// The keys every value holding personal data is sealed with (through ``StoredValues``), and the key
    /// store the backend puts new keys in before it commits and destroys shredded ones from after.
    var protection: DataProtection { get }
}

/// How much room a backend has and uses, for `bureau stats` and the metrics.
public struct StorageStatistics: Sendable, Hashable {
    /// The most the store may grow to (the LMDB map size), in bytes.
    public var capacityBytes: Int
    /// The bytes in use.
    public var usedBytes: Int

    public init(capacityBytes: Int, usedBytes: Int) {
        self.capacityBytes = capacityBytes
        self.usedBytes = usedBytes
    }
}

/// A consistent snapshot of both stores. Valid only inside the closure that received it.
public protocol ReadOnlyStoreTransaction: CreditFileReader, LogReader {}

/// A read-write transaction over both stores. Valid only inside the closure that received it.
public protocol ReadWriteStoreTransaction: ReadOnlyStoreTransaction, CreditFileWriter, LogWriter {
    /// Runs `body` in a transaction nested in this one (a savepoint): when `body` throws, its changes
    /// alone are undone and this transaction goes on. The group-commit writer runs each request in one.
    func withNestedTransaction<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T
    /// Offers the values of the subject furnished next, sealed ahead on another thread
    /// (``DataProtection/prepare(_:as:)``, a bulk import's); nil withdraws the offer.
    func offer(_ prepared: PreparedFile?)
}

/// A read-write transaction of whichever backend the store runs on (the type services write against).
public typealias StoreTransaction = any ReadWriteStoreTransaction

/// A read-only snapshot of whichever backend the store runs on.
public typealias StoreSnapshot = any ReadOnlyStoreTransaction
