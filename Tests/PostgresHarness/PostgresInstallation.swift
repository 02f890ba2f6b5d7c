import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Debian's PostgreSQL server binaries (the highest version under /usr/lib/postgresql with all the harness
/// runs), and who runs them: the `postgres` user when this process is root, since initdb refuses root.
struct PostgresInstallation: Sendable {
    /// The folder holding initdb, pg_ctl, postgres, psql and pg_basebackup.
    let binaries: String
    /// The user and group server processes run as when this process is root; nil otherwise (they run as us).
    let serverOwner: (uid: uid_t, gid: gid_t)?

    /// The installation, found once per process, or why there is none.
    static func shared() throws -> PostgresInstallation { try Self.found.get() }

    private static let found: Result<PostgresInstallation, PostgresHarnessError> = Self.find()

    private static func find() -> Result<PostgresInstallation, PostgresHarnessError> {
        let install = "PostgreSQL's server is needed by the PostgreSQL tests: install Debian's postgresql (`make test` does)"
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { Int($0) }.sorted(by: >)
        guard let binaries = versions.map({ "\(root)/\($0)/bin" }).first(where: { folder in
            ["initdb", "pg_ctl", "postgres", "psql", "pg_basebackup"].allSatisfy { FileManager.default.isExecutableFile(atPath: "\(folder)/\($0)") }
        }) else {
            return .failure(PostgresHarnessError(message: "no PostgreSQL server binaries under \(root)/*/bin. \(install)"))
        }
        guard geteuid() == 0 else { return .success(PostgresInstallation(binaries: binaries, serverOwner: nil)) }
        guard let entry = getpwnam("postgres") else {
            return .failure(PostgresHarnessError(message: "running as root but there is no postgres user to run the server as. \(install)"))
        }
        return .success(PostgresInstallation(binaries: binaries, serverOwner: (entry.pointee.pw_uid, entry.pointee.pw_gid)))
    }

    /// A new folder under the temporary folder for one cluster, owned by the server's user (mode 0700).
    func makeScratchFolder(name: String) throws -> String {
        let base = FileManager.default.temporaryDirectory.path
        let folder = "\(base)/bureau-pg-\(name)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try self.giveToServer(folder)
        guard access(base, X_OK) == 0 else { throw PostgresHarnessError(message: "\(base) is not searchable") }
        return folder
    }

    /// Writes `text` to `path`, owned by the server's user.
    func writeOwned(_ text: String, to path: String, mode: Int) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        try self.giveToServer(path)
    }

    /// Appends `text` to the file at `path` (a file the server's user owns; ownership is kept).
    func append(_ text: String, to path: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw PostgresHarnessError(message: "cannot open \(path) to append to it")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    private func giveToServer(_ path: String) throws {
        guard let owner = self.serverOwner else { return }
        guard chown(path, owner.uid, owner.gid) == 0 else {
            throw PostgresHarnessError(message: "chown \(path) to postgres failed: errno \(errno)")
        }
    }

    /// Runs one of PostgreSQL's programs and returns its standard output; throws with its output when it fails.
    /// - Parameters:
    ///   - asServer: run as the server's user (initdb, pg_ctl, pg_basebackup: they write the data folder).
    ///   - password: given as PGPASSWORD to a client program.
    @discardableResult
    func run(_ program: String, _ arguments: [String], asServer: Bool, password: String? = nil) throws -> String {
        var environment = ["PATH=/usr/bin:/bin", "LC_ALL=C", "PGCONNECT_TIMEOUT=10"]
        if let password { environment.append("PGPASSWORD=\(password)") }
        let executable = "\(self.binaries)/\(program)"
        // setuid to postgres through runuser (util-linux) when we are root; the environment goes with it.
        let argv = asServer && self.serverOwner != nil ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let outputs = FileManager.default.temporaryDirectory.appendingPathComponent("bureau-pg-run-\(UUID().uuidString)").path
        defer {
            unlink(outputs + ".out")
            unlink(outputs + ".err")
        }
        let status = try spawnAndWait(argv, environment: environment, standardOutput: outputs + ".out", standardError: outputs + ".err")
        let text = (try? String(contentsOfFile: outputs + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: outputs + ".err", encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw PostgresHarnessError(message: "\(program) \(arguments.joined(separator: " ")) failed (\(status)):\n\(stderr)\(text)")
        }
        return text
    }
}

/// Runs `argv` with its output in two files and waits for it (posix_spawn and waitpid).
///
/// Not Foundation's `Process`: it learns that a child ended from a descriptor the child inherits, and the
/// postmaster that `pg_ctl start` leaves behind inherits it too, so `waitUntilExit` would wait for the server.
/// Here the child gets standard input from /dev/null, its output in files, and no other descriptor of ours.
/// - Returns: the exit status, or 128 + the signal that ended it.
private func spawnAndWait(_ argv: [String], environment: [String], standardOutput: String, standardError: String) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    // No descriptor of this process reaches the server: another test's pipes held open by a postmaster would
    // hang that test. glibc's _np actions are declared only under _GNU_SOURCE, so they are looked up.
    guard let closeFrom = gnuSpawnAction("posix_spawn_file_actions_addclosefrom_np", as: SpawnCloseFrom.self),
        let changeDirectory = gnuSpawnAction("posix_spawn_file_actions_addchdir_np", as: SpawnChangeDirectory.self)
    else { throw PostgresHarnessError(message: "this C library has no posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34 has)") }
    _ = closeFrom(&actions, 3)
    _ = changeDirectory(&actions, "/")
    let cArguments = argv.map { strdup($0) } + [nil]
    let cEnvironment = environment.map { strdup($0) } + [nil]
    defer {
        cArguments.forEach { free($0) }
        cEnvironment.forEach { free($0) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
    guard spawned == 0 else { throw PostgresHarnessError(message: "cannot run \(argv[0]): error \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw PostgresHarnessError(message: "waitpid(\(pid)) failed: errno \(errno)") }
    }
    // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

private typealias SpawnCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private typealias SpawnChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

private func gnuSpawnAction<F>(_ name: String, as type: F.Type) -> F? {
    guard let symbol = dlsym(nil, name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}
