import BureauAPI
import BureauServer
import GRPCCore
import Testing

@Suite("Health over mutual TLS", .serialized)
struct HealthTests {
    @Test("Check answers per service; Watch sees NOT_SERVING when the daemon begins to shut down")
    func health() async throws {
        try await TestBureau.run { bureau in
            try await bureau.withClient("bank") { client in
                let health = Grpc_Health_V1_Health.Client(wrapping: client)
                for service in ["", "bureau.v1.ReportService"] {
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
