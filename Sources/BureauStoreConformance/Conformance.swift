import BureauCore
import Dispatch
public import BureauStore
import Foundation
import Logging
import Synchronization

/// The behaviours every storage backend must have, as named checks that any backend runs unchanged
/// (trillian's shared storage tests, here as a library): give ``StorageConformance/run(_:on:)`` a
/// ``BackendFactory`` and a check, and it fails with a ``ConformanceFailure`` naming what differs. The
/// folder comes with the test key file installed (``TestKeyFile``), so a factory opens its backend with the
/// default key configuration.
///
/// ```swift
/// @Test(arguments: StorageConformance.checks)
/// func lmdb(_ check: StorageConformance.Check) async throws {
///     try await StorageConformance.run(check, on: .init(name: "lmdb") { folder in try LMDBStorage.open(folder: folder) })
/// }
/// ```
public enum StorageConformance {
    /// Makes a new, empty backend whose data lives in (or is named after) the fresh folder it is given.
    public struct BackendFactory: Sendable, CustomStringConvertible {
        public var name: String
        public var make: @Sendable (_ folder: String) throws -> any StorageBackend

        public init(name: String, make: @escaping @Sendable (_ folder: String) throws -> any StorageBackend) {
            self.name = name
            self.make = make
        }

        public var description: String { self.name }
    }

    /// One behaviour, with the name the test report shows.
    public struct Check: Sendable, CustomStringConvertible {
        public var name: String
        let body: @Sendable (Store) async throws -> Void

        public var description: String { self.name }
    }

    /// Every check, in the order they are documented.
    public static let checks: [Check] = [
        Check(name: "atomic batches: a write commits all of its changes and log entries or none", body: atomicBatches),
        Check(name: "crash points: a write that fails at any step leaves nothing, log and indexes included", body: crashPoints),
        Check(name: "nested transactions: a failed request is undone alone, its neighbours commit", body: nestedTransactions),
        Check(name: "snapshots: a read sees the state it began with while a write commits beside it", body: snapshots),
        Check(name: "group commit: concurrent requests share commits and get distinct receipts in log order", body: groupCommit),
        Check(name: "idempotent furnishing batches: the first answer is kept per furnisher and batch id", body: idempotentBatches),
        Check(name: "log ordering: indexes are dense and in append order, pages forward, backward and by bytes", body: logOrdering),
        Check(name: "subtree hashes and roots: the stored tree gives the RFC 6962 root and proofs at every size", body: subtreeHashesAndRoots),
        Check(name: "checkpoints: the stored tree matches a signed size and root, a rewrite is found; the signing key is recorded", body: checkpoints),
        Check(name: "shared parts: entries refer to the first entry holding their actor, legal basis and profile, never to one undone", body: sharedParts),
        Check(name: "query index: disclosed reports are indexed under their subjects, newest first", body: queryIndex),
        Check(name: "query records: a flood of refused queries does not push disclosed ones out", body: queryRecordsUnderFlood),
        Check(name: "credit files: records, indexes, tombstones and statements round-trip", body: creditFiles),
        Check(name: "access state: consents, protections, quotas, institutions, revocation, disputes, repairs", body: accessState),
        Check(name: "retention: the purge deletes what expired, once, with one log entry", body: retention),
        Check(name: "operations: statistics and a hot copy", body: operations),
        Check(name: "data at rest: no cleartext name, identifier, phone, address or account number in what the backend stored", body: dataAtRest),
    ]

    /// Runs `check` on a new backend from `factory`, in a temporary folder removed afterwards.
    /// - Throws: ``ConformanceFailure`` naming what the backend did differently; its own errors.
    public static func run(_ check: Check, on factory: BackendFactory) async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-conformance")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(folder: folder, backend: try factory.make(folder))
        try await check.body(store)
    }
}

/// What a backend did differently from the behaviour a check expects.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var description: String
}

/// Fails the check with `message` unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String, line: Int = #line) throws {
    if !condition { throw ConformanceFailure(description: "Conformance.swift:\(line): \(message())") }
}

/// Fails the check unless `body` throws.
func requireThrows<T>(_ message: String, line: Int = #line, _ body: () throws -> T) throws {
    do {
        _ = try body()
    } catch {
        return
    }
    throw ConformanceFailure(description: "Conformance.swift:\(line): \(message)")
}

// MARK: Fixtures

private let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
private let lender = try! UnifiedSocialCreditCode(parsing: "911100001000000248")
private let court = try! UnifiedSocialCreditCode(parsing: "111100001000000593")
private func subject(_ n: Int) -> SubjectKey {
    SubjectKey(bytes: Array(repeating: UInt8(truncatingIfNeeded: n), count: 31) + [UInt8(truncatingIfNeeded: n >> 8)])
}

private func person(_ n: Int) -> CreditFile.Subject {
    .person(
        PersonIdentity(
            name: "测试\(n)", identifier: "", birthDate: CalendarDate(year: 1980, month: 1, day: 1)!, phone: "",
            address: Address(province: "北京市", city: "北京市", detail: "")
        )
    )
}

private func account(_ id: String, by furnisher: UnifiedSocialCreditCode = bank, balance: Int64 = 0) -> CreditRecord {
    .account(
        Account(
            furnisher: furnisher, accountNumber: id, type: .creditCard, opened: CalendarDate(year: 2020, month: 1, day: 1)!,
            limit: Money(minorUnits: 100_000, currency: "CNY"), balance: Money(minorUnits: balance, currency: "CNY"), status: .current,
            paymentHistory: "0", closed: nil
        )
    )
}

