import Foundation
import PostgresHarness
import Testing

/// The harness itself: clusters of its own (never the system's), a synchronous standby, promotion and SIGKILL.
@Suite("PostgreSQL test clusters")
struct PostgresClusterTests {
    @Test("a synchronous standby has a committed row as soon as the primary's COMMIT returns, and refuses writes")
    func standbyReplicatesSynchronously() async throws {
        try await PostgresCluster.withReplicatedPair { primary, standby in
            #expect(try primary.isInRecovery() == false)
            #expect(try standby.isInRecovery() == true)
            #expect(try primary.query("SHOW synchronous_commit") == "on")
            #expect(try primary.query("SELECT application_name || ':' || sync_state FROM pg_stat_replication") == "standby:sync")
            // The standby must not inherit the primary's synchronous_standby_names: once promoted it has no standby.
            #expect(try standby.query("SHOW synchronous_standby_names") == "")

            try primary.execute("CREATE TABLE receipts (idx bigint PRIMARY KEY); INSERT INTO receipts VALUES (1)")
            // synchronous_commit = on waits for the standby's flush; replay follows within moments.
            try PostgresCluster.waitUntil(seconds: 10, "the row on the standby") {
                (try? standby.query("SELECT count(*) FROM receipts")) == "1"
            }
            #expect(throws: PostgresHarnessError.self) { try standby.execute("INSERT INTO receipts VALUES (2)") }
        }
    }

    @Test("after the primary's postmaster is SIGKILLed the promoted standby holds every committed row and accepts writes")
    func promoteAfterKill() async throws {
        try await PostgresCluster.withReplicatedPair { primary, standby in
            try primary.execute("CREATE TABLE receipts (idx bigint PRIMARY KEY); INSERT INTO receipts SELECT generate_series(1, 100)")
            let pid = try #require(primary.postmasterPID())
            try primary.kill()
            #expect(primary.postmasterPID() == nil)
            #expect(kill(pid, 0) != 0 || (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z") == true)
            #expect(throws: PostgresHarnessError.self) { try primary.query("SELECT 1") }

            try standby.promote()
            #expect(try standby.isInRecovery() == false)
            #expect(try standby.query("SELECT count(*) FROM receipts") == "100")
            try standby.execute("INSERT INTO receipts VALUES (101)")
            #expect(try standby.query("SELECT max(idx) FROM receipts") == "101")
        }
    }

    @Test("a killed cluster starts again with its committed rows (crash recovery)")
    func restartAfterKill() async throws {
        try await PostgresCluster.with { cluster in
            try cluster.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
            try cluster.kill()
            try cluster.start()
            #expect(try cluster.query("SELECT x FROM t") == "7")
        }
    }

    @Test("SCRAM: the URL's password lets a client in, a wrong one is refused")
    func scramAuthentication() async throws {
        try await PostgresCluster.with(authentication: .scram(password: "s3cret/pw")) { cluster throws in
            #expect(try cluster.query("SELECT current_user") == "postgres")
            #expect(cluster.url().hasPrefix("postgresql://postgres:s3cret%2Fpw@127.0.0.1:\(cluster.port)/postgres"))
            #expect(throws: PostgresHarnessError.self) { try cluster.query("SELECT 1", password: "wrong") }
        }
    }

    @Test("clusters live in scratch folders of their own, on ports of their own, and are removed afterwards")
    func scratchFolders() async throws {
        var folders: [String] = []
        try await PostgresCluster.with(name: "a") { a in
            try await PostgresCluster.with(name: "b") { b throws in
                folders = [a.folder, b.folder]
                #expect(a.port != b.port)
                #expect(a.folder != b.folder)
                #expect(try a.query("SHOW data_directory") == a.dataDirectory)
                #expect(try b.query("SHOW data_directory") == b.dataDirectory)
            }
        }
        for folder in folders { #expect(!FileManager.default.fileExists(atPath: folder)) }
    }

    @Test("the scratch folder of a test process that is gone is removed by the next; a live process's is kept")
    func leftovers() throws {
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let base = FileManager.default.temporaryDirectory.path
        let left = "\(base)/\(PostgresCluster.scratchPrefix)\(ended.processIdentifier)-left-\(UUID().uuidString.prefix(8))"
        let mine = "\(base)/\(PostgresCluster.scratchPrefix)\(getpid())-kept-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: mine) }
        for folder in [left, mine] { try FileManager.default.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true) }
        try PostgresCluster.removeLeftovers()
        #expect(!FileManager.default.fileExists(atPath: left))
        #expect(FileManager.default.fileExists(atPath: mine))
    }
}
