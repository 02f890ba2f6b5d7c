import BureauPostgres
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The smallest PostgreSQL starter the backend's tests need: one throwaway cluster made with initdb in a scratch
/// folder (never the system's), started once per test process on a free loopback port and stopped when it exits,
/// as the `postgres` user when the tests run as root (initdb refuses root). Each test gets a database of its own.
///
/// Loopback logins are trusted for `postgres`; the role `bureau_login` (password `right-password`) must give
/// its password, for the wrong-credentials test. Durability is off (fsync, synchronous_commit): these tests
/// check behaviour, not crash safety, and the cluster is thrown away.
final class PostgresTestCluster: Sendable {
    let folder: String
    let port: Int
    let bin: String
    /// The folder of the TLS files (ca.pem; server.pem for localhost and 127.0.0.1; client.pem/.key for the user
    /// `postgres`; other-ca.pem, a CA that issued none of them), when openssl made them.
    let tls: (folder: String, ca: String)?
    private let user: String?
    private let counter = Atomic<Int>(0)

    /// The cluster of this test process, started at first use; nil (with the reason) when PostgreSQL's server
    /// is not installed.
    static let shared: Result<PostgresTestCluster, any Error> = Result { try PostgresTestCluster() }

    private init() throws {
        guard let bin = Self.binFolder() else {
            throw Failure("PostgreSQL's server is not installed (Debian: postgresql); make test-deps installs it")
        }
        self.bin = bin
        let user = getuid() == 0 ? "postgres" : nil
        self.user = user
        Self.stopLeftovers(bin: bin, user: user)
        let folder = "/var/tmp/bureau-pg-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        self.folder = folder
        try FileManager.default.createDirectory(atPath: folder + "/sock", withIntermediateDirectories: true)
        if let user { try Self.execute("/bin/chown", ["-R", user, folder]) }
        try Self.asServer(user, "\(bin)/initdb", ["-D", folder + "/data", "--username=postgres", "--auth=trust", "--encoding=UTF8", "--no-locale"])
        let tlsFolder = folder + "/tls"
        self.tls = (try? Self.makeCertificates(in: tlsFolder, owner: user)).map { (tlsFolder, tlsFolder + "/ca.pem") }
        let ssl = self.tls == nil ? "" : """
            ssl = on
            ssl_cert_file = '\(tlsFolder)/server.pem'
            ssl_key_file = '\(tlsFolder)/server.key'
            ssl_ca_file = '\(tlsFolder)/ca.pem'

            """
        let settings = ssl + """
            listen_addresses = '127.0.0.1, 127.0.0.2'
            unix_socket_directories = '\(folder)/sock'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 200
            shared_buffers = 32MB

            """
        try Self.append(settings, to: folder + "/data/postgresql.conf")
        try Self.write(user, 
            """
            local all all trust
            hostssl all postgres 127.0.0.0/8 trust clientcert=verify-full
            host all bureau_login 127.0.0.0/8 scram-sha-256
            hostnossl all all 127.0.0.0/8 trust

            """, to: folder + "/data/pg_hba.conf"
        )
        var port = 0
        for _ in 0..<5 {
            port = try Self.freePort()
            do {
                try Self.asServer(user, "\(bin)/pg_ctl", ["-D", folder + "/data", "-l", folder + "/postgres.log", "-w", "-t", "60", "-o", "-p \(port)", "start"])
                break
            } catch {
                port = 0
            }
        }
        guard port != 0 else { throw Failure("PostgreSQL did not start; see \(folder)/postgres.log") }
        self.port = port
        Self.running.withLock { $0 = (self.folder, self.bin, self.user) }
        atexit { PostgresTestCluster.stopAtExit() }
        try self.psql("postgres", "CREATE ROLE bureau_login LOGIN SUPERUSER PASSWORD 'right-password'")
    }

    private static let running = Mutex<(folder: String, bin: String, user: String?)?>(nil)

