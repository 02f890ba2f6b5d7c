import ArgumentParser
import BureauLMDB
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

extension Bench {
    struct LogStoreBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log-store",
            abstract: "Store bytes added per audited query (log entry, tree and indexes), measured by store growth over N reports.",
            discussion: """
                A fresh bureaud in this process with --subjects synthetic people; after a warm-up, --reports audited \
                post-loan reports over mTLS. Prints the LMDB pages in use before and after, divided by the reports, \
                and the same per database.
                """
        )

        @Option(help: "Audited reports measured.") var reports = 20_000
        @Option(help: "Synthetic people on file.") var subjects = 10_000
        @Option(help: "Requests in flight.") var concurrency = 16
        @Option(help: "Scratch folder (made fresh, removed afterwards).") var folder = "bench-log-store"

        func run() async throws {
            guard reports > 0, subjects > 0, concurrency > 0 else { throw ValidationError("--reports, --subjects and --concurrency must be positive") }
            let load = BenchLoad(concurrency: concurrency)
            try await BenchDaemon.run(folder: folder, subjects: subjects) { bench in
                guard let lmdb = bench.daemon.store.backend as? LMDBStorage else { throw ValidationError("the store is not LMDB") }
                try await bench.withClients(1) { clients in
                    let report: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Int) async throws -> Void = { try await bench.report($0, $1) }
                    _ = try await load.phase(clients, requests: min(1000, reports), report)
                    let before = try lmdb.statistics().usedBytes
                    let pagesBefore = try lmdb.pagesByDatabase()
                    let figures = try await load.phase(clients, requests: reports, report)
                    guard figures.errors == 0 else { throw ValidationError("\(figures.errors) reports failed") }
                    let after = try lmdb.statistics().usedBytes
                    let pagesAfter = try lmdb.pagesByDatabase()
                    print("bureau bench log-store: \(reports) audited reports, \(subjects) files, \(concurrency) in flight")
                    print(String(format: "store bytes per audited query: %.0f (LMDB pages in use, %d -> %d bytes)",
                                 Double(after - before) / Double(reports), before, after))
                    for (name, pages) in pagesAfter.pages.sorted(by: { $0.key < $1.key }) {
                        let added = pages - (pagesBefore.pages[name] ?? 0)
                        guard added != 0 else { continue }
                        print(String(format: "  %-16@ %8.1f bytes/query (%d pages)", name as NSString,
                                     Double(added * pagesAfter.pageSize) / Double(reports), added))
                    }
                }
            }
        }
    }
}
