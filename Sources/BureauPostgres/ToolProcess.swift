import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs one of PostgreSQL's client or server programs (or any other) with posix_spawn and waitpid: the one process
/// runner of the PostgreSQL backend and of the tests' clusters and bureaud nodes.
///
/// Not Foundation's `Process`: it learns that a child ended from a descriptor the child inherits, and the
/// postmaster that `pg_ctl start` leaves behind inherits it too, so its exit notification never came while the
/// server ran. Here the child gets standard input from /dev/null, its output in files, and no other descriptor of
/// this process (another test's pipes held open by a postmaster would hang that test).
package enum ToolProcess {
    /// What a finished program left: its exit status and what it wrote on stdout and stderr.
    package struct Outcome: Sendable {
        /// The exit status, or 128 + the signal that ended the program.
        package var status: Int32
        /// Its standard output followed by its standard error, in the order written (one file).
        package var output: String
    }

    /// Runs `tool` with `arguments` (and `environment`, else this process's), its output into a scratch file, and
    /// waits for it.
    /// - Parameter directory: the working folder it starts in (default: this process's).
    /// - Throws: when it cannot be started.
    package static func run(
        _ tool: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil
    ) throws -> Outcome {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bureau-tool-\(UUID().uuidString)").path
        defer { unlink(scratch) }
        let pid = try Self.spawn([tool] + arguments, environment: environment, standardOutput: scratch, standardError: nil, directory: directory)
        let status = try Self.waitForExit(pid)
        return Outcome(status: status, output: (try? String(contentsOfFile: scratch, encoding: .utf8)) ?? "")
    }

    /// Starts `argv` (its first element the executable's path) without waiting for it.
    /// - Parameters:
    ///   - environment: its environment (default: this process's).
    ///   - standardOutput: the file its stdout goes to (created or truncated, mode 0600).
    ///   - standardError: the file its stderr goes to; nil: with its stdout.
    ///   - directory: the working folder it starts in (default: this process's).
    /// - Returns: its process id; wait for it with ``waitForExit(_:)`` (or it stays a zombie until this process ends).
    /// - Throws: when it cannot be started.
    package static func spawn(
        _ argv: [String], environment: [String: String]? = nil, standardOutput: String, standardError: String?, directory: String? = nil
    ) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let standardError {
            posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // glibc's _np actions are declared only under _GNU_SOURCE, so they are looked up.
        guard let closeFrom = gnuSpawnAction("posix_spawn_file_actions_addclosefrom_np", as: SpawnCloseFrom.self),
            let changeDirectory = gnuSpawnAction("posix_spawn_file_actions_addchdir_np", as: SpawnChangeDirectory.self)
        else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "this C library has no posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34 has)"])
        }
        _ = closeFrom(&actions, 3)
        if let directory { _ = changeDirectory(&actions, directory) }
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let cEnvironment = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cEnvironment.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))"])
        }
        return pid
    }

    /// Waits for the child `pid` to end and reaps it.
    /// - Returns: its exit status, or 128 + the signal that ended it.
    /// - Throws: when `pid` is not a child of this process.
    package static func waitForExit(_ pid: Int32) throws -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "waitpid(\(pid)) failed: \(String(cString: strerror(errno)))"])
            }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}

private typealias SpawnCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private typealias SpawnChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

private func gnuSpawnAction<F>(_ name: String, as type: F.Type) -> F? {
    guard let symbol = dlsym(nil, name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}
