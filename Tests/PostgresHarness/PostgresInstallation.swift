import BureauPostgres
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

    private static let found: Result<PostgresInstallation, PostgresHarnessError> = Self.find().map { installation in
        installation.removeLeftovers()
        return installation
    }

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

    /// The start of the name of every cluster's scratch folder, followed by the pid of the process that made it.
    static let scratchPrefix = "bureau-pgcluster-"

    /// A new folder under the temporary folder for one cluster, owned by the server's user (mode 0700), named
    /// after this process (so that a later one can tell it was left behind).
    func makeScratchFolder(name: String) throws -> String {
        let base = FileManager.default.temporaryDirectory.path
        let folder = "\(base)/\(Self.scratchPrefix)\(getpid())-\(name)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try self.giveToServer(folder)
        guard access(base, X_OK) == 0 else { throw PostgresHarnessError(message: "\(base) is not searchable") }
        return folder
    }

    /// Stops and deletes the clusters that test processes now gone left behind (killed before they removed theirs).
    func removeLeftovers() {
        let base = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix(Self.scratchPrefix) {
            guard let pid = pid_t(name.dropFirst(Self.scratchPrefix.count).prefix { $0 != "-" }), kill(pid, 0) != 0, errno == ESRCH else { continue }
            let folder = base + "/" + name
            if FileManager.default.fileExists(atPath: folder + "/data/postmaster.pid") {
                _ = try? self.run("pg_ctl", ["-D", folder + "/data", "-m", "immediate", "-w", "-t", "30", "stop"], asServer: true)
            }
            try? FileManager.default.removeItem(atPath: folder)
        }
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

    func giveToServer(_ path: String) throws {
        guard let owner = self.serverOwner else { return }
        guard chown(path, owner.uid, owner.gid) == 0 else {
            throw PostgresHarnessError(message: "chown \(path) to postgres failed: errno \(errno)")
        }
    }

    /// Runs one of PostgreSQL's programs (or, given a path, any program) and returns its standard output; throws
    /// with its output when it fails. It starts in `/` (the server's user may not enter the caller's folder).
    /// - Parameters:
    ///   - asServer: run as the server's user (initdb, pg_ctl, pg_basebackup: they write the data folder).
    ///   - password: given as PGPASSWORD to a client program.
    ///   - environment: more variables for it.
    @discardableResult
    func run(_ program: String, _ arguments: [String], asServer: Bool, password: String? = nil, environment more: [String: String] = [:]) throws -> String {
        var environment = ["PATH": "/usr/bin:/bin", "LC_ALL": "C", "PGCONNECT_TIMEOUT": "10"].merging(more) { $1 }
        if let password { environment["PGPASSWORD"] = password }
        let executable = program.contains("/") ? program : "\(self.binaries)/\(program)"
        // setuid to postgres through runuser (util-linux) when we are root; the environment goes with it.
        let argv = asServer && self.serverOwner != nil ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let outputs = FileManager.default.temporaryDirectory.appendingPathComponent("bureau-pg-run-\(UUID().uuidString)").path
        defer {
            unlink(outputs + ".out")
            unlink(outputs + ".err")
        }
        let status: Int32
        do {
            let pid = try ToolProcess.spawn(argv, environment: environment, standardOutput: outputs + ".out", standardError: outputs + ".err", directory: "/")
            status = try ToolProcess.waitForExit(pid)
        } catch {
            throw PostgresHarnessError(message: "cannot run \(executable): \(error)")
        }
        let text = (try? String(contentsOfFile: outputs + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: outputs + ".err", encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw PostgresHarnessError(message: "\(program) \(arguments.joined(separator: " ")) failed (\(status)):\n\(stderr)\(text)")
        }
        return text
    }
}
