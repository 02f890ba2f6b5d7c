import BureauCore
import BureauPostgres
import BureauStore
import BureauStoreConformance
import Foundation
import Logging
import PostgresHarness
import Synchronization
import Testing

/// What the conformance suite cannot see of the PostgreSQL backend: its faults at start (each a clear message,
/// nothing half written), a lost connection at run time (UNAVAILABLE, then a new connection), TLS, and two
/// nodes appending to one log under the database's lock.
@Suite("PostgreSQL store", .serialized)
struct PostgresStoreTests {
    let cluster: PostgresTestCluster

    init() throws {
        self.cluster = try PostgresTestCluster.shared.get()
    }

    static func entry(_ n: Int) -> AccessLogEntry {
        AccessLogEntry(
            .refusedCall("postgres.test"), by: .bureau(for: "91110000100000016D"), time: Date(timeIntervalSince1970: 1_780_000_000 + Double(n)),
            requestID: "r-\(n)", subjects: [], purpose: nil, outcome: .applied
        )
    }

    /// The message of what opening `url` throws.
    func refusal(_ url: String) throws -> String {
        do {
            _ = try PostgresStorage(location: try PostgresLocation(url: url), dataFolder: PostgresTestCluster.dataFolder)
        } catch let error as PostgresStoreError {
            return error.message
        }
        Issue.record("\(url) opened")
        return ""
    }

    /// The database name in a URL the cluster made.
    func name(_ url: String) -> String {
        String(url.split(separator: "/").last!.split(separator: "?").first!)
    }

    @Test("a malformed connection string is refused, naming what is wrong and never the password")
    func malformed() throws {
        let cases: [(String, String)] = [
            ("mysql://bureau@db/bureau", "is a postgresql:// URL"),
            ("postgresql://bureau:s3cret@/bureau", "well-formed"),
            ("postgresql://bureau:s3cret@db:99999/bureau", "port"),
            ("postgresql://db/bureau", "names no user"),
            ("postgresql://bureau:s3cret@db", "names no database"),
            ("postgresql://bureau:s3cret@db/bureau?sslmode=require", "does not verify the server"),
            ("postgresql://bureau:s3cret@db/bureau?sslmode=sometimes", "verify-full, verify-ca or disable"),
            ("postgresql://bureau:s3cret@db/bureau?sslcert=c.pem", "needs both"),
            ("postgresql://bureau:s3cret@db/bureau?colour=blue", "the parameter colour"),
            ("postgresql://bureau:s3cret@db/bureau?connect_timeout=0", "connect_timeout"),
        ]
        for (url, rule) in cases {
            let error = #expect(throws: BureauError.self, "\(url)") { try PostgresLocation(url: url) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.hasPrefix("store: ") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(rule) == true, "\(url): \(error?.message ?? "")")
            #expect(error?.message.contains("s3cret") == false)
        }
        let location = try PostgresLocation(url: "postgresql://bureau:s3cret@db.example:6432/ledger?sslrootcert=/etc/ca.pem")
        #expect((location.host, location.port, location.database, location.tls) == ("db.example", 6432, "ledger", .verifyFull))
        #expect(!location.description.contains("s3cret"))
    }

    @Test("a host that refuses connections is named in the refusal")
    func refusedHost() throws {
        let port = try PostgresTestCluster.freePort()
        let message = try refusal("postgresql://postgres@127.0.0.1:\(port)/bureau?sslmode=disable")
        #expect(message.contains("cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:\(port)/bureau"), "\(message)")
    }

    @Test("wrong credentials are refused with the server's reason, and the password is not repeated")
    func wrongCredentials() throws {
        let url = try cluster.newDatabase()
        try PostgresStorage.migrate(try PostgresLocation(url: url))
        let wrong = url.replacingOccurrences(of: "postgres@", with: "bureau_login:wrong-password@")
        let message = try refusal(wrong)
        #expect(message.contains("password authentication failed for user \"bureau_login\""), "\(message)")
        #expect(message.contains("28P01"))
        #expect(!message.contains("wrong-password"))
        // The right password opens it.
        _ = try PostgresStorage(
            location: try PostgresLocation(url: url.replacingOccurrences(of: "postgres@", with: "bureau_login:right-password@")), dataFolder: PostgresTestCluster.dataFolder
        )
    }

