import BureauCore
import BureauPostgres
import BureauStore
import BureauStoreConformance
import Foundation
import PostgresHarness
import Testing

/// bureaud over a primary and its synchronous standby: it writes only to the primary, fails UNAVAILABLE while
/// there is none, and finds the promoted standby on its own; one node at a time holds the background-work lease.
@Suite("PostgreSQL primary among several servers, failover, background-work lease")
struct PrimaryFailoverTests {
    private static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")

    /// A log entry numbered `n` (no subject: the log is what these tests count).
    private static func entry(_ n: Int) -> AccessLogEntry {
        AccessLogEntry(
            .refusedCall("failover.test"), by: .bureau(for: bank.value), time: Date(timeIntervalSince1970: 1_780_000_000 + Double(n)),
            requestID: "r-\(n)", subjects: [], purpose: nil, outcome: .applied
        )
    }

    /// Migrates the database through `cluster` and opens a backend on `url`.
    private static func open(_ url: String) throws -> PostgresStorage {
        try PostgresStorage(location: try PostgresLocation(url: url), dataFolder: TestKeyFile.temporaryFolder("bureau-failover"))
    }

    private static func hostList(_ clusters: PostgresCluster...) -> String {
        "postgresql://postgres@" + clusters.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") + "/postgres?sslmode=disable"
    }

    @Test("with the standby listed first, the backend writes to the primary (pg_is_in_recovery() false)")
    func standbyFirstWritesToPrimary() async throws {
        try await PostgresCluster.withReplicatedPair { primary, standby in
            try PostgresStorage.migrate(try PostgresLocation(url: primary.url()))
            let storage = try Self.open(Self.hostList(standby, primary))
            let receipt = try storage.write { try $0.appendLog(Self.entry(0)) }
            #expect(receipt.index == 0)
            #expect(try primary.query("SELECT size FROM log_head") == "1")
            #expect(try storage.read { try $0.logSize() } == 1)
        }
    }

    @Test("a list holding only standbys is refused at start, naming each server and why")
    func onlyStandbys() async throws {
        try await PostgresCluster.withReplicatedPair { primary, standby in
            try PostgresStorage.migrate(try PostgresLocation(url: primary.url()))
            try primary.kill()
            let refused = try freeLoopbackPort()
            let url = "postgresql://postgres@127.0.0.1:\(standby.port),127.0.0.1:\(refused)/postgres?sslmode=disable"
            let error = try #require(throws: PostgresStoreError.self) { try Self.open(url) }
            #expect(error.message.contains("no primary"))
            #expect(error.message.contains("127.0.0.1:\(standby.port): a standby"))
            #expect(error.message.contains("127.0.0.1:\(refused):"))
            // One standby named alone: read-only, as with a single host.
            let single = try #require(throws: PostgresStoreError.self) { try Self.open(standby.url()) }
            #expect(single.kind == .readOnly)
        }
    }

    @Test("primary killed: writes fail UNAVAILABLE with nothing half written; after promotion the same backend writes to the new primary, which holds every acknowledged entry")
    func failover() async throws {
        try await PostgresCluster.withReplicatedPair { primary, standby in
            try PostgresStorage.migrate(try PostgresLocation(url: primary.url()))
            let storage = try Self.open(Self.hostList(primary, standby))
            var acknowledged: [UInt64] = []
            for n in 0..<20 {
                // Two entries a transaction: a batch is applied whole or not at all.
                let receipts = try storage.write { txn in [try txn.appendLog(Self.entry(2 * n)), try txn.appendLog(Self.entry(2 * n + 1))] }
                acknowledged += receipts.map(\.index)
            }
            try primary.kill()

            // No primary: every write and read fails UNAVAILABLE (never an answer from the standby).
            for n in 0..<3 {
                let failure = try #require(throws: BureauError.self) { try storage.write { try $0.appendLog(Self.entry(1000 + n)) } }
                #expect(failure.code == .unavailable)
            }
            let readFailure = try #require(throws: BureauError.self) { try storage.read { try $0.logSize() } }
            #expect(readFailure.code == .unavailable)

            try standby.promote()
            // The pools reconnect on the next call and find the promoted standby.
            let receipt = try storage.write { txn in [try txn.appendLog(Self.entry(40)), try txn.appendLog(Self.entry(41))] }
            acknowledged += receipt.map(\.index)
            #expect(acknowledged == Array(0..<42))
            #expect(try standby.query("SELECT count(*), min(idx), max(idx) FROM log_entries") == "42|0|41")
            #expect(try standby.query("SELECT size FROM log_head") == "42")
            #expect(try storage.read { try $0.logSize() } == 42)
        }
    }

    @Test("the background-work lease: one backend of two holds it; it moves when the holder's session ends, and after a failover")
    func leaseMoves() async throws {
        try await PostgresCluster.withReplicatedPair { primary, standby in
            try PostgresStorage.migrate(try PostgresLocation(url: primary.url()))
            let url = Self.hostList(primary, standby)
            var nodeA: PostgresStorage? = try Self.open(url)
            let nodeB = try Self.open(url)
            #expect(nodeA?.holdsBackgroundLease() == true)
            #expect(nodeB.holdsBackgroundLease() == false)
            #expect(nodeA?.holdsBackgroundLease() == true)
            #expect(nodeB.holdsBackgroundLease() == false)

            // Node A goes away (its sessions close, as a killed process's do): B takes the lease.
            nodeA = nil
            try PostgresCluster.waitUntil(seconds: 10, "node B to take the lease") { nodeB.holdsBackgroundLease() }
            #expect(nodeA == nil)

            // Failover: B's session died with the primary; it holds nothing until it reaches the new primary.
            try primary.kill()
            #expect(nodeB.holdsBackgroundLease() == false)
            try standby.promote()
            let nodeC = try Self.open(url)
            #expect(nodeB.holdsBackgroundLease() == true)
            #expect(nodeC.holdsBackgroundLease() == false)
            #expect(try standby.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") == "1")
        }
    }

    @Test("a URL's host list: every server in order, 5432 where no port is given; a bad entry is refused naming the field")
    func hostLists() throws {
        let location = try PostgresLocation(url: "postgresql://bureau@db1:5433,db2,[::1]:6000/bureau?sslmode=disable")
        #expect(location.servers.map(\.description) == ["db1:5433", "db2:5432", "[::1]:6000"])
        #expect(location.host == "db1" && location.port == 5433)
        #expect(location.database == "bureau")
        #expect(location.description == "postgresql://bureau@db1:5433,db2:5432,[::1]:6000/bureau?sslmode=disable")
        let one = try PostgresLocation(url: "postgresql://bureau@db1/bureau")
        #expect(one.servers == [PostgresLocation.Server(host: "db1", port: 5432)])
        for bad in [
            "postgresql://bureau@db1:5432,,db2/bureau", "postgresql://bureau@db1:5432,db2:0/bureau",
            "postgresql://bureau@db1:5432,db2:x/bureau", "postgresql://bureau@db1,[::1/bureau",
        ] {
            let error = try #require(throws: BureauError.self) { try PostgresLocation(url: bad) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("store"))
        }
    }
}
