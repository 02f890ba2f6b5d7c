import BureauAPI
import BureauServer
import GRPCCore
import GRPCInProcessTransport
import InMemoryLogging
import Logging
import Testing

/// A handler's own error type, which nothing maps to a status.
private struct StoredBytesUnreadable: Error, CustomStringConvertible {
    var description: String { "record of 110105194912310021 is truncated" }
}

/// A health service whose calls fail with an error no layer maps, on the unary path and inside a stream.
private struct FailingHealth: Grpc_Health_V1_Health.SimpleServiceProtocol {
    func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        throw StoredBytesUnreadable()
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        var serving = Grpc_Health_V1_HealthCheckResponse()
        serving.status = .serving
        try await response.write(serving)
        throw StoredBytesUnreadable()
    }
}

@Suite("Unexpected errors become INTERNAL with an id in bureaud's log")
struct ErrorMappingTests {
    /// Runs the failing service behind the interceptor over the in-process transport.
    private func withFailingServer(
        _ body: (GRPCClient<InProcessTransport.Client>) async throws -> Void
    ) async throws -> InMemoryLogHandler {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "test") { _ in handler }
        let transport = InProcessTransport()
        try await withGRPCServer(
            transport: transport.server, services: [FailingHealth()],
            interceptors: [UnexpectedErrorInterceptor(logger: logger)]
        ) { _ in
            try await withGRPCClient(transport: transport.client) { client in try await body(client) }
        }
        return handler
    }

    private func loggedErrorID(_ handler: InMemoryLogHandler) throws -> (id: String, error: String) {
        let entry = try #require(handler.entries.first { $0.message == "unexpected error" })
        #expect(entry.level == .error)
        return (try #require(entry.metadata["error-id"]).description, try #require(entry.metadata["error"]).description)
    }

    @Test("a unary handler's unmapped error is INTERNAL naming the id that bureaud logged, without digits runs")
    func unary() async throws {
        var status: RPCError?
        let handler = try await self.withFailingServer { client in
            let health = Grpc_Health_V1_Health.Client(wrapping: client)
            do {
                _ = try await health.check(Grpc_Health_V1_HealthCheckRequest())
            } catch let error as RPCError {
                status = error
            }
        }
        let error = try #require(status)
        #expect(error.code == .internalError)
        let logged = try self.loggedErrorID(handler)
        #expect(logged.id.count == 12)
        #expect(error.message.contains("internal error \(logged.id)"))
        #expect(!logged.error.contains("110105194912310021"))
        #expect(logged.error.contains("[digits]"))
    }

    @Test("an error thrown inside a stream after messages were sent is INTERNAL with a logged id")
    func streaming() async throws {
        var received = 0
        var status: RPCError?
        let handler = try await self.withFailingServer { client in
            let health = Grpc_Health_V1_Health.Client(wrapping: client)
            let (count, error) = try await health.watch(Grpc_Health_V1_HealthCheckRequest()) { response in
                var count = 0
                do {
                    for try await _ in response.messages { count += 1 }
                } catch let error as RPCError {
                    return (count, Optional(error))
                }
                return (count, nil)
            }
            received = count
            status = error
        }
        #expect(received == 1)
        let error = try #require(status)
        #expect(error.code == .internalError)
        #expect(error.message.contains(try self.loggedErrorID(handler).id))
    }
}
