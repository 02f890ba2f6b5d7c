public import BureauCore
public import Crypto
public import BureauKeys

/// The bureau's persistent state: the credit-file store and the log store of one backend
/// (``StorageBackend``), with the installation's secret that keys subjects.
///
/// The backend is chosen where the store is opened: `Store(folder:configuration:)` from `BureauLMDB`
/// opens the embedded LMDB backend in `<folder>/lmdb`. Serving code writes through ``GroupCommitWriter``,
/// which shares commits between requests.
public final class Store: Sendable {
    /// Tunables for opening the embedded (LMDB) backend, or the opener of another one.
    public struct Configuration: Sendable {
        /// The LMDB map size: the most the database may grow to.
        public var mapSize: Int
        /// Skip fsync at commit (bulk loads that can be redone; never for serving).
        public var noSync: Bool
        /// Where the key-encryption key lives (see README, "Keys").
        public var keys: KeyConfiguration
        /// The key store's folder; nil for `<data>/keystore`. A backup of the data never includes it.
        public var keyStore: String?
        /// Open the LMDB store for a bulk load (`bureau import`): held alone, and written through LMDB's map,
        /// when no other process has the data folder open; shared, as usual, when one has (a running bureaud).
        /// While it is held alone, other processes cannot open the folder. Never for serving: such a store
        /// cannot nest transactions (the group commit does). No effect on a PostgreSQL store.
        public var bulkLoad: Bool

        /// Opens another backend than the embedded one (the PostgreSQL store of `--store postgresql://...`, which
        /// takes its KEK and key store from the opener), given the data folder; nil for LMDB in `<folder>/lmdb`.
        public var openBackend: (@Sendable (_ folder: String) throws -> any StorageBackend)?

        public init(
            mapSize: Int = 4 << 30, noSync: Bool = false, keys: KeyConfiguration = .environment, keyStore: String? = nil,
            bulkLoad: Bool = false, openBackend: (@Sendable (_ folder: String) throws -> any StorageBackend)? = nil
        ) {
            self.mapSize = mapSize
            self.noSync = noSync
            self.keys = keys
            self.keyStore = keyStore
            self.bulkLoad = bulkLoad
            self.openBackend = openBackend
        }

        public static var defaults: Configuration { Configuration() }
    }

    /// The storage engine.
    public let backend: any StorageBackend
    /// The secret keying subject hashes (unwrapped from the data folder's `secret.wrapped`).
    public var secret: SymmetricKey { self.backend.protection.secret.key }
    /// The data folder (the wrapped secret, the signing keys and the last signed checkpoint live here).
    public let folder: String

    /// A store over `backend`, which seals with its ``StorageBackend/protection``.
    public init(folder: String, backend: any StorageBackend) throws {
        self.folder = folder
        self.backend = backend
    }

    /// The keyed hash of `identifier` under this installation's secret.
    public func key(for identifier: SubjectIdentifier) -> SubjectKey {
        self.backend.protection.subjectKey(identifier)
    }

    /// Re-wraps every data key and the keyed-hash secret under `new` while the store serves, then retires
    /// the current KEK (the configuration must name `new` from the next start). The switch happens inside a
    /// write transaction, so every key made under the old KEK is in the key store before the re-wrap walks it.
    ///
    /// - Throws: ``BureauError`` when a key cannot be re-wrapped; running it again goes on where it stopped.
    public func rotateKeys(to new: any KeyEncryptionKey, batch: Int = 1000) throws -> DataProtection.Rotation {
        try self.write { _ in try self.backend.protection.beginRotation(to: new) }
        return try self.backend.protection.finishRotation(batch: batch)
    }

    /// The catalogue in force: the one an operator loaded, or the built-in one.
    public func catalogue() throws -> Catalogue {
        try self.read { try $0.storedCatalogue() } ?? .default
    }

    /// Runs `body` in a read transaction (a consistent snapshot that never waits for the writer).
    public func read<T>(_ body: (StoreSnapshot) throws -> T) throws -> T {
        try self.backend.read(body)
    }

    /// Runs `body` in one write transaction, committed (and synced) when it returns.
    ///
    /// Serving code writes through ``GroupCommitWriter`` instead, which shares commits between requests.
    public func write<T>(_ body: (StoreTransaction) throws -> T) throws -> T {
        try self.backend.write(body)
    }
}
