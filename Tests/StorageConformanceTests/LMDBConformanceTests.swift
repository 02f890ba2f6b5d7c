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