private func judgment(_ id: String, ended: CalendarDate) -> CreditRecord {
    .publicRecord(
        PublicRecord(
            furnisher: court, recordID: id, type: .courtJudgment, authority: "Court",
            legalBasis: LegalBasis(documentNumber: "(2019)京01民初1号", authority: "Court", date: CalendarDate(year: 2019, month: 1, day: 1)!),
            amount: nil, filed: CalendarDate(year: 2019, month: 1, day: 1)!, behaviourEnded: ended, description: ""
        )
    )
}

private func entry(_ n: Int, action: LogAction = .refusedCall("conformance.test"), subjects: [SubjectKey] = [], purpose: Purpose? = nil,
                   outcome: Outcome = .applied, time: Date = Date(timeIntervalSince1970: 1_780_000_000)) -> AccessLogEntry {
    AccessLogEntry(
        action, by: .bureau(for: bank.value), time: time.addingTimeInterval(Double(n)), requestID: "r-\(n)", subjects: subjects,
        purpose: purpose, outcome: outcome
    )
}

/// What a check compares before and after a failed write: the log and the file under `key`.
private struct Snapshot: Equatable {
    var logSize: UInt64
    var root: [UInt8]
    var file: CreditFile?
    var owner: SubjectKey?
    var batch: [UInt8]?
    var queries: [FileQuery]

    init(_ txn: StoreSnapshot, key: SubjectKey) throws {
        self.logSize = try txn.logSize()
        self.root = try txn.tree.root(size: self.logSize)
        self.file = try txn.file(key)
        self.owner = try txn.owner(of: account("A-1").reference)
        self.batch = try txn.batchResult(furnisher: bank, batchID: "B-1")
        self.queries = try txn.fileQueries(of: key, since: .distantPast)
    }
}

// MARK: Checks

private func atomicBatches(_ store: Store) async throws {
    let key = subject(1)
    try store.write { txn in
        try txn.putSubject(person(1), for: key)
        for n in 0..<3 { try txn.putRecord(account("A-\(n)"), for: key, catalogue: .default) }
        for n in 0..<3 { _ = try txn.appendLog(entry(n, subjects: [key])) }
        try txn.putBatchResult([1, 2, 3], furnisher: bank, batchID: "B-1")
    }
    try store.read { txn in
        try require(try txn.file(key)?.accounts.count == 3, "the three accounts of one write are all there")
        try require(try txn.logSize() == 3, "the three entries of one write are all there")
        try require(try txn.batchResult(furnisher: bank, batchID: "B-1") == [1, 2, 3], "the batch answer is there")
    }
    let other = subject(2)
    struct Refused: Error {}
    try requireThrows("the write's error reaches the caller") {
        try store.write { txn in
            try txn.putSubject(person(2), for: other)
            try txn.putRecord(account("A-9"), for: other, catalogue: .default)
            _ = try txn.appendLog(entry(9, subjects: [other]))
            throw Refused()
        }
    }
    try store.read { txn in
        try require(try !txn.hasFile(other), "a failed write left its file")
        try require(try txn.owner(of: account("A-9").reference) == nil, "a failed write left its furnisher index entry")
        try require(try txn.logSize() == 3, "a failed write left its log entry")
        try require(try txn.storedTreeNode(level: 0, index: 3) == nil, "a failed write left its leaf")
        try require(try txn.logEntryBytes(from: 3, limit: 1, reverse: false, maxBytes: .max).isEmpty, "a failed write left its entry")
    }
}

