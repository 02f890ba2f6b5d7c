import BureauAPI
import BureauCore
import BureauKeys
import BureauOperations
import BureauPostgres
import BureauStore
import BureauStoreConformance
import Foundation
import GRPCCore
import PostgresHarness
import Testing

/// The data-at-rest tests of ``DataAtRestTests`` on a PostgreSQL store, over a bureaud on mutual TLS: one
/// throwaway cluster for the suite's test, whose whole data directory (every table file and the WAL) is
/// scanned, as is the dump `bureau backup` takes; and crypto-shredding reaching a dump taken before a delete.
@Suite("Personal data at rest on PostgreSQL", .serialized)
struct PostgresDataAtRestTests {
    @Test("the cluster's files, WAL included, and the backup dump hold no demo identifier, name, phone or account number; a record deleted after the dump reads as removed from it restored, and opens with the key store of before")
    func sealedAndShredded() async throws {
        try await PostgresCluster.with(name: "at-rest") { cluster in
            try cluster.execute("CREATE DATABASE bureau")
            let location = try PostgresLocation(url: cluster.url(database: "bureau"))
            try PostgresStorage.migrate(location)
            let work = TestKeyFile.temporaryFolder("bureau-pg-at-rest")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: work) }
            try await TestBureau.run(backend: { folder in try PostgresStorage(location: location, dataFolder: folder) }) { bureau in
                let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
                let deleted = RecordReference(kind: .account, furnisher: DemoData.bank, recordID: "6222020200112233")
                let before = try #require(try bureau.store.read { try $0.file(key) })
                #expect(before.accounts.contains { $0.reference == deleted })

                // The backup (pg_dump of the data) and, apart, a dump of the key store: both before the deletion.
                try Backup.take(of: bureau.store, to: work + "/backup")
                let keysBefore = work + "/keys-before.dump"
                let dumped = try ToolProcess.run(
                    try #require(PostgresStorage.tool("pg_dump")),
                    ["--format=custom", "--schema=\(PostgresKeyStore.schema)", "--file=\(keysBefore)", "--dbname=\(cluster.url(database: "bureau"))"]
                )
                #expect(dumped.status == 0, "\(dumped.output)")

                // Every byte PostgreSQL keeps (tables, indexes, WAL) and the backup: no personal value; the
                // institutions' names, stored unsealed, are found, so the scan reads what was stored.
                try cluster.execute("CHECKPOINT")
                // pg_dump writes a bytea as hex text, so each value is looked for in hex as well.
                let values = DataAtRestTests.personalValues([]) + [("control", "Demo Commercial Bank")]
                let scanner = LeakScanner(values + values.map { ($0.label, Array($0.value.utf8).map { String(format: "%02x", $0) }.joined()) })
                for scanned in [cluster.dataDirectory, work + "/backup"] {
                    let result = try scanner.scan(folder: scanned)
                    let found = result.hits.values.reduce(into: Set<String>()) { $0.formUnion($1) }
                    #expect(found.contains("control"), "\(scanned): the scan finds the unsealed institution name")
                    #expect(found.subtracting(["control"]).isEmpty, "\(scanned): \(found.subtracting(["control"]).sorted().prefix(5))")
                }

                // The furnisher deletes its record over the service: its data key is destroyed.
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_FurnishService.Client(wrapping: client).deleteRecord(request: ClientRequest(message: DataAtRestTests.deleteRequest(deleted)))
                }

                // The old dump restored into a new database, opened with the live key store.
                let restoreTool = try #require(PostgresStorage.tool("pg_restore"))
                try cluster.execute("CREATE DATABASE restored")
                let restore = try ToolProcess.run(restoreTool, ["--no-owner", "--dbname=\(cluster.url(database: "restored"))", work + "/backup/postgresql.dump"])
                #expect(restore.status == 0, "\(restore.output)")
                #expect(try cluster.query("SELECT to_regnamespace('\(PostgresKeyStore.schema)') IS NULL", database: "restored") == "t", "the dump holds no key")
                let restored = try Store(
                    folder: work + "/restored",
                    backend: try PostgresStorage(location: try PostgresLocation(url: cluster.url(database: "restored")), keyStore: location, dataFolder: work + "/restored")
                )
                let file = try #require(try restored.read { try $0.file(key) })
                #expect(!file.accounts.contains { $0.reference == deleted })
                #expect(file.removedRecords == 1, "the file says one record was removed")
                // Everything else of the file is there: removed, not corrupted.
                #expect(Set(file.accounts.map(\.reference)) == Set(before.accounts.map(\.reference).filter { $0 != deleted }))
                #expect(file.subject == before.subject)
                #expect(try restored.read { try $0.record(deleted, of: key) } == nil)
                let recordKey = restored.backend.protection.recordKey(key, deleted)
                let sealed = try cluster.query("SELECT count(*) FROM records WHERE key = '\\x\(recordKey.map { String(format: "%02x", $0) }.joined())'", database: "restored")
                #expect(sealed == "1", "its ciphertext is in the restored dump")

