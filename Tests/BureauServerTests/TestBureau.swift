import BureauAPI
import BureauClient
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauWire
import BureauStoreConformance
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Prometheus
import Synchronization
import Testing
import X509

/// A clock the tests move.
final class TestClock: Sendable {
    private let time = Mutex(Date())
    var now: Date { self.time.withLock { $0 } }
    func advance(days: Int) { self.time.withLock { $0 = $0.addingTimeInterval(Double(days) * 86_400) } }
}

/// A real bureaud on 127.0.0.1 with a fresh data folder, its own CA and demo data, for tests over mTLS.
struct TestBureau: BureauHarness {
    let ca: CertificateAuthority
    let daemon: BureauDaemon
    let port: Int
    /// Client certificates bound to the demo institutions, by certificate name (bank, furnisher, regulator, channel, court, operator).
    let clients: [String: CertificateAuthority.Issued]
    let clock: TestClock

    /// Runs a daemon for `body`: in a fresh temporary folder seeded with the demo data, or in `folder`
    /// (kept afterwards, seeded only when `seed` is true) with a map of `mapSize` bytes.
    static func run(
        folder given: String? = nil, seed: Bool = true, mapSize: Int = 64 << 20,
        prepare: (Store) throws -> Void = { _ in }, metrics: PrometheusCollectorRegistry? = nil,
        logAudit: LogAuditor.Configuration = .defaults, logger: Logger = Logger(label: "test-bureaud"),
        limits: ServerLimits = .defaults, backend: (@Sendable (String) throws -> any StorageBackend)? = nil,
        _ body: (TestBureau) async throws -> Void
    ) async throws {
        let folder = given ?? TestKeyFile.temporaryFolder("bureau-server")
        defer { if given == nil { try? FileManager.default.removeItem(atPath: folder) } }
        let (ca, daemon, clients, clock) = try Self.prepareDaemon(
            folder: folder, seed: seed, mapSize: mapSize, prepare: prepare, metrics: metrics, logAudit: logAudit, logger: logger,
            limits: limits, backend: backend
        )
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await daemon.run() }
            group.addTask { try await daemon.auditor.run() }
            let port = try await daemon.listeningPort()
            defer { daemon.beginGracefulShutdown() }
            try await body(TestBureau(ca: ca, daemon: daemon, port: port, clients: clients, clock: clock))
        }
    }

    /// A daemon over `folder` with a fresh CA, seeded with the demo data when `seed` is true, and a client
    /// certificate bound to each demo institution; nothing serves yet.
    static func prepareDaemon(
        folder: String, seed: Bool, mapSize: Int, prepare: (Store) throws -> Void, metrics: PrometheusCollectorRegistry?,
        logAudit: LogAuditor.Configuration, logger: Logger, limits: ServerLimits, requestLines: RequestLines? = nil,
        backend: (@Sendable (String) throws -> any StorageBackend)? = nil, port: Int = 0, metricsPort: Int = 0
    ) throws -> (CertificateAuthority, BureauDaemon, [String: CertificateAuthority.Issued], TestClock) {
        let clock = TestClock()
        let ca = try CertificateAuthority.create(name: "Test Bureau CA")
        let server = try ca.issueServer()
        let daemon = try BureauDaemon(
            configuration: DaemonConfiguration(
                port: port, dataFolder: folder, store: .init(mapSize: mapSize, openBackend: backend),
                tls: .init(
                    certificateChain: .bytes(Array(try server.certificatePEM.utf8)),
                    privateKey: .bytes(Array(server.privateKeyPEM.utf8)),
                    clientCA: .bytes(Array(try ca.certificatePEM.utf8))
                ),
                logAudit: logAudit,
                metrics: metrics.map { ($0, "127.0.0.1", metricsPort) },
                now: { clock.now },
                limits: limits,
                requestLines: requestLines ?? .defaults
            ),
            logger: logger
        )
        try prepare(daemon.store)
        if seed {
            _ = try DemoData.seed(into: daemon.store, certificates: nil)
            try fileStandingConsents(in: daemon.store)
        }
        var clients: [String: CertificateAuthority.Issued] = [:]
        for demo in DemoData.institutions {
            let issued = try ca.issueClient(name: demo.institution.name, code: demo.institution.code.value)
            var institution = demo.institution
            institution.certificateFingerprints = [try CallerResolver.fingerprint(of: issued.certificate).hexString]
            try InstitutionRegistry.register(institution, in: daemon.store)
            clients[demo.certificateName] = issued
        }
        return (ca, daemon, clients, clock)
    }

    /// Runs `body` with a client presenting `identity`, trusting `trust` (the bureau's CA by default).
    func withClient<T: Sendable>(
        as identity: CertificateAuthority.Issued,
        trusting trust: CertificateAuthority? = nil,
        _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        let transport = try BureauClientTransport.make(
            host: "127.0.0.1",
            port: self.port,
            certificateChain: [.bytes(Array(try identity.certificatePEM.utf8), format: .pem)],
            privateKey: .bytes(Array(identity.privateKeyPEM.utf8), format: .pem),
            ca: [.bytes(Array(try (trust ?? self.ca).certificatePEM.utf8), format: .pem)]
        )
        return try await withGRPCClient(transport: transport) { client in try await body(client) }
    }

    func withClient<T: Sendable>(
        _ name: String,
        _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        try await self.withClient(as: self.clients[name]!, body)
    }
}

