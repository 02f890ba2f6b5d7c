import ArgumentParser
import BureauCore
import BureauOperations
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import Testing

@testable import bureau

/// `bureau bench report --server`: its options, and the people it names without reading the server's store.
@Suite("Bench report against a running server")
struct BenchOptionsTests {
    @Test("--server takes host:port and the bank's certificate with the key beside it")
    func serverOptions() throws {
        let command = try Bureau.parseAsRoot(["bench", "report", "--server", "127.0.0.1:50443", "--cert", "x/bank.pem", "--server-pid", "42"])
        let bench = try #require(command as? Bench.ReportBench)
        #expect(bench.addresses?.map(\.host) == ["127.0.0.1"])
        #expect(bench.addresses?.map(\.port) == [50443])
        #expect(bench.key == "x/bank.key")
        #expect(bench.serverPID == 42)
        let local = try #require(try Bureau.parseAsRoot(["bench", "report"]) as? Bench.ReportBench)
        #expect(local.addresses == nil)
    }

    @Test("a phase whose calls all fail stops after a hundred and names the first failure; failures among successes are counted")
    func failedCalls() async throws {
        struct Refused: Error, CustomStringConvertible {
            let n: Int
            var description: String { "call \(self.n) refused" }
        }
        // Never run nor connected: the calls below do not use it.
        let client = GRPCClient(transport: try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: 9), transportSecurity: .plaintext))
        let load = BenchLoad(concurrency: 4)
        let made = Atomic<Int>(0)
        let error = await #expect(throws: BureauError.self) {
            _ = try await load.phase([client], requests: 20_000) { _, n in
                made.add(1, ordering: .relaxed)
                throw Refused(n: n)
            }
        }
        #expect(made.load(ordering: .relaxed) < BenchLoad.failuresBeforeGivingUp + 4, "stopped once a hundred had failed, not after 20,000")
        #expect(error?.message.contains("calls failed, none succeeded; the first: call ") == true)
        #expect(error?.message.contains(" refused") == true)
        let figures = try await load.phase([client], requests: 1000) { _, n in
            if n % 10 == 0 { throw Refused(n: n) }
        }
        #expect(figures.errors == 100)
        #expect(figures.line("audited report").hasSuffix("100 errors"))
    }

    @Test("--only names one closed-loop phase, ping or audited, and nothing else")
    func onlyOnePhase() throws {
        let ping = try #require(try Bureau.parseAsRoot(["bench", "report", "--server", "127.0.0.1:50443", "--only", "ping"]) as? Bench.ReportBench)
        #expect(ping.only == .ping)
        let audited = try #require(try Bureau.parseAsRoot(["bench", "report", "--only", "audited"]) as? Bench.ReportBench)
        #expect(audited.only == .audited)
        #expect(try #require(try Bureau.parseAsRoot(["bench", "report"]) as? Bench.ReportBench).only == nil)
        #expect(throws: (any Error).self) { try Bureau.parseAsRoot(["bench", "report", "--only", "paced"]) }
        let paced = try #require(try Bureau.parseAsRoot(["bench", "report", "--only", "audited", "--pace", "1500"]) as? Bench.ReportBench)
        #expect(paced.pace == 1500)
        #expect(throws: (any Error).self) { try Bureau.parseAsRoot(["bench", "report", "--pace", "1500"]) }
        #expect(throws: (any Error).self) { try Bureau.parseAsRoot(["bench", "report", "--only", "ping", "--pace", "0"]) }
    }

    @Test("--metrics names one bureaud's metrics endpoint, host:port, beside one --server")
    func metricsEndpoint() throws {
        let bench = try #require(try Bureau.parseAsRoot(["bench", "report", "--server", "127.0.0.1:50443", "--metrics", "127.0.0.1:9464"]) as? Bench.ReportBench)
        #expect(bench.metricsAddress?.host == "127.0.0.1")
        #expect(bench.metricsAddress?.port == 9464)
        #expect(throws: (any Error).self) { try Bureau.parseAsRoot(["bench", "report", "--metrics", "127.0.0.1:9464"]) }
        #expect(throws: (any Error).self) { try Bureau.parseAsRoot(["bench", "report", "--server", "127.0.0.1:50443", "--metrics", "9464"]) }
        #expect(throws: (any Error).self) {
            try Bureau.parseAsRoot(["bench", "report", "--server", "127.0.0.1:50443,127.0.0.1:50444", "--metrics", "127.0.0.1:9464"])
        }
    }

    @Test("--server takes several nodes, comma-separated: the connections are spread over them")
    func severalServers() throws {
        let command = try Bureau.parseAsRoot(["bench", "report", "--server", "127.0.0.1:50443,10.0.0.2:50444", "--connections", "4"])
        let bench = try #require(command as? Bench.ReportBench)
        #expect(bench.addresses?.map(\.host) == ["127.0.0.1", "10.0.0.2"])
        #expect(bench.addresses?.map(\.port) == [50443, 50444])
        #expect((0..<4).map { bench.addresses![$0 % 2].port } == [50443, 50444, 50443, 50444])
    }

    @Test("a process's run-queue wait is read over all its threads, grows while more threads than CPUs run, and is printed per request")
    func runQueueWait() async throws {
        // Busy shells, more than this machine has CPUs: each waits in the run queue while the others run. The first
        // is measured: a process whose one thread lives through the test. (Not this test process: its other tests'
        // threads come and go, and a thread that ends takes its wait with it.)
        let busy = try (0..<(2 * ProcessInfo.processInfo.activeProcessorCount + 1)).map { _ in
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/bin/sh")
            shell.arguments = ["-c", "while :; do :; done"]
            try shell.run()
            return shell
        }
        defer {
            // SIGKILL: `terminate()` (SIGTERM) was seen to leave these shells running, and the test hung.
            for shell in busy {
                kill(shell.processIdentifier, SIGKILL)
                shell.waitUntilExit()
            }
        }
        let measured = ProcessCPU(pid: busy[0].processIdentifier)
        let before = try #require(measured.runQueueWait())
        usleep(200_000)
        let after = try #require(measured.runQueueWait())
        #expect(after > before)
        #expect(ProcessCPU(pid: Int32.max).runQueueWait() == nil)
        var figures = BenchLoad.Figures(rate: 1000, p50: 1, p99: 2, errors: 0)
        figures.serverCPU = 300
        figures.serverWait = 1200
        figures.clientCPU = 150
        let line = figures.line("audited report")
        #expect(line.contains("server CPU   300 us/req, waiting for a CPU  1200 us/req"))
        #expect(line.contains("client CPU   150 us/req"))
    }

    @Test("the latency table: p50 to the slowest call, context switches, how late a paced client sent")
    func latencyTable() throws {
        var figures = BenchLoad.Figures(rate: 1000, p50: 1, p99: 2, errors: 0)
        (figures.p90, figures.p999, figures.max) = (1.5, 3, 4.25)
        #expect(figures.percentiles("audited report") == "audited report              1.00    1.50    2.00    3.00    4.25")
        figures.serverSwitches = 2.5
        figures.late = (0.1, 0.9)
        #expect(
            figures.percentiles("audited, paced at 1/3")
                == "audited, paced at 1/3       1.00    1.50    2.00    3.00    4.25   server context switches 2.5/req   sent late p50 0.10, p99 0.90"
        )
        let sorted = (1...1000).map(Double.init)
        #expect(BenchLoad.percentile(sorted, 0.5) == 501)
        #expect(BenchLoad.percentile(sorted, 0.999) == 1000)
        #expect(BenchLoad.percentile([], 0.99) == 0)
        // A shell that keeps waiting for a short sleep: each wait puts its one thread to sleep, a voluntary context
        // switch, counted. (Not this test process: its other tests' threads come and go, and a thread that ends
        // takes its count with it.)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", "while :; do sleep 0.001; done"]
        try child.run()
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        let shell = ProcessCPU(pid: child.processIdentifier)
        let before = try #require(shell.contextSwitches())
        usleep(100_000)
        #expect(try #require(shell.contextSwitches()) >= before + 5)
        #expect(ProcessCPU(pid: Int32.max).contextSwitches() == nil)
    }

    @Test("bad bench options are refused", arguments: [
        ["--server", "127.0.0.1"], ["--server", "127.0.0.1:0"], ["--server", ":50051"], ["--server", "127.0.0.1:x"],
        ["--identifiers", "people.txt"], ["--server-pid", "1"], ["--server", "127.0.0.1:1", "--cert", "bank.crt"],
        ["--server", "127.0.0.1:1,"], ["--server", "127.0.0.1:1,127.0.0.1"], ["--server", "127.0.0.1:1,127.0.0.1:2", "--connections", "1"],
        ["--server", "127.0.0.1:1,127.0.0.1:2", "--server-pid", "1"],
    ])
    func refused(_ arguments: [String]) {
        #expect(throws: (any Error).self) { try Bureau.parseAsRoot(["bench", "report"] + arguments) }
    }

    @Test("the synthetic people named are exactly the bank's among those `demo generate` wrote")
    func syntheticPeople() {
        let generator = SyntheticData(furnishers: BenchSubjects.demoFurnishers, seed: 7, today: CalendarDate(utcDayOf: Date()))
        let banks = (0..<300).map { generator.person($0, accounts: 1) }.filter { $0.furnisher == DemoData.bank.value }.map(\.identifier)
        let named = BenchSubjects.synthetic(subjects: 300, seed: 7, furnisher: DemoData.bank)
        #expect(!banks.isEmpty && banks.count < 300)
        #expect(named == banks)
        // Sampled from a larger file: still only the bank's people, and spread over all of it.
        let sampled = BenchSubjects.synthetic(subjects: 20_000, seed: 7, furnisher: DemoData.bank, sample: 50)
        #expect(sampled.count == 50 && Set(sampled).count == 50)
        let people = (0..<20_000).map { generator.person($0, accounts: 0) }
        let all = Set(people.filter { $0.furnisher == DemoData.bank.value }.map(\.identifier))
        #expect(sampled.allSatisfy(all.contains))
        #expect(sampled.contains(where: { !Set(people.prefix(10_000).map(\.identifier)).contains($0) }))
    }

    @Test("the no-hit phase names people `demo generate` did not write, whatever the seed, each once")
    func absentPeople() {
        let absent = BenchSubjects.absent(subjects: 300, count: 200)
        #expect(absent.count == 200 && Set(absent).count == 200)
        for seed: UInt64 in [7, 42] {
            let generator = SyntheticData(furnishers: BenchSubjects.demoFurnishers, seed: seed, today: CalendarDate(utcDayOf: Date()))
            let written = Set((0..<300).map { generator.person($0, accounts: 0).identifier })
            #expect(written.isDisjoint(with: absent))
            #expect(absent == (300..<500).map { generator.person($0, accounts: 0).identifier })
        }
        #expect(absent.allSatisfy { (try? ResidentIdentityNumber(parsing: $0)) != nil })
    }

    @Test("--only no-hit, and the split of a report's CPU into the audit and the report itself")
    func noHitPhase() throws {
        let bench = try #require(try Bureau.parseAsRoot(["bench", "report", "--server", "127.0.0.1:50443", "--only", "no-hit"]) as? Bench.ReportBench)
        #expect(bench.only == .noHit)
        #expect(Bench.ReportBench.OnlyPhase.allCases.map(\.label) == ["empty RPC (ping)", "audited no-hit", "audited report"])
        #expect(
            Bench.ReportBench.split("server", 200, 350, 560)
                == "server CPU per request: ping 200 us, audited no-hit 350 us, audited report 560 us: the audit adds 150 us, the report 210 us more"
        )
        #expect(Bench.ReportBench.split("client", 200, nil, 560) == nil)
    }

    @Test("--rounds repeats the closed-loop phases: each figure's median over the rounds, errors summed, a line a round")
    func rounds() throws {
        let bench = try #require(try Bureau.parseAsRoot(["bench", "report", "--server", "127.0.0.1:50443", "--rounds", "5"]) as? Bench.ReportBench)
        #expect(bench.rounds == 5)
        #expect(try #require(try Bureau.parseAsRoot(["bench", "report"]) as? Bench.ReportBench).rounds == 1)
        #expect(throws: (any Error).self) { try Bureau.parseAsRoot(["bench", "report", "--rounds", "0"]) }
        #expect(throws: (any Error).self) { try Bureau.parseAsRoot(["bench", "report", "--rounds", "3", "--only", "audited"]) }

        func figures(_ rate: Double, _ p99: Double, cpu: Double?, errors: Int = 0) -> BenchLoad.Figures {
            var figures = BenchLoad.Figures(rate: rate, p50: rate / 1000, p99: p99, errors: errors)
            figures.serverCPU = cpu
            return figures
        }
        // The rate's median comes from one round and the p99's from another.
        let median = try #require(BenchLoad.Figures.median([figures(3000, 40, cpu: 400), figures(2000, 30, cpu: 500, errors: 2), figures(2500, 50, cpu: 450, errors: 1)]))
        #expect(median.rate == 2500 && median.p99 == 40 && median.p50 == 2.5 && median.serverCPU == 450 && median.errors == 3)
        let even = try #require(BenchLoad.Figures.median([figures(3000, 40, cpu: 400), figures(2000, 30, cpu: nil)]))
        #expect(even.rate == 2500 && even.p99 == 35)
        #expect(even.serverCPU == nil, "a figure unread in one round has no median")
        #expect(BenchLoad.Figures.median([]) == nil)
        #expect(
            Bench.ReportBench.roundLine(2, figures(6000, 20, cpu: 150), figures(4500, 25, cpu: 250), figures(3000, 40, cpu: 400))
                == "round 2: ping 6000/s, audited no-hit 4500/s, audited report 3000/s; ratio audited/empty 0.50 (no-hit/empty 0.75); server CPU 150 / 250 / 400 us"
        )
        #expect(Bench.ReportBench.roundLine(1, figures(6000, 20, cpu: nil), figures(4500, 25, cpu: 250), figures(3000, 40, cpu: 400)).hasSuffix("(no-hit/empty 0.75)"))
    }

    @Test("an identifiers file: one a line, blanks and comments skipped, a bad line named")
    func identifiersFile() throws {
        #expect(try BenchSubjects.parse("# people\n11010519491231002X\n\n  110105194912310038 \n") == ["11010519491231002X", "110105194912310038"])
        #expect(throws: (any Error).self) { try BenchSubjects.parse("11010519491231002X\nnot-a-person\n") }
        #expect(throws: (any Error).self) { try BenchSubjects.parse("\n# nobody\n") }
    }
}
