import BureauAPI
import BureauClient
import BureauCore
import BureauOperations
import BureauPostgres
import BureauServer
import BureauStore
import BureauStoreConformance
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import PostgresHarness
import Synchronization
import Testing

/// Two bureaud nodes over one PostgreSQL primary and its synchronous standby, both named in the store's host
/// list; the test plays the cluster manager (Patroni's part): it SIGKILLs the primary's postmaster under load and
/// promotes the standby. The failover and the loss of a node run bureaud as processes of their own (the built
/// executable); the changes that must hold across nodes are checked on two daemons in this process.
@Suite("bureaud nodes over PostgreSQL: failover and the loss of a node", .serialized)
struct PostgresFailoverDaemonTests {
    /// What the load's clients hold at the end.
    private struct Outcome: Sendable {
        var receipts: [(requestID: String, index: UInt64, leafHash: [UInt8])] = []
        var acknowledgedBatches: [Bureau_SubmitRecordsRequest] = []
        var submittedBatches: [Bureau_SubmitRecordsRequest] = []
        var failures = 0
        /// When each call failed and when each succeeded, for the recovery time.
        var failedAt: [ContinuousClock.Instant] = []
        var succeededAt: [ContinuousClock.Instant] = []
    }

    /// The load's shared state: the clients' outcome, the next request's number, when the primary was killed.
    private final class Load: Sendable {
        let outcome = Mutex(Outcome())
        let next = Atomic<Int>(0)
        let killed = Mutex<ContinuousClock.Instant?>(nil)
    }

    /// A second node on `first`'s data folder (its installation secret and checkpoint key: one key given to
    /// every node), CA and certificates, over the same store; not started.
    private static func secondNode(beside first: TestBureau, location: PostgresLocation) throws -> BureauDaemon {
        let server = try first.ca.issueServer()
        let clock = first.clock
        return try BureauDaemon(
            configuration: DaemonConfiguration(
                port: 0, dataFolder: first.daemon.store.folder, store: .init(openBackend: { folder in try PostgresStorage(location: location, dataFolder: folder) }),
                tls: .init(
                    certificateChain: .bytes(Array(try server.certificatePEM.utf8)),
                    privateKey: .bytes(Array(server.privateKeyPEM.utf8)),
                    clientCA: .bytes(Array(try first.ca.certificatePEM.utf8))
                ),
                now: { clock.now }
            ),
            logger: Logger(label: "test-bureaud-b")
        )
    }