/// A deadline that fails a hung call instead of the whole run, long enough for a TLS handshake and a report
/// on a loaded 2-core CI machine running every suite at once (10 s was exceeded there now and then, by
/// `backupUnderLoad`'s 60 connections and the standing tests).
var fastCall: CallOptions {
    var options = CallOptions.defaults
    options.timeout = .seconds(30)
    return options
}

/// Subjects the tests query, and the agencies that query them.
let consentingSubjects: [(SubjectKind, String)] = [
    (.individual, DemoData.personIdentifier), (.individual, "440305199207045670"), (.individual, "310104198503121235"),
    (.individual, "510107197802288918"), (.individual, "110108199001010036"), (.business, DemoData.businessIdentifier),
]
let employerCode = "91110000600037341L"

/// The reference of the standing consent filed for tests (see ``fileStandingConsents(in:)``).
func standingConsent(_ id: String, _ purpose: Purpose, agency: String = DemoData.bank.value) -> String {
    let index = consentingSubjects.firstIndex { $0.1 == id } ?? 99
    return "consent-\(agency)-s\(index)-\(purpose.rawValue)"
}

/// Files a consent, valid for a year, for each tested subject, consent-based purpose and agency.
func fileStandingConsents(in store: Store) throws {
    let today = CalendarDate(utcDayOf: Date())
    try store.write { txn in
        for (kind, id) in consentingSubjects {
            let key = store.key(for: try SubjectIdentifier(kind: kind, parsing: id))
            for agency in [DemoData.bank.value, employerCode] {
                for purpose in Purpose.allCases where purpose.requiresConsent {
                    try txn.putConsent(
                        Consent(
                            reference: standingConsent(id, purpose, agency: agency), subject: key,
                            agency: try UnifiedSocialCreditCode(parsing: agency), purpose: purpose,
                            validFrom: today.adding(years: -1), validUntil: today.adding(years: 1),
                            evidenceDigest: String(repeating: "ab", count: 32), singleUse: false
                        )
                    )
                }
            }
        }
    }
}

func individualRequest(
    _ id: String = DemoData.personIdentifier, purpose: Bureau_Purpose = .loanOrigination, consent: String? = nil,
    agency: String = DemoData.bank.value
) -> Bureau_IndividualReportRequest {
    var request = Bureau_IndividualReportRequest()
    request.identifier = id
    request.purpose = purpose
    request.consentReference = consent ?? Purpose(purpose).map { standingConsent(id, $0, agency: agency) } ?? "consent-1"
    request.requestID = UUID().uuidString
    return request
}

/// The RPC error a call throws, or nil when it succeeds.
func rpcError(_ body: () async throws -> Void) async -> RPCError? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        Issue.record("expected an RPCError, got \(error)")
        return nil
    }
}
