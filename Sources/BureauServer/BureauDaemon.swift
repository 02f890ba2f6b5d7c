import BureauAPI
import BureauWire
public import BureauCore
public import BureauStore
import BureauLMDB
public import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCNIOTransportCore
import NIOPosix
import SwiftASN1
import Synchronization
public import Logging
public import X509
public import ServiceLifecycle
public import Prometheus

/// What every service shares: the store, its writer, the caller resolver, the catalogue and the clock.
struct BureauContext: Sendable {
    let store: Store
    let writer: GroupCommitWriter
    let callers: CallerResolver
    let catalogue: CatalogueCache
    let logger: Logger
    let now: @Sendable () -> Date
    let shutdown: ShutdownSignal
    /// Admits FollowAccessLog streams up to the limit and says how long one may stall.
    var followers = FollowerGate(limits: .defaults)
    /// Which disclosed reports get a line in bureaud's log.
    var requestLines = RequestLineSampler(.defaults)
    /// The daemon's metric handles, made once per label set.
    var metrics = MetricHandles()
}

/// Set when the daemon begins its graceful shutdown, so that endless streams (followers) end.
final class ShutdownSignal: Sendable {
    private let flag = Mutex(false)
    var isShuttingDown: Bool { self.flag.withLock { $0 } }
    func begin() { self.flag.withLock { $0 = true } }
}

/// The daemon's settings.
public struct DaemonConfiguration: Sendable {
    /// PEM sources for the server's TLS identity and the bureau's CA.
    public struct TLS: Sendable {
        /// PEM text, in a file or in memory.
        public enum PEM: Sendable {
            case file(String)
            case bytes([UInt8])

            var source: TLSConfig.CertificateSource {
                switch self {
                case .file(let path): .file(path: path, format: .pem)
                case .bytes(let bytes): .bytes(bytes, format: .pem)
                }
            }

            var keySource: TLSConfig.PrivateKeySource {
                switch self {
                case .file(let path): .file(path: path, format: .pem)
                case .bytes(let bytes): .bytes(bytes, format: .pem)
                }
            }
        }

        /// The server's certificate, then any intermediates.
        public var certificateChain: PEM
        public var privateKey: PEM
        /// The bureau's CA: the only trust root for client certificates.
        public var clientCA: PEM

        public init(certificateChain: PEM, privateKey: PEM, clientCA: PEM) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
        }

        /// PEM files: the server certificate, its key and the CA certificate.
        public static func files(certificate: String, key: String, ca: String) -> TLS {
            TLS(certificateChain: .file(certificate), privateKey: .file(key), clientCA: .file(ca))
        }

        /// The bureau's CA certificates, parsed from ``clientCA``: a certificate an operator binds over the API
        /// (``AdministrationService``) must be issued by one of them.
        func issuers() throws -> [Certificate] {
            let pem: String
            switch self.clientCA {
            case .file(let path): pem = try String(contentsOfFile: path, encoding: .utf8)
            case .bytes(let bytes): pem = String(decoding: bytes, as: UTF8.self)
            }
            return try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
        }
    }

    public var host: String
    /// 0 picks a free port (see ``BureauDaemon/listeningPort()``).
    public var port: Int
    public var dataFolder: String
    public var store: Store.Configuration
    public var tls: TLS
    /// Where to serve Prometheus metrics from `registry` (GET /metrics), if at all.
    public var metrics: (registry: PrometheusCollectorRegistry, host: String, port: Int)?
    /// The rules of anomaly monitoring.
    public var anomalyRules: AnomalyRules
    /// How often the monitor looks at the day's queries.
    public var anomalyInterval: Duration
    /// The log's origin line in checkpoints (and the checkpoint key's name).
    public var logOrigin: String
    /// How the access log is checked at start and re-verified in the background.
    public var logAudit: LogAuditor.Configuration
    /// How often records whose retention ended are purged (also once at start).
    public var purgeInterval: Duration
    /// The clock, for tests that control time.
    public var now: @Sendable () -> Date
    /// Connections, streams, request sizes, followers and timeouts (`[limits]` in the configuration file).
    public var limits: ServerLimits
    /// How many disclosed reports get a line in bureaud's log (every request is in the access log anyway).
    public var requestLines: RequestLines

    public init(
        host: String = "127.0.0.1",
        port: Int = 50051,
        dataFolder: String,
        store: Store.Configuration = .defaults,
        tls: TLS,
        purgeInterval: Duration = .seconds(3600),
        logOrigin: String = "bureau.local/access-log",
        logAudit: LogAuditor.Configuration = .defaults,
        anomalyRules: AnomalyRules = .defaults,
        anomalyInterval: Duration = .seconds(300),
        metrics: (registry: PrometheusCollectorRegistry, host: String, port: Int)? = nil,
        now: @escaping @Sendable () -> Date = { Date() },
        limits: ServerLimits = .defaults,
        requestLines: RequestLines = .defaults
    ) {
        self.limits = limits
        self.requestLines = requestLines
        self.metrics = metrics
        self.anomalyRules = anomalyRules
        self.anomalyInterval = anomalyInterval
        self.logOrigin = logOrigin
        self.logAudit = logAudit
        self.purgeInterval = purgeInterval
        self.host = host
        self.port = port
        self.dataFolder = dataFolder
        self.store = store
        self.tls = tls
        self.now = now
    }
}

