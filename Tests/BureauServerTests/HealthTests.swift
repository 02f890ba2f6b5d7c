import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauLMDB
import BureauStoreConformance
import Foundation
import Prometheus
#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import Logging
import NIOCore
import NIOPosix
import SwiftProtobuf
import Testing

@Suite("Health over mutual TLS", .serialized)
struct HealthTests {
    @Test("Check answers per service; Watch sees NOT_SERVING when the daemon begins to shut down")
    func health() async throws {
        try await TestBureau.run { bureau in
            try await bureau.withClient("bank") { client in
                let health = Grpc_Health_V1_Health.Client(wrapping: client)
                for service in ["", "bureau.v1.ReportService", "bureau.v1.AdministrationService"] {
                    var request = Grpc_Health_V1_HealthCheckRequest()
                    request.service = service
                    #expect(try await health.check(request: ClientRequest(message: request), options: fastCall).status == .serving)
                }
                var unknown = Grpc_Health_V1_HealthCheckRequest()
                unknown.service = "no.such.Service"
                let error = await rpcError { _ = try await health.check(request: ClientRequest(message: unknown), options: fastCall) }
                #expect(error?.code == .notFound)

                let statuses = try await health.watch(request: ClientRequest(message: Grpc_Health_V1_HealthCheckRequest()), options: fastCall) { response in
                    var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
                    for try await message in response.messages {
                        seen.append(message.status)
                        if seen.count == 1 { bureau.daemon.beginGracefulShutdown() }
                    }
                    return seen
                }
                #expect(statuses == [.serving, .notServing])
            }
        }
    }
}

@Suite("Reflection over mutual TLS", .serialized)
struct ReflectionTests {
    @Test("a generic tool lists the services and fetches the files that define them, with their imports (v1 and v1alpha)")
    func reflection() async throws {
        try await TestBureau.run { bureau in
            try await bureau.withClient("bank") { client in
                var list = Grpc_Reflection_V1_ServerReflectionRequest()
                list.listServices = "*"
                var symbol = Grpc_Reflection_V1_ServerReflectionRequest()
                symbol.fileContainingSymbol = "bureau.v1.ReportService.GetIndividualReport"
                var unknown = Grpc_Reflection_V1_ServerReflectionRequest()
                unknown.fileByFilename = "nope.proto"
                let replies = try await Grpc_Reflection_V1_ServerReflection.Client(wrapping: client).serverReflectionInfo(
                    request: StreamingClientRequest(of: Grpc_Reflection_V1_ServerReflectionRequest.self) { [list, symbol, unknown] writer in
                        try await writer.write(contentsOf: [list, symbol, unknown])
                    },
                    options: fastCall
                ) { response in
                    var replies: [Grpc_Reflection_V1_ServerReflectionResponse] = []
                    for try await reply in response.messages { replies.append(reply) }
                    return replies
                }
                #expect(replies.count == 3)
                let services = replies[0].listServicesResponse.service.map(\.name)
                #expect(services.contains("bureau.v1.ReportService"))
                #expect(services.contains("grpc.health.v1.Health"))
                #expect(services.contains("grpc.reflection.v1.ServerReflection"))
                let files = try replies[1].fileDescriptorResponse.fileDescriptorProto.map {
                    try Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name
                }
                #expect(files.first == "bureau/v1/report.proto")
                #expect(files.contains("bureau/v1/common.proto") && files.contains("google/protobuf/timestamp.proto"))
                #expect(replies[2].errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))

                var old = Grpc_Reflection_V1alpha_ServerReflectionRequest()
                old.listServices = "*"
                let oldReplies = try await Grpc_Reflection_V1alpha_ServerReflection.Client(wrapping: client).serverReflectionInfo(
                    request: StreamingClientRequest(of: Grpc_Reflection_V1alpha_ServerReflectionRequest.self) { [old] writer in try await writer.write(old) },
                    options: fastCall
                ) { response in
                    var names: [String] = []
                    for try await reply in response.messages { names += reply.listServicesResponse.service.map(\.name) }
                    return names
                }
                #expect(oldReplies.contains("bureau.v1.OversightService"))
                #expect(services.contains("bureau.v1.AdministrationService") && oldReplies.contains("bureau.v1.AdministrationService"))
            }
        }
    }
}

@Suite("Backups", .serialized)
struct BackupTests {
    @Test("a hot backup taken under load restores, and its log verifies against the tree")
    func backupUnderLoad() async throws {
        try await TestBureau.run { bureau in
            let folder = TestKeyFile.temporaryFolder("bureau-backup")
            defer {
                try? FileManager.default.removeItem(atPath: folder)
                try? FileManager.default.removeItem(atPath: folder + "-restored")
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<15 {
                            _ = try await bureau.withClient("bank") { client in
                                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                                    request: ClientRequest(message: individualRequest()), options: fastCall
                                )
                            }
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(100))
                try Backup.take(of: bureau.store, to: folder)
                try await group.waitForAll()
            }
            // A backup holds no keys: it is restored with the installation's current key store.
            try Backup.restore(from: folder, to: folder + "-restored", keyStore: try #require(bureau.store.backend.protection.keyStore as? LMDBKeyStore))
            let restored = try Store(folder: folder + "-restored")
            let (size, _) = try Backup.verifyLog(of: restored)
            #expect(size > 0)
            #expect(size <= (try bureau.store.read { try $0.logSize() }))
            // The copy keeps the secret: the same identifier finds the same file.
            let id = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier))
            #expect(restored.key(for: id) == bureau.store.key(for: id))
            #expect(try restored.read { try $0.file(restored.key(for: id)) } != nil)
            #expect(throws: BureauError.self) { try Backup.take(of: bureau.store, to: folder) }
        }
    }
}

