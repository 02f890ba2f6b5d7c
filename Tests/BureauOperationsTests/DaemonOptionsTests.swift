import BureauOperations
import BureauServer
import BureauStoreConformance
import Foundation
import Prometheus
import Testing

@Suite("bureaud's options: flags over the file over the defaults")
struct DaemonOptionsTests {
    /// A folder holding empty TLS files, so the merge's "does the file exist" check passes; the options name them.
    final class TLSFiles {
        let folder: String
        init() throws {
            self.folder = TestKeyFile.temporaryFolder("bureau-options")
            try FileManager.default.createDirectory(atPath: self.folder, withIntermediateDirectories: true)
            for name in ["server.pem", "server.key", "ca.pem"] {
                FileManager.default.createFile(atPath: "\(self.folder)/\(name)", contents: Data())
            }
        }
        deinit { try? FileManager.default.removeItem(atPath: self.folder) }

        /// Options naming the files by flag, with `change` applied.
        func options(_ change: (inout DaemonOptions) -> Void = { _ in }) -> DaemonOptions {
            var options = DaemonOptions(cert: "\(self.folder)/server.pem", key: "\(self.folder)/server.key", ca: "\(self.folder)/ca.pem")
            change(&options)
            return options
        }
    }

    static let file = """
        host = "10.0.0.1"
        port = 6000
        log_origin = "file.example/log"
        metrics_port = 9000
        [log_audit]
        entries_per_second = 50
        [limits]
        max_connections = 7
        """

    @Test("a flag overrides the file")
    func flagOverridesFile() throws {
        let tls = try TLSFiles()
        let file = try ConfigurationFile(path: "bureau.toml", text: Self.file)
        let options = tls.options {
            $0.host = "127.0.0.2"
            $0.port = 7000
            $0.logOrigin = "flag.example/log"
            $0.metricsPort = 9100
            $0.logAuditRate = 5
        }
        let configuration = try options.configuration(file: file, registry: PrometheusCollectorRegistry())
        #expect(configuration.host == "127.0.0.2")
        #expect(configuration.port == 7000)
        #expect(configuration.logOrigin == "flag.example/log")
        #expect(configuration.metrics?.port == 9100)
        #expect(configuration.logAudit.entriesPerSecond == 5)
    }

    @Test("the file overrides a default, and without flag or file the default holds")
    func fileOverridesDefault() throws {
        let tls = try TLSFiles()
        let file = try ConfigurationFile(path: "bureau.toml", text: Self.file)
        let fromFile = try tls.options().configuration(file: file, registry: PrometheusCollectorRegistry())
        #expect(fromFile.host == "10.0.0.1")
        #expect(fromFile.port == 6000)
        #expect(fromFile.logOrigin == "file.example/log")
        #expect(fromFile.metrics?.port == 9000)
        #expect(fromFile.logAudit.entriesPerSecond == 50)
        #expect(fromFile.limits.maxConnections == 7)

        let defaults = try tls.options().configuration(file: nil, registry: PrometheusCollectorRegistry())
        #expect(defaults.host == "127.0.0.1")
        #expect(defaults.port == 50051)
        #expect(defaults.dataFolder == "data")
        #expect(defaults.logOrigin == "bureau.local/access-log")
        #expect(defaults.metrics?.port == 9464)
        #expect(defaults.logAudit.entriesPerSecond == LogAuditor.Configuration.defaults.entriesPerSecond)
        #expect(defaults.limits == ServerLimits.defaults)
        #expect(defaults.purgeInterval == .seconds(3600))
    }

    @Test("a bad value in the file is refused naming the file, the line and the key", arguments: [
        ("host = \"a\"\nport = \"x\"", "bureau.toml:2: port: must be a whole number from 0 to 65535"),
        ("[retention]\npurge_interval_minutes = 0", "bureau.toml:2: retention.purge_interval_minutes: must be a whole number from 1 to 10080"),
        ("# the origin\n\nlog_origin = \"\"", "bureau.toml:3: log_origin: must be a non-empty string"),
        (
            "[keys]\nstore = \"postgresql://bureau@keys.example/keys\"",
            "bureau.toml:2: keys.store: a PostgreSQL key store goes with a PostgreSQL store (store = \"postgresql://...\"); the LMDB store's is a folder"
        ),
    ])
    func badValue(text: String, message: String) throws {
        let tls = try TLSFiles()
        let file = try ConfigurationFile(path: "bureau.toml", text: text)
        let error = try #require(throws: ConfigurationFile.Problem.self) {
            _ = try tls.options().configuration(file: file, registry: PrometheusCollectorRegistry())
        }
        #expect(error.message == message)
    }

    @Test("a bad flag or a missing TLS file is refused naming it")
    func badFlag() throws {
        let tls = try TLSFiles()
        let port = try #require(throws: ConfigurationFile.Problem.self) {
            _ = try tls.options { $0.port = 70000 }.configuration(file: nil, registry: PrometheusCollectorRegistry())
        }
        #expect(port.message == "--port: 0 to 65535")
        let missing = try #require(throws: ConfigurationFile.Problem.self) {
            _ = try tls.options { $0.ca = "\(tls.folder)/absent.pem" }.configuration(file: nil, registry: PrometheusCollectorRegistry())
        }
        #expect(missing.message.hasPrefix("tls.ca: \(tls.folder)/absent.pem does not exist"))
    }

    @Test("an unreadable configuration file is refused naming the path")
    func unreadable() throws {
        let error = try #require(throws: ConfigurationFile.Problem.self) {
            _ = try DaemonOptions.configurationFile(at: "/nonexistent/bureau.toml")
        }
        #expect(error.message == "--config: cannot read /nonexistent/bureau.toml")
    }

    @Test("request lines: --request-lines over request_lines over one in 1,000; a bad value is refused naming it")
    func requestLines() throws {
        let tls = try TLSFiles()
        let registry = PrometheusCollectorRegistry()
        #expect(try tls.options().configuration(file: nil, registry: registry).requestLines == .defaults)
        let every = try ConfigurationFile(path: "bureau.toml", text: "request_lines = \"every\"")
        #expect(try tls.options().configuration(file: every, registry: registry).requestLines == .every)
        let some = try ConfigurationFile(path: "bureau.toml", text: "request_lines = 50")
        #expect(try tls.options().configuration(file: some, registry: registry).requestLines == RequestLines(oneIn: 50))
        #expect(try tls.options { $0.requestLines = "off" }.configuration(file: every, registry: registry).requestLines == .off)
        let flag = try #require(throws: ConfigurationFile.Problem.self) {
            _ = try tls.options { $0.requestLines = "often" }.configuration(file: nil, registry: registry)
        }
        #expect(flag.message.hasPrefix("--request-lines:"))
        let file = try ConfigurationFile(path: "bureau.toml", text: "port = 1\nrequest_lines = -3")
        let bad = try #require(throws: ConfigurationFile.Problem.self) { _ = try tls.options().configuration(file: file, registry: registry) }
        #expect(bad.message.hasPrefix("bureau.toml:2: request_lines: must be"))
    }
}