    @Test("a database without the schema, or with one too old or too new, is refused; migrate changes nothing it should not")
    func schemaVersions() throws {
        let url = try cluster.newDatabase()
        let location = try PostgresLocation(url: url)
        #expect(try refusal(url).contains("holds no Bureau schema: run `bureau store migrate --store URL` first"))
        #expect(try cluster.psql(name(url), "SELECT to_regclass('schema_version') IS NULL") == "t", "opening wrote nothing")

        #expect(try PostgresStorage.migrate(location) == (0, 2))
        #expect(try PostgresStorage.migrate(location) == (2, 2), "a second run has nothing to do")
        _ = try PostgresStorage(location: location, dataFolder: PostgresTestCluster.dataFolder)

        // A database at version 1 (before the table `shredding`) is refused, and migrated to 2 by one step.
        try cluster.psql(name(url), "DELETE FROM schema_version WHERE version = 2")
        try cluster.psql(name(url), "DROP TABLE shredding")
        #expect(try refusal(url).contains("schema version 1, older than the 2 this build needs: run `bureau store migrate --store URL`"))
        #expect(try PostgresStorage.migrate(location) == (1, 2))
        #expect(try cluster.psql(name(url), "SELECT to_regclass('shredding') IS NOT NULL") == "t")

        try cluster.psql(name(url), "DELETE FROM schema_version")
        #expect(try refusal(url).contains("schema version 0, older than the 2 this build needs: run `bureau store migrate --store URL`"))

        try cluster.psql(name(url), "INSERT INTO schema_version (version) VALUES (1), (2), (3)")
        #expect(try refusal(url).contains("schema version 3, newer than the 2 this build knows"))
        let error = #expect(throws: PostgresStoreError.self) { try PostgresStorage.migrate(location) }
        #expect(error?.kind == .schema)
        #expect(try cluster.psql(name(url), "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version") == "1,2,3")
    }