                // The control: with the key store of before the deletion the same dump opens the record, so the
                // destroyed key is what keeps it closed.
                try cluster.execute("CREATE DATABASE keys_before")
                let keys = try ToolProcess.run(restoreTool, ["--no-owner", "--dbname=\(cluster.url(database: "keys_before"))", keysBefore])
                #expect(keys.status == 0, "\(keys.output)")
                let old = try Store(
                    folder: work + "/restored-old-keys",
                    backend: try PostgresStorage(
                        location: try PostgresLocation(url: cluster.url(database: "restored")), keyStore: try PostgresLocation(url: cluster.url(database: "keys_before")),
                        dataFolder: work + "/restored-old-keys"
                    )
                )
                #expect(try old.read { try $0.record(deleted, of: key) } != nil)
            }
        }
    }

    @Test("the KEK is rotated over the PostgreSQL key store while reports are read and records written: the secret, the master and the wrapped data keys are re-wrapped in the key store, and a node opening with the new KEK alone reads every record")
    func rotationOverPostgres() async throws {
        try await PostgresCluster.with(name: "rotate") { cluster in
            try cluster.execute("CREATE DATABASE bureau")
            let location = try PostgresLocation(url: cluster.url(database: "bureau"))
            try PostgresStorage.migrate(location)
            let work = TestKeyFile.temporaryFolder("bureau-pg-rotate")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: work) }
            try await TestBureau.run(backend: { folder in try PostgresStorage(location: location, dataFolder: folder) }) { bureau in
                let protection = bureau.store.backend.protection
                let old = protection.keyEncryptionKey
                let keyStore = try #require(protection.keyStore as? PostgresKeyStore)
                // A data key wrapped by the KEK, as key stores held before derived keys: re-wrapped row by row.
                let legacy = DataKey.generate()
                let legacyScope = try #require(KeyScopeID(bytes: [UInt8](repeating: 0x7E, count: 16)))
                try keyStore.put([(legacyScope, StoredDataKey(try old.wrap(legacy)))])
                let person = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
                let new = try FileKeyEncryptionKey.create(at: work + "/kek/new.key")

                let rotation = try await withThrowingTaskGroup(of: DataProtection.Rotation?.self) { group in
                    group.addTask {
                        for _ in 0..<6 {
                            _ = try await bureau.withClient("bank") { client in
                                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
                            }
                        }
                        return nil
                    }
                    group.addTask {
                        for n in 0..<12 {
                            let account = Account(
                                furnisher: DemoData.bank, accountNumber: "ROT-\(n)", type: .creditCard, opened: CalendarDate(year: 2020, month: 1, day: 1)!,
                                limit: Money(minorUnits: 100, currency: "CNY"), balance: Money(minorUnits: 0, currency: "CNY"), status: .current,
                                paymentHistory: "0", closed: nil
                            )
                            try bureau.store.write { try $0.putRecord(.account(account), for: person, catalogue: .default) }
                        }
                        return nil
                    }
                    group.addTask { try bureau.store.rotateKeys(to: new, batch: 3) }
                    var rotation: DataProtection.Rotation?
                    for try await result in group { rotation = rotation ?? result }
                    return try #require(rotation)
                }
                #expect(rotation.from == old.id && rotation.to == new.id && rotation.rewrapped == 1 && rotation.keys > 1)

                // In the key store: the master under the new KEK (not the old), the legacy key re-wrapped, every
                // other key a salt of that master; the secret unwraps with the new KEK only.
                let master = try #require(try keyStore.masterKey())
                #expect(master.keyEncryptionKeyID == new.id)
                #expect(throws: KeyError.self) { _ = try old.unwrapMasterDataKey(master) }
                let rewrapped = try #require(try keyStore.keys(of: legacyScope).first?.wrapped)
                #expect(rewrapped.keyEncryptionKeyID == new.id)
                #expect(try new.unwrapDataKey(rewrapped) == legacy)
                let all = try keyStore.allKeys()
                #expect(all.filter { $0.scope != legacyScope }.allSatisfy { $0.key.salt?.masterID == master.keyID })
                #expect(try keyStore.keyedHashSecret(kek: new, dataExists: true).id == protection.secret.id)
                #expect(throws: BureauError.self) { _ = try keyStore.keyedHashSecret(kek: old, dataExists: true) }

                // A second node, with the new KEK alone, reads the file and every record written during the rotation.
                let second = try Store(
                    folder: work + "/second",
                    backend: try PostgresStorage(location: location, keys: .file(new.path), dataFolder: work + "/second")
                )
                let file = try #require(try second.read { try $0.file(person) })
                #expect((0..<12).allSatisfy { n in file.accounts.contains { $0.reference.recordID == "ROT-\(n)" } })
                #expect(file.removedRecords == 0)
            }
        }
    }
}
