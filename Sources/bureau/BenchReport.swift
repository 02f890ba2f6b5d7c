import ArgumentParser
import BureauAPI
import BureauCore
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Synchronization

/// bureaud in this process on 127.0.0.1 with a fresh data folder, its own CA, the demo institutions and
/// `subjects` synthetic people whose accounts the demo bank furnished (so post-loan management needs no
/// consent), plus mTLS clients for the bank. Shared by `bench report` and `bench scale`.
struct BenchDaemon {
    let daemon: BureauDaemon
    let port: Int
    let ca: CertificateAuthority
    let bank: CertificateAuthority.Issued
    /// Identifiers of people on file, spread over the whole file (requests pick from them in turn).
    let identifiers: [String]
    let importSeconds: Double

    static func run(
        folder: String, subjects: Int, _ body: (BenchDaemon) async throws -> Void
    ) async throws {
        let fm = FileManager.default
        try? fm.removeItem(atPath: folder)
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? fm.removeItem(atPath: folder) }

        let ca = try CertificateAuthority.create(name: "Bench CA")
        let server = try ca.issueServer()
        let bank = try ca.issueClient(name: "Demo Commercial Bank", code: DemoData.bank.value)
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let daemon = try BureauDaemon(
            configuration: DaemonConfiguration(
                port: 0, dataFolder: folder + "/data", store: .init(mapSize: 64 << 30),
                tls: .init(
                    certificateChain: .bytes(Array(try server.certificatePEM.utf8)),
                    privateKey: .bytes(Array(server.privateKeyPEM.utf8)),
                    clientCA: .bytes(Array(try ca.certificatePEM.utf8))
                )
            ),
            logger: logger
        )
        _ = try DemoData.seed(into: daemon.store, certificates: nil)
        var institution = try daemon.store.read { try $0.institution(code: DemoData.bank) }!
        institution.certificateFingerprints.insert(try CallerResolver.fingerprint(of: bank.certificate).hexString)
        try InstitutionRegistry.register(institution, in: daemon.store)

        let generator = SyntheticData(furnishers: [DemoData.bank], today: CalendarDate(utcDayOf: Date()))
        let lines = folder + "/people.jsonl"
        let handle = try openOutput(lines)
        try generator.writeLines(count: subjects, to: handle)
        try handle.close()
        let started = ContinuousClock.now
        _ = try Importer(store: daemon.store).importFile(at: lines)
        let importSeconds = (ContinuousClock.now - started) / .seconds(1)
        try? fm.removeItem(atPath: lines)
        // A fixed pseudo-random sample spread over the whole file, so that lookups touch all of the B-tree.
        var rng = SystemRandomNumberGenerator()
        let identifiers = (0..<min(subjects, 20_000)).map { _ in generator.person(Int.random(in: 0..<subjects, using: &rng), accounts: 0).identifier }

        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await daemon.run() }
            let port = try await daemon.listeningPort()
            defer { daemon.beginGracefulShutdown() }
            try await body(
                BenchDaemon(daemon: daemon, port: port, ca: ca, bank: bank, identifiers: identifiers, importSeconds: importSeconds)
            )
        }
    }

    /// Runs `body` with `connections` mTLS clients of the bank.
    func withClients<T: Sendable>(
        _ connections: Int, _ body: ([GRPCClient<HTTP2ClientTransport.Posix>]) async throws -> T
    ) async throws -> T {
        let clients = try (0..<connections).map { _ in
            GRPCClient(
                transport: try BureauClientTransport.make(
                    host: "127.0.0.1", port: self.port,
                    certificateChain: [.bytes(Array(try self.bank.certificatePEM.utf8), format: .pem)],
                    privateKey: .bytes(Array(self.bank.privateKeyPEM.utf8), format: .pem),
                    ca: [.bytes(Array(try self.ca.certificatePEM.utf8), format: .pem)]
                )
            )
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { try await client.runConnections() } }
            defer { for client in clients { client.beginGracefulShutdown() } }
            return try await body(clients)
        }
    }

    /// An audited post-loan-management report of the `n`th sampled person.
    func report(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ n: Int) async throws {
        var request = Bureau_IndividualReportRequest()
        request.identifier = self.identifiers[n % self.identifiers.count]
        request.purpose = .postLoanManagement
        request.requestID = "bench-\(n)"
        _ = try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request))
    }
}

