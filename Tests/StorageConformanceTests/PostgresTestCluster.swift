import BureauPostgres
import BureauStoreConformance
import Foundation
import PostgresHarness
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The cluster the backend's tests share: one PostgresHarness cluster, made at first use and removed when the test
/// process exits; each test gets a database of its own. It speaks TLS (the harness's TLS files), and the role
/// `bureau_login` (password `right-password`) must give its password, for the wrong-credentials test.
///
/// Over loopback, `postgres` is trusted without TLS and must present its client certificate over TLS; it listens
/// on 127.0.0.1 and 127.0.0.2 (a name the server certificate does not carry). Durability is off (fsync,
/// synchronous_commit): these tests check behaviour, not crash safety, and the cluster is thrown away.
final class PostgresTestCluster: Sendable {
    let cluster: PostgresCluster
    private let counter = Atomic<Int>(0)

    /// The loopback port it listens on.
    var port: Int { self.cluster.port }
    /// Its TLS files.
    var tls: PostgresCluster.TLSFiles? { self.cluster.tls }

    /// The cluster of this test process, started at first use; or why there is none (PostgreSQL not installed).
    static let shared: Result<PostgresTestCluster, any Error> = Result { try PostgresTestCluster() }

    private static let running = Mutex<PostgresCluster?>(nil)

    private init() throws {
        let cluster = try PostgresCluster.create(
            name: "conformance",
            settings: [
                "listen_addresses": "'127.0.0.1, 127.0.0.2'", "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                "max_connections": "200",
            ],
            tls: true,
            hostRules: [
                "hostssl all postgres 127.0.0.0/8 trust clientcert=verify-full",
                "host all bureau_login 127.0.0.0/8 scram-sha-256",
                "hostnossl all all 127.0.0.0/8 trust",
            ]
        )
        Self.running.withLock { $0 = cluster }
        atexit { PostgresTestCluster.running.withLock { $0 }?.remove() }
        try cluster.start()
        try cluster.execute("CREATE ROLE bureau_login LOGIN SUPERUSER PASSWORD 'right-password'")
        self.cluster = cluster
    }

    /// A new, empty database; its URL (as `postgres`, no TLS, over loopback).
    func newDatabase(prefix: String = "t") throws -> String {
        let name = "\(prefix)_\(getpid())_\(self.counter.wrappingAdd(1, ordering: .relaxed).oldValue)"
        try self.cluster.execute("CREATE DATABASE \(name)")
        return self.cluster.url(database: name)
    }

    /// Runs `sql` in the database `database` as `postgres`; returns what it printed (unaligned).
    @discardableResult
    func psql(_ database: String, _ sql: String) throws -> String {
        try self.cluster.query(sql, database: database)
    }

    /// A port on 127.0.0.1 that nothing listens on now.
    static func freePort() throws -> Int {
        try freeLoopbackPort()
    }
}

extension PostgresTestCluster {
    /// A PostgreSQL backend on a new, migrated database of the shared cluster, sealing with the test key file
    /// (its key store in the database's own `bureau_keys` schema); `folder` is the data folder.
    static func newBackend(folder: String = dataFolder) throws -> PostgresStorage {
        let location = try PostgresLocation(url: try Self.shared.get().newDatabase())
        try PostgresStorage.migrate(location)
        return try PostgresStorage(location: location, dataFolder: folder)
    }

    /// A data folder (never created) for backends that keep nothing in one, with the test key file installed.
    static let dataFolder = TestKeyFile.temporaryFolder("bureau-pg-data")
}
