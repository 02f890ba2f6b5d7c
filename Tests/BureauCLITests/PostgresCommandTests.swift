import ArgumentParser
import BureauCore
import BureauPostgres
import BureauStore
import BureauStoreConformance
import BureauLMDB
import Foundation
import PostgresHarness
import Testing

@testable import bureau

/// `bureau store migrate`, `bureau stats` and `bureau backup` on a PostgreSQL store.
@Suite("bureau on a PostgreSQL store", .serialized)
struct PostgresCommandTests {
    static func run(_ arguments: [String]) throws {
        var command = try Bureau.parseAsRoot(arguments)
        try command.run()
    }

    @Test("store migrate makes the schema once; stats reads the store; backup drives pg_dump and the dump restores to the same log")
    func migrateStatsBackup() async throws {
        try await PostgresCluster.with(name: "cli") { cluster in
            try cluster.execute("CREATE DATABASE bureau")
            let url = cluster.url(database: "bureau")
            try Self.run(["store", "migrate", "--store", url])
            try Self.run(["store", "migrate", "--store", url])
            #expect(try cluster.query("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version", database: "bureau") == "1,2")
            #expect(throws: ValidationError.self) { try Self.run(["store", "migrate", "--store", "postgresql://nobody"]) }

            let folder = TestKeyFile.temporaryFolder("bureau-cli-pg")
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let location = try PostgresLocation(url: url)
            let store = try Store(folder: folder + "/data", backend: try PostgresStorage(location: location, dataFolder: folder + "/data"))
            let key = store.key(for: .individual(try ResidentIdentityNumber(parsing: "110101199003074258")))
            try store.write { txn in
                try txn.putSubject(
                    .person(
                        PersonIdentity(
                            name: "张三", identifier: "", birthDate: CalendarDate(year: 1990, month: 3, day: 7)!, phone: "",
                            address: Address(province: "北京市", city: "北京市", detail: "")
                        )
                    ),
                    for: key
                )
                for n in 0..<5 {
                    _ = try txn.appendLog(
                        AccessLogEntry(.refusedCall("cli.test"), by: .bureau(), time: Date(timeIntervalSince1970: 1_780_000_000 + Double(n)), requestID: "r-\(n)", subjects: [], purpose: nil, outcome: .applied)
                    )
                }
            }
            let stats = try StoreStatistics(store)
            #expect(stats.files == 1 && stats.logSize == 5 && stats.usedBytes > 0)
            try Self.run(["stats", "--data", folder + "/data", "--store", url])

            let backup = folder + "/backup"
            try Self.run(["backup", "--data", folder + "/data", "--store", url, backup])
            let dump = backup + "/postgresql.dump"
            let mode = try FileManager.default.attributesOfItem(atPath: dump)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(FileManager.default.fileExists(atPath: backup + "/RESTORE.txt"))
            #expect(try cluster.query("SELECT count(*) FROM bureau_keys.data_keys", database: "bureau") != "0", "the file's keys are in the key store")

            // The dump restores into a new database that a PostgreSQL store opens, with the same log.
            try cluster.execute("CREATE DATABASE restored")
            let restore = try ToolProcess.run(
                try #require(PostgresStorage.tool("pg_restore")), ["--no-owner", "--dbname=\(cluster.url(database: "restored"))", dump]
            )
            #expect(restore.status == 0, "\(restore.output)")
            // The dump holds no key: the restored data opens with the installation's key store, which stayed apart.
            #expect(try cluster.query("SELECT to_regnamespace('bureau_keys') IS NULL", database: "restored") == "t")
            let restored = try Store(
                folder: backup,
                backend: try PostgresStorage(location: try PostgresLocation(url: cluster.url(database: "restored")), keyStore: location, dataFolder: backup)
            )
            let original = try Backup.verifyLog(of: store)
            let copy = try Backup.verifyLog(of: restored)
            #expect(copy.size == 5 && copy.root == original.root)
            #expect(try restored.read { try $0.subject(key) } != nil)
        }
    }
}
