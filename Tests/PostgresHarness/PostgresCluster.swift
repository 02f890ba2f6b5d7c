import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL cluster for tests: made with initdb in a scratch folder of its own (never the
/// system's cluster), listening on a free loopback port over TCP only, started and stopped with pg_ctl.
///
/// When the tests run as root (CI does), every server binary runs as the `postgres` user, since initdb and
/// postgres refuse root, and the scratch folder is handed to that user. Clients (psql) run as the caller.
///
/// Everything the cluster is lives on disk (its data folder, its port, the postmaster's pid in
/// `postmaster.pid`), so the value is cheap to copy and every method asks the cluster itself.
///
/// ```swift
/// try await PostgresCluster.withReplicatedPair { primary, standby in
///     try primary.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
///     #expect(try standby.query("SELECT x FROM t") == "1")   // synchronous: already there
///     try primary.kill()
///     try standby.promote()
/// }
/// ```
package struct PostgresCluster: Sendable {
    /// How clients prove who they are over TCP.
    package struct Authentication: Sendable, Hashable {
        fileprivate enum Kind: Hashable { case trust, scram(String) }
        fileprivate let kind: Kind
        /// Any client naming an existing role is let in.
        package static let trust = Authentication(kind: .trust)
        /// SCRAM-SHA-256 with `password` for the superuser (`pg_hba.conf` scram-sha-256 on 127.0.0.1).
        package static func scram(password: String) -> Authentication { Authentication(kind: .scram(password)) }
    }

    /// The folder holding this cluster's data folder, its log and the initdb password file.
    package let folder: String
    /// The data folder (`PGDATA`).
    package let dataDirectory: String
    /// The server's log (pg_ctl -l).
    package let logFile: String
    /// The loopback port the postmaster listens on.
    package let port: Int
    /// The superuser initdb made.
    package let user: String
    /// The superuser's password (nil with trust authentication).
    package let password: String?
    /// The TLS files, when the cluster was made with `tls`.
    package let tls: TLSFiles?
    /// The name this cluster gives itself as a streaming standby (`application_name`), the name
    /// `synchronous_standby_names` on its primary refers to.
    package let name: String
    private let installation: PostgresInstallation

    /// The certificates and keys of a cluster that speaks TLS, in `folder`, made with openssl: `ca.pem` (the CA
    /// that issued the others), `server.pem`/`.key` (for localhost and 127.0.0.1, the server's), `client.pem`/`.key`
    /// (for the user `postgres`), and `other-ca.pem`, a CA that issued none of them.
    package struct TLSFiles: Sendable {
        package let folder: String
        /// The CA certificate that verifies the server and the client certificate.
        package var ca: String { self.folder + "/ca.pem" }
    }

    /// The host the cluster listens on.
    package var host: String { "127.0.0.1" }

    /// A libpq/postgres-nio connection URL for `database` (sslmode=disable: the harness runs no TLS).
    package func url(database: String = "postgres") -> String {
        let credentials = self.password.map { "\(self.user):\(Self.percentEncoded($0))" } ?? self.user
        return "postgresql://\(credentials)@\(self.host):\(self.port)/\(database)?sslmode=disable"
    }

    /// Makes a new cluster with initdb in a fresh scratch folder (not started).
    /// - Parameters:
    ///   - name: a short name, used in the folder's name and as the `application_name` of a standby.
    ///   - authentication: trust (default) or SCRAM with a password for the superuser.
    ///   - settings: lines added to `postgresql.conf` (name -> value, quoted by the caller where needed); they
    ///     override the harness's own (`listen_addresses`, `fsync`, ...).
    ///   - tls: make ``TLSFiles`` and turn `ssl` on (connections choose; see `hostRules` to require it).
    ///   - hostRules: `pg_hba.conf` in place of initdb's rules (which `authentication` chose), one line each.
    /// - Throws: ``PostgresHarnessError`` when PostgreSQL is not installed or initdb fails.
    package static func create(
        name: String = "primary", authentication: Authentication = .trust, settings: [String: String] = [:], tls: Bool = false,
        hostRules: [String] = []
    ) throws -> PostgresCluster {
        let installation = try PostgresInstallation.shared()
        let folder = try installation.makeScratchFolder(name: name)
        do {
            let cluster = PostgresCluster(
                folder: folder, dataDirectory: folder + "/data", logFile: folder + "/postgres.log",
                port: try freeLoopbackPort(), user: "postgres", password: Self.password(of: authentication),
                tls: tls ? TLSFiles(folder: folder + "/tls") : nil, name: name, installation: installation
            )
            var arguments = ["-D", cluster.dataDirectory, "--username=\(cluster.user)", "--encoding=UTF8", "--no-locale", "--no-sync"]
            if let password = cluster.password {
                let passwordFile = folder + "/password"
                try installation.writeOwned(password + "\n", to: passwordFile, mode: 0o600)
                arguments += ["--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=\(passwordFile)"]
            } else {
                arguments += ["--auth=trust"]
            }
            try installation.run("initdb", arguments, asServer: true)
            var conf = """

                # PostgresHarness: TCP on the loopback only; the port is given on pg_ctl's command line so that a
                # standby copied from this folder keeps a port of its own.
                listen_addresses = '127.0.0.1'
                unix_socket_directories = ''
                max_connections = 100
                shared_buffers = 32MB
                synchronous_commit = on
                wal_level = replica
                max_wal_senders = 5
                wal_keep_size = 64MB
                hot_standby = on
                log_min_messages = warning

                """
            if let files = cluster.tls {
                try Self.makeCertificates(in: files.folder, installation: installation)
                conf += "ssl = on\nssl_cert_file = '\(files.folder)/server.pem'\nssl_key_file = '\(files.folder)/server.key'\nssl_ca_file = '\(files.ca)'\n"
            }
            for (key, value) in settings.sorted(by: { $0.key < $1.key }) { conf += "\(key) = \(value)\n" }
            try installation.append(conf, to: cluster.dataDirectory + "/postgresql.conf")
            if !hostRules.isEmpty {
                try installation.writeOwned(hostRules.joined(separator: "\n") + "\n", to: cluster.dataDirectory + "/pg_hba.conf", mode: 0o600)
            }
            return cluster
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    /// Starts the postmaster and waits until it accepts connections.
    /// - Throws: ``PostgresHarnessError`` with the end of the server's log when it does not start.
    package func start() throws {
        do {
            try self.installation.run(
                "pg_ctl", ["-D", self.dataDirectory, "-l", self.logFile, "-w", "-t", "60", "-o", "-p \(self.port)", "start"],
                asServer: true
            )
        } catch var error as PostgresHarnessError {
            error.message += "\n-- the end of \(self.logFile):\n" + self.logTail()
            throw error
        }
    }

    /// Stops the postmaster (fast shutdown: sessions are ended, the checkpoint written); nothing when it is not running.
    package func stop() throws {
        guard self.postmasterPID() != nil else { return }
        try self.installation.run("pg_ctl", ["-D", self.dataDirectory, "-m", "fast", "-w", "-t", "60", "stop"], asServer: true)
    }

    /// SIGKILLs the postmaster, as a machine's loss would end it, and waits until it and its children are gone
    /// (they notice the postmaster's death and exit on their own; no shutdown checkpoint is written). The
    /// cluster can be started again afterwards (crash recovery).
    /// - Throws: ``PostgresHarnessError`` when the cluster is not running.
    package func kill() throws {
        guard let pid = self.postmasterPID() else {
            throw PostgresHarnessError(message: "cluster \(self.name) has no running postmaster to kill")
        }
        let children = Self.children(of: pid)
        guard Glibc.kill(pid, SIGKILL) == 0 else {
            throw PostgresHarnessError(message: "kill(\(pid), SIGKILL) failed: errno \(errno)")
        }
        try Self.waitUntil(seconds: 30, "postmaster \(pid) of \(self.name) and its children to die") {
            !Self.isAlive(pid) && children.allSatisfy { !Self.isAlive($0) }
        }
        // An unreaped (zombie) postmaster still answers kill(pid, 0), and a new postmaster would take the
        // lock file for a live one's; the server is dead, so its lock file goes.
        unlink(self.dataDirectory + "/postmaster.pid")
    }

    /// Promotes a standby to primary (pg_ctl promote) and waits until it accepts writes.
    package func promote() throws {
        try self.installation.run("pg_ctl", ["-D", self.dataDirectory, "-w", "-t", "60", "promote"], asServer: true)
        try Self.waitUntil(seconds: 30, "\(self.name) to leave recovery") { (try? self.isInRecovery()) == false }
    }

    /// Whether the server is a standby (`pg_is_in_recovery()`).
    package func isInRecovery() throws -> Bool {
        try self.query("SELECT pg_is_in_recovery()") == "t"
    }

    /// The pid of the running postmaster, or nil when none runs (read from `postmaster.pid`).
    package func postmasterPID() -> Int32? {
        guard let text = try? String(contentsOfFile: self.dataDirectory + "/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = pid_t(first.trimmingCharacters(in: .whitespaces)),
            Self.isAlive(pid)
        else { return nil }
        return pid
    }

    /// Makes a streaming standby of this running cluster in a new scratch folder (pg_basebackup -R, WAL
    /// streamed), named `name` for `synchronous_standby_names`; not started.
    /// - Throws: ``PostgresHarnessError`` when the base backup fails.
    package func makeStandby(name: String = "standby") throws -> PostgresCluster {
        let folder = try self.installation.makeScratchFolder(name: name)
        do {
            let standby = PostgresCluster(
                folder: folder, dataDirectory: folder + "/data", logFile: folder + "/postgres.log",
                port: try freeLoopbackPort(), user: self.user, password: self.password, tls: self.tls, name: name,
                installation: self.installation
            )
            // -R writes primary_conninfo (application_name included) and standby.signal.
            let conninfo = "host=\(self.host) port=\(self.port) user=\(self.user) application_name=\(name)"
            try self.installation.run(
                "pg_basebackup", ["-d", conninfo, "-D", standby.dataDirectory, "-R", "-X", "stream", "--no-sync", "-c", "fast"],
                asServer: true, password: self.password
            )
            return standby
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    /// Makes commits on this primary wait for `standby` (`synchronous_standby_names` naming it,
    /// `synchronous_commit = on`), and waits until the standby streams as the synchronous one.
    /// Set after the base backup, so the standby does not inherit it (a promoted standby waiting for a
    /// standby of its own would hang every commit).
    package func requireSynchronousStandby(_ standby: PostgresCluster) throws {
        try self.execute(
            "ALTER SYSTEM SET synchronous_standby_names = '\(standby.name)'; ALTER SYSTEM SET synchronous_commit = 'on'; SELECT pg_reload_conf()"
        )
        try Self.waitUntil(seconds: 30, "\(standby.name) to stream synchronously from \(self.name)") {
            (try? self.query("SELECT sync_state FROM pg_stat_replication WHERE application_name = '\(standby.name)'")) == "sync"
        }
    }

    /// Runs `sql` (one or more statements) through psql; throws on the first error.
    package func execute(_ sql: String, database: String = "postgres") throws {
        _ = try self.query(sql, database: database)
    }

    /// Runs `sql` through psql and returns its unaligned output (fields separated by `|`, rows by newlines),
    /// without the trailing newline. Each statement runs on its own (autocommit), as psql runs a file.
    /// - Parameter password: the password to present instead of the cluster's own (to test a wrong one).
    package func query(_ sql: String, database: String = "postgres", password: String? = nil) throws -> String {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("bureau-pg-sql-\(UUID().uuidString).sql").path
        try sql.write(toFile: script, atomically: false, encoding: .utf8)
        defer { unlink(script) }
        let output = try self.installation.run(
            "psql",
            ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.host, "-p", String(self.port), "-U", self.user, "-d", database, "-f", script],
            asServer: false, password: password ?? self.password,
            // The harness's own sessions never use TLS (a cluster made with `tls` may require a client certificate over it).
            environment: ["PGSSLMODE": "disable"]
        )
        return output.hasSuffix("\n") ? String(output.dropLast()) : output
    }

    /// Stops the cluster (immediately: a test is done with it) and deletes its folder.
    package func remove() {
        if self.postmasterPID() != nil {
            _ = try? self.installation.run("pg_ctl", ["-D", self.dataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"], asServer: true)
        }
        try? FileManager.default.removeItem(atPath: self.folder)
    }

    /// The last lines of the server's log, for failure messages.
    package func logTail(lines: Int = 20) -> String {
        guard let text = try? String(contentsOfFile: self.logFile, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Runs `body` with a started cluster, removed afterwards whatever happens.
    package static func with<T>(
        name: String = "primary", authentication: Authentication = .trust, settings: [String: String] = [:], tls: Bool = false,
        hostRules: [String] = [], _ body: (PostgresCluster) async throws -> T
    ) async throws -> T {
        let cluster = try Self.create(name: name, authentication: authentication, settings: settings, tls: tls, hostRules: hostRules)
        defer { cluster.remove() }
        try cluster.start()
        return try await body(cluster)
    }

    /// Runs `body` with a started primary and a started streaming standby the primary commits
    /// synchronously to (`synchronous_standby_names` + `synchronous_commit = on`); both removed afterwards.
    package static func withReplicatedPair<T>(
        authentication: Authentication = .trust, settings: [String: String] = [:],
        _ body: (_ primary: PostgresCluster, _ standby: PostgresCluster) async throws -> T
    ) async throws -> T {
        let primary = try Self.create(name: "primary", authentication: authentication, settings: settings)
        defer { primary.remove() }
        try primary.start()
        let standby = try primary.makeStandby(name: "standby")
        defer { standby.remove() }
        try standby.start()
        try primary.requireSynchronousStandby(standby)
        return try await body(primary, standby)
    }

    /// Stops and deletes the clusters of test processes that are gone (killed before they removed theirs); done
    /// once by the first cluster a process makes. The scratch folders start with `scratchPrefix` and the pid.
    package static func removeLeftovers() throws {
        try PostgresInstallation.shared().removeLeftovers()
    }

    /// The start of every cluster's scratch folder name under the temporary folder, followed by the maker's pid.
    package static var scratchPrefix: String { PostgresInstallation.scratchPrefix }

    // MARK: Helpers

    /// The files of ``TLSFiles`` in `folder`, owned by the server's user (its key mode 0600).
    private static func makeCertificates(in folder: String, installation: PostgresInstallation) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let openssl = "/usr/bin/openssl"
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for ca in ["ca", "other-ca"] {
            try installation.run(
                openssl, ["req", "-x509"] + key + ["-keyout", "\(folder)/\(ca).key", "-out", "\(folder)/\(ca).pem", "-days", "2", "-subj", "/CN=bureau test \(ca)"],
                asServer: false
            )
        }
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: folder + "/server.ext", atomically: false, encoding: .utf8)
        for (name, subject, extensions) in [("server", "/CN=localhost", ["-extfile", folder + "/server.ext"]), ("client", "/CN=postgres", [])] {
            try installation.run(openssl, ["req"] + key + ["-keyout", "\(folder)/\(name).key", "-out", "\(folder)/\(name).csr", "-subj", subject], asServer: false)
            try installation.run(
                openssl,
                ["x509", "-req", "-in", "\(folder)/\(name).csr", "-CA", "\(folder)/ca.pem", "-CAkey", "\(folder)/ca.key", "-CAcreateserial",
                 "-out", "\(folder)/\(name).pem", "-days", "2"] + extensions,
                asServer: false
            )
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: folder + "/server.key")
        for file in ["", "/server.pem", "/server.key", "/ca.pem"] { try installation.giveToServer(folder + file) }
    }

    private static func password(of authentication: Authentication) -> String? {
        if case .scram(let password) = authentication.kind { return password }
        return nil
    }

    private static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    /// The processes whose parent is `pid` (from /proc).
    private static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
                return false
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid
        }
    }

    /// Alive and not a zombie (a killed postmaster, reparented, may wait a while to be reaped).
    private static func isAlive(_ pid: pid_t) -> Bool {
        guard Glibc.kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    /// Polls `condition` every 20 ms until it holds or `seconds` pass.
    package static func waitUntil(seconds: Double, _ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if try condition() { return }
            guard Date() < deadline else { throw PostgresHarnessError(message: "timed out after \(seconds) s waiting for \(what)") }
            usleep(20_000)
        }
    }
}

/// What went wrong setting up or driving a test cluster: the command, its exit status and its output.
package struct PostgresHarnessError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { self.message }
}

/// A free TCP port on 127.0.0.1 (bound to port 0 and released; PostgreSQL binds with SO_REUSEADDR).
package func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw PostgresHarnessError(message: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw PostgresHarnessError(message: "bind(127.0.0.1:0) failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw PostgresHarnessError(message: "getsockname failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
