import BureauAPI
import BureauCore
import BureauKeys
import BureauLMDB
import BureauOperations
import BureauServer
import BureauStore
import BureauStoreConformance
import Crypto
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing

/// `bureau keys encrypt-existing` (issue 15 item 6) on installations of the layout before encryption at rest,
/// written by ``OldLayout`` from stores the services filled.
@Suite("Converting an installation made before encryption at rest", .serialized)
struct EncryptExistingTests {
    static let people = 300

    /// What the first bureau left: its folder in the old layout, the checkpoint signed over its log, the log's
    /// bytes, every file, and the reports served.
    struct Fixture {
        var folder: String
        var checkpoint: Checkpoint
        var entries: [[UInt8]]
        var files: [SubjectKey: CreditFile]
        var consents: [String: Consent]
        var reports: [String: Bureau_IndividualReport]
        var values: [(label: String, value: String)]
        /// The records the old build named in full in log entries (disputed, asked to be repaired).
        var loggedInFull: Set<String>
    }

    static func subject(_ id: String, request: String) -> Bureau_SubjectRequest { DataAtRestTests.subject(id, request: request) }

    /// A report with what changes from one call to the next taken out: its number and time, the queries
    /// (the earlier call is one) and the score (which counts them).
    static func content(_ report: Bureau_IndividualReport) -> Bureau_IndividualReport {
        var report = report
        report.header.reportNumber = ""
        report.header.clearGeneratedAt()
        report.queries = []
        report.clearScore()
        return report
    }

    static let reported = [DemoData.personIdentifier, "440305199207045670", "310104198503121235"]

