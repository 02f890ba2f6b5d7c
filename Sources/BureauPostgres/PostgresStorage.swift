public import BureauCore
public import BureauStore
public import BureauKeys
import Dispatch
import Foundation
public import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// The PostgreSQL backend: both stores in one PostgreSQL database, so that a change and its log entry commit in
/// one transaction, on any number of bureaud nodes at once. The schema, the locks and why the calls block are in
/// DESIGN.md beside this file.
///
/// ```swift
/// let location = try PostgresLocation(url: "postgresql://bureau@db.example:5432/bureau?sslrootcert=ca.pem")
/// try PostgresStorage.migrate(location, logger: logger)        // `bureau store migrate`
/// let store = try Store(folder: "data", backend: try PostgresStorage(location: location, keys: .file("/etc/bureau/kek.key"), dataFolder: "data"))
/// ```
///
/// Every personal value is sealed exactly as the LMDB backend seals it (``StoredValues``, record ids as keyed
/// tokens in keys, crypto-shredding on delete and purge); the data keys live in a ``PostgresKeyStore`` that
/// every node shares, apart from the data (DESIGN.md, "Keys").
public final class PostgresStorage: StorageBackend {
    /// Where the database is (its URL, without the password, in messages).
    public let location: PostgresLocation
    private let reads: ConnectionPool
    private let writes: ConnectionPool
    private let group: MultiThreadedEventLoopGroup
    /// The keys values are sealed with, and the PostgreSQL key store.
    public let protection: DataProtection
    /// Which node of those sharing the database runs the background work (AdvisoryLease.swift).
    let lease: AdvisoryLease

    /// Connects to the database at `location` and checks it before anything is served: it holds the schema
    /// version this build knows, and it takes writes (a primary, not a read-only standby); then opens the KEK
    /// `keys` names (refused inside `dataFolder`, as for LMDB), the key store (schema `bureau_keys` of the
    /// database `keyStore` names, by default of the data's own database) and the keyed-hash secret in it.
    ///
    /// - Throws: ``PostgresStoreError`` with a message naming the problem (unreachable, refused login, no or
    ///   another schema version, read-only); ``BureauError`` (failed precondition) naming a key problem (no
    ///   KEK, the wrong one, data without its key store); nothing is written.
    public init(
        location: PostgresLocation, keys: KeyConfiguration = .environment, keyStore: PostgresLocation? = nil, dataFolder: String,
        logger: Logger = Logger(label: "bureau.postgres")
    ) throws {
        self.location = location
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let configuration = try location.connectionConfiguration()
        let reads = ConnectionPool(location: location, configuration: configuration, group: group, size: location.readConnections, logger: logger)
        self.reads = reads
        let writes = ConnectionPool(location: location, configuration: configuration, group: group, size: 2, logger: logger)
        self.writes = writes
        let lease = AdvisoryLease(location: location, configuration: configuration, group: group, logger: logger)
        self.lease = lease
        do {
            try writes.with { connection in
                try Self.checkSchema(connection, at: location)
                let readOnly = try connection.run("SELECT current_setting('transaction_read_only')").first?.decode(String.self)
                if readOnly == "on" {
                    throw PostgresStoreError(
                        "the database at \(location) is read-only (a standby, or default_transaction_read_only is on); bureaud writes to a primary",
                        kind: .readOnly
                    )
                }
            }
            let dataExists = try writes.with { connection in
                try connection.run("SELECT (SELECT size FROM log_head WHERE one) > 0 OR EXISTS (SELECT 1 FROM subjects)").first?.decode(Bool.self) ?? false
            }
            let kek = try keys.open(dataFolder: dataFolder)
            let store = try PostgresKeyStore(location: keyStore ?? location, logger: logger)
            let secret = try store.keyedHashSecret(kek: kek, dataExists: dataExists)
            self.protection = try DataProtection(keyEncryptionKey: kek, secret: secret, keyStore: store, folder: dataFolder)
        } catch {
            lease.release()
            reads.closeAll()
            writes.closeAll()
            try? group.syncShutdownGracefully()
            throw error
        }
        try self.sweepShredded()
    }

    deinit {
        self.shutdown()
    }

    private func shutdown() {
        self.lease.release()
        self.reads.closeAll()
        self.writes.closeAll()
        try? self.group.syncShutdownGracefully()
    }

    // MARK: Schema

