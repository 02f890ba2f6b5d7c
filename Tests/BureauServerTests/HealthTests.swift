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
            let missing = try await httpGet(port: try #require(port), path: "/other")
            #expect(missing.contains("404"))
        }
    }
}

/// A plain HTTP/1.1 GET over a socket, returning the whole response.
func httpGet(port: Int, path: String) async throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw BureauError(.unavailable, "cannot connect to the metrics port") }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    return String(decoding: response, as: UTF8.self)
}
