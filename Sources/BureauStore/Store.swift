public import BureauCore
public import Crypto

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

        /// Opens another backend than the embedded one (the PostgreSQL store of `--store postgresql://...`), given
        /// the data folder; nil for LMDB in `<folder>/lmdb`.
        public var openBackend: (@Sendable (_ folder: String) throws -> any StorageBackend)?

        public init(mapSize: Int = 4 << 30, noSync: Bool = false, openBackend: (@Sendable (_ folder: String) throws -> any StorageBackend)? = nil) {
            self.mapSize = mapSize
            self.noSync = noSync
            self.openBackend = openBackend
        }

        public static var defaults: Configuration { Configuration() }
    }

    /// The storage engine.
    public let backend: any StorageBackend
    /// The secret keying subject hashes.
    public let secret: SymmetricKey
    /// The data folder (the secret, the signing keys and the last signed checkpoint live here).
    public let folder: String

    /// A store over `backend`, with the secret of the data folder `folder` (made when absent).
    public init(folder: String, backend: any StorageBackend) throws {
        self.folder = folder
        self.secret = try InstallationSecret.loadOrCreate(in: folder)
        self.backend = backend
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
