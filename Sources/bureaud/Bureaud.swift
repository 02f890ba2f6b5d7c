import ArgumentParser
import BureauOperations

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
    @Option(help: "Answered reports (disclosed or no-hit) given a line in bureaud's log: off, every, or N for one in N (default 1000; every request is in the access log anyway).")
    var requestLines: String?
    @Option(help: "A PostgreSQL store instead of LMDB: postgresql://user@host:port/database?sslmode=verify-full&sslrootcert=ca.pem (schema made by `bureau store migrate`).") var store: String?

    func run() async throws {
        let options = DaemonOptions(
            host: host, port: port, data: data, cert: cert, key: key, ca: ca,
            mapSizeMib: mapSizeMib, logOrigin: logOrigin, metricsPort: metricsPort, logAuditRate: logAuditRate,
            requestLines: requestLines, store: store
        )
        do {
            try await DaemonLauncher.run(options, configurationPath: config)
        } catch let problem as ConfigurationFile.Problem {
            throw ValidationError(problem.message)
        }
    }
}