private func crashPoints(_ store: Store) async throws {
    let key = subject(1)
    // Something committed first, so that the tree has nodes a failed append would touch.
    try store.write { txn in
        for n in 0..<7 { _ = try txn.appendLog(entry(n)) }
    }
    let before = try store.read { try Snapshot($0, key: key) }
    struct Crash: Error {}
    // A furnishing write as the service does it, failing after each of its steps in turn.
    let day = CalendarDate(year: 2026, month: 1, day: 1)!
    let steps: [(String, @Sendable (StoreTransaction) throws -> Void)] = [
        ("identity", { try $0.putIdentitySources([IdentitySource(attribution: .init(furnisher: bank, firstReported: day, reported: day), identity: person(1))], for: key) }),
        ("record", { try $0.putRecord(account("A-1"), for: key, catalogue: .default) }),
        ("statement", { try $0.putStatement(Statement(id: "S-1", text: "a statement", added: CalendarDate(year: 2026, month: 1, day: 1)!, about: nil), for: key) }),
        ("log entry", { _ = try $0.appendLog(entry(7, action: .report(.individual), subjects: [key], purpose: .loanOrigination, outcome: .hit)) }),
        ("second log entry", { _ = try $0.appendLog(entry(8, subjects: [key])) }),
        ("batch answer", { try $0.putBatchResult([9], furnisher: bank, batchID: "B-1") }),
        ("quota", { try $0.countQuery(bank, on: CalendarDate(year: 2026, month: 1, day: 1)!) }),
    ]
    for crash in 1...steps.count {
        try requireThrows("the crash at step \(crash) reaches the caller") {
            try store.write { txn in
                for step in steps.prefix(crash) { try step.1(txn) }
                throw Crash()
            }
        }
        let after = try store.read { try Snapshot($0, key: key) }
        try require(after == before, "a write failing after step \(crash) (\(steps[crash - 1].0)) left something behind")
        try require(
            try store.read { try $0.queriesCounted(bank, on: CalendarDate(year: 2026, month: 1, day: 1)!) } == 0,
            "a failed write left its quota count"
        )
    }
    // The same steps through the writer: a request failing at the end is undone alone, whether its batch
    // holds it alone (the whole attempt is thrown away) or with another request (run again, each nested).
    let writer = GroupCommitWriter(store: store, logger: Logger(label: "conformance"))
    let failing: @Sendable (StoreTransaction) throws -> Int = { txn in
        for step in steps { try step.1(txn) }
        throw Crash()
    }
    do {
        _ = try await writer.submit(failing)
        throw ConformanceFailure(description: "the writer answered a request that threw")
    } catch is Crash {}
    try require(try store.read { try Snapshot($0, key: key) } == before, "a failed request alone in the writer's batch left something behind")
    // A request that holds the writer until two more are queued behind it makes those two one batch.
    let (started, release) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
    async let held: Int = writer.submit { _ in
        started.signal()
        release.wait()
        return 0
    }
    started.wait()
    async let failed: Int = writer.submit(failing)
    let nextDay = CalendarDate(year: 2026, month: 1, day: 2)!
    async let neighbour: Int = writer.submit { txn in Int(try txn.countQuery(bank, on: nextDay)) }
    let deadline = ContinuousClock.now + .seconds(30)
    while writer.queued < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
    release.signal()
    try require(writer.queued == 2 || ContinuousClock.now < deadline, "two requests were not queued behind a held writer within 30 s")
    _ = try await held
    try require(try await neighbour == 1, "the request batched with a failing one was not answered with its own count")
    // Its batch ran twice (together, then each nested): what it wrote is there once.
    try require(try store.read { try $0.queriesCounted(bank, on: nextDay) } == 1, "the request batched with a failing one was not applied exactly once")
    do {
        _ = try await failed
        throw ConformanceFailure(description: "the writer answered a request that threw")
    } catch is Crash {}
    await writer.shutdown()
    try require(try store.read { try Snapshot($0, key: key) } == before, "a failed request batched with another left something behind")
}

private func nestedTransactions(_ store: Store) async throws {
    struct Refused: Error {}
    try store.write { txn in
        for n in 0..<6 {
            do {
                try txn.withNestedTransaction { child in
                    _ = try child.appendLog(entry(n))
                    try child.putSubject(person(n), for: subject(n))
                    if n % 2 == 1 { throw Refused() }
                }
            } catch is Refused {}
        }
    }
    try store.read { txn in
        try require(try txn.logSize() == 3, "only the three kept nested transactions appended")
        let requests = try txn.logEntries(from: 0, limit: 10).map(\.entry.requestID)
        try require(requests == ["r-0", "r-2", "r-4"], "the kept entries are dense and in order: \(requests)")
        for n in 0..<6 { try require(try txn.hasFile(subject(n)) == (n % 2 == 0), "file \(n) follows its nested transaction") }
        try require(try txn.tree.root(size: 3) == Merkle.root(of: try txn.logEntries(from: 0, limit: 3).map(\.leafHash)[...]), "the tree skips undone leaves")
    }
}

private func snapshots(_ store: Store) async throws {
    let key = subject(1)
    try store.write { txn in
        try txn.putSubject(person(1), for: key)
        _ = try txn.appendLog(entry(0))
    }
    let committed = DispatchSemaphore(value: 0)
    let failure = Mutex<(any Error)?>(nil)
    try store.read { txn in
        try require(try txn.logSize() == 1, "the snapshot starts with one entry")
        // Another thread writes and commits while this snapshot is open: a reader never waits for the writer.
        let writer = Thread {
            do {
                try store.write { txn in
                    try txn.putRecord(account("A-1"), for: key, catalogue: .default)
                    _ = try txn.appendLog(entry(1))
                }
            } catch {
                failure.withLock { $0 = error }
            }
            committed.signal()
        }
        writer.start()
        try require(committed.wait(timeout: .now() + 30) == .success, "a write commits while a snapshot is open")
        try require(try txn.logSize() == 1, "the open snapshot does not see the later entry")
        try require(try txn.logEntryBytes(from: 1, limit: 1, reverse: false, maxBytes: .max).isEmpty, "nor its bytes")
        try require(try txn.file(key)?.accounts.isEmpty == true, "nor the later record")
    }
    if let error = failure.withLock({ $0 }) { throw error }
    try store.read { txn in
        try require(try txn.logSize() == 2, "a new snapshot sees the commit")
        try require(try txn.file(key)?.accounts.count == 1, "and its record")
    }
}

private func groupCommit(_ store: Store) async throws {
    let writer = GroupCommitWriter(store: store, logger: Logger(label: "conformance"))
    let receipts = try await withThrowingTaskGroup(of: LogReceipt.self) { group in
        for n in 0..<100 {
            group.addTask { try await writer.submit { txn in try txn.appendLog(entry(n)) } }
        }
        return try await group.reduce(into: []) { $0.append($1) }
    }
    await writer.shutdown()
    try require(Set(receipts.map(\.index)) == Set(0..<100), "every request has its own index")
    try require(writer.statistics.requests == 100, "the writer counted every request")
    let logged = try store.read { try $0.logEntries(from: 0, limit: 200) }
    try require(logged.count == 100, "every receipt is in the log")
    for receipt in receipts {
        try require(logged[Int(receipt.index)].leafHash == receipt.leafHash, "receipt \(receipt.index) names the leaf stored at its index")
    }
}

