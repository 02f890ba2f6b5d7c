import BureauOperations
import BureauPostgres
import BureauServer
import BureauStoreConformance
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `bureaud` executable run as a process of its own, as an operator runs a node: its own data folder
/// (holding a copy of the installation's `checkpoint.key`), its own port, its stdout and stderr in files beside
/// the data folder, and the test process's key file (`BUREAU_KEY_FILE`) and environment.
///
/// The executable is the one SwiftPM built beside the test bundle (`swift build --build-tests` builds it).
struct BureaudProcess: Sendable {
    /// The process id.
    let pid: pid_t
    /// The port it listens on (it picked a free one).
    let port: Int
    /// The folder holding its data folder (`data`), `stdout` and `stderr`.
    let folder: String

    /// The data folder.
    var dataFolder: String { self.folder + "/data" }

    /// Its standard error so far: bureaud's log lines.
    var log: String { (try? String(contentsOfFile: self.folder + "/stderr", encoding: .utf8)) ?? "" }

    /// The `bureaud` executable beside this test bundle.
    static func executable() throws -> String {
        let bundle = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let path = ((bundle as NSString).deletingLastPathComponent as NSString).appendingPathComponent("bureaud")
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure("no bureaud executable at \(path): build it first (swift build --build-tests builds it)")
        }
        return path
    }

    /// Starts bureaud in a new folder under `parent` with `checkpointKey` (the file to copy into its data folder),
    /// the server certificate `server` issued by `ca` (also the only issuer of client certificates it accepts),
    /// the store `store` (a `--store` URL), and `arguments` after those; waits (30 s at most) until it listens.
    /// - Throws: when it cannot start, with the end of its log.
    static func start(
        in parent: String, name: String, checkpointKey: String, ca: CertificateAuthority, server: CertificateAuthority.Issued,
        store: String, arguments: [String] = []
    ) throws -> BureaudProcess {
        let folder = parent + "/" + name
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try fm.copyItem(atPath: checkpointKey, toPath: folder + "/data/" + CheckpointKey.fileName)
        try Data(try server.certificatePEM.utf8).write(to: URL(fileURLWithPath: folder + "/server.pem"))
        try Data(server.privateKeyPEM.utf8).write(to: URL(fileURLWithPath: folder + "/server.key"))
        try Data(try ca.certificatePEM.utf8).write(to: URL(fileURLWithPath: folder + "/ca.pem"))
        var environment = ProcessInfo.processInfo.environment
        environment["BUREAU_KEY_FILE"] = TestKeyFile.install()
        let pid = try ToolProcess.spawn(
            [
                try Self.executable(), "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--data", folder + "/data",
                "--cert", folder + "/server.pem", "--key", folder + "/server.key", "--ca", folder + "/ca.pem", "--store", store,
            ] + arguments,
            environment: environment, standardOutput: folder + "/stdout", standardError: folder + "/stderr"
        )
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while true {
            let stdout = (try? String(contentsOfFile: folder + "/stdout", encoding: .utf8)) ?? ""
            // "bureaud listening on 127.0.0.1:PORT"
            if let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix("bureaud listening on ") }),
                let port = line.split(separator: ":").last.flatMap({ Int($0) })
            {
                return BureaudProcess(pid: pid, port: port, folder: folder)
            }
            var status: Int32 = 0
            let ended = waitpid(pid, &status, WNOHANG) == pid
            guard !ended, ContinuousClock.now < deadline else {
                if !ended { _ = Glibc.kill(pid, SIGKILL); _ = try? ToolProcess.waitForExit(pid) }
                let log = (try? String(contentsOfFile: folder + "/stderr", encoding: .utf8)) ?? ""
                throw Failure("bureaud \(name) did not start\(ended ? " (it exited)" : " within 30 s"):\n\(log.suffix(2000))")
            }
            usleep(20_000)
        }
    }

    /// Ends it with SIGKILL, as a machine's loss or the OOM killer would (no graceful shutdown), and reaps it.
    func kill() throws {
        guard Glibc.kill(self.pid, SIGKILL) == 0 else { throw Failure("kill(\(self.pid), SIGKILL) failed: errno \(errno)") }
        _ = try ToolProcess.waitForExit(self.pid)
    }

    /// Asks it to stop (SIGTERM: graceful) and waits; SIGKILL if it has not ended after 10 s. Nothing when it has
    /// already ended and been reaped.
    func stop() {
        var status: Int32 = 0
        // Not 0: it ended (reaped now) or was reaped before (not our child any more); its pid is not signalled.
        guard waitpid(self.pid, &status, WNOHANG) == 0, Glibc.kill(self.pid, SIGTERM) == 0 else { return }
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while waitpid(self.pid, &status, WNOHANG) == 0 {
            if ContinuousClock.now > deadline {
                _ = Glibc.kill(self.pid, SIGKILL)
                _ = try? ToolProcess.waitForExit(self.pid)
                return
            }
            usleep(20_000)
        }
    }

    /// Runs `body` with bureaud nodes started by `start` (one for each name), stopping every one afterwards
    /// whatever happens.
    static func withNodes<T>(
        _ names: [String], start: (String) throws -> BureaudProcess, _ body: ([BureaudProcess]) async throws -> T
    ) async throws -> T {
        var nodes: [BureaudProcess] = []
        defer { for node in nodes { node.stop() } }
        for name in names { nodes.append(try start(name)) }
        return try await body(nodes)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
