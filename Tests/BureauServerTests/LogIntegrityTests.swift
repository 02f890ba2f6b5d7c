import BureauAPI
import BureauCore
import BureauServer
import BureauStoreConformance
import Foundation
import BureauLMDB
import BureauStore
import GRPCCore
import Prometheus
import Testing

/// Ways to rewrite a stored entry behind the daemon's back.
enum Tampering: String, CaseIterable, Sendable {
    /// The entry's bytes change; its stored leaf does not.
    case entry
    /// The entry and its stored leaf change together, so only the tree above them tells.
    case entryAndLeaf
}

/// Rewrites entry `index` of the log directly in the store, as someone with the data folder could.
func tamper(_ store: Store, entry index: UInt64, _ how: Tampering) throws {
    try store.write { txn in
        let logged = try #require(try txn.logEntry(index))
        var entry = logged.entry
        entry.reason = "rewritten after the fact"
        let bytes = entry.canonicalBytes()
        try txn.putLogEntryBytes(bytes, at: index)
        if how == .entryAndLeaf {
            try txn.putTreeNode(Merkle.leafHash(bytes), level: 0, index: index)
        }
    }
}

@Suite("Log integrity at start and in the background", .serialized)
struct LogIntegrityTests {
    /// Runs a daemon once in `folder` and waits for its first signed checkpoint in `checkpoint.note`.
    func runOnce(in folder: String) async throws {
        try await TestBureau.run(folder: folder) { _ in
            for _ in 0..<100 where !FileManager.default.fileExists(atPath: folder + "/checkpoint.note") {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(FileManager.default.fileExists(atPath: folder + "/checkpoint.note"))
    }

    @Test("bureaud refuses to start on a log whose newest entries were rewritten", arguments: Tampering.allCases)
    func refusesTamperedLog(_ how: Tampering) async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-integrity")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await self.runOnce(in: folder)
        let size = try Store(folder: folder).read { try $0.logSize() }
        try tamper(try Store(folder: folder), entry: size - 2, how)
        let error = await #expect(throws: BureauError.self) {
            try await TestBureau.run(folder: folder, seed: false) { _ in Issue.record("bureaud served a tampered log") }
        }
        #expect(error?.message.contains("entry \(size - 2)") == true, "\(String(describing: error))")
        #expect(error?.code == .failedPrecondition)
    }

    @Test("bureaud refuses to start with a checkpoint.key other than the one that signed the store's checkpoints, naming both")
    func refusesAnotherCheckpointKey() async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-integrity")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await self.runOnce(in: folder)
        let recorded = try CheckpointKey.loadOrCreate(in: folder, origin: "bureau.local/access-log").verifierKey
        // The key replaced (a new one is made at the next start), and no signed checkpoint left that would tell.
        for file in [CheckpointKey.fileName, "checkpoint.note"] { try FileManager.default.removeItem(atPath: folder + "/" + file) }
        let error = await #expect(throws: BureauError.self) {
            try await TestBureau.run(folder: folder, seed: false) { _ in Issue.record("bureaud served with another checkpoint key") }
        }
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.contains("this store's checkpoints are signed by \(recorded)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("same checkpoint.key") == true)
    }

    @Test("bureaud refuses to start when an entry was rewritten with its leaf and every tree node above it: the signed checkpoint tells")
    func refusesConsistentRewrite() async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-integrity")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await self.runOnce(in: folder)
        // Entry 0 rewritten, and the tree recomputed above it, as a careful forger would: only the signature tells.
        try tamper(try Store(folder: folder), entry: 0, .entryAndLeaf)
        try Store(folder: folder).write { txn in
            var hash = try txn.treeNode(level: 0, index: 0)
            var level = 0
            while try txn.storedTreeNode(level: level + 1, index: 0) != nil {
                hash = Merkle.nodeHash(hash, try txn.treeNode(level: level, index: 1))
                level += 1
                try txn.putTreeNode(hash, level: level, index: 0)
            }
        }
        let error = await #expect(throws: BureauError.self) {
            try await TestBureau.run(folder: folder, seed: false) { _ in Issue.record("bureaud served a tampered log") }
        }
        #expect(error?.message.contains("root of the last signed checkpoint") == true, "\(String(describing: error))")
    }

    @Test("bureaud keeps its data folder owner-only: the folder 0700, its keys and signed checkpoint 0600")
    func daemonFileModes() async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-integrity")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await self.runOnce(in: folder)
        func mode(_ name: String) throws -> Int {
            let attributes = try FileManager.default.attributesOfItem(atPath: (folder as NSString).appendingPathComponent(name))
            return try #require((attributes[.posixPermissions] as? NSNumber)?.intValue) & 0o777
        }
        #expect(try mode("") == 0o700)
        #expect(try mode("lmdb") == 0o700)
        #expect(try mode("keystore") == 0o700)
        for file in [DataProtection.secretFileName, "checkpoint.key", "checkpoint.note", "lmdb/data.mdb", "keystore/data.mdb"] {
            #expect(try mode(file) == 0o600, "\(file)")
        }
    }

    @Test("an untouched log starts again")
    func startsOnIntactLog() async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-integrity")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await self.runOnce(in: folder)
        try await TestBureau.run(folder: folder, seed: false) { bureau in
            let size = try bureau.store.read { try $0.logSize() }
            #expect(size > 0)
        }
    }

    @Test("the background check flags an old entry rewritten while bureaud runs: health NOT_SERVING, a metric, an error")
    func backgroundCheckFlagsTampering() async throws {
        let registry = PrometheusCollectorRegistry()
        let audit = LogAuditor.Configuration(entriesPerSecond: 1_000_000, pause: .milliseconds(20))
        try await TestBureau.run(metrics: registry, logAudit: audit) { bureau in
            let auditor = bureau.daemon.auditor
            for _ in 0..<250 where auditor.progress.passes == 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(auditor.progress.passes > 0)
            #expect(auditor.progress.failure == nil)
            try await bureau.withClient("bank") { client in
                let status = try await Grpc_Health_V1_Health.Client(wrapping: client).check(request: ClientRequest(message: .init()), options: fastCall).status
                #expect(status == .serving)
            }

            try tamper(bureau.store, entry: 1, .entryAndLeaf)
            for _ in 0..<250 where auditor.progress.failure == nil { try await Task.sleep(for: .milliseconds(20)) }
            let failure = try #require(auditor.progress.failure)
            #expect(failure.contains("entry 1") || failure.contains("tree"), "\(failure)")

            try await bureau.withClient("bank") { client in
                let health = Grpc_Health_V1_Health.Client(wrapping: client)
                let server = try await health.check(request: ClientRequest(message: .init()), options: fastCall).status
                #expect(server == .notServing)
                var request = Grpc_Health_V1_HealthCheckRequest()
                request.service = "bureau.v1.ReportService"
                let reports = try await health.check(request: ClientRequest(message: request), options: fastCall).status
                #expect(reports == .notServing)
            }
            var port: Int?
            for _ in 0..<50 where port == nil {
                port = bureau.daemon.metricsPort
                if port == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            let text = try await httpGet(port: try #require(port), path: "/metrics")
            #expect(text.contains("bureau_log_audit_failures 1"))
            #expect(text.contains("bureau_log_audit_verified_entries "))
            #expect(text.contains("bureau_log_audit_passes "))
        }
    }
}
