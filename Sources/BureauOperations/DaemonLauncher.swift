import BureauServer
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// bureaud's process: what its `@main` runs once the flags are parsed.
public enum DaemonLauncher {
    /// Sets up the process (signals, umask, logging to stderr, Prometheus metrics), merges `options` over the
    /// configuration file at `configurationPath` (if given) over the defaults, and serves until SIGTERM or SIGINT.
    /// Prints one line, `bureaud listening on HOST:PORT`, on stdout once the port is open.
    ///
    /// - Throws: ``ConfigurationFile/Problem`` for a bad option or file, before anything is opened; otherwise
    ///   what the daemon throws.
    public static func run(_ options: DaemonOptions, configurationPath: String?) async throws {
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
        logger.info("memory allocator: \(Allocator.description)")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let file = try configurationPath.map { try DaemonOptions.configurationFile(at: $0) }
        let settings = try options.configuration(file: file, registry: registry)
        let daemon = try BureauDaemon(configuration: settings, logger: logger)
        let group = ServiceGroup(services: daemon.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { try await group.run() }
            let port = try await daemon.listeningPort()
            // One line on stdout that scripts wait for.
            FileHandle.standardOutput.write(Data("bureaud listening on \(settings.host):\(port)\n".utf8))
        }
    }
}