private func idempotentBatches(_ store: Store) async throws {
    let key = subject(1)
    /// What the furnishing service does with a batch: the stored answer when it has one, else apply and remember.
    func apply(_ batchID: String, by furnisher: UnifiedSocialCreditCode, answer: [UInt8]) throws -> [UInt8] {
        try store.write { txn in
            if let stored = try txn.batchResult(furnisher: furnisher, batchID: batchID) { return stored }
            try txn.putSubject(person(1), for: key)
            try txn.putRecord(account("A-\(batchID)", by: furnisher), for: key, catalogue: .default)
            _ = try txn.appendLog(entry(0, subjects: [key]))
            try txn.putBatchResult(answer, furnisher: furnisher, batchID: batchID)
            return answer
        }
    }
    try require(try apply("B-1", by: bank, answer: [1]) == [1], "the first application answers")
    try require(try apply("B-1", by: bank, answer: [2]) == [1], "a repeated batch gets the first answer")
    try require(try store.read { try $0.logSize() } == 1, "a repeated batch logs nothing more")
    try require(try apply("B-1", by: lender, answer: [3]) == [3], "the same batch id from another furnisher is another batch")
    try require(try store.read { try $0.logSize() } == 2, "another furnisher's batch is applied")
    struct Refused: Error {}
    try requireThrows("a failed batch fails") {
        try store.write { txn in
            try txn.putBatchResult([4], furnisher: bank, batchID: "B-2")
            throw Refused()
        }
    }
    try require(try store.read { try $0.batchResult(furnisher: bank, batchID: "B-2") } == nil, "a failed batch is not remembered, so a retry applies it")
    try require(try apply("B-2", by: bank, answer: [5]) == [5], "the retry of a failed batch applies")
    try require(try store.read { try $0.batchResult(furnisher: bank, batchID: "B-1") } == [1], "an answer is kept for good")
}

private func logOrdering(_ store: Store) async throws {
    var receipts: [LogReceipt] = []
    for chunk in 0..<4 {
        try store.write { txn in
            for n in (chunk * 10)..<(chunk * 10 + 10) { receipts.append(try txn.appendLog(entry(n))) }
        }
    }
    try require(receipts.map(\.index) == (0..<40).map(UInt64.init), "indexes are dense from 0 in append order")
    try store.read { txn in
        try require(try txn.logSize() == 40, "the size counts every entry")
        let forward = try txn.logEntries(from: 5, limit: 10)
        try require(forward.map(\.index) == (5..<15).map(UInt64.init), "a page forward")
        try require(forward.map(\.entry.requestID) == (5..<15).map { "r-\($0)" }, "each index holds the entry appended there")
        let backward = try txn.logEntries(from: 39, limit: 5, reverse: true)
        try require(backward.map(\.index) == [39, 38, 37, 36, 35], "a page backward")
        try require(try txn.logEntries(from: 38, limit: 10).count == 2, "a page stops at the end")
        try require(try txn.logEntries(from: 40, limit: 10).isEmpty, "nothing past the end")
        let one = try txn.logEntryBytes(from: 0, limit: 1, reverse: false, maxBytes: .max)[0].bytes.count
        try require(try txn.logEntries(from: 0, limit: 10, maxBytes: one * 3).count == 3, "a byte limit bounds the page")
        try require(try txn.logEntries(from: 0, limit: 10, maxBytes: 1).count == 1, "a page holds at least one entry")
        for receipt in receipts {
            let logged = try txn.logEntry(receipt.index)
            try require(logged?.leafHash == receipt.leafHash, "entry \(receipt.index) has its receipt's leaf")
            try require(logged.map { Merkle.leafHash($0.bytes) } == receipt.leafHash, "entry \(receipt.index)'s bytes hash to its leaf")
        }
        let time = Date(timeIntervalSince1970: 1_780_000_000 + 17)
        try require(try txn.firstLogIndex(atOrAfter: time) == 17, "the first entry at or after a time")
    }
    var big = entry(99)
    big.reason = String(repeating: "x", count: AccessLogEntry.maxCanonicalBytes)
    try requireThrows("an entry over the limit is refused") { try store.write { try $0.appendLog(big) } }
    try require(try store.read { try $0.logSize() } == 40, "a refused entry takes no index")
}