/// Closed-loop load: `concurrency` workers share `requests` calls over the clients, optionally paced.
struct BenchLoad {
    var concurrency: Int

    struct Figures {
        var rate: Double
        var p50: Double
        var p99: Double
        var errors: Int

        func line(_ label: String) -> String {
            String(format: "%@ %8.0f req/s   p50 %6.2f ms   p99 %6.2f ms%@",
                   label.padding(toLength: 24, withPad: " ", startingAt: 0), rate, p50, p99, errors > 0 ? "   \(errors) errors" : "")
        }
    }

    final class Counters: Sendable {
        let next = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
    }

    /// Runs `requests` calls with `concurrency` workers, open-loop paced at `pace` requests a second if given.
    func phase(
        _ clients: [GRPCClient<HTTP2ClientTransport.Posix>], requests: Int, pace: Double? = nil,
        _ call: @escaping @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void
    ) async throws -> Figures {
        let counters = Counters()
        let started = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for worker in 0..<self.concurrency {
                group.addTask {
                    var mine: [Double] = []
                    while true {
                        let n = counters.next.add(1, ordering: .relaxed).oldValue
                        if n >= requests { break }
                        if let pace {
                            let due = started.advanced(by: .seconds(Double(n) / pace))
                            if due > .now { try await Task.sleep(until: due, clock: .continuous) }
                        }
                        let t0 = ContinuousClock.now
                        do {
                            try await call(clients[(worker + n) % clients.count], n)
                        } catch {
                            counters.errors.add(1, ordering: .relaxed)
                        }
                        mine.append((ContinuousClock.now - t0) / .milliseconds(1))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        return Figures(rate: Double(requests) / seconds, p50: percentile(0.50), p99: percentile(0.99), errors: counters.errors.load(ordering: .relaxed))
    }
}

extension Bench {
    struct ReportBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Audited report queries over mTLS against an empty RPC on the same server: rates, ratio, latency, batch size.",
            discussion: """
                Starts bureaud in this process on 127.0.0.1 with a fresh data folder, its own CA and synthetic files, \
                then runs, over the same connections: pings (the transport's ceiling), audited reports at full \
                concurrency, and audited reports paced at a third of the measured peak.
                """
        )

        @Option(help: "Requests in each timed phase.") var requests = 20_000
        @Option(help: "Requests in flight.") var concurrency = 64
        @Option(help: "HTTP/2 connections the requests share.") var connections = 4
        @Option(help: "Synthetic people on file.") var subjects = 10_000
        @Option(help: "Scratch folder (made fresh, removed afterwards).") var folder = "bench-report"

        func run() async throws {
            guard requests > 0, concurrency > 0, connections > 0, subjects > 0 else {
                throw ValidationError("--requests, --concurrency, --connections and --subjects must be positive")
            }
            let load = BenchLoad(concurrency: concurrency)
            try await BenchDaemon.run(folder: folder, subjects: subjects) { bench in
                try await bench.withClients(connections) { clients in
                    let ping: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void = { client, _ in
                        _ = try await Bureau_DiagnosticsService.Client(wrapping: client).ping(request: ClientRequest(message: .init()))
                    }
                    let report: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void = { try await bench.report($0, $1) }

                    // Warm up connections and caches.
                    _ = try await load.phase(clients, requests: min(2000, requests), report)

                    let empty = try await load.phase(clients, requests: requests, ping)
                    let before = bench.daemon.writer.statistics
                    let audited = try await load.phase(clients, requests: requests, report)
                    let after = bench.daemon.writer.statistics
                    let paced = try await load.phase(clients, requests: max(1000, requests / 3), pace: audited.rate / 3, report)

                    let batches = after.commits - before.commits
                    let batch = batches == 0 ? 0 : Double(after.requests - before.requests) / Double(batches)
                    print("bureau bench report: \(requests) requests a phase, \(concurrency) in flight over \(connections) mTLS connections, \(subjects) files")
                    print(empty.line("empty RPC (ping)"))
                    print(audited.line("audited report"))
                    print(paced.line("audited, paced at 1/3"))
                    print(String(format: "ratio audited/empty: %.2f", audited.rate / empty.rate))
                    print(String(format: "mean commit batch:   %.1f requests (%llu commits)", batch, batches))
                }
            }
        }
    }
}
