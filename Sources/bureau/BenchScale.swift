import ArgumentParser
import BureauCore
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

extension Bench {
    struct ScaleBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scale",
            abstract: "Query cost as the file grows: lookup time and audited report rate and latency at each size, as a table.",
            discussion: """
                For each size: a fresh bureaud in this process with that many synthetic people, then single-threaded \
                file lookups in the store (B-tree depth, no network), then audited reports over mTLS at full \
                concurrency. Requests pick people spread over the whole file.
                """
        )

        @Option(help: "Numbers of people on file, comma separated.") var sizes = "10000,100000,1000000"
        @Option(help: "Audited reports at each size.") var requests = 20_000
        @Option(help: "File lookups at each size.") var lookups = 100_000
        @Option(help: "Requests in flight.") var concurrency = 64
        @Option(help: "HTTP/2 connections the requests share.") var connections = 4
        @Option(help: "Scratch folder (made fresh, removed afterwards).") var folder = "bench-scale"

        func run() async throws {
            let counts = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }), requests > 0, lookups > 0, concurrency > 0, connections > 0 else {
                throw ValidationError("--sizes takes positive counts such as 10000,100000; --requests, --lookups, --concurrency, --connections must be positive")
            }
            let load = BenchLoad(concurrency: concurrency)
            var rows: [String] = []
            for count in counts {
                try await BenchDaemon.run(folder: folder, subjects: count) { bench in
                    let store = bench.daemon.store
                    let info = try store.backend.statistics()
                    let keys = bench.identifiers.map { store.key(for: .individual(try! ResidentIdentityNumber(parsing: $0))) }

                    // Lookups: one read transaction each, as a report's first read.
                    var found = 0
                    let started = ContinuousClock.now
                    for n in 0..<lookups {
                        let key = keys[n % keys.count]
                        if try store.read({ try $0.file(key) }) != nil { found += 1 }
                    }
                    let lookupMicros = (ContinuousClock.now - started) / .microseconds(1) / Double(lookups)
                    guard found == lookups else { throw ValidationError("only \(found) of \(lookups) lookups found their file") }

                    let figures = try await bench.withClients(connections) { clients in
                        let report: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void = { try await bench.report($0, $1) }
                        _ = try await load.phase(clients, requests: min(2000, requests), report)
                        return try await load.phase(clients, requests: requests, report)
                    }
                    rows.append(String(
                        format: "%10d  %9.0f  %9.1f  %8.1f  %10.0f  %7.2f  %7.2f%@",
                        count, Double(info.usedBytes) / Double(1 << 20), bench.importSeconds, lookupMicros,
                        figures.rate, figures.p50, figures.p99, figures.errors > 0 ? "  \(figures.errors) errors" : ""
                    ))
                    print("measured \(count) people")
                }
            }
            print("bureau bench scale: \(requests) audited reports a size, \(concurrency) in flight over \(connections) mTLS connections; \(lookups) lookups")
            print("  subjects  store MiB   import s  lookup µs   reports/s   p50 ms   p99 ms")
            for row in rows { print(row) }
        }
    }
}
