public import BureauKeys
public import BureauStore
import BureauCore
public import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// The PostgreSQL key store: the data keys (salts of the master data key, or keys wrapped by the KEK in key
/// stores written before derived keys), the wrapped master data key and the wrapped keyed-hash secret in the schema
/// `bureau_keys`, of the data's database or (in production) of a database on another cluster, so that every
/// bureaud node opens what any node sealed while a dump or base backup of the data carries no key (DESIGN.md
/// beside this file, "Keys"). Each call is a transaction of its own, committed (and, with synchronous
/// replication, on the standby) before it returns: a key is stored before the data it sealed commits, and
/// destroyed only after the deletion committed.
public final class PostgresKeyStore: KeyStore {
    /// Where the key store is (its URL, without the password, in messages).
    public let location: PostgresLocation
    private let pool: ConnectionPool
    private let group: MultiThreadedEventLoopGroup

    /// The schema that holds the keys; never part of the data's dump (`bureau backup` excludes it).
    public static let schema = "bureau_keys"

    /// The key store's tables, made when absent (under an advisory lock, so that nodes starting together make
    /// them once): data keys by key id with their scope (column `wrapped`: either stored format, FORMAT.md), the
    /// one wrapped keyed-hash secret and the one wrapped master data key.
    static let statements = [
        "CREATE SCHEMA IF NOT EXISTS \(schema)",
        "CREATE TABLE IF NOT EXISTS \(schema).data_keys (key_id bytea PRIMARY KEY, scope bytea NOT NULL, wrapped bytea NOT NULL)",
        "CREATE INDEX IF NOT EXISTS data_keys_scope ON \(schema).data_keys (scope, key_id)",
        "CREATE TABLE IF NOT EXISTS \(schema).secret (one boolean PRIMARY KEY DEFAULT true CHECK (one), wrapped bytea NOT NULL)",
        "CREATE TABLE IF NOT EXISTS \(schema).master (one boolean PRIMARY KEY DEFAULT true CHECK (one), wrapped bytea NOT NULL)",
    ]

    /// Connects to the key store at `location`, making its schema when absent.
    ///
    /// - Throws: ``PostgresStoreError`` naming the problem (unreachable, refused, read-only).
    public init(location: PostgresLocation, logger: Logger = Logger(label: "bureau.postgres.keys")) throws {
        self.location = location
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.pool = ConnectionPool(location: location, configuration: try location.connectionConfiguration(), group: self.group, size: 4, logger: logger)
        do {
            try self.transaction { session in
                try session.run("SELECT pg_advisory_xact_lock(\(Self.lock))")
                for statement in Self.statements { try session.run(statement) }
            }
        } catch {
            self.pool.closeAll()
            try? self.group.syncShutdownGracefully()
            throw error
        }
    }

    deinit {
        self.pool.closeAll()
        try? self.group.syncShutdownGracefully()
    }

    /// The advisory lock the schema is made under ("BurKey").
    static let lock = 0x4275_724B_6579

