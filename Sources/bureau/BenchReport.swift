import ArgumentParser
import BureauAPI
import BureauClient
import BureauCore
import BureauOperations
import BureauPostgres
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
    /// Identifiers of people not on file, for the no-hit phase.
    let absent: [String]
    let importSeconds: Double

    static func run(
        folder: String, subjects: Int, backend: (@Sendable (String) throws -> any StorageBackend)? = nil,
        _ body: (BenchDaemon) async throws -> Void
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
                port: 0, dataFolder: folder + "/data", store: .init(mapSize: 64 << 30, openBackend: backend),
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
                BenchDaemon(
                    daemon: daemon, port: port, ca: ca, bank: bank, identifiers: identifiers,
                    absent: BenchSubjects.absent(subjects: subjects), importSeconds: importSeconds
                )
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
        try await Self.report(client, self.identifiers, n)
    }

    /// An audited post-loan-management report of `identifiers[n % count]`.
    static func report(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ identifiers: [String], _ n: Int) async throws {
        var request = Bureau_IndividualReportRequest()
        request.identifier = identifiers[n % identifiers.count]
        request.purpose = .postLoanManagement
        request.requestID = "bench-\(n)"
        _ = try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request))
    }

    /// The same request about `identifiers[n % count]`, someone not on file: a no-hit, logged as every query is,
    /// its answer NOT_FOUND. Any other answer is an error: the phase measures no-hits only.
    static func noHit(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ identifiers: [String], _ n: Int) async throws {
        do {
            try await Self.report(client, identifiers, n)
        } catch let error as RPCError where error.code == .notFound {
            return
        }
        throw BureauError(.failedPrecondition, "a no-hit was expected, and a report came: someone is on file under \(identifiers[n % identifiers.count])")
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
        /// Further percentiles of the latencies (ms): p90, p99.9 and the slowest.
        var p90: Double = 0
        var p999: Double = 0
        var max: Double = 0
        /// Paced phases: how late this client sent requests after their due time (ms, p50 and p99), its own
        /// timers' and scheduling's share, which no server change removes.
        var late: (p50: Double, p99: Double)? = nil
        /// The server's CPU time (user + system) per request in microseconds, when its process could be read.
        var serverCPU: Double? = nil
        /// The time the server's threads spent runnable but waiting for a CPU (the scheduler's run queue),
        /// per request in microseconds: what the machine's other load adds to latency.
        var serverWait: Double? = nil
        /// The server threads' context switches per request (voluntary and not): each is a thread put to sleep
        /// or woken, what a request costs beyond its work when it comes alone.
        var serverSwitches: Double? = nil
        /// This client's own CPU time per request in microseconds: with client and server on one machine, they
        /// share its CPUs, and a rate is set by the two together.
        var clientCPU: Double? = nil

        /// The median of each figure over `rounds` of one phase (each figure on its own: the median rate and the
        /// median p99 may come from different rounds), errors summed; nil for none.
        static func median(_ rounds: [Figures]) -> Figures? {
            guard !rounds.isEmpty else { return nil }
            func middle(_ values: [Double]) -> Double {
                let sorted = values.sorted()
                return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
            func middle(_ values: [Double?]) -> Double? {
                let known = values.compactMap { $0 }
                return known.count == values.count ? middle(known) : nil
            }
            var figures = Figures(
                rate: middle(rounds.map(\.rate)), p50: middle(rounds.map(\.p50)), p99: middle(rounds.map(\.p99)),
                errors: rounds.reduce(0) { $0 + $1.errors }
            )
            (figures.p90, figures.p999, figures.max) = (middle(rounds.map(\.p90)), middle(rounds.map(\.p999)), middle(rounds.map(\.max)))
            figures.serverCPU = middle(rounds.map(\.serverCPU))
            figures.serverWait = middle(rounds.map(\.serverWait))
            figures.serverSwitches = middle(rounds.map(\.serverSwitches))
            figures.clientCPU = middle(rounds.map(\.clientCPU))
            return figures
        }

        func line(_ label: String) -> String {
            String(format: "%@ %8.0f req/s   p50 %6.2f ms   p99 %6.2f ms%@%@%@%@",
                   label.padding(toLength: 24, withPad: " ", startingAt: 0), rate, p50, p99,
                   serverCPU.map { String(format: "   server CPU %5.0f us/req", $0) } ?? "",
                   serverWait.map { String(format: ", waiting for a CPU %5.0f us/req", $0) } ?? "",
                   clientCPU.map { String(format: "   client CPU %5.0f us/req", $0) } ?? "",
                   errors > 0 ? "   \(errors) errors" : "")
        }

        /// The phase's row of the latency table: p50, p90, p99, p99.9 and max in ms, and for a paced phase how
        /// late the client sent.
        func percentiles(_ label: String) -> String {
            String(format: "%@ %7.2f %7.2f %7.2f %7.2f %7.2f%@%@",
                   label.padding(toLength: 24, withPad: " ", startingAt: 0), p50, p90, p99, p999, max,
                   serverSwitches.map { String(format: "   server context switches %.1f/req", $0) } ?? "",
                   late.map { String(format: "   sent late p50 %.2f, p99 %.2f", $0.p50, $0.p99) } ?? "")
        }
    }

    final class Counters: Sendable {
        let next = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let succeeded = Atomic<Int>(0)
        /// The first call's error, for the message when no call succeeds.
        let firstError = Mutex<String?>(nil)
    }

    /// Calls that all failed, none having succeeded, after which a phase stops: a server with another CA, a
    /// wrong port or an empty store would otherwise be timed for thousands of failures.
    static let failuresBeforeGivingUp = 100

    /// Runs `requests` calls with `concurrency` workers, open-loop paced at `pace` requests a second if given.
    ///
    /// - Throws: ``BureauError`` (unavailable) naming the first failure when no call succeeded (the phase stops after
    ///   ``failuresBeforeGivingUp`` such calls); some failures among successes are counted in ``Figures/errors``.
    func phase(
        _ clients: [GRPCClient<HTTP2ClientTransport.Posix>], requests: Int, pace: Double? = nil,
        _ call: @escaping @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void
    ) async throws -> Figures {
        let counters = Counters()
        let started = ContinuousClock.now
        let measured = try await withThrowingTaskGroup(of: (latencies: [Double], late: [Double]).self) { group in
            for worker in 0..<self.concurrency {
                group.addTask {
                    var mine: [Double] = []
                    var late: [Double] = []
                    while true {
                        let n = counters.next.add(1, ordering: .relaxed).oldValue
                        if n >= requests { break }
                        if let pace {
                            let due = started.advanced(by: .seconds(Double(n) / pace))
                            if due > .now { try await Task.sleep(until: due, clock: .continuous) }
                            late.append((ContinuousClock.now - due) / .milliseconds(1))
                        }
                        let t0 = ContinuousClock.now
                        do {
                            try await call(clients[(worker + n) % clients.count], n)
                            counters.succeeded.add(1, ordering: .relaxed)
                        } catch {
                            counters.firstError.withLock { $0 = $0 ?? "\(error)" }
                            let failed = counters.errors.add(1, ordering: .relaxed).newValue
                            if failed >= Self.failuresBeforeGivingUp, counters.succeeded.load(ordering: .relaxed) == 0 { break }
                        }
                        mine.append((ContinuousClock.now - t0) / .milliseconds(1))
                    }
                    return (mine, late)
                }
            }
            return try await group.reduce(into: (latencies: [Double](), late: [Double]())) { $0.latencies += $1.latencies; $0.late += $1.late }
        }
        let failed = counters.errors.load(ordering: .relaxed)
        if failed > 0, counters.succeeded.load(ordering: .relaxed) == 0 {
            throw BureauError(.unavailable, "all \(failed) calls failed, none succeeded; the first: \(counters.firstError.withLock { $0 } ?? "unknown")")
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        let sorted = measured.latencies.sorted()
        let late = measured.late.sorted()
        var figures = Figures(
            rate: Double(requests) / seconds, p50: Self.percentile(sorted, 0.50), p99: Self.percentile(sorted, 0.99),
            errors: counters.errors.load(ordering: .relaxed)
        )
        (figures.p90, figures.p999, figures.max) = (Self.percentile(sorted, 0.90), Self.percentile(sorted, 0.999), sorted.last ?? 0)
        if pace != nil { figures.late = (Self.percentile(late, 0.50), Self.percentile(late, 0.99)) }
        return figures
    }

    /// The `p` quantile of ascending `sorted` (nearest rank), 0 when empty.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}

/// The people a bench client names when bureaud is not in its process: the synthetic people that
/// `bureau demo generate --subjects N --seed S` wrote (and `bureau import` loaded), of whom the caller may see
/// without consent only those it furnished, or the identifiers of a file.
enum BenchSubjects {
    /// The furnishers `bureau demo generate` spreads its people over, in its order.
    static let demoFurnishers = [DemoData.bank, DemoData.consumerFinance]

    /// Identifiers of people `0..<subjects` of the generator with `seed` whose records `furnisher` filed,
    /// sampled evenly over the whole file (at most `sample` of them), in file order.
    static func synthetic(subjects: Int, seed: UInt64, furnisher: UnifiedSocialCreditCode, sample: Int = 20_000) -> [String] {
        let generator = SyntheticData(furnishers: Self.demoFurnishers, seed: seed, today: CalendarDate(utcDayOf: Date()))
        // Half the people on average are the furnisher's: look at up to four times the sample, spread over the file.
        let looked = min(subjects, 4 * sample)
        var identifiers: [String] = []
        for k in 0..<looked {
            let person = generator.person(Int((Int64(k) * Int64(subjects)) / Int64(looked)), accounts: 0)
            if person.furnisher == furnisher.value { identifiers.append(person.identifier) }
            if identifiers.count == sample { break }
        }
        return identifiers
    }

    /// Identifiers of `count` people nobody has filed: those `bureau demo generate` would write after its
    /// first `subjects` (each index has its own identifier, whatever the seed).
    static func absent(subjects: Int, count: Int = 20_000) -> [String] {
        let generator = SyntheticData(furnishers: Self.demoFurnishers, today: CalendarDate(utcDayOf: Date()))
        return (subjects..<(subjects + count)).map { generator.person($0, accounts: 0).identifier }
    }

    /// The identifiers of a file, one a line; blank lines and lines starting with `#` are skipped.
    static func parse(_ text: String) throws -> [String] {
        var identifiers: [String] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard (try? ResidentIdentityNumber(parsing: line)) != nil else {
                throw ValidationError("--identifiers: line \(number + 1) is not a resident identity number")
            }
            identifiers.append(line)
        }
        guard !identifiers.isEmpty else { throw ValidationError("--identifiers: the file names nobody") }
        return identifiers
    }
}

/// CPU time processes have used (user + system), read from `/proc/PID/stat`: one bureaud, or the nodes of one store.
struct ProcessCPU: Sendable {
    let pids: [Int32]

    init(pid: Int32) { self.pids = [pid] }

    /// All of `processes` together; nil when one is missing.
    init?(_ processes: [ProcessCPU?]) {
        guard !processes.isEmpty, processes.allSatisfy({ $0 != nil }) else { return nil }
        self.pids = processes.flatMap { $0!.pids }
    }

    /// Seconds of CPU the processes have used so far, nil when one cannot be read.
    func seconds() -> Double? {
        var total = 0.0
        for pid in self.pids {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After the command name in parentheses: state (field 3) ... utime (14), stime (15).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
            total += user + system
        }
        return total / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Seconds the process's threads have spent runnable but not running (waiting in the scheduler's run
    /// queue), summed over the threads of every process from `/proc/PID/task/TID/schedstat`; nil when it cannot be read.
    func runQueueWait() -> Double? {
        var nanoseconds: UInt64 = 0
        for pid in self.pids {
            guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return nil }
            for thread in threads {
                // Time on a CPU, time waiting for one, time slices (nanoseconds, nanoseconds, count).
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/schedstat", encoding: .utf8) else { continue }
                let fields = stat.split(separator: " ")
                if fields.count > 1, let waited = UInt64(fields[1]) { nanoseconds += waited }
            }
        }
        return Double(nanoseconds) / 1e9
    }

    /// Context switches of the processes' threads so far (voluntary and involuntary, from
    /// `/proc/PID/task/TID/status`), nil when they cannot be read.
    func contextSwitches() -> Double? {
        var switches = 0
        for pid in self.pids {
            guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return nil }
            for thread in threads {
                guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/status", encoding: .utf8) else { continue }
                // "voluntary_ctxt_switches:\tN" and "nonvoluntary_ctxt_switches:\tN"
                for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
                    switches += line.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 0
                }
            }
        }
        return Double(switches)
    }

    /// This process.
    static var own: ProcessCPU { ProcessCPU(pid: getpid()) }

    /// The process listening on TCP `port` on this machine, when this user can see its sockets.
    static func listening(port: Int) -> ProcessCPU? {
        var inodes: Set<String> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let columns = line.split(separator: " ")
                // local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is the tenth column.
                guard columns.count > 9, columns[3] == "0A",
                      let hex = columns[1].split(separator: ":").last, Int(hex, radix: 16) == port else { continue }
                inodes.insert("socket:[\(columns[9])]")
            }
        }
        guard !inodes.isEmpty, let processes = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for process in processes {
            guard let pid = Int32(process),
                  let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process)/fd") else { continue }
            for fd in fds {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process)/fd/\(fd)"),
                   inodes.contains(target) {
                    return ProcessCPU(pid: pid)
                }
            }
        }
        return nil
    }
}

