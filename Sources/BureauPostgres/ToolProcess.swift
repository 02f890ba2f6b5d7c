import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs one of PostgreSQL's client or server programs and waits for it, with posix_spawn and waitpid (not
/// Foundation's `Process`, whose exit notification never came here when the program left a daemon behind,
/// as `pg_ctl start` does).
package enum ToolProcess {
    /// What a finished program left: its exit status and what it wrote on stdout and stderr.
    package struct Outcome: Sendable {
        package var status: Int32
        package var output: String
    }

    /// Runs `tool` with `arguments` (and `environment`, else this process's), its output into a scratch file.
    /// - Throws: when it cannot be started.
    package static func run(_ tool: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Outcome {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bureau-tool-\(UUID().uuidString)").path
        defer { unlink(scratch) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, scratch, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, tool, &actions, nil, argv, env)
        guard spawned == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "cannot run \(tool): \(String(cString: strerror(spawned)))"])
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: scratch, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, which Swift does not import as functions.
        let exited = status & 0x7F == 0
        return Outcome(status: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), output: output)
    }
}