private func sharedParts(_ store: Store) async throws {
    func report(_ n: Int) -> AccessLogEntry {
        AccessLogEntry(
            .report(.individual), by: LogActor(institution: bank.value, certificateFingerprint: String(repeating: "ab", count: 32), operatorID: ""),
            time: Date(timeIntervalSince1970: 1_780_000_000 + Double(n)), requestID: "r-\(n)", subjects: [subject(n)], purpose: .loanOrigination,
            legalBasis: Purpose.loanOrigination.legalBasis, outcome: .hit, disclosedFields: ["identity.name:masked", "accounts.balance:shown"],
            disclosureVersion: 3
        )
    }
    _ = try store.write { try $0.appendLog(entry(0)) }
    // The first report's write fails: nothing may later refer to the entry it would have been.
    struct Crash: Error {}
    try requireThrows("the failed write reaches the caller") {
        try store.write { txn in
            _ = try txn.appendLog(report(1))
            throw Crash()
        }
    }
    let first = try store.write { try $0.appendLog(report(2)) }
    let later = try store.write { txn in try (0..<3).map { try txn.appendLog(report(3 + $0)) } }
    try store.read { txn in
        let logged = try txn.logEntries(from: 0, limit: 10)
        try require(logged.count == 5, "the failed write left no entry")
        for entry in logged.dropFirst() {
            try require(entry.entry.institution == bank.value, "entry \(entry.index) reads with its institution")
            try require(entry.entry.legalBasis == Purpose.loanOrigination.legalBasis, "entry \(entry.index) reads with its legal basis")
            try require(entry.entry.disclosedFields.count == 2 && entry.entry.disclosureVersion == 3, "entry \(entry.index) reads with its profile")
            try require(Merkle.leafHash(entry.bytes) == entry.leafHash, "entry \(entry.index) hashes to its leaf")
        }
        try require(try AccessLogEntry(canonicalBytes: logged[1].bytes).references.isEmpty, "the first report holds its parts itself")
        for receipt in later {
            guard let found = logged.first(where: { $0.index == receipt.index }) else {
                throw ConformanceFailure(description: "Conformance.swift: entry \(receipt.index) is not read back")
            }
            let stored = try AccessLogEntry(canonicalBytes: found.bytes)
            for part in LogSharedPart.allCases {
                let target = stored.reference(part)
                try require(target == nil || target == first.index, "entry \(receipt.index) refers to the first report for its \(part.label)")
            }
        }
    }
}

private func subtreeHashesAndRoots(_ store: Store) async throws {
    var leaves: [[UInt8]] = []
    for n in 0..<70 {
        let receipt = try store.write { try $0.appendLog(entry(n)) }
        leaves.append(receipt.leafHash)
        try store.read { txn in
            let size = UInt64(leaves.count)
            try require(try txn.tree.root(size: size) == Merkle.root(of: leaves[...]), "the root at size \(size)")
        }
    }
    try store.read { txn in
        let size = UInt64(leaves.count)
        for s in 1...size {
            try require(try txn.tree.root(size: s) == Merkle.root(of: leaves[0..<Int(s)]), "the root of the first \(s) leaves, read later")
        }
        // Every complete subtree is stored, and only those.
        for level in 0..<7 {
            let width = 1 << level
            for index in 0..<(leaves.count / width) {
                let expected = Merkle.root(of: leaves[(index * width)..<((index + 1) * width)])
                try require(try txn.storedTreeNode(level: level, index: UInt64(index)) == expected, "node \(level)/\(index)")
            }
            try require(try txn.storedTreeNode(level: level, index: UInt64(leaves.count / width)) == nil, "no incomplete node at level \(level)")
        }
        let root = try txn.tree.root(size: size)
        for index in [0, 1, 31, 63, 64, 69] {
            let proof = try txn.tree.inclusionProof(index: UInt64(index), size: size)
            try Merkle.verifyInclusion(index: UInt64(index), size: size, leafHash: leaves[index], proof: proof, root: root)
        }
        for old in [1, 7, 32, 64] as [UInt64] {
            let proof = try txn.tree.consistencyProof(size1: old, size2: size)
            try Merkle.verifyConsistency(size1: old, size2: size, root1: try txn.tree.root(size: old), root2: root, proof: proof)
        }
    }
}

private func checkpoints(_ store: Store) async throws {
    // The record of the key that signs the checkpoints: none at first, kept once written.
    try require(try store.read { try $0.checkpointVerifierKey() } == nil, "a new store records no checkpoint key")
    try store.write { try $0.putCheckpointVerifierKey("conformance+01020304+AQID") }
    try require(try store.read { try $0.checkpointVerifierKey() } == "conformance+01020304+AQID", "the recorded checkpoint key reads back")
    try store.write { txn in
        for n in 0..<21 { _ = try txn.appendLog(entry(n)) }
    }
    let signed = try store.read { Checkpoint(origin: "conformance", size: 13, root: try $0.tree.root(size: 13)) }
    try store.read { txn in
        try txn.checkTree(against: signed)
        var check = try LogTreeCheck(at: 0, in: txn)
        try require(try check.advance(limit: 100, end: 21, in: txn) == 21, "the whole log checks")
        var resumed = try LogTreeCheck(at: 13, in: txn)
        try require(try resumed.advance(limit: 5, end: 21, in: txn) == 5, "a check resumes from stored subtrees")
        try requireThrows("a checkpoint beyond the log is refused") {
            try txn.checkTree(against: Checkpoint(origin: "conformance", size: 22, root: signed.root))
        }
        try requireThrows("a checkpoint with another root is refused") {
            try txn.checkTree(against: Checkpoint(origin: "conformance", size: 13, root: Array(repeating: 0, count: 32)))
        }
    }
    // A forger rewrites entry 4 and its leaf: the tree check names the node above it.
    try store.write { txn in
        var rewritten = try txn.logEntry(4)!.entry
        rewritten.reason = "rewritten"
        let bytes = rewritten.canonicalBytes()
        try txn.putLogEntryBytes(bytes, at: 4)
        try txn.putTreeNode(Merkle.leafHash(bytes), level: 0, index: 4)
    }
    try store.read { txn in
        var check = try LogTreeCheck(at: 0, in: txn)
        do {
            _ = try check.advance(limit: 100, end: 21, in: txn)
            throw ConformanceFailure(description: "a rewritten entry and leaf passed the tree check")
        } catch let tampering as LogTampering {
            try require(tampering.message.contains("above entry 5"), "the check names where the tree differs: \(tampering)")
        }
    }
}