extension Bench {
    struct ReportBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Audited report queries over mTLS against an empty RPC on the same server: rates, ratio, latency, batch size.",
            discussion: """
                Without --server: starts bureaud in this process on 127.0.0.1 with a fresh data folder, its own CA \
                and synthetic files. With --server host:port (or several, comma-separated: nodes of one store, the \
                connections spread over them in turn): a client only, against running bureaud nodes, as the \
                demo bank (--cert/--key/--ca); the people it asks about are those `bureau demo generate --subjects N \
                --seed S` wrote and the bank furnished (or --identifiers FILE), which must be on that server. Then \
                runs, over the same connections: pings (the transport's ceiling), audited reports at full \
                concurrency, and audited reports paced at a third of the measured peak. With --server-pid, or when \
                the processes listening on local --server ports can be read, prints the servers' CPU time per request \
                (/proc/PID/stat, user + system, before and after each phase; all nodes together) and the time their \
                threads waited for a CPU (/proc/PID/task/*/schedstat): on a loaded machine, latency that is the \
                scheduler's, not bureaud's.
                """
        )

        @Option(help: "Requests in each timed phase.") var requests = 20_000
        @Option(help: "Requests in flight.") var concurrency = 64
        @Option(help: "HTTP/2 connections the requests share.") var connections = 4
        @Option(help: "Synthetic people on file: made in process, or (with --server) written by `bureau demo generate --subjects N`.")
        var subjects = 10_000
        @Option(help: "Scratch folder (made fresh, removed afterwards).") var folder = "bench-report"
        @Option(help: "Without --server: a PostgreSQL store for the bureaud in this process, an empty database made by `bureau store migrate` (default: LMDB in the scratch folder).")
        var store: String?
        @Option(help: "A running bureaud's IPv4 address, host:port, or several comma-separated (nodes of one store, each given connections in turn): measure from this process as a client only.")
        var server: String?
        @Option(help: "With --server: the bank's client certificate (PEM).") var cert = "certs/bank.pem"
        @Option(help: "With --server: the certificate's private key (PEM). (default: --cert's path, .key for .pem)")
        var key: String?
        @Option(help: "With --server: the bureau's CA certificate (PEM).") var ca = "certs/ca.pem"
        @Option(help: "With --server: name the server certificate must carry.") var authority = "localhost"
        @Option(help: "With --server: the --seed the people were generated with.") var seed: UInt64 = 42
        @Option(help: "With --server: a file of the identifiers to ask about, one a line, instead of the synthetic people.")
        var identifiers: String?
        @Option(help: "With one --server: bureaud's process id, for its CPU time per request (default: the local processes listening on the ports).")
        var serverPID: Int32?
        @Option(help: "Only one closed-loop phase, its warm-up made of the same call: ping, no-hit or audited (for a profiler attached to the server around this run, as scripts/profile-report-path does).")
        var only: OnlyPhase?
        @Option(help: "With one --server: bureaud's metrics endpoint (--metrics-port), host:port, read around each audited phase for its group commits: how long they took and how long requests waited in the writer.")
        var metrics: String?
        @Option(help: "With --only: send the phase's calls open-loop at this many a second (as the paced phase does) instead of closed-loop.")
        var pace: Double?
        @Option(help: "Runs the closed-loop phases (ping, no-hit, audited) this many times, interleaved, and prints each round and the median of each figure: on a shared machine one round can fall in a busy moment.")
        var rounds = 1

        /// The one phase `--only` runs.
        enum OnlyPhase: String, ExpressibleByArgument, CaseIterable, Sendable {
            case ping
            /// Audited queries about people not on file: logged like reports, no file read.
            case noHit = "no-hit"
            case audited

            /// The phase's row label.
            var label: String {
                switch self {
                case .ping: "empty RPC (ping)"
                case .noHit: "audited no-hit"
                case .audited: "audited report"
                }
            }
        }

        mutating func validate() throws {
            guard requests > 0, concurrency > 0, connections > 0, subjects > 0, rounds > 0 else {
                throw ValidationError("--requests, --concurrency, --connections, --subjects and --rounds must be positive")
            }
            guard rounds == 1 || only == nil else { throw ValidationError("--rounds: not with --only (one phase, one run)") }
            if let metrics {
                guard server != nil, addresses?.count == 1 else { throw ValidationError("--metrics: only with one --server (in process, the writer is read directly)") }
                guard metricsAddress != nil else { throw ValidationError("--metrics: expected host:port, got \(metrics)") }
            }
            if let pace {
                guard only != nil else { throw ValidationError("--pace: only with --only (the full run paces its third phase itself)") }
                guard pace.isFinite, pace > 0 else { throw ValidationError("--pace: a positive number of calls a second, got \(pace)") }
            }
            if let server {
                guard server.split(separator: ",", omittingEmptySubsequences: false).allSatisfy({ Self.hostAndPort($0) != nil }) else {
                    throw ValidationError("--server: expected host:port (or several, comma-separated), got \(server)")
                }
                let nodes = addresses?.count ?? 0
                guard connections >= nodes else {
                    throw ValidationError("--connections \(connections): at least one per --server node (\(nodes))")
                }
                guard serverPID == nil || nodes == 1 else {
                    throw ValidationError("--server-pid names one process; with several --server nodes their processes are found by port")
                }
                if key == nil {
                    guard cert.hasSuffix(".pem") else { throw ValidationError("--key: give the private key of \(cert)") }
                    key = String(cert.dropLast(4)) + ".key"
                }
            } else if identifiers != nil || serverPID != nil {
                throw ValidationError("--identifiers and --server-pid need --server")
            }
        }

        /// `host:port` split, or nil unless the host is non-empty and the port in 1...65535.
        static func hostAndPort(_ text: Substring) -> (host: String, port: Int)? {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
                  (1...65535).contains(port), !text[..<colon].isEmpty else { return nil }
            return (String(text[..<colon]), port)
        }

        /// --metrics as host and port.
        var metricsAddress: (host: String, port: Int)? { self.metrics.flatMap { Self.hostAndPort($0[...]) } }

        /// The servers' hosts and ports, given --server, in its order.
        var addresses: [(host: String, port: Int)]? {
            self.server.map { $0.split(separator: ",").compactMap(Self.hostAndPort) }
        }

        func run() async throws {
            if let addresses {
                let people: [String]
                if let identifiers {
                    people = try BenchSubjects.parse(try String(contentsOfFile: identifiers, encoding: .utf8))
                } else {
                    people = BenchSubjects.synthetic(subjects: subjects, seed: seed, furnisher: DemoData.bank)
                    guard !people.isEmpty else { throw ValidationError("--subjects \(subjects): none of them is the bank's") }
                }
                let process = serverPID.map { ProcessCPU(pid: $0) }
                    ?? ProcessCPU(addresses.map { ["127.0.0.1", "localhost"].contains($0.host) ? ProcessCPU.listening(port: $0.port) : nil })
                let clients = try (0..<connections).map { n in
                    let address = addresses[n % addresses.count]
                    return GRPCClient(
                        transport: try BureauClientTransport.make(
                            host: address.host, port: address.port,
                            certificateChain: [.file(path: cert, format: .pem)],
                            privateKey: .file(path: key ?? String(cert.dropLast(4)) + ".key", format: .pem),
                            ca: [.file(path: ca, format: .pem)], authority: authority
                        )
                    )
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for client in clients { group.addTask { try await client.runConnections() } }
                    defer { for client in clients { client.beginGracefulShutdown() } }
                    try await self.measure(
                        clients, where: "bureaud at \(self.server!)\(process.map { " (pid \($0.pids.map(String.init).joined(separator: ", ")))" } ?? ", its CPU unread")",
                        people: people.count, process: process,
                        statistics: self.metricsAddress.map { address in { try Self.scrapeWriter(address) } },
                        noHit: { [absent = BenchSubjects.absent(subjects: subjects)] client, n in try await BenchDaemon.noHit(client, absent, n) }
                    ) { client, n in try await BenchDaemon.report(client, people, n) }
                }
                return
            }
            let backend = try self.store.map { url -> @Sendable (String) throws -> any StorageBackend in
                let location = try PostgresLocation(url: url, field: "--store")
                return { folder in try PostgresStorage(location: location, dataFolder: folder) }
            }
            try await BenchDaemon.run(folder: folder, subjects: subjects, backend: backend) { bench in
                try await bench.withClients(connections) { clients in
                    try await self.measure(
                        clients, where: "bureaud in this process", people: self.subjects, process: nil,
                        statistics: { bench.daemon.writer.statistics },
                        noHit: { client, n in try await BenchDaemon.noHit(client, bench.absent, n) }
                    ) { try await bench.report($0, $1) }
                }
            }
        }

        /// CPU per request of `side` (server or client) in the three closed-loop phases, and what each step adds:
        /// the audit (no-hit less ping) and the report itself (report less no-hit); nil unless all three were read.
        static func split(_ side: String, _ ping: Double?, _ noHit: Double?, _ report: Double?) -> String? {
            guard let ping, let noHit, let report else { return nil }
            return String(
                format: "%@ CPU per request: ping %.0f us, audited no-hit %.0f us, audited report %.0f us: the audit adds %.0f us, the report %.0f us more",
                side, ping, noHit, report, noHit - ping, report - noHit
            )
        }

        /// One round's line: the three rates, the ratios to the ping's, and bureaud's CPU per call when read.
        static func roundLine(_ n: Int, _ empty: BenchLoad.Figures, _ absent: BenchLoad.Figures, _ audited: BenchLoad.Figures) -> String {
            var line = String(
                format: "round %d: ping %.0f/s, audited no-hit %.0f/s, audited report %.0f/s; ratio audited/empty %.2f (no-hit/empty %.2f)",
                n, empty.rate, absent.rate, audited.rate, audited.rate / empty.rate, absent.rate / empty.rate
            )
            if let ping = empty.serverCPU, let noHit = absent.serverCPU, let report = audited.serverCPU {
                line += String(format: "; server CPU %.0f / %.0f / %.0f us", ping, noHit, report)
            }
            return line
        }

        static let writerHeading = "bureaud's writer (ms)      commits   batch   commit p50    p99   in writer p50    p99"

        /// A phase's row of the writer's table: its commits, their mean batch, how long a commit took and how
        /// long a request spent in the writer (the commit in flight when it came, then its own), from the
        /// writer's histograms (bucket bounds: a quantile is at most 25% above the true value).
        static func writerLine(_ label: String, _ writer: GroupCommitWriter.Statistics) -> String {
            let ms = { (histogram: DurationBuckets, p: Double) in (histogram.quantile(p) ?? 0) * 1000 }
            return label.padding(toLength: 24, withPad: " ", startingAt: 0) + String(
                format: " %9llu %7.1f %12.2f %6.2f %15.2f %6.2f", writer.commits, writer.meanBatchSize,
                ms(writer.commitDurations, 0.5), ms(writer.commitDurations, 0.99), ms(writer.waits, 0.5), ms(writer.waits, 0.99)
            )
        }

        /// The writer's statistics read from bureaud's metrics endpoint at `address`.
        static func scrapeWriter(_ address: (host: String, port: Int)) throws -> GroupCommitWriter.Statistics {
            let scrape = try MetricsEndpoint.get(host: address.host, port: address.port)
            guard let commits = DurationBuckets(prometheus: scrape, name: "bureau_commit_duration_seconds"),
                  let waits = DurationBuckets(prometheus: scrape, name: "bureau_write_wait_seconds") else {
                throw BureauError(.unavailable, "--metrics \(address.host):\(address.port): no writer histograms in its /metrics (an older bureaud?)")
            }
            return GroupCommitWriter.Statistics(commitDurations: commits, waits: waits)
        }

        /// The timed phases over `clients` and the table.
        ///
        /// Between the empty call and the report, a no-hit: the same audited query about someone not on file, so
        /// that the report's cost is split in two: what auditing a query costs (the caller, the policy, its durable
        /// log entry and query record; no-hit less ping) and what the report itself costs (the file's read and
        /// decryption, the report's build and encoding; report less no-hit).
        private func measure(
            _ clients: [GRPCClient<HTTP2ClientTransport.Posix>], where place: String, people: Int, process: ProcessCPU?,
            statistics: (() throws -> GroupCommitWriter.Statistics)?,
            noHit: @escaping @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void,
            report: @escaping @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void
        ) async throws {
            let load = BenchLoad(concurrency: concurrency)
            let ping: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void = { client, _ in
                _ = try await Bureau_DiagnosticsService.Client(wrapping: client).ping(request: ClientRequest(message: .init()))
            }
            /// A phase with the server's CPU time per request measured around it.
            func timed(_ requests: Int, pace: Double? = nil, _ call: @escaping @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void) async throws -> BenchLoad.Figures {
                let (before, waitedBefore, ownBefore) = (process?.seconds(), process?.runQueueWait(), ProcessCPU.own.seconds())
                let switchesBefore = process?.contextSwitches()
                var figures = try await load.phase(clients, requests: requests, pace: pace, call)
                // Only with bureaud in a process of its own: in this one, the server's CPU would be counted too.
                if process != nil, let ownBefore, let own = ProcessCPU.own.seconds() { figures.clientCPU = (own - ownBefore) * 1e6 / Double(requests) }
                if let before, let after = process?.seconds() { figures.serverCPU = (after - before) * 1e6 / Double(requests) }
                if let waitedBefore, let waited = process?.runQueueWait() { figures.serverWait = (waited - waitedBefore) * 1e6 / Double(requests) }
                if let switchesBefore, let switches = process?.contextSwitches() { figures.serverSwitches = (switches - switchesBefore) / Double(requests) }
                return figures
            }

            // Warm up connections and caches.
            let warmUp = min(2000, requests)
            if let only {
                let call = switch only {
                case .ping: ping
                case .noHit: noHit
                case .audited: report
                }
                _ = try await load.phase(clients, requests: warmUp, call)
                let before = try statistics?()
                let figures = try await timed(requests, pace: pace, call)
                let writer = try before.flatMap { before in try statistics?().subtracting(before) }
                let paced = pace.map { String(format: ", paced at %.0f/s", $0) } ?? ""
                print("bureau bench report --only \(only.rawValue): \(requests) requests after \(warmUp) to warm up, \(concurrency) in flight over \(connections) mTLS connections\(paced), \(people) files; \(place)")
                print(figures.line(only.label))
                if pace != nil { print("latency (ms)                 p50     p90     p99   p99.9     max"); print(figures.percentiles(only.label)) }
                if let writer, only != .ping { print(Self.writerHeading); print(Self.writerLine(only.label, writer)) }
                return
            }
            _ = try await load.phase(clients, requests: warmUp, report)

            _ = try await load.phase(clients, requests: warmUp, noHit)
            // Each round: pings, no-hits, reports, one after the other, so that a busy moment of the machine falls on
            // the three alike; the writer's figures of the rounds' no-hits and reports are summed.
            var measured: [(empty: BenchLoad.Figures, absent: BenchLoad.Figures, audited: BenchLoad.Figures)] = []
            var writerNoHit: GroupCommitWriter.Statistics?
            var writerAudited: GroupCommitWriter.Statistics?
            for _ in 0..<rounds {
                let empty = try await timed(requests, ping)
                let beforeNoHit = try statistics?()
                let absent = try await timed(requests, noHit)
                let before = try statistics?()
                let audited = try await timed(requests, report)
                let after = try statistics?()
                measured.append((empty, absent, audited))
                if let beforeNoHit, let before, let after {
                    let (noHits, reports) = (before.subtracting(beforeNoHit), after.subtracting(before))
                    writerNoHit = writerNoHit.map { $0.adding(noHits) } ?? noHits
                    writerAudited = writerAudited.map { $0.adding(reports) } ?? reports
                }
            }
            let empty = BenchLoad.Figures.median(measured.map(\.empty))!
            let absent = BenchLoad.Figures.median(measured.map(\.absent))!
            let audited = BenchLoad.Figures.median(measured.map(\.audited))!
            let after = try statistics?()
            let paced = try await timed(max(1000, requests / 3), pace: audited.rate / 3, report)
            let afterPaced = try statistics?()
            // The same pace with a no-hit (the audit without the report) and with the cheapest call (the latency the
            // transport, both processes' scheduling and this client add, which no change to the report path can remove).
            let pacedNoHit = try await timed(max(1000, requests / 3), pace: audited.rate / 3, noHit)
            let pacedPing = try await timed(max(1000, requests / 3), pace: audited.rate / 3, ping)

            print("bureau bench report: \(requests) requests a phase, \(concurrency) in flight over \(connections) mTLS connections, \(people) files; \(place)")
            if rounds > 1 {
                for (n, round) in measured.enumerated() { print(Self.roundLine(n + 1, round.empty, round.absent, round.audited)) }
                print("closed-loop phases below: the median of each figure over the \(rounds) rounds")
            }
            print(empty.line(OnlyPhase.ping.label))
            print(absent.line(OnlyPhase.noHit.label))
            print(audited.line(OnlyPhase.audited.label))
            print(paced.line("audited, paced at 1/3"))
            print(pacedNoHit.line("no-hit, paced the same"))
            print(pacedPing.line("ping, paced the same"))
            print(String(format: "ratio audited/empty: %.2f (no-hit/empty %.2f)", audited.rate / empty.rate, absent.rate / empty.rate))
            if let line = Self.split("server", empty.serverCPU, absent.serverCPU, audited.serverCPU) { print(line) }
            if let line = Self.split("client", empty.clientCPU, absent.clientCPU, audited.clientCPU) { print(line) }
            print("latency (ms)                 p50     p90     p99   p99.9     max")
            print(empty.percentiles(OnlyPhase.ping.label))
            print(absent.percentiles(OnlyPhase.noHit.label))
            print(audited.percentiles(OnlyPhase.audited.label))
            print(paced.percentiles("audited, paced at 1/3"))
            print(pacedNoHit.percentiles("no-hit, paced the same"))
            print(pacedPing.percentiles("ping, paced the same"))
            if let writerNoHit, let writerAudited, let after, let afterPaced {
                print(Self.writerHeading)
                print(Self.writerLine(OnlyPhase.noHit.label, writerNoHit))
                print(Self.writerLine(OnlyPhase.audited.label, writerAudited))
                print(Self.writerLine("audited, paced at 1/3", afterPaced.subtracting(after)))
            }
        }
    }
}
