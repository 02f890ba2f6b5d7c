import ArgumentParser
import BureauServer
import Foundation
import Logging
import BureauStore
import ServiceLifecycle
import UnixSignals

/// bureaud: the credit bureau daemon.
@main
struct Bureaud: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bureaud",
        abstract: "Serves credit reports over gRPC with mutual TLS, from LMDB, logging every request."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 50051
    @Option(help: "Data folder (LMDB environment and installation secret).") var data = "data"
    @Option(help: "Server certificate (PEM).") var cert = "certs/server.pem"
    @Option(help: "Server private key (PEM).") var key = "certs/server.key"
    @Option(help: "The bureau's CA certificate (PEM): the only issuer of client certificates accepted.") var ca = "certs/ca.pem"
    @Option(help: "LMDB map size in MiB: the most the database may grow to.") var mapSizeMib = 4096

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "bureaud")
        for (name, path) in [("--cert", cert), ("--key", key), ("--ca", ca)] where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(name): \(path) does not exist (make dev certificates with scripts/make-dev-certs)")
        }
        guard mapSizeMib > 0 else { throw ValidationError("--map-size-mib: must be positive") }
        let daemon = try BureauDaemon(
            configuration: DaemonConfiguration(
                host: host, port: port, dataFolder: data,
                store: .init(mapSize: mapSizeMib << 20),
                tls: .files(certificate: cert, key: key, ca: ca)
            ),
            logger: logger
        )
        let group = ServiceGroup(services: [daemon], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            let port = try await daemon.listeningPort()
            // One line on stdout that scripts wait for.
            FileHandle.standardOutput.write(Data("bureaud listening on \(host):\(port)\n".utf8))
        }
    }
}
