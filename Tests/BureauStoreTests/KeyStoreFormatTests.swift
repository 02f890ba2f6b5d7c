import BureauCore
import BureauKeys
import BureauLMDB
import BureauStore
import BureauStoreConformance
import Foundation
import LMDB
import Synchronization
import Testing

@Suite("Key store formats and bulk key writes")
struct KeyStoreFormatTests {
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    let person = SubjectIdentifier.individual(try! ResidentIdentityNumber(parsing: "11010519491231002X"))
    let identity = CreditFile.Subject.person(
        PersonIdentity(name: "王建国", identifier: "11010519491231002X", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!, phone: "13812345678", address: Address(province: "北京市", city: "北京市", detail: "x"))
    )

    static func account(_ number: String) -> CreditRecord {
        .account(
            Account(
                furnisher: bank, accountNumber: number, type: .creditCard, opened: CalendarDate(year: 2020, month: 1, day: 1)!,
                limit: Money(minorUnits: 100, currency: "CNY"), balance: Money(minorUnits: 0, currency: "CNY"), status: .current,
                paymentHistory: "0", closed: nil
            )
        )
    }

    static func open(_ folder: String, _ keyFile: String) throws -> Store {
        try Store(folder: folder, configuration: .init(mapSize: 64 << 20, keys: .file(keyFile)))
    }

    @Test("a key store written before derived keys (data keys wrapped by the KEK, no master) opens: its keys open, a master is added, new keys derive from it, and a rotation re-wraps the old keys and the master")
    func keyStoreBeforeDerivedKeys() async throws {
        try await withTemporaryFolder { root in
            let folder = root + "/data"
            let keyFile = root + "/keys/kek.key"
            let kek = try FileKeyEncryptionKey.create(at: keyFile)
            do {
                // The identity sealed as before: a random data key, wrapped by the KEK into the key store.
                let store = try Self.open(folder, keyFile)
                let key = store.key(for: self.person)
                let protection = store.backend.protection
                let dataKey = DataKey.generate()
                try protection.keyStore.put([(protection.scopeID(.identity(key)), StoredDataKey(try kek.wrap(dataKey)))])
                let sealed = dataKey.seal(
                    try RecordCodec.encode([IdentitySource(attribution: nil, identity: self.identity)]), for: FieldBinding(subject: key.bytes, field: "identity")
                )
                try #require(store.backend as? LMDBStorage).rawWrite(in: "subjects", putting: [(key.bytes, sealed)])
            }
            // No master data key, as in a key store written before them.
            let environment = try Environment(path: folder + "/keystore", configuration: .init(maxDatabases: 3))
            let masters = try environment.openDatabase(named: "master")
            #expect(try environment.write { try $0.delete(Array("master".utf8), in: masters) })
            #expect(try LMDBKeyStore(path: folder + "/keystore").masterKey() == nil)

            do {
                let store = try Self.open(folder, keyFile)
                let key = store.key(for: self.person)
                #expect(try store.read { try $0.subject(key) } == self.identity)
                let keyStore = store.backend.protection.keyStore
                let master = try #require(try keyStore.masterKey())
                #expect(master.keyEncryptionKeyID == kek.id && master.kind == .masterDataKey)
                try store.write { try $0.putRecord(Self.account("6222020200112233"), for: key, catalogue: .default) }
                let stored = try keyStore.allKeys().map(\.key)
                #expect(stored.count == 2)
                #expect(stored.filter { $0.wrapped?.keyEncryptionKeyID == kek.id }.count == 1)
                #expect(stored.filter { $0.salt?.masterID == master.keyID }.count == 1)

                let newFile = root + "/keys/new.key"
                let new = try FileKeyEncryptionKey.create(at: newFile)
                let rotation = try store.rotateKeys(to: new)
                #expect(rotation.rewrapped == 1 && rotation.keys == 2)
                #expect(try keyStore.masterKey()?.keyEncryptionKeyID == new.id)
                #expect(try keyStore.allKeys().compactMap(\.key.wrapped).allSatisfy { $0.keyEncryptionKeyID == new.id })
            }
            // Reopened with the new KEK alone, the old wrapped key and the derived one both open.
            let store = try Self.open(folder, root + "/keys/new.key")
            let file = try #require(try store.read { try $0.file(store.key(for: self.person)) })
            #expect(file.subject == self.identity && file.accounts.count == 1)
        }
    }

