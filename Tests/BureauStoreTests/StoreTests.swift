import BureauCore
import BureauKeys
import BureauStore
import BureauLMDB
import BureauStoreConformance
import Foundation
import Logging
import Testing

func withTemporaryFolder<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = TestKeyFile.temporaryFolder("bureau-store")
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func entry(_ n: Int, subject: SubjectKey? = nil) -> AccessLogEntry {
    AccessLogEntry(
        .refusedCall("test"), by: .bureau(for: "91110000100000016D"), time: Date(), requestID: "r-\(n)",
        subjects: subject.map { [$0] } ?? [], outcome: .hit
    )
}

@Suite("Store")
struct StoreTests {
    @Test("the installation secret is made once and kept across reopen, so keys stay stable")
    func secretPersists() async throws {
        try await withTemporaryFolder { folder in
            let id = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: "11010519491231002X"))
            let first = try Store(folder: folder).key(for: id)
            let second = try Store(folder: folder).key(for: id)
            #expect(first == second)
            // Only its wrapped form is on disk (the KEK wraps it); never a cleartext secret.key.
            let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/" + DataProtection.secretFileName)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            #expect(!FileManager.default.fileExists(atPath: folder + "/secret.key"))
        }
    }

    @Test("files and log entries survive reopen; the log keeps its order")
    func durable() async throws {
        try await withTemporaryFolder { folder in
            let id = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: "11010519491231002X"))
            let file = CreditFile(
                subject: .person(PersonIdentity(name: "王建国", identifier: id.value, birthDate: CalendarDate(year: 1949, month: 12, day: 31)!,
                                                phone: "", address: Address(province: "北京市", city: "北京市", detail: ""))),
                accounts: []
            )
            do {
                let store = try Store(folder: folder)
                try store.write { txn in
                    try txn.putSubject(file.subject, for: store.key(for: id))
                    for n in 0..<3 { _ = try txn.appendLog(entry(n)) }
                }
            }
            let store = try Store(folder: folder)
            var stored = file
            stored.identitySources = [IdentitySource(attribution: nil, identity: file.subject)]
            #expect(try store.read { try $0.file(store.key(for: id)) } == stored)
            let logged = try store.read { try $0.logEntries(from: 0, limit: 10) }
            #expect(logged.map(\.index) == [0, 1, 2])
            #expect(logged.map(\.entry.requestID) == ["r-0", "r-1", "r-2"])
            #expect(logged.allSatisfy { $0.leafHash == Merkle.leafHash($0.bytes) })
            #expect(try store.read { try $0.logSize() } == 3)
        }
    }

    @Test("no key of any database and no log entry holds the cleartext identifier")
    func noCleartextIdentifier() async throws {
        try await withTemporaryFolder { folder in
            let text = "11010519491231002X"
            let id = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: text))
            let store = try Store(folder: folder)
            let key = store.key(for: id)
            let file = CreditFile(
                subject: .person(PersonIdentity(name: "王建国", identifier: text, birthDate: CalendarDate(year: 1949, month: 12, day: 31)!,
                                                phone: "", address: Address(province: "北京市", city: "北京市", detail: ""))),
                accounts: []
            )
            try store.write { txn in
                try txn.putSubject(file.subject, for: key)
                _ = try txn.appendLog(entry(0, subject: key))
            }
            let needle = Array(text.utf8)
            let lmdb = try #require(store.backend as? LMDBStorage)
            for name in ["subjects", "institutions", "certificates", "log.entries", "log.nodes", "log.parts", "meta"] {
                for (k, v) in try lmdb.rawEntries(of: name) {
                    #expect(!k.contains(needle), "key in \(name)")
                    if name.hasPrefix("log.") { #expect(!v.contains(needle), "value in \(name)") }
                }
            }
            let logged = try store.read { try $0.logEntries(from: 0, limit: 1) }
            #expect(logged.first?.entry.subjects == [key])
        }
    }
}

@Suite("Group commit writer")
struct GroupCommitWriterTests {
    @Test("concurrent requests share commits, each gets its own durable receipt in order")
    func batches() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            let writer = GroupCommitWriter(store: store, logger: Logger(label: "test"))
            let receipts = try await withThrowingTaskGroup(of: LogReceipt.self) { group in
                for n in 0..<200 {
                    group.addTask { try await writer.submit { txn in try txn.appendLog(entry(n)) } }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            await writer.shutdown()
            #expect(Set(receipts.map(\.index)) == Set(0..<200))
            let stats = writer.statistics
            #expect(stats.requests == 200)
            #expect(stats.commits < 200, "requests waiting together must share a commit")
            // Every commit and every request's time in the writer is counted, and a request waits at least its
            // commit: the slowest wait is no shorter than the slowest commit.
            #expect(stats.commitDurations.count == stats.commits)
            #expect(stats.waits.count == 200)
            #expect(try #require(stats.waits.quantile(1)) >= (try #require(stats.commitDurations.quantile(1))))
            #expect(stats.waits.sum >= stats.commitDurations.sum)
            let logged = try store.read { try $0.logEntries(from: 0, limit: 500) }
            #expect(logged.count == 200)
            for receipt in receipts {
                #expect(logged[Int(receipt.index)].leafHash == receipt.leafHash)
            }
        }
    }

