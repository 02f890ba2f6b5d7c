import ArgumentParser
import BureauCore
import BureauServer
import Foundation
import Logging
import Metrics
import Prometheus
import BureauStore
import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// bureaud: the credit bureau daemon.
@main
struct Bureaud: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bureaud",
        abstract: "Serves credit reports over gRPC with mutual TLS, from LMDB, logging every request."
    )

    @Option(help: "Configuration file (TOML, see ops/bureau.example.toml); flags override it.") var config: String?
    @Option(help: "Address to listen on (default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on, 0 picks a free one (default 50051).") var port: Int?
    @Option(help: "Data folder: LMDB environment and keys (default data).") var data: String?
    @Option(help: "Server certificate PEM (default certs/server.pem).") var cert: String?
    @Option(help: "Server private key PEM (default certs/server.key).") var key: String?
    @Option(help: "The bureau's CA certificate PEM: the only issuer of client certificates accepted (default certs/ca.pem).") var ca: String?
    @Option(help: "LMDB map size in MiB: the most the database may grow to (default 4096).") var mapSizeMib: Int?
    @Option(help: "The log's origin line in checkpoints (default bureau.local/access-log).") var logOrigin: String?
    @Option(help: "Port of the Prometheus /metrics endpoint, on the same host (default 9464, 0 picks a free one).") var metricsPort: Int?
    @Option(help: "Access-log entries re-verified a second in the background, 0 for none (default 2000).") var logAuditRate: Int?

    func run() async throws {
        #if canImport(Glibc)
        // A write past the file-size limit fails with EFBIG, answered UNAVAILABLE, instead of killing the daemon.
        signal(SIGXFSZ, SIG_IGN)
        // Whatever bureaud makes (data, keys, checkpoints) is its owner's only.
        umask(0o077)
        #endif
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "bureaud")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let file: ConfigurationFile?
        if let config {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                throw ValidationError("--config: cannot read \(config)")
            }
            do { file = try ConfigurationFile(path: config, text: text) } catch { throw ValidationError("\(error)") }
        } else {
            file = nil
        }
        let settings: DaemonConfiguration
        do {
            settings = try Self.settings(self, file, registry: registry)
        } catch let problem as ConfigurationFile.Problem {
            throw ValidationError(problem.message)
        }
        let daemon = try BureauDaemon(configuration: settings, logger: logger)
        let group = ServiceGroup(services: daemon.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            let port = try await daemon.listeningPort()
            // One line on stdout that scripts wait for.
            FileHandle.standardOutput.write(Data("bureaud listening on \(settings.host):\(port)\n".utf8))
        }
    }

    /// Flags over the file over the defaults.
    static func settings(_ flags: Bureaud, _ file: ConfigurationFile?, registry: PrometheusCollectorRegistry) throws -> DaemonConfiguration {
        let host = try flags.host ?? file?.string("host") ?? "127.0.0.1"
        let port = try flags.port ?? file?.integer("port", in: 0...65535) ?? 50051
        guard (0...65535).contains(port) else { throw ValidationError("--port: 0 to 65535") }
        let data = try flags.data ?? file?.string("data") ?? "data"
        let cert = try flags.cert ?? file?.string("tls.certificate") ?? "certs/server.pem"
        let key = try flags.key ?? file?.string("tls.key") ?? "certs/server.key"
        let ca = try flags.ca ?? file?.string("tls.ca") ?? "certs/ca.pem"
        let mapSize = try flags.mapSizeMib ?? file?.integer("map_size_mib", in: 16...(1 << 24)) ?? 4096
        guard mapSize >= 16 else { throw ValidationError("--map-size-mib: at least 16") }
        for (name, path) in [("tls.certificate", cert), ("tls.key", key), ("tls.ca", ca)] where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(name): \(path) does not exist (make dev certificates with scripts/make-dev-certs)")
        }
        var rules = AnomalyRules.defaults
        if let v = try file?.decimal("anomalies.spike_factor", in: 1...1000) { rules.spikeFactor = v }
        if let v = try file?.integer("anomalies.spike_minimum", in: 1...1_000_000_000) { rules.spikeMinimum = v }
        if let v = try file?.integer("anomalies.baseline_days", in: 1...365) { rules.baselineDays = v }
        if let v = try file?.decimal("anomalies.denial_ratio", in: 0.01...1) { rules.denialRatio = v }
        if let v = try file?.integer("anomalies.denial_minimum", in: 1...1_000_000_000) { rules.denialMinimum = v }
        if let v = try file?.integer("anomalies.consent_subjects_maximum", in: 1...1_000_000) { rules.consentSubjectsMaximum = v }
        let purge = try file?.integer("retention.purge_interval_minutes", in: 1...10_080) ?? 60
        let anomalies = try file?.integer("anomalies.interval_minutes", in: 1...1440) ?? 5
        let metricsPort = try flags.metricsPort ?? file?.integer("metrics_port", in: 0...65535) ?? 9464
        var audit = LogAuditor.Configuration.defaults
        audit.entriesPerSecond = try flags.logAuditRate ?? file?.integer("log_audit.entries_per_second", in: 0...10_000_000) ?? audit.entriesPerSecond
        guard (0...10_000_000).contains(audit.entriesPerSecond) else { throw ValidationError("--log-audit-rate: 0 to 10000000") }
        if let minutes = try file?.integer("log_audit.pause_minutes", in: 0...10_080) { audit.pause = .seconds(minutes * 60) }
        return DaemonConfiguration(
            host: host, port: port, dataFolder: data, store: .init(mapSize: mapSize << 20),
            tls: .files(certificate: cert, key: key, ca: ca), purgeInterval: .seconds(purge * 60),
            logOrigin: try flags.logOrigin ?? file?.string("log_origin") ?? "bureau.local/access-log", logAudit: audit,
            anomalyRules: rules, anomalyInterval: .seconds(anomalies * 60),
            metrics: (registry, host, metricsPort),
            limits: try file?.limits() ?? .defaults
        )
    }
}
