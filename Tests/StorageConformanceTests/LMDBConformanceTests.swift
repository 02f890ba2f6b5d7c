import BureauCore
import BureauLMDB
import BureauPostgres
import BureauStore
import BureauStoreConformance
import Foundation
import Testing

/// Every backend, as a factory of new, empty instances. The PostgreSQL backend adds its factory here and
/// runs the same checks unchanged.
let backends: [StorageConformance.BackendFactory] = [
    .init(name: "LMDB") { folder in try LMDBStorage.open(folder: folder, configuration: .init(mapSize: 64 << 20)) },
    .init(name: "PostgreSQL") { folder in try PostgresTestCluster.newBackend(folder: folder) },
]

@Suite("Storage backend conformance", .serialized)
struct StorageConformanceTests {
    @Test("every backend has every behaviour a store must have", arguments: backends, StorageConformance.checks)
    func conforms(_ backend: StorageConformance.BackendFactory, _ check: StorageConformance.Check) async throws {
        try await StorageConformance.run(check, on: backend)
    }
}

/// LMDB with one fault: a write whose body throws is committed anyway (what a backend without
/// transactions, or one that commits before it knows the outcome, would do).
final class CommitsFailedWrites: StorageBackend {
    let inner: LMDBStorage

    init(_ inner: LMDBStorage) { self.inner = inner }

    func read<T>(_ body: (any ReadOnlyStoreTransaction) throws -> T) throws -> T { try self.inner.read(body) }

    func write<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T {
        var failure: (any Error)?
        let result: T? = try self.inner.write { txn in
            do { return try body(txn) } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        return result!
    }

    func storageFailure(_ error: any Error) -> BureauError? { self.inner.storageFailure(error) }
    func hotCopy(into destination: String) throws { try self.inner.hotCopy(into: destination) }
    func statistics() throws -> StorageStatistics { try self.inner.statistics() }
    var protection: DataProtection { self.inner.protection }
}

@Suite("The conformance suite finds a faulty backend", .serialized)
struct ConformanceFindsFaultsTests {
    static let faulty = StorageConformance.BackendFactory(name: "LMDB committing failed writes") { folder in
        CommitsFailedWrites(try LMDBStorage.open(folder: folder, configuration: .init(mapSize: 64 << 20)))
    }

    @Test(
        "a backend that commits a failed write fails the atomicity, crash-point, batch and shared-part checks",
        arguments: ["atomic batches", "crash points", "idempotent furnishing batches", "shared parts"]
    )
    func commitsFailedWrites(_ name: String) async throws {
        let check = try #require(StorageConformance.checks.first { $0.name.hasPrefix(name) })
        await #expect(throws: ConformanceFailure.self) { try await StorageConformance.run(check, on: Self.faulty) }
    }
}

/// LMDB with another fault: a nested transaction is no savepoint (the request runs straight in its
/// parent), so a request that fails in a group commit leaves its changes for the others' commit.
final class NoSavepoints: StorageBackend {
    let inner: LMDBStorage

    init(_ inner: LMDBStorage) { self.inner = inner }

    func read<T>(_ body: (any ReadOnlyStoreTransaction) throws -> T) throws -> T { try self.inner.read(body) }
    func write<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T { try self.inner.write { try body(Flat($0)) } }
    func storageFailure(_ error: any Error) -> BureauError? { self.inner.storageFailure(error) }
    func hotCopy(into destination: String) throws { try self.inner.hotCopy(into: destination) }
    func statistics() throws -> StorageStatistics { try self.inner.statistics() }
    var protection: DataProtection { self.inner.protection }

    /// Forwards everything to the real transaction, except that nesting runs `body` on it directly.
    struct Flat: ReadWriteStoreTransaction {
        let txn: any ReadWriteStoreTransaction

        init(_ txn: any ReadWriteStoreTransaction) { self.txn = txn }

        func withNestedTransaction<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T { try body(self) }
        func offer(_ prepared: PreparedFile?) { self.txn.offer(prepared) }