    /// The installation's keyed-hash secret, unwrapped with `kek`: the stored one, or a new one stored when
    /// there is none and the data is empty (two nodes starting together store one, and both use it).
    ///
    /// - Throws: ``BureauError`` (failed precondition) when the data exists without a secret (the key store is
    ///   not the data's, or was lost), or the secret cannot be unwrapped with `kek` (naming the KEK it needs).
    public func keyedHashSecret(kek: any KeyEncryptionKey, dataExists: Bool) throws -> KeyedHashSecret {
        if let wrapped = try self.storedSecret() { return try Self.unwrap(wrapped, kek, at: self.location) }
        guard !dataExists else {
            throw BureauError(
                .failedPrecondition,
                "the key store at \(self.location) holds no keyed-hash secret: the data cannot be opened without its key store (restore the key store's backup, or give its URL as keys.store)"
            )
        }
        let secret = KeyedHashSecret.generate()
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: try kek.wrap(secret).bytes))
        try self.guarded { try self.pool.with { try $0.run("INSERT INTO \(Self.schema).secret (one, wrapped) VALUES (true, $1) ON CONFLICT (one) DO NOTHING", binds) } }
        guard let stored = try self.storedSecret() else { throw BureauError(.unavailable, "the key store at \(self.location) lost its keyed-hash secret") }
        return try Self.unwrap(stored, kek, at: self.location)
    }

    private func storedSecret() throws -> WrappedKey? {
        try self.guarded {
            try self.pool.with { session in
                try session.run("SELECT wrapped FROM \(Self.schema).secret WHERE one").first.map {
                    try WrappedKey(bytes: Array(try $0.decode(ByteBuffer.self).readableBytesView))
                }
            }
        }
    }

    private static func unwrap(_ wrapped: WrappedKey, _ kek: any KeyEncryptionKey, at location: PostgresLocation) throws -> KeyedHashSecret {
        do {
            return try kek.unwrapKeyedHashSecret(wrapped)
        } catch {
            throw BureauError(.failedPrecondition, "cannot unwrap the keyed-hash secret in the key store at \(location): \(error)")
        }
    }

    /// Shared by every node: a node asks it which key a scope has before sealing (another node may have shredded it).
    public var isShared: Bool { true }

    public func keys(of scope: KeyScopeID) throws -> [StoredDataKey] {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: scope.bytes))
        return try self.guarded {
            try self.pool.with { session in
                try session.run("SELECT wrapped FROM \(Self.schema).data_keys WHERE scope = $1 ORDER BY key_id", binds).map {
                    try StoredDataKey(bytes: Array(try $0.decode(ByteBuffer.self).readableBytesView))
                }
            }
        }
    }

    public func put(_ keys: [(scope: KeyScopeID, key: StoredDataKey)]) throws {
        guard !keys.isEmpty else { return }
        try self.transaction { session in
            // One statement per 1,000 keys (3 parameters each, well under the protocol's 65,535).
            for chunk in stride(from: 0, to: keys.count, by: 1000).map({ keys[$0..<min($0 + 1000, keys.count)] }) {
                var binds = PostgresBindings()
                var rows: [String] = []
                for (scope, key) in chunk {
                    binds.append(ByteBuffer(bytes: key.keyID.bytes))
                    binds.append(ByteBuffer(bytes: scope.bytes))
                    binds.append(ByteBuffer(bytes: key.bytes))
                    rows.append("($\(binds.count - 2), $\(binds.count - 1), $\(binds.count))")
                }
                try session.run(
                    "INSERT INTO \(Self.schema).data_keys (key_id, scope, wrapped) VALUES \(rows.joined(separator: ", ")) ON CONFLICT (key_id) DO UPDATE SET scope = EXCLUDED.scope, wrapped = EXCLUDED.wrapped",
                    binds
                )
            }
        }
    }

    public func destroy(_ keys: [(scope: KeyScopeID, id: KeyID)]) throws {
        guard !keys.isEmpty else { return }
        try self.transaction { session in
            for chunk in stride(from: 0, to: keys.count, by: 1000).map({ keys[$0..<min($0 + 1000, keys.count)] }) {
                var binds = PostgresBindings()
                var rows: [String] = []
                for (scope, id) in chunk {
                    binds.append(ByteBuffer(bytes: id.bytes))
                    binds.append(ByteBuffer(bytes: scope.bytes))
                    rows.append("(key_id = $\(binds.count - 1) AND scope = $\(binds.count))")
                }
                try session.run("DELETE FROM \(Self.schema).data_keys WHERE \(rows.joined(separator: " OR "))", binds)
            }
        }
    }

    public func allKeys() throws -> [(scope: KeyScopeID, key: StoredDataKey)] {
        try self.guarded {
            try self.pool.with { session in
                try session.run("SELECT scope, wrapped FROM \(Self.schema).data_keys ORDER BY scope, key_id").compactMap { row in
                    let (scope, wrapped) = try row.decode((ByteBuffer, ByteBuffer).self)
                    guard let id = KeyScopeID(bytes: scope.readableBytesView) else { return nil }
                    return (id, try StoredDataKey(bytes: Array(wrapped.readableBytesView)))
                }
            }
        }
    }

    public func scope(ofKey id: KeyID) throws -> KeyScopeID? {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: id.bytes))
        return try self.guarded {
            try self.pool.with { session in
                try session.run("SELECT scope FROM \(Self.schema).data_keys WHERE key_id = $1", binds).first.flatMap {
                    KeyScopeID(bytes: try $0.decode(ByteBuffer.self).readableBytesView)
                }
            }
        }
    }

    /// Keeps the installation's secret: a rotation re-wraps it here, for every node.
    public func replaceWrappedSecret(_ wrapped: WrappedKey) throws -> Bool {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: wrapped.bytes))
        try self.transaction { try $0.run("UPDATE \(Self.schema).secret SET wrapped = $1 WHERE one", binds) }
        return true
    }

    public func rewrap(
        after cursor: [UInt8]?, limit: Int, _ transform: (StoredDataKey) throws -> StoredDataKey?
    ) throws -> (rewrapped: Int, next: [UInt8]?) {
        var result: (rewrapped: Int, next: [UInt8]?) = (0, nil)
        try self.transaction { session in
            // Rows locked in key id order, so that a key destroyed meanwhile by another node is never put back.
            var binds = PostgresBindings()
            binds.append(ByteBuffer(bytes: cursor ?? []))
            let rows = try session.run(
                "SELECT key_id, wrapped FROM \(Self.schema).data_keys WHERE key_id > $1 ORDER BY key_id LIMIT \(limit) FOR UPDATE", binds
            ).map { row -> ([UInt8], StoredDataKey) in
                let (id, wrapped) = try row.decode((ByteBuffer, ByteBuffer).self)
                return (Array(id.readableBytesView), try StoredDataKey(bytes: Array(wrapped.readableBytesView)))
            }
            var replaced = 0
            for (id, wrapped) in rows {
                guard let new = try transform(wrapped) else { continue }
                var update = PostgresBindings()
                update.append(ByteBuffer(bytes: new.bytes))
                update.append(ByteBuffer(bytes: id))
                try session.run("UPDATE \(Self.schema).data_keys SET wrapped = $1 WHERE key_id = $2", update)
                replaced += 1
            }
            result = (replaced, rows.count < limit ? nil : rows.last?.0)
        }
        return result
    }

    public func masterKey() throws -> WrappedKey? {
        try self.guarded {
            try self.pool.with { session in
                try session.run("SELECT wrapped FROM \(Self.schema).master WHERE one").first.map {
                    try WrappedKey(bytes: Array(try $0.decode(ByteBuffer.self).readableBytesView))
                }
            }
        }
    }

    /// Two nodes starting together on a new key store both insert one; the first stays and both use it.
    public func addMasterKey(_ wrapped: WrappedKey) throws -> WrappedKey {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: wrapped.bytes))
        try self.guarded { try self.pool.with { try $0.run("INSERT INTO \(Self.schema).master (one, wrapped) VALUES (true, $1) ON CONFLICT (one) DO NOTHING", binds) } }
        guard let stored = try self.masterKey() else { throw BureauError(.unavailable, "the key store at \(self.location) lost its master data key") }
        return stored
    }

    public func replaceMasterKey(_ wrapped: WrappedKey) throws {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: wrapped.bytes))
        try self.transaction { try $0.run("UPDATE \(Self.schema).master SET wrapped = $1 WHERE one", binds) }
    }

    /// The number of keys held.
    public func count() throws -> Int {
        try self.guarded { try self.pool.with { try $0.run("SELECT count(*) FROM \(Self.schema).data_keys").first?.decode(Int.self) ?? 0 } }
    }

    /// Runs `body` in one transaction of its own, committed when it returns.
    private func transaction(_ body: (Session) throws -> Void) throws {
        try self.guarded {
            try self.pool.with { session in
                try session.run("BEGIN")
                do {
                    try body(session)
                    try session.run("COMMIT")
                } catch {
                    _ = try? session.run("ROLLBACK")
                    throw error
                }
            }
        }
    }

    private func guarded<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresStoreError {
            throw BureauError(.unavailable, "the key store failed: \(error.message)")
        } catch let error as KeyError {
            throw BureauError(.internal, "the key store holds a damaged key: \(error)")
        }
    }
}