    @Test("the key of a deletion left by a key store that failed between the deletion's commit and the key's destruction is destroyed at the next start; then it is forgotten")
    func sweepAfterCrash() throws {
        let url = try cluster.newDatabase()
        let location = try PostgresLocation(url: url)
        try PostgresStorage.migrate(location)
        let folder = PostgresTestCluster.dataFolder
        let identifier = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: "11010519491231002X"))
        let subject = CreditFile.Subject.person(
            PersonIdentity(
                name: "粉碎测试", identifier: "", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!, phone: "",
                address: Address(province: "北京市", city: "北京市", detail: "")
            )
        )
        let account = Account(
            furnisher: try UnifiedSocialCreditCode(parsing: "91110000100000016D"), accountNumber: "6222020200112233", type: .creditCard,
            opened: CalendarDate(year: 2020, month: 1, day: 1)!, limit: Money(minorUnits: 100_000, currency: "CNY"),
            balance: Money(minorUnits: 0, currency: "CNY"), status: .current, paymentHistory: "0", closed: nil
        )
        func count(_ table: String) throws -> String { try cluster.psql(name(url), "SELECT count(*) FROM \(table)") }
        let keys = "\(PostgresKeyStore.schema).data_keys"
        let before: String
        do {
            let store = try Store(folder: folder, backend: try PostgresStorage(location: location, dataFolder: folder))
            let key = store.key(for: identifier)
            try store.write { txn in
                try txn.putSubject(subject, for: key)
                try txn.putRecord(.account(account), for: key, catalogue: .default)
            }
            before = try count(keys)
            // From here the key store refuses to destroy keys (as if it were down when the deletion committed).
            try cluster.psql(
                name(url),
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'key store down'; END$$; "
                    + "CREATE TRIGGER refuse BEFORE DELETE ON \(keys) FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
            _ = try store.write { try $0.deleteRecord(account.reference, of: key, catalogue: .default) }
            #expect(try store.read { try $0.record(account.reference, of: key) } == nil, "the deletion committed")
            #expect(try count(keys) == before, "its key could not be destroyed")
            #expect(try count("shredding") == "1", "recorded with the deletion's commit")
        }
        // The node died there; the key store is back. The next start destroys the key and forgets it.
        try cluster.psql(name(url), "DROP TRIGGER refuse ON \(keys)")
        let store = try Store(folder: folder, backend: try PostgresStorage(location: location, dataFolder: folder))
        #expect(try count(keys) == String(Int(before)! - 1))
        #expect(try count("shredding") == "0")

        // A deletion whose key is destroyed at once is recorded with its commit and forgotten by the next write.
        let key = store.key(for: identifier)
        let other = Account(
            furnisher: account.furnisher, accountNumber: "6222020200445566", type: .creditCard, opened: account.opened, limit: account.limit,
            balance: account.balance, status: .current, paymentHistory: "0", closed: nil
        )
        try store.write { try $0.putRecord(.account(other), for: key, catalogue: .default) }
        _ = try store.write { try $0.deleteRecord(other.reference, of: key, catalogue: .default) }
        #expect(try count("shredding") == "1")
        try store.write { try $0.putRecord(.account(account), for: key, catalogue: .default) }
        #expect(try count("shredding") == "0")
    }

    @Test("a read-only database is refused at start, and migrate leaves it as it was")
    func readOnly() throws {
        let url = try cluster.newDatabase()
        try cluster.psql("postgres", "ALTER DATABASE \(name(url)) SET default_transaction_read_only = on")
        let error = #expect(throws: PostgresStoreError.self) { try PostgresStorage.migrate(try PostgresLocation(url: url)) }
        #expect(error?.message.contains("read-only") == true, "\(error?.message ?? "")")
        #expect(try cluster.psql(name(url), "SELECT to_regclass('schema_version') IS NULL") == "t", "nothing half written")

        try cluster.psql("postgres", "ALTER DATABASE \(name(url)) SET default_transaction_read_only = off")
        try PostgresStorage.migrate(try PostgresLocation(url: url))
        try cluster.psql("postgres", "ALTER DATABASE \(name(url)) SET default_transaction_read_only = on")
        #expect(try refusal(url).contains("is read-only (a standby, or default_transaction_read_only is on)"))
    }

    @Test("a lost connection fails the request in flight with UNAVAILABLE, and the next one reconnects")
    func lostConnection() async throws {
        let url = try cluster.newDatabase() + "&query_timeout=5"
        let location = try PostgresLocation(url: url)
        try PostgresStorage.migrate(location)
        let folder = TestKeyFile.temporaryFolder("bureau-pg")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(folder: folder, backend: try PostgresStorage(location: location, dataFolder: folder))
        let writer = GroupCommitWriter(store: store, logger: Logger(label: "test"))
        defer { Task { await writer.shutdown() } }
        _ = try await writer.submit { try $0.appendLog(Self.entry(0)) }
        #expect(try store.read { try $0.logSize() } == 1)

        // The server ends every session of this database (as a restart or a failover would).
        let drop = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '\(name(url))' AND pid <> pg_backend_pid()"
        let cluster = self.cluster
        let failed = await #expect(throws: BureauError.self) {
            try await writer.submit { txn in
                _ = try txn.logSize()
                try cluster.psql("postgres", drop)
                return try txn.appendLog(Self.entry(1))
            }
        }
        #expect(failed?.code == .unavailable, "\(String(describing: failed))")
        // A read whose session ends in the middle of it.
        let readFailed = #expect(throws: BureauError.self) {
            try store.read { txn in
                _ = try txn.logSize()
                try cluster.psql("postgres", drop)
                return try txn.logSize()
            }
        }
        #expect(readFailed?.code == .unavailable)
        #expect(try store.read { try $0.logSize() } == 1, "the next read has a new session")

        // Nothing of the failed request was kept; the next ones get new connections.
        let receipt = try await writer.submit { try $0.appendLog(Self.entry(2)) }
        #expect(receipt.index == 1)
        #expect(try store.read { try $0.logSize() } == 2)
        let (size, _) = try Backup.verifyLog(of: store)
        #expect(size == 2)
    }

    @Test("nodes share the key store: what one node seals the other opens under the same subject keys; a key store in another database keeps every key out of the data's; data without its key store is refused")
    func sharedKeyStore() throws {
        let data = try PostgresLocation(url: try cluster.newDatabase())
        let keys = try PostgresLocation(url: try cluster.newDatabase(prefix: "keys"))
        try PostgresStorage.migrate(data)
        let folder = PostgresTestCluster.dataFolder
        let a = try Store(folder: folder, backend: try PostgresStorage(location: data, keyStore: keys, dataFolder: folder))
        let b = try Store(folder: folder, backend: try PostgresStorage(location: data, keyStore: keys, dataFolder: folder))
        let identifier = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: "11010519491231002X"))
        #expect(a.key(for: identifier) == b.key(for: identifier), "one keyed-hash secret for every node")
        let subject = CreditFile.Subject.person(
            PersonIdentity(
                name: "共享节点", identifier: "", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!, phone: "",
                address: Address(province: "北京市", city: "北京市", detail: "")
            )
        )
        try a.write { try $0.putSubject(subject, for: a.key(for: identifier)) }
        #expect(try b.read { try $0.subject(b.key(for: identifier)) } == subject, "node B opens what node A sealed")

        #expect(try cluster.psql(data.database, "SELECT to_regnamespace('\(PostgresKeyStore.schema)') IS NULL") == "t", "no key in the data's database")
        #expect(try cluster.psql(keys.database, "SELECT count(*) FROM \(PostgresKeyStore.schema).data_keys") == "1")
        #expect(try cluster.psql(keys.database, "SELECT count(*) FROM \(PostgresKeyStore.schema).secret") == "1")

        let empty = try PostgresLocation(url: try cluster.newDatabase(prefix: "nokeys"))
        let error = try #require(throws: BureauError.self) { try PostgresStorage(location: data, keyStore: empty, dataFolder: folder) }
        #expect(error.code == .failedPrecondition)
        #expect(error.message.contains("holds no keyed-hash secret: the data cannot be opened without its key store"), "\(error.message)")
        #expect(try cluster.psql(empty.database, "SELECT count(*) FROM \(PostgresKeyStore.schema).secret") == "0", "no secret was made beside existing data")
    }

    @Test("a record shredded through one node and furnished again through another, which had its old key cached, is sealed under a key in the key store: a new node opens it")
    func shreddedThenRefurnishedAcrossNodes() throws {
        let data = try PostgresLocation(url: try cluster.newDatabase())
        try PostgresStorage.migrate(data)
        let folder = PostgresTestCluster.dataFolder
        let a = try Store(folder: folder, backend: try PostgresStorage(location: data, dataFolder: folder))
        let b = try Store(folder: folder, backend: try PostgresStorage(location: data, dataFolder: folder))
        let key = a.key(for: .individual(try ResidentIdentityNumber(parsing: "11010519491231002X")))
        func account(balance: Int64) -> CreditRecord {
            .account(
                Account(
                    furnisher: try! UnifiedSocialCreditCode(parsing: "91110000100000016D"), accountNumber: "6222020200998877", type: .creditCard,
                    opened: CalendarDate(year: 2020, month: 1, day: 1)!, limit: Money(minorUnits: 100_000, currency: "CNY"),
                    balance: Money(minorUnits: balance, currency: "CNY"), status: .current, paymentHistory: "0", closed: nil
                )
            )
        }
        let first = account(balance: 1)
        try a.write { try $0.putRecord(first, for: key, catalogue: .default) }
        #expect(try b.read { try $0.record(first.reference, of: key) } == first, "node B has read it, and holds its key")
        try a.write { _ = try $0.deleteRecord(first.reference, of: key, catalogue: .default, tombstone: false) }
        let again = account(balance: 2)
        try b.write { try $0.putRecord(again, for: key, catalogue: .default) }
        let c = try Store(folder: folder, backend: try PostgresStorage(location: data, dataFolder: folder))
        #expect(try c.read { try $0.record(again.reference, of: key) } == again, "a node started later opens what node B sealed")
        #expect(try a.read { try $0.record(again.reference, of: key) } == again)
    }

    @Test("two nodes appending at once hand out every index once: the log head's row lock orders them")
    func twoNodes() throws {
        let url = try cluster.newDatabase()
        let location = try PostgresLocation(url: url)
        try PostgresStorage.migrate(location)
        let nodes = [try PostgresStorage(location: location, dataFolder: PostgresTestCluster.dataFolder), try PostgresStorage(location: location, dataFolder: PostgresTestCluster.dataFolder)]
        let receipts = Mutex<[UInt64]>([])
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        for (n, node) in nodes.enumerated() {
            for thread in 0..<2 {
                done.enter()
                Thread {
                    defer { done.leave() }
                    for i in 0..<15 {
                        do {
                            let receipt = try node.write { txn in
                                let receipt = try txn.appendLog(Self.entry(n * 1000 + thread * 100 + i))
                                // Widen the window between reading the size and committing the new one.
                                _ = try txn.logEntryBytes(from: 0, limit: 1, reverse: false, maxBytes: .max)
                                return receipt
                            }
                            receipts.withLock { $0.append(receipt.index) }
                        } catch {
                            failures.withLock { $0.append("\(error)") }
                        }
                    }
                }.start()
            }
        }
        done.wait()
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let issued = receipts.withLock { $0 }.sorted()
        #expect(issued == Array(0..<60), "every index once: \(issued)")
        let folder = TestKeyFile.temporaryFolder("bureau-pg")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (size, root) = try Backup.verifyLog(of: try Store(folder: folder, backend: nodes[1]))
        #expect(size == 60)
        let other = try nodes[0].read { try $0.tree.root(size: 60) }
        #expect(other == root, "both nodes see one tree")
    }

    @Test("TLS: verify-full connects with the cluster's CA and a client certificate, and refuses a server it cannot verify")
    func tls() throws {
        let tls = try #require(cluster.tls, "openssl made the TLS files")
        let url = try cluster.newDatabase()
        let name = name(url)
        let base = "postgresql://postgres@localhost:\(cluster.port)/\(name)"
        let client = "sslcert=\(tls.folder)/client.pem&sslkey=\(tls.folder)/client.key"
        try PostgresStorage.migrate(try PostgresLocation(url: "\(base)?sslmode=verify-full&sslrootcert=\(tls.folder)/ca.pem&\(client)"))
        let storage = try PostgresStorage(location: try PostgresLocation(url: "\(base)?sslrootcert=\(tls.folder)/ca.pem&\(client)"), dataFolder: PostgresTestCluster.dataFolder)
        #expect(try storage.read { try $0.logSize() } == 0)
        let ssl = try cluster.psql(name, "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'bureaud'")
        #expect(ssl != "0", "the session is encrypted")

        // Another CA's server, and a name the certificate does not carry, are refused.
        let wrongCA = try refusal("\(base)?sslrootcert=\(tls.folder)/other-ca.pem&\(client)")
        #expect(wrongCA.contains("cannot connect to PostgreSQL at postgresql://postgres@localhost"), "\(wrongCA)")
        let wrongName = try refusal("postgresql://postgres@127.0.0.2:\(cluster.port)/\(name)?sslrootcert=\(tls.folder)/ca.pem&\(client)")
        #expect(wrongName.contains("cannot connect"), "\(wrongName)")
    }
}