/// bureaud: the gRPC server over mutual TLS, its store and its writer, run as one `Service`.
///
/// ```swift
/// let daemon = try BureauDaemon(configuration: config, logger: logger)
/// let group = ServiceGroup(services: daemon.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public final class BureauDaemon: Service, Sendable {
    public let store: Store
    public let writer: GroupCommitWriter
    /// Signs the log's checkpoints; its verifier key is what regulators hold.
    public let checkpoints: CheckpointPublisher
    /// Watches query behaviour.
    public let monitor: AnomalyMonitor
    /// Re-verifies the access log in the background (a service of its own, see ``services``).
    public let auditor: LogAuditor
    private let anomalyInterval: Duration
    private let metrics: (registry: PrometheusCollectorRegistry, host: String, port: Int)?
    private let metricsEndpoint = Mutex<MetricsEndpoint?>(nil)
    /// Where serving began, for ``listeningPort()``: its callers waiting, then the port or why there is none.
    /// Settled by ``run()``, also when it stops before serving (the metrics port could not be bound), so that
    /// no caller waits for a listener that will never come.
    private let listening = Mutex<(port: Result<Int, BureauError>?, waiting: [CheckedContinuation<Int, any Error>])>((nil, []))
    private let server: GRPCServer<HTTP2ServerTransport.Custom<BureauListener>>
    private let transport: HTTP2ServerTransport.Custom<BureauListener>
    /// What bureaud serves, built once here: its services and, in order, its interceptors. The in-process
    /// test harness (Tests/BureauServerTests/InProcessBureau.swift) serves these same instances.
    let served: (services: [any RegistrableRPCService], interceptors: [any ServerInterceptor])
    private let logger: Logger
    private let address: String
    private let purgeInterval: Duration
    private let context: BureauContext

    /// Opens the store and prepares the server; nothing listens until ``run()``.
    public init(configuration: DaemonConfiguration, logger: Logger) throws {
        self.logger = logger
        self.address = "\(configuration.host):\(configuration.port)"
        self.store = try Store(folder: configuration.dataFolder, configuration: configuration.store)
        self.writer = GroupCommitWriter(store: self.store, logger: logger)
        self.checkpoints = CheckpointPublisher(
            store: self.store, signer: try CheckpointKey.loadOrCreate(in: configuration.dataFolder, origin: configuration.logOrigin)
        )
        try CheckpointKey.bind(self.checkpoints.signer, to: self.store)
        var context = BureauContext(
            store: self.store,
            writer: self.writer,
            callers: CallerResolver(store: self.store, now: configuration.now),
            catalogue: CatalogueCache(store: self.store),
            logger: logger,
            now: configuration.now,
            shutdown: ShutdownSignal()
        )
        var limits = configuration.limits
        limits.fitDescriptorLimit(logger: logger)
        context.followers = FollowerGate(limits: limits)
        context.requestLines = RequestLineSampler(configuration.requestLines)
        self.context = context
        self.auditor = LogAuditor(
            store: self.store, signer: self.checkpoints.signer, configuration: configuration.logAudit, logger: logger,
            shutdown: context.shutdown
        )
        // Never serve a log changed behind bureaud's back.
        try self.auditor.checkAtStart()
        self.purgeInterval = configuration.purgeInterval
        self.monitor = AnomalyMonitor(store: self.store, writer: self.writer, rules: configuration.anomalyRules, now: configuration.now)
        self.anomalyInterval = configuration.anomalyInterval
        self.metrics = configuration.metrics
        let tls = configuration.tls
        let peers = VerifiedPeer()
        let transport = HTTP2ServerTransport.Custom(
            listenerFactory: BureauListener(
                host: configuration.host, port: configuration.port, sslContext: try ServerLimits.sslContext(tls),
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton
            ),
            config: limits.transportConfig(gate: ConnectionGate(maximum: limits.maxConnections, logger: logger), peers: peers)
        )
        self.served = (
            services: [
                ReportService(context: context),
                FurnishService(context: context),
                CatalogService(context: context),
                ConsentService(context: context),
                SubjectService(context: context),
                OversightService(context: context, publisher: self.checkpoints, monitor: self.monitor),
                AdministrationService(
                    context: context, issuers: try tls.issuers(),
                    oversight: OversightService(context: context, publisher: self.checkpoints, monitor: self.monitor)
                ),
                DiagnosticsService(),
                HealthService(shutdown: context.shutdown, auditor: self.auditor),
                ReflectionService(),
                ReflectionServiceV1Alpha(),
            ],
            interceptors: [VerifiedPeer.Interceptor(peers: peers), MetricsInterceptor(handles: context.metrics), UnexpectedErrorInterceptor(logger: logger), OperatorMetadata(), RefusalLog(context: context)]
        )
        self.transport = transport
        self.server = GRPCServer(transport: transport, services: self.served.services, interceptors: self.served.interceptors)
    }

    /// The services to run in one `ServiceGroup`: the daemon and its log auditor.
    public var services: [any Service] { [self, self.auditor] }

    /// Serves until graceful shutdown (SIGTERM, SIGINT) or cancellation, then drains in-flight RPCs and
    /// commits what the writer still holds.
    public func run() async throws {
        let server = self.server
        if let metrics = self.metrics {
            let endpoint: MetricsEndpoint
            do {
                endpoint = try await MetricsEndpoint(
                    registry: metrics.registry, store: self.store, writer: self.writer, host: metrics.host, port: metrics.port,
                    auditor: self.auditor
                )
            } catch {
                let failure = BureauError(
                    .unavailable, "cannot serve metrics on \(metrics.host):\(metrics.port): the address is in use or not permitted (\(error))"
                )
                self.settleListening(.failure(failure))
                await self.writer.shutdown()
                throw failure
            }
            self.metricsEndpoint.withLock { $0 = endpoint }
            self.logger.info("metrics on http://\(metrics.host):\(endpoint.port)/metrics")
        }
        self.logger.info(
            "bureaud starting",
            metadata: ["data": "\(self.store.folder)", "checkpoint-verifier-key": "\(self.checkpoints.signer.verifierKey)"]
        )
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await self.runBackground() }
                    // Resolved once the transport listens, or once serve() ends without listening.
                    group.addTask { self.settleListening(await self.transportPort()) }
                    try await server.serve()
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                self.context.shutdown.begin()
                server.beginGracefulShutdown()
            }
        } catch {
            await self.metricsEndpoint.withLock({ $0 })?.close()
            await self.writer.shutdown()
            throw error
        }
        await self.metricsEndpoint.withLock({ $0 })?.close()
        await self.writer.shutdown()
        self.logger.info("bureaud stopped")
    }

    /// The daemon's work beside serving, until cancelled: the retention purge, checkpoint publishing and
    /// anomaly monitoring; each step only while this node holds the store's background-work lease (always
    /// with LMDB; one node at a time of those sharing a PostgreSQL database).
    func runBackground() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.purgePeriodically() }
            group.addTask { await self.publishCheckpoints() }
            group.addTask { await self.monitorPeriodically() }
        }
    }

    /// Purges records whose retention ended, now and every ``DaemonConfiguration/purgeInterval`` until cancelled.
    private func purgePeriodically() async {
        while !Task.isCancelled {
            if self.store.holdsBackgroundLease() {
                do {
                    let removed = try await self.purgeExpired()
                    if removed > 0 { self.logger.info("retention purge", metadata: ["records": "\(removed)"]) }
                } catch {
                    self.logger.error("retention purge failed", metadata: ["error": "\(error)"])
                }
            }
            do { try await Task.sleep(for: self.purgeInterval) } catch { return }
        }
    }

    /// Looks for anomalies in the day's queries every ``DaemonConfiguration/anomalyInterval``.
    private func monitorPeriodically() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: self.anomalyInterval) } catch { return }
            guard self.store.holdsBackgroundLease() else { continue }
            do {
                let found = try await self.monitor.anomalies(on: CalendarDate(utcDayOf: self.context.now()))
                if !found.isEmpty { self.logger.warning("anomalies in query behaviour", metadata: ["count": "\(found.count)"]) }
            } catch {
                self.logger.error("anomaly monitoring failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Signs a checkpoint every second while entries arrive and keeps the latest in `checkpoint.note` in
    /// the data folder, for anyone who reads the folder (backups, the CLI).
    private func publishCheckpoints() async {
        var published: UInt64 = .max
        let path = (self.store.folder as NSString).appendingPathComponent("checkpoint.note")
        while !Task.isCancelled {
            do {
                if !self.store.holdsBackgroundLease() {
                    published = .max  // another node publishes; write ours afresh when the lease comes here
                } else {
                    let (note, checkpoint) = try self.checkpoints.current()
                    if checkpoint.size != published {
                        try PrivateFile.write(Data(note.utf8), to: path)
                        published = checkpoint.size
                    }
                }
            } catch {
                self.logger.error("checkpoint not published", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
        }
    }

    /// Deletes every record whose retention has ended, through the writer, logging each batch.
    /// - Returns: how many records were removed.
    @discardableResult
    public func purgeExpired() async throws -> Int {
        let time = self.context.now()
        let today = CalendarDate(utcDayOf: time)
        var total = 0
        while true {
            let removed = try await self.writer.submit { txn in
                // The catalogue in force at this commit, not a cached one: a change applies at once, both ways.
                try txn.purgeExpired(onOrBefore: today, catalogue: try txn.storedCatalogue() ?? .default, time: time)
            }
            total += removed
            if removed == 0 { return total }
        }
    }

    /// The port of the metrics endpoint, once it listens (nil without one).
    public var metricsPort: Int? { self.metricsEndpoint.withLock { $0?.port } }

    /// The port the server listens on, once it does.
    ///
    /// - Throws: ``BureauError`` (unavailable) when it cannot listen, or when ``run()`` stopped before serving.
    public func listeningPort() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let settled = self.listening.withLock { state -> Result<Int, BureauError>? in
                if state.port == nil { state.waiting.append(continuation) }
                return state.port
            }
            if let settled { continuation.resume(with: settled.mapError { $0 }) }
        }
    }

    /// The port the transport listens on, or why it does not (its address resolves once it listens or ends).
    private func transportPort() async -> Result<Int, BureauError> {
        guard let address = await self.transport.listeningAddress else {
            return .failure(BureauError(.unavailable, "cannot listen on \(self.address): the address is in use or not permitted"))
        }
        guard let ipv4 = address.ipv4 else { return .failure(BureauError(.unavailable, "the server is not listening on IPv4")) }
        return .success(ipv4.port)
    }

    /// Settles ``listeningPort()`` for every caller, now and later; the first outcome stands.
    private func settleListening(_ port: Result<Int, BureauError>) {
        let waiting = self.listening.withLock { state -> [CheckedContinuation<Int, any Error>] in
            guard state.port == nil else { return [] }
            state.port = port
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume(with: port.mapError { $0 }) }
    }

    /// Stops accepting RPCs and lets in-flight ones finish.
    public func beginGracefulShutdown() {
        self.context.shutdown.begin()
        self.server.beginGracefulShutdown()
    }
}
