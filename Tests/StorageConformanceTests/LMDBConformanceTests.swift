import BureauCore
import BureauLMDB
import BureauStore
import BureauStoreConformance
import Testing

/// Every backend, as a factory of new, empty instances. The PostgreSQL backend adds its factory here and
/// runs the same checks unchanged.
let backends: [StorageConformance.BackendFactory] = [
    .init(name: "LMDB") { folder in try LMDBStorage(path: folder + "/lmdb", configuration: .init(mapSize: 64 << 20)) }
]

@Suite("Storage backend conformance")
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
}

@Suite("The conformance suite finds a faulty backend")
struct ConformanceFindsFaultsTests {
    static let faulty = StorageConformance.BackendFactory(name: "LMDB committing failed writes") { folder in
        CommitsFailedWrites(try LMDBStorage(path: folder + "/lmdb", configuration: .init(mapSize: 64 << 20)))
    }

    @Test("a backend that commits a failed write fails the atomicity, crash-point and batch checks", arguments: ["atomic batches", "crash points", "idempotent furnishing batches"])
    func commitsFailedWrites(_ name: String) async throws {
        let check = try #require(StorageConformance.checks.first { $0.name.hasPrefix(name) })
        await #expect(throws: ConformanceFailure.self) { try await StorageConformance.run(check, on: Self.faulty) }
    }
}
