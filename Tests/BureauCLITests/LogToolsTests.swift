import ArgumentParser
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauStoreConformance
import Foundation
import GRPCNIOTransportHTTP2
import Logging
import Testing

@testable import bureau

/// A real bureaud on 127.0.0.1 with a regulator's certificate and key in PEM files, for running CLI commands against.
struct CLIBureau {
    let folder: String
    let daemon: BureauDaemon
    let port: Int

    /// The options that reach this daemon as the regulator.
    var clientArguments: [String] {
        ["--server", "127.0.0.1:\(self.port)", "--cert", self.folder + "/regulator.pem", "--key", self.folder + "/regulator.key", "--ca", self.folder + "/ca.pem"]
    }

    /// The options that reach this daemon as the demo operator, staff member `op-1`.
    var operatorArguments: [String] {
        ["--server", "127.0.0.1:\(self.port)", "--cert", self.folder + "/operator.pem", "--key", self.folder + "/operator.key", "--ca", self.folder + "/ca.pem",
         "--operator-id", "op-1"]
    }

    static func run(prepare: (Store) throws -> Void, _ body: (CLIBureau) async throws -> Void) async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-cli")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let ca = try CertificateAuthority.create(name: "Test Bureau CA")
        let server = try ca.issueServer()
        try Data(try ca.certificatePEM.utf8).write(to: URL(fileURLWithPath: folder + "/ca.pem"))
        let daemon = try BureauDaemon(
            configuration: DaemonConfiguration(
                port: 0, dataFolder: folder + "/data", store: .init(mapSize: 64 << 20),
                tls: .init(
                    certificateChain: .bytes(Array(try server.certificatePEM.utf8)),
                    privateKey: .bytes(Array(server.privateKeyPEM.utf8)),
                    clientCA: .bytes(Array(try ca.certificatePEM.utf8))
                )
            ),
            logger: Logger(label: "test-bureaud")
        )
        for name in ["regulator", "operator"] {
            let demo = try #require(DemoData.institutions.first { $0.certificateName == name })
            let issued = try ca.issueClient(name: demo.institution.name, code: demo.institution.code.value)
            var institution = demo.institution
            institution.certificateFingerprints = [try CallerResolver.fingerprint(of: issued.certificate).hexString]
            try InstitutionRegistry.register(institution, in: daemon.store)
            try Data(try issued.certificatePEM.utf8).write(to: URL(fileURLWithPath: folder + "/\(name).pem"))
            try Data(issued.privateKeyPEM.utf8).write(to: URL(fileURLWithPath: folder + "/\(name).key"))
        }
        // The CA's key, for commands that issue certificates (`--ca-dir FOLDER/ca`).
        try FileManager.default.createDirectory(atPath: folder + "/ca", withIntermediateDirectories: true)
        try Data(try ca.certificatePEM.utf8).write(to: URL(fileURLWithPath: folder + "/ca/ca.pem"))
        try Data(ca.privateKeyPEM.utf8).write(to: URL(fileURLWithPath: folder + "/ca/ca.key"))
        try prepare(daemon.store)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await daemon.run() }
            let port = try await daemon.listeningPort()
            defer { daemon.beginGracefulShutdown() }
            try await body(CLIBureau(folder: folder, daemon: daemon, port: port))
        }
    }
}

/// Appends `count` entries of about `bytes` bytes each, as large furnishing batches make them.
func appendLargeEntries(_ count: Int, bytes: Int, to store: Store) throws {
    try store.write { txn in
        for n in 0..<count {
            let subjects = (0..<(bytes / 32)).map { SubjectKey(hex: String(format: "%064x", n * 1_000_000 + $0))! }
            _ = try txn.appendLog(
                AccessLogEntry(
                    .furnishSubmit, by: LogActor(institution: "91110000100000016D", certificateFingerprint: "ab", operatorID: ""),
                    time: Date(), requestID: "batch-\(n)", subjects: subjects, outcome: .applied
                )
            )
        }
    }
}

@Suite("Log tools over a log larger than one message", .serialized)
struct LogToolsTests {
    @Test("bureau log verify and log export read a log whose entries exceed one 4 MiB message")
    func verifyAndExportLargeLog() async throws {
        try await CLIBureau.run(prepare: { try appendLargeEntries(24, bytes: 200_000, to: $0) }) { bureau in
            let size = try bureau.daemon.store.read { try $0.logSize() }
            let verifierKey = bureau.daemon.checkpoints.signer.verifierKey
            var verify = try #require(
                try Bureau.parseAsRoot(["log", "verify", "--verifier-key", verifierKey] + bureau.clientArguments) as? any AsyncParsableCommand
            )
            try await verify.run()

            let output = bureau.folder + "/export.jsonl"
            var export = try #require(
                try Bureau.parseAsRoot(["log", "export", "--output", output] + bureau.clientArguments) as? any AsyncParsableCommand
            )
            try await export.run()
            let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
            #expect(UInt64(lines.count) == size)
            let attributes = try FileManager.default.attributesOfItem(atPath: output)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        }
    }
}