    /// A store over the LMDB key store as `wrap` presents it, that holds a new key's salt alone from 64 keys a
    /// transaction on (``DataProtection/persistEarlyCount``), with one file.
    func storeMakingKeys(_ root: String, _ wrap: (LMDBKeyStore) -> any KeyStore) throws -> (Store, LMDBKeyStore, SubjectKey) {
        let folder = root + "/data"
        let kek = try FileKeyEncryptionKey.create(at: root + "/keys/kek.key")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let keyStore = try LMDBKeyStore(path: folder + "/keystore")
        let protection = try DataProtection(folder: folder, kek: kek, keyStore: wrap(keyStore), hasData: false, persistEarlyCount: 64)
        let store = try Store(folder: folder, backend: try LMDBStorage(path: folder + "/lmdb", protection: protection))
        let key = store.key(for: self.person)
        try store.write { try $0.putSubject(self.identity, for: key) }
        return (store, keyStore, key)
    }

    @Test("a transaction making more keys than it holds puts them in the key store before its commit; failing, it destroys them; committed, they open")
    func keysPersistedEarly() async throws {
        try await withTemporaryFolder { root in
            let (store, keyStore, key) = try self.storeMakingKeys(root) { Wrapped($0, failing: false) }
            let before = try keyStore.count()
            let count = 64 * 3 + 8
            struct Stop: Error {}
            var seenEarly = 0
            #expect(throws: Stop.self) {
                try store.write { txn in
                    for n in 0..<count { try txn.putRecord(Self.account("6222\(n)"), for: key, catalogue: .default) }
                    seenEarly = try keyStore.count() - before
                    throw Stop()
                }
            }
            // Three batches of 64 were taken out; the last may still be being put (on its own thread).
            #expect(seenEarly == 64 * 2 || seenEarly == 64 * 3)
            #expect(try keyStore.count() == before)

            try store.write { txn in
                for n in 0..<count { try txn.putRecord(Self.account("6222\(n)"), for: key, catalogue: .default) }
            }
            #expect(try keyStore.count() == before + count)
            // Keys put before the commit and after it open alike (a whole file of this size is slow to assemble).
            for n in [0, count / 2, count - 1] {
                let record = Self.account("6222\(n)")
                #expect(try store.read { try $0.record(record.reference, of: key) } == record)
            }
        }
    }

    @Test("a transaction making many keys streams them into one key store transaction while it goes on: none is stored until the data commits, a failed one stores none, and keys sent early are still found before the commit")
    func keysStreamed() async throws {
        try await withTemporaryFolder { root in
            let (store, keyStore, key) = try self.storeMakingKeys(root) { $0 }
            let before = try keyStore.count()
            let count = 64 * 3 + 8
            struct Stop: Error {}
            var seen = -1
            #expect(throws: Stop.self) {
                try store.write { txn in
                    for n in 0..<count { try txn.putRecord(Self.account("6222\(n)"), for: key, catalogue: .default) }
                    seen = try keyStore.count() - before
                    throw Stop()
                }
            }
            #expect(seen == 0)  // sent to the stream, not committed
            #expect(try keyStore.count() == before)

            try store.write { txn in
                for n in 0..<count { try txn.putRecord(Self.account("6222\(n)"), for: key, catalogue: .default) }
                // The first keys went to the stream long ago; the transaction still finds them.
                #expect(try txn.record(Self.account("62220").reference, of: key) == Self.account("62220"))
                try txn.putRecord(Self.account("62221"), for: key, catalogue: .default)
            }
            #expect(try keyStore.count() == before + count)
            for n in [0, 1, count / 2, count - 1] {
                let record = Self.account("6222\(n)")
                #expect(try store.read { try $0.record(record.reference, of: key) } == record)
            }
        }
    }

    /// The real LMDB key store behind a wrapper: it has no stream (keys made by a large transaction go in
    /// batches ahead of its commit, as with PostgreSQL's key store), and its `destroy` fails while `failing` is
    /// set: the deletion commits and its key stays, as when the process dies between the two steps.
    final class Wrapped: KeyStore {
        let inner: LMDBKeyStore
        let failing: Mutex<Bool>
        struct Refused: Error {}
        init(_ inner: LMDBKeyStore, failing: Bool) {
            self.inner = inner
            self.failing = Mutex(failing)
        }
        func keys(of scope: KeyScopeID) throws -> [StoredDataKey] { try self.inner.keys(of: scope) }
        func put(_ keys: [(scope: KeyScopeID, key: StoredDataKey)]) throws { try self.inner.put(keys) }
        func destroy(_ keys: [(scope: KeyScopeID, id: KeyID)]) throws {
            if self.failing.withLock({ $0 }) { throw Refused() }
            try self.inner.destroy(keys)
        }
        func allKeys() throws -> [(scope: KeyScopeID, key: StoredDataKey)] { try self.inner.allKeys() }
        func scope(ofKey id: KeyID) throws -> KeyScopeID? { try self.inner.scope(ofKey: id) }
        func rewrap(after cursor: [UInt8]?, limit: Int, _ transform: (StoredDataKey) throws -> StoredDataKey?) throws -> (rewrapped: Int, next: [UInt8]?) {
            try self.inner.rewrap(after: cursor, limit: limit, transform)
        }
        func masterKey() throws -> WrappedKey? { try self.inner.masterKey() }
        func addMasterKey(_ wrapped: WrappedKey) throws -> WrappedKey { try self.inner.addMasterKey(wrapped) }
        func replaceMasterKey(_ wrapped: WrappedKey) throws { try self.inner.replaceMasterKey(wrapped) }
    }

    @Test("the key of a deletion left in the key store by a crash between the deletion's commit and the key's destruction is destroyed at the next open; a destroyed key's record is then forgotten")
    func sweepAfterCrash() async throws {
        try await withTemporaryFolder { root in
            let folder = root + "/data"
            let keyFile = root + "/keys/kek.key"
            let kek = try FileKeyEncryptionKey.create(at: keyFile)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let deleted = Self.account("6222020200112233")
            let kept = Self.account("6222020200445566")
            let deletedKeyID: KeyID
            do {
                let keyStore = Wrapped(try LMDBKeyStore(path: folder + "/keystore"), failing: true)
                let protection = try DataProtection(folder: folder, kek: kek, keyStore: keyStore, hasData: false)
                let lmdb = try LMDBStorage(path: folder + "/lmdb", protection: protection)
                let store = try Store(folder: folder, backend: lmdb)
                let key = store.key(for: self.person)
                try store.write { txn in
                    try txn.putSubject(self.identity, for: key)
                    for record in [deleted, kept] { try txn.putRecord(record, for: key, catalogue: .default) }
                }
                let recordKey = protection.recordKey(key, deleted.reference)
                let sealed = try #require(try lmdb.rawEntries(of: "records").first { $0.key == recordKey }?.value)
                deletedKeyID = try SealedField.keyID(of: sealed)
                try store.write { txn in _ = try txn.deleteRecord(deleted.reference, of: key, catalogue: .default) }
                // Committed; its key could not be destroyed and is still in the key store, recorded for the sweep.
                #expect(try store.read { try $0.record(deleted.reference, of: key) } == nil)
                #expect(protection.pendingDestruction == 1)
                #expect(try keyStore.inner.scope(ofKey: deletedKeyID) != nil)
                #expect(try lmdb.rawEntries(of: "shredding").count == 1)
            }
            // The process died there. The next open destroys the key and forgets it.
            let store = try Self.open(folder, keyFile)
            let keyStore = try #require(store.backend.protection.keyStore as? LMDBKeyStore)
            #expect(try keyStore.scope(ofKey: deletedKeyID) == nil)
            let lmdb = try #require(store.backend as? LMDBStorage)
            #expect(try lmdb.rawEntries(of: "shredding").isEmpty)
            let key = store.key(for: self.person)
            #expect(try store.read { try $0.record(kept.reference, of: key) } == kept)

            // A deletion whose key is destroyed at once is recorded with its commit and forgotten by the next write.
            try store.write { txn in _ = try txn.deleteRecord(kept.reference, of: key, catalogue: .default) }
            #expect(try lmdb.rawEntries(of: "shredding").count == 1)
            try store.write { try $0.putRecord(deleted, for: key, catalogue: .default) }
            #expect(try lmdb.rawEntries(of: "shredding").isEmpty)
        }
    }
}
