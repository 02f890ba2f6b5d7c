import BureauAPI
import BureauClient
import BureauCore
import BureauOperations
import BureauServer
import BureauStoreConformance
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// bureaud's process runs its tasks on its event loops (``DaemonThreads``): a request that comes alone is read,
/// handled and answered on one thread, without waking a second one and going back.
@Suite("bureaud's threads")
struct DaemonThreadsTests {
    /// Voluntary context switches of all of process `pid`'s threads so far (each a thread going to sleep to be
    /// woken again), from `/proc/PID/task/TID/status`.
    static func voluntarySwitches(_ pid: pid_t) throws -> Int {
        var switches = 0
        for thread in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
                switches += Int(line.dropFirst("voluntary_ctxt_switches:".count).trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        return switches
    }

    @Test("bureaud (LMDB) answers calls made one at a time with few thread wake-ups each")
    func fewWakeUpsPerCall() async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-threads")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try CheckpointKey.loadOrCreate(in: folder, origin: "bureau.local/access-log")
        let ca = try CertificateAuthority.create(name: "Threads Test CA")
        let server = try ca.issueServer()
        let bank = try ca.issueClient(name: "Demo Commercial Bank", code: DemoData.bank.value)
        try await BureaudProcess.withNodes(["lmdb"]) { name in
            try BureaudProcess.start(in: folder, name: name, checkpointKey: folder + "/" + CheckpointKey.fileName, ca: ca, server: server, store: nil)
        } _: { nodes in
            let client = GRPCClient(
                transport: try BureauClientTransport.make(
                    host: "127.0.0.1", port: nodes[0].port,
                    certificateChain: [.bytes(Array(try bank.certificatePEM.utf8), format: .pem)],
                    privateKey: .bytes(Array(bank.privateKeyPEM.utf8), format: .pem),
                    ca: [.bytes(Array(try ca.certificatePEM.utf8), format: .pem)]
                )
            )
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await client.runConnections() }
                defer { client.beginGracefulShutdown() }
                let diagnostics = Bureau_DiagnosticsService.Client(wrapping: client)
                for _ in 0..<50 { _ = try await diagnostics.ping(Bureau_PingRequest()) }
                let calls = 400
                let before = try Self.voluntarySwitches(nodes[0].pid)
                for _ in 0..<calls { _ = try await diagnostics.ping(Bureau_PingRequest()) }
                let perCall = Double(try Self.voluntarySwitches(nodes[0].pid) - before) / Double(calls)
                print("bureaud's threads went to sleep \(perCall) times a call")
                // Handled on Swift's own thread pool, each call woke a pool thread and then the event loop again
                // (and the pool's threads each other): 10 a call (debug build); on the event loop that read it, 1-2.
                #expect(perCall < 4, "bureaud's threads went to sleep \(perCall) times a call")
            }
        }
    }
}
