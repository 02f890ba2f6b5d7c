public import BureauAPI
import Foundation
public import GRPCCore

/// The standard gRPC health service (grpc.health.v1), per service: SERVING while bureaud serves,
/// NOT_SERVING once its graceful shutdown begins or once the access log was found changed.
public struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let shutdown: ShutdownSignal
    let auditor: LogAuditor?
    /// "" (the server as a whole) and every service bureaud serves.
    static let services: Set<String> = [
        "", "bureau.v1.ReportService", "bureau.v1.FurnishService", "bureau.v1.CatalogService", "bureau.v1.ConsentService",
        "bureau.v1.SubjectService", "bureau.v1.OversightService", "bureau.v1.AdministrationService", "bureau.v1.DiagnosticsService", "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
    ]

    init(shutdown: ShutdownSignal, auditor: LogAuditor? = nil) {
        self.shutdown = shutdown
        self.auditor = auditor
    }

    private func status(_ service: String) -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        guard Self.services.contains(service) else { return .serviceUnknown }
        let tampered = self.auditor?.progress.failure != nil
        return self.shutdown.isShuttingDown || tampered ? .notServing : .serving
    }

    public func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard Self.services.contains(request.service) else {
            throw RPCError(code: .notFound, message: "service: \(request.service) is not served here")
        }
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = self.status(request.service)
        return response
    }

    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        var last: Grpc_Health_V1_HealthCheckResponse.ServingStatus?
        while true {
            // The status first: a shutdown also cancels the watch, and the watcher should hear why.
            let current = self.status(request.service)
            if current != last {
                var message = Grpc_Health_V1_HealthCheckResponse()
                message.status = current
                try await response.write(message)
                last = current
            }
            // A server shutting down ends its watches after saying so.
            if current == .notServing || Task.isCancelled || context.cancellation.isCancelled { return }
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
        }
    }
}