    @Test("a request that throws is undone alone; the others in its commit land")
    func isolation() async throws {
        struct Refused: Error {}
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            let writer = GroupCommitWriter(store: store, logger: Logger(label: "test"))
            let results = await withTaskGroup(of: Bool.self) { group in
                for n in 0..<50 {
                    group.addTask {
                        do {
                            _ = try await writer.submit { txn in
                                _ = try txn.appendLog(entry(n))
                                if n % 5 == 0 { throw Refused() }
                            }
                            return true
                        } catch {
                            return false
                        }
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            await writer.shutdown()
            #expect(results.filter { $0 }.count == 40)
            let logged = try store.read { try $0.logEntries(from: 0, limit: 100) }
            #expect(logged.count == 40)
            #expect(logged.allSatisfy { Int($0.entry.requestID.dropFirst(2))! % 5 != 0 })
            #expect(logged.map(\.index) == (0..<40).map(UInt64.init))
        }
    }

    @Test("a full map fails the request with resource exhausted and keeps what was committed")
    func mapFull() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder, configuration: .init(mapSize: 512 * 1024))
            let writer = GroupCommitWriter(store: store, logger: Logger(label: "test"))
            _ = try await writer.submit { txn in try txn.appendLog(entry(0)) }
            let big = String(repeating: "x", count: 4000)
            var failure: BureauError?
            do {
                _ = try await writer.submit { txn in
                    for n in 0..<1000 {
                        var e = entry(n)
                        e.reason = big
                        _ = try txn.appendLog(e)
                    }
                }
            } catch let error as BureauError {
                failure = error
            }
            #expect(failure?.code == .resourceExhausted)
            _ = try await writer.submit { txn in try txn.appendLog(entry(1)) }
            await writer.shutdown()
            #expect(try store.read { try $0.logSize() } == 2)
        }
    }

    @Test("after shutdown the writer refuses with unavailable")
    func shutdown() async throws {
        try await withTemporaryFolder { folder in
            let writer = GroupCommitWriter(store: try Store(folder: folder), logger: Logger(label: "test"))
            await writer.shutdown()
            await #expect(throws: BureauError(.unavailable, "the bureau is shutting down")) {
                _ = try await writer.submit { txn in try txn.appendLog(entry(0)) }
            }
        }
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        for i in 0...(count - needle.count) where self[i..<(i + needle.count)].elementsEqual(needle) { return true }
        return false
    }
}

@Suite("The log's Merkle tree")
struct LogTreeTests {
    @Test("stored subtrees give the RFC 6962 root at every size")
    func roots() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            var leaves: [[UInt8]] = []
            for n in 0..<70 {
                let receipt = try store.write { try $0.appendLog(entry(n)) }
                leaves.append(receipt.leafHash)
                let root = try store.read { try $0.tree.root(size: UInt64(leaves.count)) }
                #expect(root == Merkle.root(of: leaves[...]))
            }
            let proof = try store.read { try $0.tree.inclusionProof(index: 17, size: 70) }
            try Merkle.verifyInclusion(index: 17, size: 70, leafHash: leaves[17], proof: proof, root: Merkle.root(of: leaves[...]))
        }
    }
}

@Suite("Identity sources in the store")
struct IdentityStoreTests {
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let lender = try! UnifiedSocialCreditCode(parsing: "911100001000000248")

    @Test("a file stored before attribution keeps its identity until a furnisher with a record reports its own")
    func formatOneFile() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            let id = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: "11010519491231002X"))
            let key = store.key(for: id)
            let today = CalendarDate(year: 2026, month: 12, day: 1)!
            let account = Account(
                furnisher: Self.bank, accountNumber: "CC-1", type: .creditCard, opened: CalendarDate(year: 2020, month: 1, day: 1)!,
                limit: Money(minorUnits: 100, currency: "CNY"), balance: Money(minorUnits: 0, currency: "CNY"), status: .current,
                paymentHistory: "0", closed: nil
            )
            // A file as it was stored before this change: the identity value in format 1 (sealed, as every
            // stored identity is), and the bank's account.
            let lmdb = try #require(store.backend as? LMDBStorage)
            let changes = KeyChanges()
            let sealed = try store.backend.protection.values(changes).seal(
                RecordCodecTests.formatOnePersonBytes, scope: .identity(key), binding: FieldBinding(subject: key.bytes, field: "identity")
            )
            try store.backend.protection.persist(changes)
            try lmdb.rawWrite(in: "subjects", putting: [(key.bytes, sealed)])
            try store.write { txn in try txn.putRecord(.account(account), for: key, catalogue: .default) }
            let before = try #require(try store.read { try $0.file(key) })
            guard case .person(let old) = before.subject else { throw BureauError(.internal, "not a person") }
            #expect(old.name == "张伟")
            #expect(before.identitySources.map(\.attribution) == [nil])

            // The bank, holding the account, reports the person: its facts win; the old identity stays, unattributed.
            var person = old
            person.name = "张薇"
            try store.write { txn in
                try txn.furnish(
                    FurnishedSubject(identifier: id, subject: .person(person), records: [], furnisher: Self.bank, reported: today),
                    as: key, catalogue: .default
                )
            }
            let after = try #require(try store.read { try $0.file(key) })
            #expect(after.subject == .person(person))
            #expect(after.identitySources.map(\.furnisher) == [nil, Self.bank])

            // A lender without a record on the file cannot add facts of its own.
            #expect(throws: BureauError(.failedPrecondition, "subjects[0]: 911100001000000248 holds no record on this file; identity facts are accepted only from a furnisher with an account, public record or list entry of its own on the file (send one with them)")) {
                try store.write { txn in
                    try txn.furnish(
                        FurnishedSubject(identifier: id, subject: .person(old), records: [], furnisher: Self.lender, reported: today),
                        as: key, catalogue: .default, path: "subjects[0]"
                    )
                }
            }
            #expect(try store.read { try $0.file(key) } == after)
        }
    }
}
