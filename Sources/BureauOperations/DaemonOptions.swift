import BureauCore
public import BureauServer
import BureauStore
import BureauPostgres
import Logging
import Foundation
public import Prometheus

/// bureaud's options as given on its command line, `nil` where a flag is absent.
/// ``configuration(file:registry:)`` merges them: flags over the configuration file over the defaults.
public struct DaemonOptions: Sendable {
    /// `--host`, else `host`, else 127.0.0.1.
    public var host: String?
    /// `--port`, else `port`, else 50051; 0 picks a free one.
    public var port: Int?
    /// `--data`, else `data`, else `data`: the LMDB environment and keys.
    public var data: String?
    /// `--cert`, else `tls.certificate`, else certs/server.pem.
    public var cert: String?
    /// `--key`, else `tls.key`, else certs/server.key.
    public var key: String?
    /// `--ca`, else `tls.ca`, else certs/ca.pem: the only issuer of client certificates accepted.
    public var ca: String?
    /// `--map-size-mib`, else `map_size_mib`, else 4096.
    public var mapSizeMib: Int?
    /// `--log-origin`, else `log_origin`, else bureau.local/access-log.
    public var logOrigin: String?
    /// `--metrics-port`, else `metrics_port`, else 9464; 0 picks a free one.
    public var metricsPort: Int?
    /// `--log-audit-rate`, else `log_audit.entries_per_second`, else the auditor's default.
    public var logAuditRate: Int?
    /// `--request-lines`, else `request_lines`, else one answered report in 1,000 (``RequestLines/defaults``).
    public var requestLines: String?
    /// `--store`, else `store`, else none (the embedded LMDB store in the data folder): a PostgreSQL store's
    /// `postgresql://` URL.
    public var store: String?

    /// The options of the flags given; `nil` for each flag absent.
    public init(
        host: String? = nil, port: Int? = nil, data: String? = nil, cert: String? = nil, key: String? = nil, ca: String? = nil,
        mapSizeMib: Int? = nil, logOrigin: String? = nil, metricsPort: Int? = nil, logAuditRate: Int? = nil,
        requestLines: String? = nil, store: String? = nil
    ) {
        self.requestLines = requestLines
        self.host = host
        self.port = port
        self.data = data
        self.cert = cert
        self.key = key
        self.ca = ca
        self.mapSizeMib = mapSizeMib
        self.logOrigin = logOrigin
        self.metricsPort = metricsPort
        self.logAuditRate = logAuditRate
        self.store = store
    }

    /// Reads and parses the configuration file at `path` (`--config`).
    ///
    /// - Throws: ``ConfigurationFile/Problem`` naming the path when it cannot be read, or the line and key of a bad entry.
    public static func configurationFile(at path: String) throws -> ConfigurationFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationFile.Problem(message: "--config: cannot read \(path)")
        }
        return try ConfigurationFile(path: path, text: text)
    }

    /// Flags over the file over the defaults.
    ///
    /// - Throws: ``ConfigurationFile/Problem`` naming the flag, or the file, line and key, of a bad value, or a TLS
    ///   file that does not exist.
    public func configuration(file: ConfigurationFile?, registry: PrometheusCollectorRegistry) throws -> DaemonConfiguration {
        let flags = self
        let host = try flags.host ?? file?.string("host") ?? "127.0.0.1"
        let port = try flags.port ?? file?.integer("port", in: 0...65535) ?? 50051
        guard (0...65535).contains(port) else { throw ConfigurationFile.Problem(message: "--port: 0 to 65535") }
        let data = try flags.data ?? file?.string("data") ?? "data"
        let cert = try flags.cert ?? file?.string("tls.certificate") ?? "certs/server.pem"
        let key = try flags.key ?? file?.string("tls.key") ?? "certs/server.key"
        let ca = try flags.ca ?? file?.string("tls.ca") ?? "certs/ca.pem"
        let mapSize = try flags.mapSizeMib ?? file?.integer("map_size_mib", in: 16...(1 << 24)) ?? 4096
        guard mapSize >= 16 else { throw ConfigurationFile.Problem(message: "--map-size-mib: at least 16") }
        let keys = try file?.keys() ?? .environment
        let keyStore = try file?.string("keys.store")
        let backend = try Self.backend(flags.store ?? file?.string("store"), keys: keys, keyStore: keyStore)
        if backend == nil, let keyStore, PostgresLocation.isURL(keyStore) {
            throw ConfigurationFile.Problem(message: "\(file?.place("keys.store") ?? "keys.store"): a PostgreSQL key store goes with a PostgreSQL store (store = \"postgresql://...\"); the LMDB store's is a folder")
        }
        for (name, path) in [("tls.certificate", cert), ("tls.key", key), ("tls.ca", ca)] where !FileManager.default.fileExists(atPath: path) {
            throw ConfigurationFile.Problem(message: "\(name): \(path) does not exist (make dev certificates with scripts/make-dev-certs)")
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
        guard (0...10_000_000).contains(audit.entriesPerSecond) else { throw ConfigurationFile.Problem(message: "--log-audit-rate: 0 to 10000000") }
        if let minutes = try file?.integer("log_audit.pause_minutes", in: 0...10_080) { audit.pause = .seconds(minutes * 60) }
        let requestLines: RequestLines
        if let flag = flags.requestLines {
            guard let lines = RequestLines(flag) else {
                throw ConfigurationFile.Problem(message: "--request-lines: off, every or a whole number N from 0 to 1000000000 (one in N)")
            }
            requestLines = lines
        } else {
            requestLines = try file?.requestLines("request_lines") ?? .defaults
        }
        return DaemonConfiguration(
            host: host, port: port, dataFolder: data,
            store: .init(mapSize: mapSize << 20, keys: keys, keyStore: keyStore, openBackend: backend),
            tls: .files(certificate: cert, key: key, ca: ca), purgeInterval: .seconds(purge * 60),
            logOrigin: try flags.logOrigin ?? file?.string("log_origin") ?? "bureau.local/access-log", logAudit: audit,
            anomalyRules: rules, anomalyInterval: .seconds(anomalies * 60),
            metrics: (registry, host, metricsPort),
            limits: try file?.limits() ?? .defaults,
            requestLines: requestLines
        )
    }

    /// The opener of the PostgreSQL store `url` names (nil for none: LMDB in the data folder), sealing with the KEK
    /// `keys` names; its key store is the database `keyStore` names (schema `bureau_keys`), by default the store's.
    /// - Throws: ``ConfigurationFile/Problem`` when `url` or `keyStore` is not a well-formed `postgresql://` URL.
    static func backend(_ url: String?, keys: KeyConfiguration, keyStore: String?) throws -> (@Sendable (String) throws -> any StorageBackend)? {
        guard let url else { return nil }
        let location: PostgresLocation
        let keyLocation: PostgresLocation?
        do {
            location = try PostgresLocation(url: url, field: "--store")
            keyLocation = try keyStore.map { try PostgresLocation(url: $0, field: "keys.store") }
        } catch let error as BureauError {
            throw ConfigurationFile.Problem(message: error.message)
        }
        return { folder in
            try PostgresStorage(location: location, keys: keys, keyStore: keyLocation, dataFolder: folder, logger: Logger(label: "bureaud.postgres"))
        }
    }
}