    /// Brings the database at `location` to the schema this build knows, applying the missing migrations in one
    /// transaction under an advisory lock (two `migrate` runs at once apply each step once).
    ///
    /// - Returns: the version before and after.
    /// - Throws: ``PostgresStoreError`` when the database cannot be reached, refuses, is read-only, or holds a
    ///   newer schema than this build knows (nothing is changed then).
    @discardableResult
    public static func migrate(_ location: PostgresLocation, logger: Logger = Logger(label: "bureau.postgres")) throws -> (from: Int, to: Int) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let pool = ConnectionPool(location: location, configuration: try location.connectionConfiguration(), group: group, size: 1, logger: logger)
        defer { pool.closeAll() }
        return try pool.with { connection in
            try connection.run("BEGIN")
            do {
                try connection.run("SELECT pg_advisory_xact_lock(\(Self.migrationLock))")
                try connection.run(
                    "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
                )
                let from = try connection.run("SELECT coalesce(max(version), 0) FROM schema_version").first?.decode(Int.self) ?? 0
                guard from <= Schema.current else { throw Self.tooNew(from, at: location) }
                for migration in Schema.migrations where migration.version > from {
                    for statement in migration.statements { try connection.run(statement) }
                    var binds = PostgresBindings()
                    binds.append(migration.version)
                    try connection.run("INSERT INTO schema_version (version) VALUES ($1)", binds)
                }
                try connection.run("COMMIT")
                return (from, Schema.current)
            } catch {
                _ = try? connection.run("ROLLBACK")
                throw error
            }
        }
    }

    /// The advisory lock `migrate` holds (any constant no other tool of this database uses).
    static let migrationLock = 0x4275_7265_6175  // "Bureau"

    private static func tooNew(_ version: Int, at location: PostgresLocation) -> PostgresStoreError {
        PostgresStoreError(
            "the database at \(location) has schema version \(version), newer than the \(Schema.current) this build knows: upgrade bureau before using it",
            kind: .schema
        )
    }

    private static func checkSchema(_ connection: Session, at location: PostgresLocation) throws {
        let exists = try connection.run("SELECT to_regclass('schema_version') IS NOT NULL").first?.decode(Bool.self) ?? false
        guard exists else {
            throw PostgresStoreError(
                "the database at \(location) holds no Bureau schema: run `bureau store migrate --store URL` first", kind: .schema
            )
        }
        let version = try connection.run("SELECT coalesce(max(version), 0) FROM schema_version").first?.decode(Int.self) ?? 0
        if version > Schema.current { throw Self.tooNew(version, at: location) }
        if version < Schema.current {
            throw PostgresStoreError(
                "the database at \(location) has schema version \(version), older than the \(Schema.current) this build needs: run `bureau store migrate --store URL`",
                kind: .schema
            )
        }
    }

    // MARK: Transactions

    /// Runs `body` in a REPEATABLE READ, READ ONLY transaction: one snapshot that never waits for a writer.
    public func read<T>(_ body: (any ReadOnlyStoreTransaction) throws -> T) throws -> T {
        do {
            return try self.reads.with { connection in
                try connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                do {
                    let result = try body(PostgresTransaction(connection, depth: 0, protection: self.protection, changes: nil))
                    try connection.run("COMMIT")
                    return result
                } catch {
                    _ = try? connection.run("ROLLBACK")
                    throw error
                }
            }
        } catch let error as PostgresStoreError {
            throw error.status
        }
    }

    /// Runs `body` in one transaction that first locks the log's head row, so that writers of every node run one
    /// at a time and the log's indexes are handed out once; committed when `body` returns. The data keys it made
    /// are committed to the key store just before its COMMIT; the keys of what it deleted are destroyed just
    /// after (a key the data never used is harmless; data without its key would be lost).
    public func write<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T {
        let changes = KeyChanges()
        let result: T
        do {
            result = try self.writes.with { connection in
                try connection.run("BEGIN ISOLATION LEVEL READ COMMITTED")
                do {
                    try connection.run("SELECT size FROM log_head WHERE one FOR UPDATE")
                    let result = try body(PostgresTransaction(connection, depth: 0, protection: self.protection, changes: changes))
                    try self.protection.persist(changes)
                    // The keys to destroy after this commit are recorded with it, so that a crash before they are
                    // destroyed leaves them to the sweep at the next start; those destroyed since are forgotten.
                    try Self.shredding(connection, record: changes.shreddedKeys, forget: self.protection.takeDestroyed())
                    try connection.run("COMMIT")
                    return result
                } catch {
                    _ = try? connection.run("ROLLBACK")
                    throw error
                }
            }
        } catch {
            self.protection.abandoned(changes)
            if let error = error as? PostgresStoreError { throw error.status }
            throw error
        }
        try self.protection.committed(changes)
        return result
    }

    /// Adds `record` to the table `shredding` and removes `forget` from it (both scope id + key id), in chunks.
    private static func shredding(_ connection: Session, record: [[UInt8]], forget: [[UInt8]]) throws {
        for (keys, adding) in [(record, true), (forget, false)] where !keys.isEmpty {
            for start in stride(from: 0, to: keys.count, by: 1000) {
                var binds = PostgresBindings()
                for key in keys[start..<min(start + 1000, keys.count)] { binds.append(ByteBuffer(bytes: key)) }
                let placeholders = (1...binds.count).map { adding ? "($\($0))" : "$\($0)" }.joined(separator: ", ")
                try connection.run(
                    adding
                        ? "INSERT INTO shredding (key) VALUES \(placeholders) ON CONFLICT (key) DO NOTHING"
                        : "DELETE FROM shredding WHERE key IN (\(placeholders))",
                    binds
                )
            }
        }
    }

    /// Destroys the data keys of committed deletions that were never destroyed (a crash, or a key store that
    /// failed, between a deletion's commit and its keys' destruction), then forgets them; returns how many. Run
    /// at start by every node. It cannot race a write about to commit: it destroys only keys a committed deletion
    /// recorded (table `shredding`, written in the deletion's own transaction), never a key merely without data,
    /// and a key id is never reused; two nodes sweeping at once destroy the same keys twice, which is harmless.
    @discardableResult
    public func sweepShredded() throws -> Int {
        do {
            let pending = try self.writes.with { connection in
                try connection.run("SELECT key FROM shredding").map { Array(try $0.decode(ByteBuffer.self).readableBytesView) }
            }
            guard !pending.isEmpty else { return 0 }
            let keys = pending.compactMap { k in KeyScopeID(bytes: k.prefix(16)).flatMap { scope in KeyID(bytes: k.dropFirst(16)).map { (scope, $0) } } }
            try self.protection.keyStore.destroy(keys)
            try self.writes.with { connection in try Self.shredding(connection, record: [], forget: pending) }
            return keys.count
        } catch let error as PostgresStoreError {
            throw error.status
        }
    }

    /// The status of a PostgreSQL or connection failure, or nil for any other error (a request's own refusal).
    public func storageFailure(_ error: any Error) -> BureauError? {
        switch error {
        case let error as PostgresStoreError: error.status
        case let error as PSQLError: PostgresStoreError(error, at: self.location).status
        default: nil
        }
    }

    // MARK: Operations

    /// Takes a consistent dump with `pg_dump` (custom format, its own snapshot; writers go on; without the key
    /// store's schema) into `destination/postgresql.dump`, mode 0600, with `RESTORE.txt` saying how to restore it with `pg_restore`.
    /// For a physical copy of a whole cluster (and point-in-time recovery) use `pg_basebackup` on the server.
    ///
    /// - Throws: ``BureauError`` (failed precondition) when `pg_dump` is not installed; (unavailable) when it fails.
    public func hotCopy(into destination: String) throws {
        guard let tool = Self.tool("pg_dump") else {
            throw BureauError(.failedPrecondition, "pg_dump is not installed (Debian: postgresql-client); it takes the PostgreSQL store's backups")
        }
        let file = (destination as NSString).appendingPathComponent("postgresql.dump")
        // Made first, mode 0600: pg_dump writes into it without widening it.
        guard FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw BureauError(.unavailable, "cannot create \(file)")
        }
        var environment = ProcessInfo.processInfo.environment
        if let password = self.location.password { environment["PGPASSWORD"] = password }
        let outcome = try ToolProcess.run(
            tool,
            // The key store's schema never goes into the data's dump, even where it shares the database (DESIGN.md,
            // "Keys"); uncompressed, since the personal values are ciphertext, which does not compress.
            ["--format=custom", "--compress=0", "--no-password", "--exclude-schema=\(PostgresKeyStore.schema)", "--file=\(file)", "--dbname=\(self.location.libpqURL)"],
            environment: environment
        )
        guard outcome.status == 0 else {
            throw BureauError(.unavailable, "pg_dump of \(self.location) failed: \(outcome.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let note = """
            A dump of the Bureau store at \(self.location), taken with pg_dump (custom format) in one snapshot.
            Restore it into a new, empty database:
                createdb NEWDB && pg_restore --no-owner --dbname=postgresql://USER@HOST:PORT/NEWDB postgresql.dump
            then run bureaud with --store pointing at NEWDB. The dump holds ciphertext only: it opens with the KEK and
            the key store (schema \(PostgresKeyStore.schema), never in this dump; give keys.store as its database's URL
            when it is not NEWDB's). The last signed checkpoint beside this file belongs with it. For a physical copy of the cluster, and point-in-time recovery, use pg_basebackup and WAL
            archiving on the server instead.

            """
        try Array(note.utf8).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: (destination as NSString).appendingPathComponent("RESTORE.txt"))) }
    }

    /// The database's size (`pg_database_size`) as used bytes; PostgreSQL has no fixed capacity that a client can
    /// see (its disk is the server's), so the capacity is reported as the largest value.
    public func statistics() throws -> StorageStatistics {
        try self.read { txn in
            let transaction = txn as! PostgresTransaction
            let used = try transaction.connection.run("SELECT pg_database_size(current_database())").first?.decode(Int.self) ?? 0
            return StorageStatistics(capacityBytes: .max, usedBytes: used)
        }
    }

    /// The path of one of PostgreSQL's client tools: on the PATH, else the newest in Debian's versioned folders.
    package static func tool(_ name: String) -> String? {
        let fm = FileManager.default
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(folder)/\(name)"
            if fm.isExecutableFile(atPath: path) { return path }
        }
        let versions = ((try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted(by: >)
        return versions.map { "/usr/lib/postgresql/\($0)/bin/\(name)" }.first { fm.isExecutableFile(atPath: $0) }
    }
}

/// A failure of PostgreSQL or of the connection to it, with a message fit for an operator (never the password).
public struct PostgresStoreError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, broadly.
    public enum Kind: Sendable {
        /// The connection URL or a TLS file.
        case configuration
        /// The server cannot be reached, or the connection was lost.
        case connection
        /// The server refused the login (user, password, database, certificate).
        case login
        /// No schema, or a version this build does not know.
        case schema
        /// The database takes no writes.
        case readOnly
        /// The server's disk is full.
        case full
        /// Any other failure of a statement.
        case statement
    }

    public var message: String
    public var kind: Kind

    public init(_ message: String, kind: Kind) {
        self.message = message
        self.kind = kind
    }

    public var description: String { self.message }

    /// The status a request sees: UNAVAILABLE (nothing of the failed transaction was kept).
    var status: BureauError {
        switch self.kind {
        case .full: BureauError(.unavailable, "storage device is full; nothing was written")
        default: BureauError(.unavailable, "storage failed: \(self.message)")
        }
    }

    /// Describes any error of postgres-nio or of the connection under it.
    init(_ error: any Error, at location: PostgresLocation, connecting: Bool = false) {
        if let error = error as? PostgresStoreError {
            self = error
            return
        }
        guard let error = error as? PSQLError else {
            self.init(
                connecting ? "cannot connect to PostgreSQL at \(location): \(error)" : "the connection to PostgreSQL at \(location) failed: \(error)",
                kind: .connection
            )
            return
        }
        if error.code == .server, let info = error.serverInfo {
            let state = info[.sqlState] ?? ""
            let message = info[.message] ?? "an error"
            let text = "PostgreSQL at \(location): \(message) (SQLSTATE \(state))"
            switch state {
            case "28P01", "28000", "3D000", "42501": self.init(text, kind: .login)
            case "25006": self.init(text, kind: .readOnly)
            case "53100": self.init(text, kind: .full)
            case _ where state.hasPrefix("08") || state.hasPrefix("57"): self.init(text, kind: .connection)
            default: self.init(text, kind: .statement)
            }
            return
        }
        let underlying = error.underlying.map { ": \($0)" } ?? ""
        switch error.code {
        case .sslUnsupported:
            self.init("PostgreSQL at \(location) does not offer TLS; enable ssl on the server or use sslmode=disable on a loopback", kind: .connection)
        case .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest:
            self.init("TLS with PostgreSQL at \(location) failed\(underlying)", kind: .connection)
        case .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError:
            self.init("PostgreSQL at \(location) refused the login (\(error.code))\(underlying): check the user and the password", kind: .login)
        default:
            self.init(
                connecting
                    ? "cannot connect to PostgreSQL at \(location) (\(error.code))\(underlying)"
                    : "the connection to PostgreSQL at \(location) failed (\(error.code))\(underlying)",
                kind: .connection
            )
        }
    }
}

/// A few connections of one kind (reads, or writes) that the backend owns. The store's calls are synchronous
/// (the writer runs on its own thread, services read from their handlers), so a call takes a connection, runs
/// its statements and `wait()`s for each on the pool's event loop: never on an event-loop thread itself.
final class ConnectionPool: Sendable {
    let location: PostgresLocation
    let configuration: PostgresConnection.Configuration
    let group: any EventLoopGroup
    let logger: Logger
    private let idle = Mutex<[Session]>([])
    /// Connections whose close never completed: kept, because postgres-nio asserts a connection is closed
    /// before it is released.
    private let unclosed = Mutex<[PostgresConnection]>([])
    private let slots: DispatchSemaphore
    private let nextID = Atomic<Int>(1)

    init(location: PostgresLocation, configuration: PostgresConnection.Configuration, group: any EventLoopGroup, size: Int, logger: Logger) {
        self.location = location
        self.configuration = configuration
        self.group = group
        self.slots = DispatchSemaphore(value: size)
        self.logger = logger
    }

    /// Runs `body` with a session of the pool (a new connection when none is idle or the idle one was closed);
    /// the session goes back unless its connection failed. Errors of PostgreSQL come out as ``PostgresStoreError``.
    func with<T>(_ body: (Session) throws -> T) throws -> T {
        self.slots.wait()
        defer { self.slots.signal() }
        var session = self.idle.withLock { $0.popLast() }
        if let open = session, open.connection.isClosed || open.broken { session = nil }
        let current = try session ?? self.connect()
        defer {
            if current.broken || current.connection.isClosed {
                self.close(current.connection)
            } else {
                self.idle.withLock { $0.append(current) }
            }
        }
        do {
            return try body(current)
        } catch let error as PSQLError {
            let failure = PostgresStoreError(error, at: self.location)
            if failure.isStale { current.broken = true }
            throw failure
        } catch let error as PostgresStoreError {
            if error.isStale { current.broken = true }
            throw error
        }
    }

    private func connect() throws -> Session {
        let id = self.nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        do {
            return try PrimaryConnector.connect(to: self.location, configuration: self.configuration, on: self.group, id: id, logger: self.logger)
        } catch {
            throw PostgresStoreError(error, at: self.location, connecting: true)
        }
    }

    /// Closes `connection`, waiting a little; one whose close does not complete is kept (see ``unclosed``).
    private func close(_ connection: PostgresConnection) {
        let closed = connection.eventLoop.makePromise(of: Void.self)
        connection.close().cascade(to: closed)
        let timer = connection.eventLoop.scheduleTask(in: .seconds(2)) { closed.fail(ChannelError.ioOnClosedChannel) }
        defer { timer.cancel() }
        if (try? closed.futureResult.wait()) == nil || !connection.isClosed {
            self.unclosed.withLock { $0.append(connection) }
        }
    }

    func closeAll() {
        let sessions = self.idle.withLock { idle in
            defer { idle.removeAll() }
            return idle
        }
        for session in sessions { self.close(session.connection) }
    }
}

/// One connection of a pool, used by one call at a time, with the deadline every statement gets.
final class Session: @unchecked Sendable {
    let connection: PostgresConnection
    let timeout: TimeAmount
    /// Whether the connection failed under a statement (it is closed, not reused).
    var broken = false

    init(_ connection: PostgresConnection, timeout: TimeAmount) {
        self.connection = connection
        self.timeout = timeout
    }

    /// Runs one statement and waits for all its rows (from a thread that is not an event loop's), at most the
    /// deadline: a connection that went away without a word must not hold a request (or the writer) forever.
    /// - Throws: `PSQLError` (the pool names the server in it, see ``ConnectionPool/with(_:)``), or
    ///   ``PostgresStoreError`` when the connection failed under it or the deadline passed.
    @discardableResult
    func run(_ sql: String, _ binds: PostgresBindings = PostgresBindings()) throws -> [PostgresRow] {
        guard !self.connection.isClosed, !self.broken else {
            self.broken = true
            throw PostgresStoreError("the connection to PostgreSQL was closed", kind: .connection)
        }
        let loop = self.connection.eventLoop
        let answered = loop.makePromise(of: PostgresQueryResult.self)
        self.connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: self.connection.logger).cascade(to: answered)
        let timeout = self.timeout
        let timer = loop.scheduleTask(in: timeout) { answered.fail(DeadlinePassed()) }
        defer { timer.cancel() }
        do {
            return try answered.futureResult.wait().rows
        } catch let error as PSQLError {
            throw error
        } catch is DeadlinePassed {
            self.broken = true
            throw PostgresStoreError("PostgreSQL did not answer within \(timeout.nanoseconds / 1_000_000_000) s (query_timeout)", kind: .connection)
        } catch {
            self.broken = true
            throw PostgresStoreError("the connection to PostgreSQL failed: \(error)", kind: .connection)
        }
    }

    private struct DeadlinePassed: Error {}
}