private func queryRecordsUnderFlood(_ store: Store) async throws {
    let key = subject(1)
    try store.write { txn in
        _ = try txn.appendLog(entry(0, action: .report(.individual), subjects: [key], purpose: .loanOrigination, outcome: .hit))
        for n in 1...1200 {
            _ = try txn.appendLog(entry(n, action: .report(.individual), subjects: [key], purpose: .loanOrigination, outcome: .denied))
        }
    }
    try store.read { txn in
        let records = try txn.queryRecords(of: key, since: .distantPast)
        try require(records.count == 1, "the disclosed query behind 1200 refused ones is still a query record: \(records.count)")
        try require(try txn.queryRecords(of: key, since: .distantPast, limit: 1).count == 1, "the limit counts disclosed queries")
        let history = try txn.fileQueriesKeepingDisclosed(of: key, since: .distantPast)
        try require(history.first?.index == 1200 && history.last?.index == 0, "the history: newest refused first, the disclosed one kept")
        try require(history.count == 501, "500 refused and the disclosed one: \(history.count)")
    }
}

private func queryIndex(_ store: Store) async throws {
    let key = subject(1)
    let other = subject(2)
    try store.write { txn in
        try txn.putInstitution(
            Institution(code: bank, name: "Bank", roles: [.agency], purposes: [.loanOrigination], certificateFingerprints: [])
        )
        _ = try txn.appendLog(entry(0, action: .report(.individual), subjects: [key], purpose: .loanOrigination, outcome: .hit))
        _ = try txn.appendLog(entry(1, action: .furnishSubmit, subjects: [key], purpose: .loanOrigination))
        _ = try txn.appendLog(entry(2, action: .score(.individual), subjects: [key, other], purpose: .creditCardOrigination, outcome: .hit))
        _ = try txn.appendLog(entry(3, action: .report(.individual), subjects: [key], purpose: .loanOrigination, outcome: .denied))
    }
    try store.read { txn in
        let queries = try txn.fileQueries(of: key, since: .distantPast)
        try require(queries.map(\.index) == [3, 2, 0], "report and score requests only, newest first: \(queries.map(\.index))")
        try require(queries.map(\.purpose) == [.loanOrigination, .creditCardOrigination, .loanOrigination], "purposes kept")
        try require(queries.map(\.outcome) == [.denied, .hit, .hit], "outcomes kept")
        try require(queries.allSatisfy { $0.institution == bank.value }, "the institution kept")
        try require(queries[2].time == Date(timeIntervalSince1970: 1_780_000_000), "the time kept to the millisecond")
        try require(try txn.fileQueries(of: other, since: .distantPast).map(\.index) == [2], "every subject of the entry")
        try require(try txn.fileQueries(of: key, since: Date(timeIntervalSince1970: 1_780_000_001)).map(\.index) == [3, 2], "since")
        try require(try txn.fileQueries(of: key, since: .distantPast, limit: 1).map(\.index) == [3], "limit")
        let records = try txn.queryRecords(of: key, since: .distantPast)
        try require(records.map(\.institutionName) == ["Bank", "Bank"], "query records show disclosed reports with the name")
    }
}

private func creditFiles(_ store: Store) async throws {
    let key = subject(1)
    let other = subject(2)
    let list = CreditRecord.listEntry(
        ListEntry(
            furnisher: court, recordID: "L-1", list: "dishonest-judgment-debtors", severity: nil, reason: "unpaid",
            legalBasis: LegalBasis(documentNumber: "(2020)京01执1号", authority: "Court", date: CalendarDate(year: 2020, month: 1, day: 1)!),
            listed: CalendarDate(year: 2020, month: 1, day: 1)!, publicityEnds: CalendarDate(year: 2030, month: 1, day: 1)!
        )
    )
    try store.write { txn in
        try txn.furnish(
            FurnishedSubject(
                identifier: .individual(try ResidentIdentityNumber(parsing: "11010519491231002X")), subject: person(1),
                records: ["A-7", "A-1", "A-5", "A-2", "A-9", "A-3"].map { account($0) }, furnisher: bank, reported: CalendarDate(year: 2026, month: 1, day: 1)!
            ),
            as: key, catalogue: .default
        )
        try txn.putRecord(list, for: key, catalogue: .default)
        try txn.putStatement(Statement(id: "S-1", text: "a statement", added: CalendarDate(year: 2026, month: 1, day: 1)!, about: nil), for: key)
        try txn.putSubject(person(2), for: other)
    }
    try store.read { txn in
        let file = try txn.file(key)
        // In the order reports show them (furnisher, then account number), not the order of the keyed tokens.
        try require(file?.accounts.map(\.accountNumber) == ["A-1", "A-2", "A-3", "A-5", "A-7", "A-9"], "accounts of the file, in order")
        try require(file?.listEntries.map(\.recordID) == ["L-1"], "list entries of the file")
        try require(file?.statements.map(\.id) == ["S-1"], "statements of the file")
        try require(file?.identitySources.map(\.attribution?.furnisher) == [bank], "identity attributed to its furnisher")
        try require(try txn.fileCount() == 2, "two files")
        try require(try txn.holdsRecord(bank, on: key) && !txn.holdsRecord(lender, on: key), "who holds records")
        try require(try txn.owner(of: account("A-1").reference) == key, "the furnisher index finds the file")
        try require(try txn.listMembers("dishonest-judgment-debtors", limit: 10).map(\.0) == [key], "the list index")
        try require(try txn.record(account("A-2").reference, of: key) == account("A-2"), "one record")
    }
    try requireThrows("a furnisher's record id on another file is refused") {
        try store.write { try $0.putRecord(account("A-1"), for: other, catalogue: .default) }
    }
    try store.write { txn in
        try txn.putRecord(account("A-1", balance: 500), for: key, catalogue: .default)
        try txn.deleteRecord(account("A-2").reference, of: key, catalogue: .default, tombstone: true)
        try txn.deleteRecord(list.reference, of: key, catalogue: .default)
    }
    try store.read { txn in
        try require(try txn.record(account("A-1").reference, of: key) == account("A-1", balance: 500), "a record replaced")
        try require(try txn.owner(of: account("A-2").reference) == nil, "a deleted record leaves the furnisher index")
        try require(try txn.listMembers("dishonest-judgment-debtors", limit: 10).isEmpty, "a deleted list entry leaves the list index")
    }
    try requireThrows("a tombstoned record does not come back unchanged") {
        try store.write { try $0.putRecord(account("A-2"), for: key, catalogue: .default) }
    }
    try store.write { try $0.putRecord(account("A-2", balance: 1), for: key, catalogue: .default) }
    try require(try store.read { try $0.record(account("A-2").reference, of: key) } != nil, "a changed record comes back")
}