    /// Runs `body` with two nodes (A seeded with the demo data, B beside it) over `location`.
    private static func withTwoNodes(
        _ location: PostgresLocation, _ body: (_ a: TestBureau, _ b: TestBureau) async throws -> Void
    ) async throws {
        try await TestBureau.run(backend: { folder in try PostgresStorage(location: location, dataFolder: folder) }) { a in
            let nodeB = try Self.secondNode(beside: a, location: location)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await nodeB.run() }
                let port = try await nodeB.listeningPort()
                let b = TestBureau(ca: a.ca, daemon: nodeB, port: port, clients: a.clients, clock: a.clock)
                try await body(a, b)
                nodeB.beginGracefulShutdown()
            }
        }
    }

    /// A daemon in this process over the store at `location`, data folder `folder`, with a new CA and client
    /// certificates (and the demo data when `seed`); never served: the first start on the store, which records its
    /// checkpoint key, and the test's way into the store.
    private static func seedingDaemon(
        in folder: String, over location: PostgresLocation, seed: Bool
    ) throws -> (CertificateAuthority, BureauDaemon, [String: CertificateAuthority.Issued], TestClock) {
        try TestBureau.prepareDaemon(
            folder: folder, seed: seed, mapSize: 64 << 20, prepare: { _ in }, metrics: nil, logAudit: .defaults,
            logger: Logger(label: "test-seed"), limits: .defaults, backend: { folder in try PostgresStorage(location: location, dataFolder: folder) }
        )
    }

    /// Runs `body` with two bureaud processes, nodes A and B (the built executable, each with its own port and data
    /// folder holding the one `checkpoint.key`, and the test's key file), over the store at `url`, which a daemon
    /// in this process seeds with the demo data first. That daemon never serves: the test reads the shared store
    /// through it. `body` gets A and B as harnesses (clients to each node's port; `store` and `daemon` are the
    /// seeding daemon's) and the processes.
    private static func withTwoProcesses(
        url: String, _ body: (_ a: TestBureau, _ b: TestBureau, _ processes: [BureaudProcess]) async throws -> Void
    ) async throws {
        let location = try PostgresLocation(url: url)
        try PostgresStorage.migrate(location)
        let folder = TestKeyFile.temporaryFolder("bureau-nodes")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (ca, seeder, clients, clock) = try Self.seedingDaemon(in: folder + "/seed", over: location, seed: true)
        let server = try ca.issueServer()
        try await BureaudProcess.withNodes(["a", "b"]) { name in
            try BureaudProcess.start(
                in: folder, name: name, checkpointKey: folder + "/seed/" + CheckpointKey.fileName, ca: ca, server: server, store: url
            )
        } _: { processes in
            let nodes = processes.map { TestBureau(ca: ca, daemon: seeder, port: $0.port, clients: clients, clock: clock) }
            try await body(nodes[0], nodes[1], processes)
            // Neither node's log lines carry a resident identity number; each says jemalloc serves its allocations.
            for process in processes {
                #expect(!ResidentIdentityNumber.occurs(in: process.log), "bureaud logged an identifier")
                #expect(process.log.contains("memory allocator: jemalloc"), "bureaud's allocations are not jemalloc's")
            }
        }
    }

    /// One request of the load: a report from the bank (even `n`) or a furnishing batch (odd `n`), through node A
    /// or B in turn, retried every 100 ms until it succeeds (30 s at most). Returns the receipt it got.
    private static func call(
        _ n: Int, nodes: [TestBureau], load: Load
    ) async throws {
        let node = nodes[(n / 2) % nodes.count]
        let batch = StorageFaultTests.batch(10_000 + n, size: 2)
        if n % 2 == 1 { load.outcome.withLock { $0.submittedBatches.append(batch) } }
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while true {
            do {
                let (requestID, receipt): (String, Bureau_LogReceipt)
                if n % 2 == 0 {
                    let request = individualRequest()
                    let response = try await node.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                    }
                    (requestID, receipt) = (request.requestID, response.receipt)
                } else {
                    (requestID, receipt) = (batch.batchID, try await StorageFaultTests.submit(node, batch).receipt)
                }
                load.outcome.withLock {
                    $0.receipts.append((requestID, receipt.entryIndex, Array(receipt.leafHash)))
                    if n % 2 == 1 { $0.acknowledgedBatches.append(batch) }
                    $0.succeededAt.append(ContinuousClock.now)
                }
                return
            } catch let error as RPCError {
                // Never a wrong answer: a failed call is UNAVAILABLE (or its deadline passed), with no receipt.
                #expect(error.code == .unavailable || error.code == .deadlineExceeded, "\(error)")
                load.outcome.withLock {
                    $0.failures += 1
                    $0.failedAt.append(ContinuousClock.now)
                }
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    @Test("two bureaud processes; the primary's postmaster SIGKILLed under load, the standby promoted: the load resumes, every receipt is in the new primary's log and proves against a checkpoint signed after, no index twice, no batch half applied")
    func failoverUnderLoad() async throws {
        try await PostgresCluster.withReplicatedPair { primary, standby in
            let url = "postgresql://postgres@127.0.0.1:\(primary.port),127.0.0.1:\(standby.port)/postgres?sslmode=disable&query_timeout=5&connect_timeout=2"
            try await Self.withTwoProcesses(url: url) { a, b, _ in
                let load = Load()
                let requests = 80
                let killAfter = 30
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            while true {
                                let n = load.next.wrappingAdd(1, ordering: .relaxed).oldValue
                                guard n < requests else { return }
                                // The calls after the first `killAfter` wait for the SIGKILL, so that the load meets
                                // the failover however fast the calls before it were (polled, they could all end
                                // before the cluster manager looked).
                                while n >= killAfter, load.killed.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(5)) }
                                try await Self.call(n, nodes: [a, b], load: load)
                            }
                        }
                    }
                    // The cluster manager: the primary dies mid-load; the standby is promoted a moment later.
                    group.addTask {
                        while load.outcome.withLock({ $0.receipts.count }) < killAfter { try await Task.sleep(for: .milliseconds(20)) }
                        try primary.kill()
                        load.killed.withLock { $0 = .now }
                        try await Task.sleep(for: .milliseconds(500))
                        try standby.promote()
                    }
                    try await group.waitForAll()
                }
                let result = load.outcome.withLock { $0 }
                #expect(result.receipts.count == requests)
                // The calls after the first `killAfter` started after the SIGKILL, so each was served across the
                // failover: its node either saw its connection to the dead primary fail (UNAVAILABLE, retried by the
                // client) or found it closed before its write and reconnected to the promoted standby unseen.
                let killedAt = try #require(load.killed.withLock { $0 })
                let resumed = result.succeededAt.filter { $0 > killedAt }
                #expect(resumed.count >= requests - killAfter, "the load ran on after the SIGKILL")
                let lastSuccess = try #require(resumed.max())
                if let failed = result.failedAt.filter({ $0 >= killedAt }).min() {
                    // Recovery: from the first call that failed after the SIGKILL to the first success after that.
                    let recovered = try #require(result.succeededAt.filter { $0 > failed }.min())
                    print("failover: recovery time (first failed call after the SIGKILL to the first success) \(recovered - failed); "
                        + "SIGKILL to first success \(recovered - killedAt); \(result.failures) failed calls retried; \(requests) requests")
                    #expect(recovered - failed < .seconds(30))
                } else {
                    print("failover: no call failed after the SIGKILL (the nodes reconnected before writing); SIGKILL to the last "
                        + "success \(lastSuccess - killedAt); \(requests) requests")
                }
                #expect(try standby.isInRecovery() == false)

                // No index twice, and each receipt's entry is in the new primary's log with the hash the client got.
                #expect(Set(result.receipts.map(\.index)).count == result.receipts.count)
                let entries = try a.logEntries()
                #expect(try standby.query("SELECT count(*) = max(idx) + 1 FROM log_entries") == "t")
                #expect(try standby.query("SELECT size FROM log_head") == String(entries.count))
                let byIndex = Dictionary(uniqueKeysWithValues: entries.map { ($0.index, $0) })
                for receipt in result.receipts {
                    let entry = try #require(byIndex[receipt.index], "receipt \(receipt.index) of \(receipt.requestID) is not in the log")
                    #expect(entry.leafHash == receipt.leafHash)
                }

                // Inclusion proofs, from either node, against a checkpoint signed after the failover.
                let verifier = try NoteVerifier(verifierKey: a.daemon.checkpoints.signer.verifierKey)
                for (node, receipts) in [(a, result.receipts.prefix(15)), (b, result.receipts.suffix(15))] {
                    try await node.withClient("regulator") { client in
                        let log = LogVerifier(oversight: Bureau_OversightService.Client(wrapping: client), verifier: verifier, options: fastCall)
                        for receipt in receipts {
                            let checkpoint = try await log.proveInclusion(index: receipt.index, leafHash: receipt.leafHash)
                            #expect(checkpoint.size >= UInt64(entries.count))
                        }
                    }
                }
                _ = try await StorageFaultTests.verifyLog(a)

                // Checkpoints for one size signed by either node are byte-identical (one key, Ed25519 is deterministic).
                let notes = try await [a, b].asyncMap { node in
                    try await node.withClient("regulator") { client in
                        try await Bureau_OversightService.Client(wrapping: client).getCheckpoint(request: ClientRequest(message: .init()), options: fastCall)
                    }.signedNote
                }
                #expect(notes[0] == notes[1])

                // No batch half applied: each batch's subjects are all on file or none is; every acknowledged one is.
                let acknowledged = Set(result.acknowledgedBatches.map(\.batchID))
                for batch in result.submittedBatches {
                    let present = try batch.subjects.map { subject in
                        let key = a.store.key(for: .individual(try ResidentIdentityNumber(parsing: subject.identifier)))
                        return try a.store.read { try $0.subject(key) } != nil
                    }
                    #expect(present.allSatisfy { $0 } || present.allSatisfy { !$0 }, "batch \(batch.batchID) half applied")
                    if acknowledged.contains(batch.batchID) { #expect(present.allSatisfy { $0 }) }
                }
            }
        }
    }

    @Test("a bureaud process given another checkpoint.key than the store's is refused at start, naming the fix; with the store's it starts")
    func anotherCheckpointKeyRefused() async throws {
        try await PostgresCluster.with(name: "keys") { cluster in
            let url = cluster.url() + "&query_timeout=5"
            let location = try PostgresLocation(url: url)
            try PostgresStorage.migrate(location)
            let folder = TestKeyFile.temporaryFolder("bureau-nodes")
            defer { try? FileManager.default.removeItem(atPath: folder) }
            // The first daemon on the store records its key.
            let (ca, seeder, _, _) = try Self.seedingDaemon(in: folder + "/seed", over: location, seed: false)
            let server = try ca.issueServer()
            try FileManager.default.createDirectory(atPath: folder + "/other", withIntermediateDirectories: true)
            _ = try CheckpointKey.loadOrCreate(in: folder + "/other", origin: "bureau.local/access-log")
            var refused: BureaudProcess.Failure?
            do {
                let node = try BureaudProcess.start(in: folder, name: "other", checkpointKey: folder + "/other/" + CheckpointKey.fileName, ca: ca, server: server, store: url)
                node.stop()
                Issue.record("a node with another checkpoint.key started")
            } catch let failure as BureaudProcess.Failure {
                refused = failure
            }
            #expect(refused?.description.contains("this store's checkpoints are signed by \(seeder.checkpoints.signer.verifierKey)") == true, "\(String(describing: refused))")
            #expect(refused?.description.contains("same checkpoint.key") == true)
            let node = try BureaudProcess.start(in: folder, name: "same", checkpointKey: folder + "/seed/" + CheckpointKey.fileName, ca: ca, server: server, store: url)
            node.stop()
        }
    }

    @Test("a revocation and a suspension made through node A hold on node B's next call; FollowAccessLog on A streams an entry written through B")
    func changesHoldAcrossNodes() async throws {
        try await PostgresCluster.with(name: "nodes") { cluster in
            let location = try PostgresLocation(url: cluster.url() + "&query_timeout=5")
            try PostgresStorage.migrate(location)
            try await Self.withTwoNodes(location) { a, b in
                let report = { (node: TestBureau, request: Bureau_IndividualReportRequest) in
                    try await node.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                    }
                }
                // A follower on A, from the log's end; a report made through B reaches it.
                let start = try a.store.read { try $0.logSize() }
                let request = individualRequest()
                async let followed: Bureau_LogEntry? = a.withClient("regulator") { client in
                    var follow = Bureau_FollowAccessLogRequest()
                    follow.fromIndex = start
                    return try await Bureau_OversightService.Client(wrapping: client).followAccessLog(
                        request: ClientRequest(message: follow), options: fastCall
                    ) { response in
                        for try await entry in response.messages where String(decoding: entry.canonical, as: UTF8.self).contains(request.requestID) {
                            return entry
                        }
                        return nil
                    }
                }
                let receipt = try await report(b, request).receipt
                let entry = try await followed
                #expect(entry?.index == receipt.entryIndex)

                // The bank's certificate revoked through A: B refuses it on the next call.
                var revoke = Bureau_RevokeCertificateRequest()
                revoke.requestID = "rev-across"
                revoke.fingerprint = try CallerResolver.fingerprint(of: try #require(a.clients["bank"]).certificate).hexString
                _ = try await a.withClient("operator") { client in
                    try await Bureau_AdministrationService.Client(wrapping: client).revokeCertificate(
                        request: ClientRequest(message: revoke, metadata: [OperatorMetadata.key: "staff-0042"]), options: fastCall
                    )
                }
                let refused = await rpcError { _ = try await report(b, individualRequest()) }
                #expect(refused?.code == .unauthenticated)

                // The furnisher's licence suspended through A: B refuses its next batch.
                let furnisher = try #require(DemoData.institutions.first { $0.certificateName == "furnisher" }).institution.code.value
                var suspend = Bureau_LicenceActionRequest()
                suspend.requestID = "susp-across"
                suspend.institution = furnisher
                suspend.reason = "review"
                _ = try await a.withClient("operator") { client in
                    try await Bureau_AdministrationService.Client(wrapping: client).suspendLicence(
                        request: ClientRequest(message: suspend, metadata: [OperatorMetadata.key: "staff-0042"]), options: fastCall
                    )
                }
                let suspended = await rpcError { _ = try await StorageFaultTests.submit(b, StorageFaultTests.batch(1, size: 1)) }
                #expect(suspended?.code == .permissionDenied)
            }
        }
    }

    @Test("one bureaud process of two SIGKILLed, the one holding the background-work lease: the other serves on, every receipt in the log, and takes the lease")
    func nodeKilled() async throws {
        try await PostgresCluster.with(name: "nodes") { cluster in
            try await Self.withTwoProcesses(url: cluster.url() + "&query_timeout=5") { a, b, processes in
                let load = Load()
                for n in 0..<20 { try await Self.call(n, nodes: [a, b], load: load) }
                // Exactly one node takes the lease (each asks for it every second, publishing checkpoints).
                let taken = "background-work lease taken"
                var holders: [Int] = []
                for _ in 0..<100 {
                    holders = processes.indices.filter { processes[$0].log.contains(taken) }
                    if !holders.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(holders.count == 1)
                #expect(try cluster.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") == "1")
                let holder = try #require(holders.first)
                let (lost, survivor) = (processes[holder], processes[1 - holder])
                let survivingNode = [a, b][1 - holder]

                // SIGKILL: no graceful shutdown; its sessions end with its process. The other serves every call.
                try lost.kill()
                let refused = await rpcError { _ = try await StorageFaultTests.submit([a, b][holder], StorageFaultTests.batch(99, size: 1)) }
                #expect(refused?.code == .unavailable)
                for n in 20..<60 { try await Self.call(n, nodes: [survivingNode], load: load) }
                let result = load.outcome.withLock { $0 }
                #expect(result.receipts.count == 60)
                #expect(result.failures == 0)
                let entries = try a.logEntries()
                let indexes = Set(entries.map(\.index))
                #expect(result.receipts.allSatisfy { indexes.contains($0.index) })

                // The lease moves: the survivor takes it and publishes a checkpoint of the whole log into its own
                // data folder, signed with the shared key.
                let verifier = try NoteVerifier(verifierKey: a.daemon.checkpoints.signer.verifierKey)
                var published: Checkpoint?
                for _ in 0..<200 {
                    if let note = try? String(contentsOfFile: survivor.dataFolder + "/checkpoint.note", encoding: .utf8),
                        let checkpoint = try? Checkpoint(body: try verifier.verify(note: note)), checkpoint.size == UInt64(entries.count)
                    {
                        published = checkpoint
                        break
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(survivor.log.contains(taken))
                #expect(published?.root == Merkle.root(of: entries.map(\.leafHash)[...]))
                #expect(try cluster.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") == "1")
            }
        }
    }
}

extension Array {
    /// `transform` applied to each element in turn.
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
