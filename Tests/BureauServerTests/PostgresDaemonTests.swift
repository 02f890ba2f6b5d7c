import BureauAPI
import BureauCore
import BureauOperations
import BureauPostgres
import BureauServer
import BureauStore
import BureauStoreConformance
import Foundation
import GRPCCore
import Logging
import PostgresHarness
import Prometheus
import Testing

/// bureaud on a PostgreSQL store, over mutual TLS: it serves and logs as on LMDB, a database that goes away
/// answers UNAVAILABLE per request (never a receipt for a write it did not commit), and it serves again once
/// the database is back, without a restart.
@Suite("bureaud on PostgreSQL over mutual TLS", .serialized)
struct PostgresDaemonTests {
    @Test("a PostgreSQL-backed bureaud furnishes and logs; with the database down each request is UNAVAILABLE; it recovers")
    func servesAndSurvivesTheDatabase() async throws {
        try await PostgresCluster.with(name: "daemon") { cluster in
            try cluster.execute("CREATE DATABASE bureau")
            let location = try PostgresLocation(url: cluster.url(database: "bureau") + "&query_timeout=10")
            try PostgresStorage.migrate(location)
            try await TestBureau.run(backend: { folder in try PostgresStorage(location: location, dataFolder: folder) }) { bureau in
                #expect(bureau.store.backend is PostgresStorage)
                let first = try await StorageFaultTests.submit(bureau, StorageFaultTests.batch(0, size: 3))
                let logged = try await StorageFaultTests.verifyLog(bureau)
                #expect(logged.contains { $0.index == first.receipt.entryIndex && $0.entry.requestID == "fill-0" })
                #expect(try cluster.query("SELECT count(*) FROM log_entries", database: "bureau") == String(logged.count))

                // The database goes away: the write is refused with UNAVAILABLE, not answered.
                try cluster.stop()
                let refused = StorageFaultTests.batch(1, size: 3)
                await #expect {
                    _ = try await StorageFaultTests.submit(bureau, refused)
                } throws: { error in
                    guard let error = error as? RPCError else { return false }
                    return error.code == .unavailable && error.message.contains("storage failed")
                }

                // Back: the next request is served on a new connection; nothing of the refused one was kept.
                try cluster.start()
                let after = try await StorageFaultTests.submit(bureau, StorageFaultTests.batch(2, size: 3))
                #expect(after.receipt.entryIndex > first.receipt.entryIndex)
                let entries = try await StorageFaultTests.verifyLog(bureau)
                #expect(!entries.contains { $0.entry.requestID == refused.batchID })
                for subject in refused.subjects {
                    let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: subject.identifier)))
                    #expect(try bureau.store.read { try $0.subject(key) } == nil)
                }
            }
        }
    }

    @Test("bureaud refuses to start on a database without the schema, naming the fix")
    func refusesAnUnmigratedDatabase() async throws {
        try await PostgresCluster.with(name: "unmigrated") { cluster in
            try cluster.execute("CREATE DATABASE bureau")
            let url = cluster.url(database: "bureau")
            let folder = TestKeyFile.temporaryFolder("bureau-pg")
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for name in ["cert.pem", "key.pem", "ca.pem"] { FileManager.default.createFile(atPath: folder + "/" + name, contents: Data()) }
            let options = DaemonOptions(data: folder, cert: folder + "/cert.pem", key: folder + "/key.pem", ca: folder + "/ca.pem", store: url)
            let configuration = try options.configuration(file: nil, registry: PrometheusCollectorRegistry())
            let error = #expect(throws: PostgresStoreError.self) { try BureauDaemon(configuration: configuration, logger: Logger(label: "test")) }
            #expect(error?.message.contains("holds no Bureau schema: run `bureau store migrate --store URL` first") == true)
            #expect(try cluster.query("SELECT to_regclass('schema_version') IS NULL", database: "bureau") == "t")

            let malformed = #expect(throws: ConfigurationFile.Problem.self) {
                try DaemonOptions(data: folder, cert: folder + "/cert.pem", key: folder + "/key.pem", ca: folder + "/ca.pem", store: "postgresql://nobody")
                    .configuration(file: nil, registry: PrometheusCollectorRegistry())
            }
            #expect(malformed?.message.hasPrefix("--store: ") == true, "\(malformed?.message ?? "")")
        }
    }
}