private func accessState(_ store: Store) async throws {
    let key = subject(1)
    let today = CalendarDate(year: 2026, month: 3, day: 1)!
    let consent = Consent(
        reference: "C-1", subject: key, agency: bank, purpose: .loanOrigination, validFrom: today,
        validUntil: CalendarDate(year: 2026, month: 6, day: 1)!, evidenceDigest: String(repeating: "0", count: 64), singleUse: true
    )
    let fingerprint = String(repeating: "ab", count: 32)
    let institution = Institution(code: bank, name: "Bank", roles: [.agency], purposes: [.loanOrigination], certificateFingerprints: [fingerprint])
    try store.write { txn in
        try txn.putConsent(consent)
        try txn.putProtection(FileProtection(fraudAlert: FraudAlert(placed: today, note: "called")), for: key)
        try txn.countQuery(bank, on: today)
        try txn.countQuery(bank, on: today)
        _ = try txn.countSelfQuery(key, year: 2026)
        try txn.putInstitution(institution)
        try txn.putCatalogue({ var c = Catalogue.default; c.version = 9; return c }())
    }
    try store.read { txn in
        try require(try txn.consent("C-1") == consent, "a consent round-trips")
        try require(try txn.protection(key).fraudAlert?.note == "called", "a protection round-trips")
        try require(try txn.protection(subject(2)) == FileProtection(), "no protection is the empty one")
        try require(try txn.queriesCounted(bank, on: today) == 2, "quota counts per institution and day")
        try require(try txn.queriesCounted(bank, on: CalendarDate(year: 2026, month: 3, day: 2)!) == 0, "a new day counts from 0")
        try require(try txn.institution(code: bank) == institution, "an institution round-trips")
        try require(try txn.institution(certificateFingerprint: [UInt8](hex: fingerprint)!) == institution, "a certificate finds its institution")
        try require(try txn.institutions().map(\.code) == [bank], "every institution")
        try require(try txn.storedCatalogue()?.version == 9, "the catalogue round-trips")
    }
    try require(try store.write { try $0.countSelfQuery(key, year: 2026) } == 2, "self-queries count per year")
    try store.write { txn in
        try txn.putProtection(FileProtection(), for: key)
        try txn.revokeCertificate(fingerprint: fingerprint)
    }
    try store.read { txn in
        try require(try txn.protection(key) == FileProtection(), "a protection lifted")
        try require(try txn.isRevoked(certificateFingerprint: [UInt8](hex: fingerprint)!), "a revoked certificate")
        try require(try txn.revocation(certificateFingerprint: [UInt8](hex: fingerprint)!) == bank.value, "revoked from its institution")
        try require(try txn.institution(certificateFingerprint: [UInt8](hex: fingerprint)!) == nil, "a revoked certificate is unbound")
        try require(try txn.institution(code: bank)?.certificateFingerprints.isEmpty == true, "and gone from its institution")
    }
    try requireThrows("a revoked certificate cannot be bound again") { try store.write { try $0.putInstitution(institution) } }

    let filed = CalendarDate(year: 2026, month: 1, day: 1)!
    let dispute = Dispute(
        id: "D-1", subject: key, record: account("A-1").reference, filed: filed, description: "not mine"
    )
    try store.write { try $0.putDispute(dispute) }
    try store.read { txn in
        try require(try txn.dispute("D-1") == dispute, "a dispute round-trips")
        try require(try txn.openDisputes(of: bank).map(\.id) == ["D-1"], "open disputes by furnisher")
        try require(try txn.overdueDisputes(on: today).map(\.id) == ["D-1"], "overdue disputes")
        try require(try txn.openDisputes(of: lender).isEmpty, "another furnisher has none")
    }
    var closed = dispute
    closed.status = .corrected
    try store.write { try $0.putDispute(closed) }
    try require(try store.read { try $0.openDisputes(of: bank) }.isEmpty, "a closed dispute leaves the open index")

    let repair = Repair(
        id: "R-1", subject: key, record: account("A-1").reference, requested: filed, rectification: "fix",
        evidenceDigest: String(repeating: "0", count: 64)
    )
    try store.write { try $0.putRepair(repair) }
    try require(try store.read { try $0.pendingRepairs() }.map(\.id) == ["R-1"], "pending repairs")
}

