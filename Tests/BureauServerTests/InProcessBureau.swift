import BureauAPI
import BureauCore
import BureauOperations
@testable import BureauServer
import BureauStore
import BureauStoreConformance
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Logging
import Testing
import X509

/// What the behaviour tests need of a running bureau, whichever transport serves it (``TestBureau`` over
/// mTLS, ``InProcessBureau`` in process): the daemon and its store, the demo clients and the clock.
protocol BureauHarness: Sendable {
    var ca: CertificateAuthority { get }
    var daemon: BureauDaemon { get }
    /// Client certificates bound to the demo institutions, by certificate name.
    var clients: [String: CertificateAuthority.Issued] { get }
    var clock: TestClock { get }
}

extension BureauHarness {
    var store: Store { self.daemon.store }

    /// Registers another institution bound to a new certificate and returns that certificate.
    func register(_ institution: Institution) throws -> CertificateAuthority.Issued {
        let issued = try self.ca.issueClient(name: institution.name, code: institution.code.value)
        var institution = institution
        institution.certificateFingerprints = [try CallerResolver.fingerprint(of: issued.certificate).hexString]
        try InstitutionRegistry.register(institution, in: self.store)
        return issued
    }

    func logEntries() throws -> [LoggedEntry] {
        try self.store.read { try $0.logEntries(from: 0, limit: 10_000) }
    }
}

/// bureaud's services and interceptors, the very instances ``BureauDaemon`` serves, over the in-process
/// transport: behaviour tests without sockets or TLS handshakes.
///
/// The caller is still resolved from a certificate issued by the bureau's CA and bound in the store, as
/// over mTLS: each client gets its own in-process server whose first interceptor (``PresentCertificate``)
/// presents the client's certificate to `CallerResolver` through its internal task-local. Nothing the
/// client sends is read for identity. Identity, TLS and wire suites stay on ``TestBureau``.
struct InProcessBureau: BureauHarness {
    let ca: CertificateAuthority
    let daemon: BureauDaemon
    let clients: [String: CertificateAuthority.Issued]
    let clock: TestClock

    /// Runs a daemon's services and background work for `body`, set up as ``TestBureau/run`` does: over a
    /// new folder, or over `folder` (e.g. a restored backup, kept afterwards) when given.
    static func run(
        folder given: String? = nil, seed: Bool = true, mapSize: Int = 64 << 20, prepare: (Store) throws -> Void = { _ in },
        logAudit: LogAuditor.Configuration = .defaults, logger: Logger = Logger(label: "test-bureaud"),
        requestLines: RequestLines? = nil, _ body: (InProcessBureau) async throws -> Void
    ) async throws {
        let folder = given ?? TestKeyFile.temporaryFolder("bureau-inprocess")
        defer { if given == nil { try? FileManager.default.removeItem(atPath: folder) } }
        let (ca, daemon, clients, clock) = try TestBureau.prepareDaemon(
            folder: folder, seed: seed, mapSize: mapSize, prepare: prepare, metrics: nil, logAudit: logAudit, logger: logger,
            limits: .defaults, requestLines: requestLines
        )
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await daemon.runBackground() }
                group.addTask { try await daemon.auditor.run() }
                // The start-up retention purge (the background's first request to the writer) is committed
                // before the first call, so that it never lands among a test's own requests (see `between`).
                while daemon.writer.statistics.requests == 0 { try await Task.sleep(for: .milliseconds(1)) }
                defer {
                    daemon.beginGracefulShutdown()
                    group.cancelAll()
                }
                try await body(InProcessBureau(ca: ca, daemon: daemon, clients: clients, clock: clock))
            }
        } catch {
            await daemon.writer.shutdown()
            throw error
        }
        await daemon.writer.shutdown()
    }

    /// Runs `body` with a client presenting `identity`.
    func withClient<T: Sendable>(
        as identity: CertificateAuthority.Issued, _ body: (GRPCClient<InProcessTransport.Client>) async throws -> T
    ) async throws -> T {
        let transport = InProcessTransport()
        let served = self.daemon.served
        return try await withGRPCServer(
            transport: transport.server, services: served.services,
            interceptors: [PresentCertificate(certificate: identity.certificate)] + served.interceptors
        ) { _ in
            try await withGRPCClient(transport: transport.client) { client in try await body(client) }
        }
    }

    func withClient<T: Sendable>(_ name: String, _ body: (GRPCClient<InProcessTransport.Client>) async throws -> T) async throws -> T {
        try await self.withClient(as: self.clients[name]!, body)
    }
}

/// Test-only: presents `certificate` as the caller's verified certificate for every RPC of the in-process
/// server it is installed on, for the handler and for the response stream it produces. bureaud never
/// installs it; its source is the test's chosen certificate, never anything in the request.
struct PresentCertificate: ServerInterceptor {
    let certificate: Certificate

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let certificate = self.certificate
        var response = try await CallerResolver.$inProcessPeer.withValue(certificate) { try await next(request, context) }
        response.accepted = response.accepted.map { contents in
            var contents = contents
            let producer = contents.producer
            contents.producer = { writer in try await CallerResolver.$inProcessPeer.withValue(certificate) { try await producer(writer) } }
            return contents
        }
        return response
    }
}