@Suite("Metrics", .serialized)
struct MetricsTests {
    @Test("a gRPC or metrics port already in use stops the daemon at start with an error naming it, instead of waiting forever")
    func portInUse() async throws {
        try await self.startFails(grpc: true)
        try await self.startFails(grpc: false)
    }

    private func startFails(grpc: Bool) async throws {
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        defer { holder.close(promise: nil) }
        let taken = try #require(holder.localAddress?.port)
        let folder = TestKeyFile.temporaryFolder("bureau-metrics-taken")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (_, daemon, _, _) = try TestBureau.prepareDaemon(
            folder: folder, seed: false, mapSize: 64 << 20, prepare: { _ in }, metrics: PrometheusCollectorRegistry(),
            logAudit: .defaults, logger: Logger(label: "test-bureaud"), limits: .defaults, port: grpc ? taken : 0, metricsPort: grpc ? 0 : taken
        )
        let started = ContinuousClock.now
        var failure: BureauError?
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await daemon.run() }
                _ = try await daemon.listeningPort()
                Issue.record("the daemon listened though its metrics port was taken")
                daemon.beginGracefulShutdown()
            }
        } catch let error as BureauError {
            failure = error
        }
        #expect(failure?.code == .unavailable)
        #expect(failure?.message.contains(grpc ? "cannot listen on" : "cannot serve metrics on 127.0.0.1:\(taken)") == true, "\(String(describing: failure))")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("a writer's histogram survives Prometheus's text format: cumulative buckets, +Inf last, sum and count")
    func histogramText() throws {
        var buckets = DurationBuckets()
        for n in 1...50 { buckets.record(.microseconds(40 * n)) }
        buckets.record(.seconds(12))
        let text = buckets.prometheusText(name: "bureau_test_seconds", help: "test")
        #expect(text.hasPrefix("# HELP bureau_test_seconds test\n# TYPE bureau_test_seconds histogram\n"))
        #expect(text.contains("bureau_test_seconds_bucket{le=\"+Inf\"} 51\nbureau_test_seconds_sum "))
        #expect(text.hasSuffix("bureau_test_seconds_count 51\n"))
        #expect(DurationBuckets(prometheus: text, name: "bureau_test_seconds") == buckets)
        // Counts that fall going up are not a cumulative histogram.
        let broken = text.replacingOccurrences(of: "_bucket{le=\"+Inf\"} 51", with: "_bucket{le=\"+Inf\"} 0")
        #expect(DurationBuckets(prometheus: broken, name: "bureau_test_seconds") == nil)
    }

    @Test("two periods of a histogram add up to the whole: subtracting a reading and adding it back gives the same counts and sum")
    func histogramPeriods() {
        var reading = DurationBuckets()
        for n in 1...20 { reading.record(.microseconds(30 * n)) }
        let first = reading
        for n in 1...30 { reading.record(.milliseconds(n)) }
        let second = reading.subtracting(first)
        #expect(second.count == 30 && first.count == 20)
        let whole = first.adding(second)
        #expect(whole.counts == reading.counts)
        #expect(abs(whole.sum - reading.sum) < 1e-9)
        #expect(first.adding(DurationBuckets()) == first)
        let writer = GroupCommitWriter.Statistics(commitDurations: first, waits: second)
        let both = writer.adding(GroupCommitWriter.Statistics(commitDurations: second, waits: first))
        #expect(both.commits == 50 && both.requests == 50 && both.meanBatchSize == 1)
    }

    @Test("the /metrics endpoint serves the log size, commits and map use in the Prometheus text format")
    func endpoint() async throws {
        try await TestBureau.run(metrics: PrometheusCollectorRegistry()) { bureau in
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
            }
            var port: Int?
            for _ in 0..<50 where port == nil {
                port = bureau.daemon.metricsPort
                if port == nil { try await Task.sleep(for: .milliseconds(20)) }
            }
            let text = try await httpGet(port: try #require(port), path: "/metrics")
            #expect(text.contains("200 OK"))
            #expect(text.contains("bureau_log_entries "))
            #expect(text.contains("bureau_lmdb_map_used_bytes "))
            #expect(text.contains("bureau_commits "))
            // The writer's histograms, in Prometheus's format, read back as `bureau bench report --metrics` reads
            // them: the report's commit is counted in both.
            #expect(text.contains("# TYPE bureau_commit_duration_seconds histogram"))
            #expect(text.contains("bureau_write_wait_seconds_bucket{le=\"+Inf\"} "))
            let commits = try #require(DurationBuckets(prometheus: text, name: "bureau_commit_duration_seconds"))
            let waits = try #require(DurationBuckets(prometheus: text, name: "bureau_write_wait_seconds"))
            #expect(commits.count >= 1 && waits.count >= 1)
            #expect(commits.count <= bureau.daemon.writer.statistics.commits)
            #expect(DurationBuckets(prometheus: text, name: "bureau_no_such_histogram") == nil)
            let missing = try await httpGet(port: try #require(port), path: "/other")
            #expect(missing.contains("404"))
        }
    }
}

/// A GET of bureaud's metrics port on this machine: the whole HTTP response.
func httpGet(port: Int, path: String) async throws -> String {
    try MetricsEndpoint.get(host: "127.0.0.1", port: port, path: path)
}