    private static func stopAtExit() {
        guard let (folder, bin, user) = running.withLock({ $0 }) else { return }
        let stop = [bin + "/pg_ctl", "-D", folder + "/data", "-m", "immediate", "-w", "stop"]
        _ = try? execute(user == nil ? stop[0] : "/usr/sbin/runuser", user == nil ? Array(stop.dropFirst()) : ["-u", user!, "--"] + stop)
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A CA, a server certificate for localhost and 127.0.0.1, a client certificate for `postgres`, and another CA.
    private static func makeCertificates(in folder: String, owner: String?) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let openssl = "/usr/bin/openssl"
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try execute(openssl, ["req", "-x509"] + key + ["-keyout", "\(folder)/\(ca).key", "-out", "\(folder)/\(ca).pem", "-days", "2", "-subj", "/CN=bureau test \(ca)"])
        }
        try Data("subjectAltName=DNS:localhost,IP:127.0.0.1\n".utf8).write(to: URL(fileURLWithPath: folder + "/server.ext"))
        for (name, subject, extensions) in [("server", "/CN=localhost", ["-extfile", folder + "/server.ext"]), ("client", "/CN=postgres", [])] {
            try execute(openssl, ["req"] + key + ["-keyout", "\(folder)/\(name).key", "-out", "\(folder)/\(name).csr", "-subj", subject])
            try execute(
                openssl,
                ["x509", "-req", "-in", "\(folder)/\(name).csr", "-CA", "\(folder)/ca.pem", "-CAkey", "\(folder)/ca.key", "-CAcreateserial",
                 "-out", "\(folder)/\(name).pem", "-days", "2"] + extensions
            )
        }
        if let owner { try execute("/bin/chown", ["-R", owner, folder]) }
        try execute("/bin/chmod", ["600", folder + "/server.key"])
    }

    /// Stops and removes the clusters of test processes that died without stopping theirs (a crash).
    private static func stopLeftovers(bin: String, user: String?) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/var/tmp")) ?? [] where name.hasPrefix("bureau-pg-test-") {
            guard let pid = Int32(name.split(separator: "-")[3]), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let folder = "/var/tmp/" + name
            _ = try? asServer(user, bin + "/pg_ctl", ["-D", folder + "/data", "-m", "immediate", "-w", "stop"])
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    /// A new, empty database; its URL (as `postgres`, no TLS, over loopback).
    func newDatabase(prefix: String = "t") throws -> String {
        let name = "\(prefix)_\(getpid())_\(self.counter.wrappingAdd(1, ordering: .relaxed).oldValue)"
        try self.psql("postgres", "CREATE DATABASE \(name)")
        return "postgresql://postgres@127.0.0.1:\(self.port)/\(name)?sslmode=disable"
    }

    /// Runs `sql` in the database `database` with psql, as `postgres`; returns what it printed (unaligned).
    @discardableResult
    func psql(_ database: String, _ sql: String) throws -> String {
        try Self.execute(self.bin + "/psql", ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", "\(self.port)", "-U", "postgres", "-d", database, "-c", sql])
    }

    private static func asServer(_ user: String?, _ tool: String, _ arguments: [String]) throws {
        if let user {
            try Self.execute("/usr/sbin/runuser", ["-u", user, "--", tool] + arguments)
        } else {
            try Self.execute(tool, arguments)
        }
    }

    private static func append(_ text: String, to file: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    private static func write(_ user: String?, _ text: String, to file: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        if let user { try Self.execute("/bin/chown", [user, file]) }
    }

    @discardableResult
    static func execute(_ tool: String, _ arguments: [String]) throws -> String {
        let outcome = try ToolProcess.run(tool, arguments)
        let text = outcome.output
        guard outcome.status == 0 else {
            throw Failure("\(tool) \(arguments.joined(separator: " ")) failed (\(outcome.status)): \(text)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The newest installed server's programs (Debian keeps them in /usr/lib/postgresql/VERSION/bin).
    static func binFolder() -> String? {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted(by: >)
        return versions.map { "/usr/lib/postgresql/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    /// A port on 127.0.0.1 that nothing listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw Failure("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}

extension PostgresTestCluster {
    /// A PostgreSQL backend on a new, migrated database of the shared cluster.
    static func newBackend() throws -> PostgresStorage {
        let location = try PostgresLocation(url: try Self.shared.get().newDatabase())
        try PostgresStorage.migrate(location)
        return try PostgresStorage(location: location)
    }
}