        func hasFile(_ key: SubjectKey) throws -> Bool { try self.txn.hasFile(key) }
        func identitySources(_ key: SubjectKey) throws -> [IdentitySource]? { try self.txn.identitySources(key) }
        func file(_ key: SubjectKey) throws -> CreditFile? { try self.txn.file(key) }
        func holdsRecord(_ furnisher: UnifiedSocialCreditCode, on key: SubjectKey) throws -> Bool { try self.txn.holdsRecord(furnisher, on: key) }
        func fileCount() throws -> Int { try self.txn.fileCount() }
        func owner(of reference: RecordReference) throws -> SubjectKey? { try self.txn.owner(of: reference) }
        func record(_ reference: RecordReference, of key: SubjectKey) throws -> CreditRecord? { try self.txn.record(reference, of: key) }
        func listMembers(_ code: String, limit: Int) throws -> [(SubjectKey, RecordReference)] { try self.txn.listMembers(code, limit: limit) }
        func batchResult(furnisher: UnifiedSocialCreditCode, batchID: String) throws -> [UInt8]? {
            try self.txn.batchResult(furnisher: furnisher, batchID: batchID)
        }
        func storedCatalogue() throws -> Catalogue? { try self.txn.storedCatalogue() }
        func institution(code: UnifiedSocialCreditCode) throws -> Institution? { try self.txn.institution(code: code) }
        func institution(certificateFingerprint fingerprint: [UInt8]) throws -> Institution? {
            try self.txn.institution(certificateFingerprint: fingerprint)
        }
        func institutions() throws -> [Institution] { try self.txn.institutions() }
        func consent(_ reference: String) throws -> Consent? { try self.txn.consent(reference) }
        func protection(_ key: SubjectKey) throws -> FileProtection { try self.txn.protection(key) }
        func queriesCounted(_ institution: UnifiedSocialCreditCode, on day: CalendarDate) throws -> UInt64 {
            try self.txn.queriesCounted(institution, on: day)
        }
        func isRevoked(certificateFingerprint fingerprint: [UInt8]) throws -> Bool { try self.txn.isRevoked(certificateFingerprint: fingerprint) }
        func revocation(certificateFingerprint fingerprint: [UInt8]) throws -> String? { try self.txn.revocation(certificateFingerprint: fingerprint) }
        func recordedAnomaly(_ id: String) throws -> RecordedAnomaly? { try self.txn.recordedAnomaly(id) }
        func dispute(_ id: String) throws -> Dispute? { try self.txn.dispute(id) }
        func openDisputes(of furnisher: UnifiedSocialCreditCode) throws -> [Dispute] { try self.txn.openDisputes(of: furnisher) }
        func overdueDisputes(on today: CalendarDate) throws -> [Dispute] { try self.txn.overdueDisputes(on: today) }
        func repair(_ id: String) throws -> Repair? { try self.txn.repair(id) }
        func pendingRepairs() throws -> [Repair] { try self.txn.pendingRepairs() }
        func putIdentitySources(_ sources: [IdentitySource], for key: SubjectKey) throws { try self.txn.putIdentitySources(sources, for: key) }
        func putRecord(_ record: CreditRecord, for key: SubjectKey, catalogue: Catalogue) throws {
            try self.txn.putRecord(record, for: key, catalogue: catalogue)
        }
        func deleteRecord(_ reference: RecordReference, of key: SubjectKey, catalogue: Catalogue, tombstone: Bool) throws -> CreditRecord? {
            try self.txn.deleteRecord(reference, of: key, catalogue: catalogue, tombstone: tombstone)
        }
        func putStatement(_ statement: Statement, for key: SubjectKey) throws { try self.txn.putStatement(statement, for: key) }
        func putDispute(_ dispute: DisputeMark, for key: SubjectKey) throws { try self.txn.putDispute(dispute, for: key) }
        func removeDisputeMark(id: String, of key: SubjectKey) throws { try self.txn.removeDisputeMark(id: id, of: key) }
        func putBatchResult(_ result: [UInt8], furnisher: UnifiedSocialCreditCode, batchID: String) throws {
            try self.txn.putBatchResult(result, furnisher: furnisher, batchID: batchID)
        }
        func putCatalogue(_ catalogue: Catalogue) throws { try self.txn.putCatalogue(catalogue) }
        func putInstitution(_ institution: Institution) throws { try self.txn.putInstitution(institution) }
        func putConsent(_ consent: Consent) throws { try self.txn.putConsent(consent) }
        func putProtection(_ protection: FileProtection, for key: SubjectKey) throws { try self.txn.putProtection(protection, for: key) }
        func countQuery(_ institution: UnifiedSocialCreditCode, on day: CalendarDate) throws -> UInt64 { try self.txn.countQuery(institution, on: day) }
        func countSelfQuery(_ key: SubjectKey, year: Int) throws -> UInt64 { try self.txn.countSelfQuery(key, year: year) }
        func revokeCertificate(fingerprint hex: String) throws -> Institution? { try self.txn.revokeCertificate(fingerprint: hex) }
        func putAnomaly(_ recorded: RecordedAnomaly) throws { try self.txn.putAnomaly(recorded) }
        func putDispute(_ dispute: Dispute) throws { try self.txn.putDispute(dispute) }
        func putRepair(_ repair: Repair) throws { try self.txn.putRepair(repair) }
        func recordsWithRetentionDue(
            fixedEndOnOrBefore: CalendarDate, categories: [(code: String, endedOnOrBefore: CalendarDate)], limit: Int,
            where isDue: (CreditRecord) -> Bool
        ) throws -> [(SubjectKey, CreditRecord)] {
            try self.txn.recordsWithRetentionDue(fixedEndOnOrBefore: fixedEndOnOrBefore, categories: categories, limit: limit, where: isDue)
        }
        func deleteAttachments(about references: [SubjectKey: Set<RecordReference>]) throws { try self.txn.deleteAttachments(about: references) }
        func logSize() throws -> UInt64 { try self.txn.logSize() }
        func storedTreeNode(level: Int, index: UInt64) throws -> [UInt8]? { try self.txn.storedTreeNode(level: level, index: index) }
        func logEntryBytes(from start: UInt64, limit: Int, reverse: Bool, maxBytes: Int) throws -> [(index: UInt64, bytes: [UInt8])] {
            try self.txn.logEntryBytes(from: start, limit: limit, reverse: reverse, maxBytes: maxBytes)
        }
        func fileQueries(of key: SubjectKey, since: Date, limit: Int) throws -> [FileQuery] { try self.txn.fileQueries(of: key, since: since, limit: limit) }
        func putLogEntryBytes(_ bytes: [UInt8], at index: UInt64) throws { try self.txn.putLogEntryBytes(bytes, at: index) }
        func putTreeNode(_ hash: [UInt8], level: Int, index: UInt64) throws { try self.txn.putTreeNode(hash, level: level, index: index) }
        func setLogSize(_ size: UInt64) throws { try self.txn.setLogSize(size) }
        func putFileQuery(_ query: FileQuery, for key: SubjectKey) throws { try self.txn.putFileQuery(query, for: key) }
        func checkpointVerifierKey() throws -> String? { try self.txn.checkpointVerifierKey() }
        func putCheckpointVerifierKey(_ key: String) throws { try self.txn.putCheckpointVerifierKey(key) }
    }
}

extension ConformanceFindsFaultsTests {
    static let flat = StorageConformance.BackendFactory(name: "LMDB without savepoints") { folder in
        NoSavepoints(try LMDBStorage.open(folder: folder, configuration: .init(mapSize: 64 << 20)))
    }

    @Test("a backend whose nested transactions are no savepoints fails the nested-transaction and crash-point checks", arguments: ["nested transactions", "crash points"])
    func noSavepoints(_ name: String) async throws {
        let check = try #require(StorageConformance.checks.first { $0.name.hasPrefix(name) })
        await #expect(throws: ConformanceFailure.self) { try await StorageConformance.run(check, on: Self.flat) }
    }

    @Test("the faulty wrappers pass every other check, so each check above fails for its own fault")
    func wrappersOtherwiseConform() async throws {
        for check in StorageConformance.checks where !check.name.hasPrefix("nested transactions") && !check.name.hasPrefix("crash points") {
            try await StorageConformance.run(check, on: Self.flat)
        }
        for check in StorageConformance.checks
        where !["atomic batches", "crash points", "idempotent furnishing batches", "shared parts"].contains(where: check.name.hasPrefix) {
            try await StorageConformance.run(check, on: Self.faulty)
        }
    }
}