private func retention(_ store: Store) async throws {
    let key = subject(1)
    try store.write { txn in
        try txn.putSubject(person(1), for: key)
        try txn.putRecord(judgment("J-OLD", ended: CalendarDate(year: 2010, month: 1, day: 1)!), for: key, catalogue: .default)
        try txn.putRecord(judgment("J-NEW", ended: CalendarDate(year: 2025, month: 1, day: 1)!), for: key, catalogue: .default)
    }
    let today = CalendarDate(year: 2026, month: 1, day: 1)!
    let purged = try store.write { try $0.purgeExpired(onOrBefore: today, catalogue: try $0.storedCatalogue() ?? .default, time: Date()) }
    try require(purged == 1, "the expired judgment is purged, the recent one kept (\(purged))")
    try require(try store.read { try $0.file(key) }?.publicRecords.map(\.recordID) == ["J-NEW"], "what is left")
    let entries = try store.read { try $0.logEntries(from: 0, limit: 10) }.map(\.entry)
    try require(entries.map(\.action) == [.retentionPurge], "one log entry for the batch")
    try require(entries.first?.subjects == [key], "naming the subject")
    try require(try store.write { try $0.purgeExpired(onOrBefore: today, catalogue: .default, time: Date()) } == 0, "nothing twice")
    try require(try store.read { try $0.logSize() } == 1, "an empty purge logs nothing")
}

private func operations(_ store: Store) async throws {
    try store.write { txn in
        for n in 0..<10 { _ = try txn.appendLog(entry(n)) }
    }
    let statistics = try store.backend.statistics()
    try require(statistics.usedBytes > 0 && statistics.usedBytes <= statistics.capacityBytes, "used bytes within capacity: \(statistics)")
    let copy = store.folder + "/copy"
    try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    try store.backend.hotCopy(into: copy)
    try require(try !FileManager.default.contentsOfDirectory(atPath: copy).isEmpty, "a hot copy writes the data")
}

/// Furnishes a file with a distinctive name, identifier, phone, address and account number (and a statement,
/// a fraud alert and a consent that repeat some of them), takes the backend's hot copy (what a backup of it
/// holds), and scans every byte of it for each of them: raw UTF-8, UTF-16 (both orders), and hex (how
/// PostgreSQL's dump writes a bytea). An institution's name, which is not personal and is stored unsealed,
/// must be found: the scan sees what the backend stored, so finding none of the personal values means something.
private func dataAtRest(_ store: Store) async throws {
    let key = subject(7)
    let identifier = try ResidentIdentityNumber(parsing: "11010519491231002X")
    let name = "鲍思远藏"
    let phone = "13912345678"
    let street = "望京街道九号院"
    let accountNumber = "6222020200112233445"
    let control = "Conformance Unsealed Institution Name"
    let today = CalendarDate(year: 2026, month: 3, day: 1)!
    try store.write { txn in
        try txn.furnish(
            FurnishedSubject(
                identifier: .individual(identifier),
                subject: .person(
                    PersonIdentity(
                        name: name, identifier: identifier.value, birthDate: CalendarDate(year: 1949, month: 12, day: 31)!, phone: phone,
                        address: Address(province: "北京市", city: "北京市", detail: street)
                    )
                ),
                records: [account(accountNumber)], furnisher: bank, reported: today
            ),
            as: key, catalogue: .default
        )
        try txn.putStatement(Statement(id: "S-9", text: "\(name) disputes \(accountNumber)", added: today, about: nil), for: key)
        try txn.putProtection(FileProtection(fraudAlert: FraudAlert(placed: today, note: "call \(phone)")), for: key)
        try txn.putInstitution(Institution(code: lender, name: control, roles: [.agency], purposes: [.loanOrigination], certificateFingerprints: []))
    }
    try store.read { txn in
        try require(try txn.record(account(accountNumber).reference, of: key) == account(accountNumber), "the sealed record opens")
    }
    let copy = store.folder + "/at-rest-copy"
    try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    try store.backend.hotCopy(into: copy)
    var stored: [UInt8] = []
    let files = FileManager.default.enumerator(atPath: copy)
    while let file = files?.nextObject() as? String {
        if let data = FileManager.default.contents(atPath: (copy as NSString).appendingPathComponent(file)) { stored += Array(data) }
    }
    func encodings(_ text: String) -> [[UInt8]] {
        let utf8 = Array(text.utf8)
        let hex = utf8.map { String(format: "%02x", $0) }.joined()
        return [
            utf8, Array(text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }), Array(text.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }),
            Array(hex.utf8), Array(hex.uppercased().utf8),
        ]
    }
    func found(_ text: String) -> Bool {
        encodings(text).contains { needle in
            stored.count >= needle.count && (0...(stored.count - needle.count)).contains { stored[$0..<($0 + needle.count)].elementsEqual(needle) }
        }
    }
    try require(found(control), "the scan finds the unsealed institution name in the hot copy (\(stored.count) bytes): it sees what was stored")
    for (what, value) in [("name", name), ("identifier", identifier.value), ("phone", phone), ("address", street), ("account number", accountNumber)] {
        try require(!found(value), "no cleartext \(what) in what the backend stored")
    }
}