    /// Served reports: the bank's of the demo people with standing consents, and the own reports of `people`
    /// (one log entry each).
    static func reports(_ bureau: InProcessBureau, _ people: [String], tag: String) async throws -> [String: Bureau_IndividualReport] {
        var out: [String: Bureau_IndividualReport] = [:]
        for id in Self.reported {
            out["bank \(id)"] = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest(id)), options: fastCall)
            }.report
        }
        try await bureau.withClient("channel") { client in
            let subjects = Bureau_SubjectService.Client(wrapping: client)
            for (n, id) in people.enumerated() {
                out["own \(id)"] = try await subjects.getOwnReport(request: ClientRequest(message: Self.subject(id, request: "own-\(tag)-\(n)")), options: fastCall).individual
            }
        }
        return out
    }

    /// Demo data and generated people, with reports, disputes, statements, a fraud alert, a repair request and
    /// a deleted record, rewritten in the old layout.
    static func makeFixture(in work: String) async throws -> Fixture {
        let folder = work + "/data"
        var made: (files: [SubjectKey: CreditFile], consents: [String: Consent], reports: [String: Bureau_IndividualReport])?
        var values: [(label: String, value: String)] = []
        var loggedInFull: Set<String> = []
        var signer: NoteSigner?
        var deleted: [(SubjectKey, RecordReference)] = []
        try await InProcessBureau.run(folder: folder, mapSize: 256 << 20) { bureau in
            let people = try DataAtRestTests.importPeople(Self.people, into: bureau.store, work: work).people
            values = DataAtRestTests.personalValues(people)

            try await bureau.withClient("channel") { client in
                let subjects = Bureau_SubjectService.Client(wrapping: client)
                for n in 0..<3 {
                    let person = people[n]
                    let account = try #require(person.accounts?.first?.accountNumber)
                    var dispute = Bureau_DisputeRequest()
                    dispute.subject = Self.subject(person.identifier, request: "dispute-\(n)")
                    dispute.record.kind = .account
                    dispute.record.furnisher = person.furnisher
                    dispute.record.recordID = account
                    dispute.description_p = "Disputed by person \(n): I closed account ending \(account.suffix(4)) in March"
                    loggedInFull.insert("account \(account)")
                    var statement = Bureau_StatementRequest()
                    statement.subject = Self.subject(person.identifier, request: "statement-\(n)")
                    statement.text = "Statement of person \(n): my wallet was stolen on the night of the harvest festival"
                    values += [("dispute \(n)", dispute.description_p), ("statement \(n)", statement.text)]
                    _ = try await subjects.fileDispute(request: ClientRequest(message: dispute), options: fastCall)
                    _ = try await subjects.addStatement(request: ClientRequest(message: statement), options: fastCall)
                }
                var alert = Bureau_FraudAlertRequest()
                alert.subject = Self.subject(people[3].identifier, request: "alert")
                alert.note = "Call me on my other phone before any loan: identity papers lost in Guangzhou"
                values.append(("fraud alert note", alert.note))
                _ = try await subjects.placeFraudAlert(request: ClientRequest(message: alert), options: fastCall)
                var repair = Bureau_RepairRequest()
                repair.subject = Self.subject("440305199207045670", request: "repair")
                repair.record.kind = .listEntry
                repair.record.furnisher = DemoData.court.value
                repair.record.recordID = "SUL-2025-0042"
                repair.rectification = "Paid the judgment debt in full on 2026-10-31 at the Shenzhen counter"
                repair.evidenceSha256 = Data(repeating: 9, count: 32)
                values.append(("repair rectification", repair.rectification))
                loggedInFull.insert("list entry SUL-2025-0042")
                _ = try await subjects.requestRepair(request: ClientRequest(message: repair), options: fastCall)
            }
            // The bank deletes one of its records (a tombstone, keyed by the record).
            let gone = RecordReference(kind: .account, furnisher: DemoData.bank, recordID: "6222020200112233")
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_FurnishService.Client(wrapping: client).deleteRecord(request: ClientRequest(message: DataAtRestTests.deleteRequest(gone)), options: fastCall)
            }
            deleted = [(bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier))), gone)]
            let reports = try await Self.reports(bureau, people.map(\.identifier), tag: "before")
            let lmdb = try #require(bureau.store.backend as? LMDBStorage)
            let keys = try lmdb.rawEntries(of: "subjects").map { SubjectKey(bytes: $0.key) }
            let references = try lmdb.rawEntries(of: "consents").map { String(decoding: $0.key, as: UTF8.self) }
            let (files, consents) = try bureau.store.read { txn in
                (
                    try Dictionary(uniqueKeysWithValues: keys.map { ($0, try #require(try txn.file($0))) }),
                    try Dictionary(uniqueKeysWithValues: references.map { ($0, try #require(try txn.consent($0))) })
                )
            }
            made = (files, consents, reports)
            signer = bureau.daemon.checkpoints.signer
        }
        let state = try #require(made)
        let (checkpoint, entries) = try OldLayout.write(folder: folder, signer: try #require(signer), deleted: deleted)
        return Fixture(
            folder: folder, checkpoint: checkpoint, entries: entries, files: state.files, consents: state.consents, reports: state.reports,
            values: values, loggedInFull: loggedInFull
        )
    }

    @Test("an installation of the old layout is converted in place, stopped and resumed: the same files and reports, the log byte-identical and consistent with its old checkpoint, no personal value left in any file")
    func convert() async throws {
        let work = TestKeyFile.temporaryFolder("bureau-encrypt-existing")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let fixture = try await Self.makeFixture(in: work)
        let folder = fixture.folder
        let scanner = LeakScanner(fixture.values)

        // The control: the old layout holds everything in clear, and this build refuses it, naming the command.
        let before = try scanner.scan(folder: folder)
        let beforeHits = before.hits.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let expected = fixture.values.map(\.label).filter { $0.hasPrefix("identifier") || $0.hasPrefix("account") || $0.hasPrefix("dispute") || $0.hasPrefix("statement") }
        #expect(expected.count > Self.people * 2 && expected.allSatisfy(beforeHits.contains), "\(expected.filter { !beforeHits.contains($0) }.prefix(5))")
        let refused = #expect(throws: BureauError.self) { _ = try Store(folder: folder) }
        #expect(refused?.message.contains("bureau keys encrypt-existing") == true)
        #expect(fixture.entries.count > 300, "\(fixture.entries.count) log entries")

        // An uninterrupted conversion of a copy, the reference.
        let copy = work + "/copy"
        try FileManager.default.copyItem(atPath: folder, toPath: copy)
        let whole = try EncryptExisting(folder: copy, batchSize: 40).run()
        #expect(whole.finished && whole.batches > 40)

        // Copies that crash inside a batch, once its new keys are stored and before its data commits (one among
        // the identities, one among the records), then are run again to the end.
        let crashes = [3, whole.batches - 6]
        for after in crashes {
            let crashed = work + "/crash-\(after)"
            try FileManager.default.copyItem(atPath: folder, toPath: crashed)
            let failure = #expect(throws: EncryptExisting.Crash.self) { _ = try EncryptExisting(folder: crashed, batchSize: 40, crashAfterBatches: after).run() }
            #expect(failure?.batch == after + 1)
            #expect(try EncryptExisting(folder: crashed, batchSize: 40).run().finished)
        }

        // Stopped after every 7 batches (as a crash between two commits), and run again until done.
        var runs = 0
        var summary: EncryptExisting.Summary
        repeat {
            summary = try EncryptExisting(folder: folder, batchSize: 40, stopAfterBatches: 7).run()
            runs += 1
            if !summary.finished {
                // Half converted: still refused, still holding its secret.
                #expect(throws: BureauError.self) { _ = try Store(folder: folder) }
                #expect(FileManager.default.fileExists(atPath: folder + "/" + InstallationSecret.fileName))
            }
        } while !summary.finished && runs < 100
        #expect(summary.finished && runs > 3, "\(runs) runs")
        #expect(!FileManager.default.fileExists(atPath: folder + "/" + InstallationSecret.fileName))
        #expect(!FileManager.default.fileExists(atPath: folder + "/lmdb.cleartext") && !FileManager.default.fileExists(atPath: folder + "/lmdb.compacted"))

        for converted in [folder, copy] + crashes.map({ work + "/crash-\($0)" }) {
            // No personal value in any file, except the records the old build named in full in log entries,
            // which are evidence and stay byte for byte (README, "Keys").
            let after = try scanner.scan(folder: converted)
            #expect(after.files >= 5 && after.bytes > 100_000)
            #expect(Set(after.hits.keys).isSubset(of: ["lmdb/data.mdb"]), "\(after.hits.keys)")
            #expect(after.hits["lmdb/data.mdb", default: []] == fixture.loggedInFull, "\(after.hits)")

            let store = try Store(folder: converted)
            // Every file and consent as it was.
            for (key, file) in fixture.files {
                #expect(try store.read { try $0.file(key) } == file)
            }
            for (reference, consent) in fixture.consents {
                #expect(try store.read { try $0.consent(reference) } == consent)
            }
            // The log: the old entries byte for byte, consistent with the checkpoint signed before, and one more
            // entry saying what was done.
            let size = try store.read { try $0.logSize() }
            #expect(size == fixture.checkpoint.size + 1)
            let stored = try store.read { try $0.logEntries(from: 0, limit: Int(size)) }
            #expect(stored.prefix(Int(fixture.checkpoint.size)).map(\.bytes) == fixture.entries)
            let migration = try #require(stored.last)
            #expect(migration.entry.action == .keysEncryptExisting)
            #expect(migration.entry.reason.contains("\(fixture.files.count) subjects"))
            let (oldRoot, newRoot, proof) = try store.read { txn in
                (try txn.tree.root(size: fixture.checkpoint.size), try txn.tree.root(size: size), try txn.tree.consistencyProof(size1: fixture.checkpoint.size, size2: size))
            }
            #expect(oldRoot == fixture.checkpoint.root)
            try Merkle.verifyConsistency(size1: fixture.checkpoint.size, size2: size, root1: fixture.checkpoint.root, root2: newRoot, proof: proof)
            #expect(try Backup.verifyLog(of: store).size == size)
        }
        // Stopped, crashed or not, the same indexes, record keys and tombstones, and a data key for every value.
        let keys = try LMDBKeyStore(path: copy + "/keystore").count()
        for converted in [folder] + crashes.map({ work + "/crash-\($0)" }) {
            let resumed = try LMDBRaw(folder: converted)
            let reference = try LMDBRaw(folder: copy)
            for name in ["subjects", "records", "attachments", "index.furnisher", "index.retention", "index.lists", "index.disputes", "index.queries", "tombstones", "consents", "disputes", "repairs", "protections", "encrypt-existing.records"] {
                #expect(try resumed.entries(name).map(\.key) == reference.entries(name).map(\.key), "\(converted): \(name)")
            }
            #expect(try resumed.entries("encrypt-existing.records").isEmpty && resumed.entries("tombstones").count == 1)
            // A crash inside a batch can leave the keys that batch made for new records (stored before the data
            // commit that never came): unused, at most one batch of them; a stop between batches leaves none,
            // and the identities' keys found again are reused.
            let count = try LMDBKeyStore(path: converted + "/keystore").count()
            #expect(converted.hasSuffix("-3") || converted == folder ? count == keys : (keys...(keys + 40)).contains(count), "\(converted): \(count) keys, \(keys) in the reference")
        }
        // bureaud starts on it (its log checked against the old checkpoint) and serves the same reports.
        try await InProcessBureau.run(folder: folder, seed: false, mapSize: 256 << 20) { bureau in
            let people = fixture.reports.keys.filter { $0.hasPrefix("own ") }.map { String($0.dropFirst(4)) }
            let after = try await Self.reports(bureau, people, tag: "after")
            #expect(after.count == fixture.reports.count)
            for (name, report) in fixture.reports {
                let converted = try #require(after[name])
                #expect(Self.content(converted) == Self.content(report), "\(name)")
                #expect(!report.accounts.isEmpty || !report.listEntries.isEmpty)
            }
        }
        // Nothing to do the second time.
        let again = #expect(throws: BureauError.self) { _ = try EncryptExisting(folder: folder).run() }
        #expect(again?.message.contains("encrypted at rest already") == true)
    }

    /// Every file under `folder` and its SHA-256.
    static func contents(_ folder: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for relative in try FileManager.default.subpathsOfDirectory(atPath: folder) {
            var isFolder: ObjCBool = false
            let path = folder + "/" + relative
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            out[relative] = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).hexString
        }
        return out
    }

    @Test("refused, naming what is wrong and changing nothing: no KEK, another KEK or key store than the ones a stopped conversion began with, a folder that is no installation; a folder encrypted already has nothing to do")
    func refusals() async throws {
        let work = TestKeyFile.temporaryFolder("bureau-encrypt-refusals")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: work) }
        let folder = work + "/data"
        var signer: NoteSigner?
        try await InProcessBureau.run(folder: folder) { bureau in signer = bureau.daemon.checkpoints.signer }
        _ = try OldLayout.write(folder: folder, signer: try #require(signer), deleted: [])
        let untouched = try Self.contents(folder)

        let missing = #expect(throws: BureauError.self) {
            _ = try EncryptExisting(folder: folder, configuration: .init(keys: .file(work + "/kek/none.key"))).run()
        }
        #expect(missing?.code == .failedPrecondition && missing?.message.contains("none.key") == true)
        #expect(try Self.contents(folder) == untouched)

        // Begun under the test KEK and stopped; another KEK is refused, naming both.
        let first = try EncryptExisting(folder: folder, batchSize: 5, stopAfterBatches: 1).run()
        #expect(!first.finished && first.batches == 1)
        let begun = try Self.contents(folder)
        let other = try FileKeyEncryptionKey.create(at: work + "/kek/other.key")
        let wrong = #expect(throws: BureauError.self) {
            _ = try EncryptExisting(folder: folder, configuration: .init(keys: .file(other.path))).run()
        }
        #expect(wrong?.code == .failedPrecondition)
        #expect(wrong?.message.contains(first.keyEncryptionKey) == true && wrong?.message.contains(other.id.hex) == true, "\(String(describing: wrong))")
        #expect(try Self.contents(folder) == begun)
        // So is another key store than the one it began with.
        let elsewhere = #expect(throws: BureauError.self) {
            _ = try EncryptExisting(folder: folder, configuration: .init(keyStore: work + "/other-keystore")).run()
        }
        #expect(elsewhere?.code == .failedPrecondition && elsewhere?.message.contains("began with another key store") == true)
        #expect(try Self.contents(folder) == begun && !FileManager.default.fileExists(atPath: work + "/other-keystore"))
        // With the right one it goes on and ends.
        #expect(try EncryptExisting(folder: folder, batchSize: 5).run().finished)

        let nothing = #expect(throws: BureauError.self) { _ = try EncryptExisting(folder: folder).run() }
        #expect(nothing?.code == .failedPrecondition && nothing?.message.contains("nothing to do") == true)
        try FileManager.default.createDirectory(atPath: work + "/empty", withIntermediateDirectories: true)
        let empty = #expect(throws: BureauError.self) { _ = try EncryptExisting(folder: work + "/empty").run() }
        #expect(empty?.code == .invalidArgument)
    }
}

/// Raw reads of a data folder's LMDB databases.
struct LMDBRaw {
    let storage: LMDBStorage

    init(folder: String) throws {
        let store = try Store(folder: folder)
        self.storage = try #require(store.backend as? LMDBStorage)
    }

    func entries(_ name: String) throws -> [(key: [UInt8], value: [UInt8])] { try self.storage.rawEntries(of: name) }
}
