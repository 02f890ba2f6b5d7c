import BureauCore
import BureauKeys
import BureauLMDB
import BureauStore
import BureauStoreConformance
import Crypto
import Foundation
import Testing

/// A data folder with one person's file, under a key file of its own outside the folder.
private struct Installation {
    let root: String
    var folder: String { self.root + "/data" }
    var keyFile: String { self.root + "/keys/kek.key" }
    let person = SubjectIdentifier.individual(try! ResidentIdentityNumber(parsing: "11010519491231002X"))
    let other = SubjectIdentifier.individual(try! ResidentIdentityNumber(parsing: "440305199207045670"))
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")

    static func make(_ body: (Installation) throws -> Void) throws {
        let root = TestKeyFile.temporaryFolder("bureau-keys")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let installation = Installation(root: root)
        _ = try FileKeyEncryptionKey.create(at: installation.keyFile)
        // Opened and closed here (an LMDB environment is opened once per process at a time).
        try installation.seed()
        try body(installation)
    }

    func seed() throws {
        let installation = self
        let store = try self.open()
        try store.write { txn in
            for (n, id) in [installation.person, installation.other].enumerated() {
                let key = store.key(for: id)
                try txn.putSubject(
                    .person(PersonIdentity(name: "王建国", identifier: id.value, birthDate: CalendarDate(year: 1949, month: 12, day: 31)!, phone: "13812345678", address: Address(province: "北京市", city: "北京市", detail: "x"))),
                    for: key
                )
                try txn.putRecord(.account(Self.account("62220202001122\(n)3")), for: key, catalogue: .default)
            }
        }
    }

    static func account(_ number: String) -> Account {
        Account(
            furnisher: bank, accountNumber: number, type: .creditCard, opened: CalendarDate(year: 2020, month: 1, day: 1)!,
            limit: Money(minorUnits: 100, currency: "CNY"), balance: Money(minorUnits: 0, currency: "CNY"), status: .current,
            paymentHistory: "0", closed: nil
        )
    }

    func open(keyFile: String? = nil) throws -> Store {
        try Store(folder: self.folder, configuration: .init(mapSize: 64 << 20, keys: .file(keyFile ?? self.keyFile)))
    }

    /// SHA-256 of every file under the data folder: "nothing changed" is this, unchanged.
    func fingerprint() throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for relative in try FileManager.default.subpathsOfDirectory(atPath: self.folder) {
            let path = self.folder + "/" + relative
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue, !relative.hasSuffix("lock.mdb") else { continue }
            out[relative] = Array(SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        return out
    }
}

/// The message of the ``BureauError`` that `body` throws.
private func refusal(_ body: () throws -> Void) throws -> BureauError {
    try #require(throws: BureauError.self) { try body() }
}

@Suite("Key errors name what is wrong and change nothing")
struct KeyErrorTests {
    @Test("a wrong key file: the error names the KEK the data needs and the one given")
    func wrongKey() throws {
        try Installation.make { installation in
            let needed = try FileKeyEncryptionKey.load(from: installation.keyFile)
            let wrong = try FileKeyEncryptionKey.create(at: installation.root + "/other/kek.key")
            let before = try installation.fingerprint()
            let error = try refusal { _ = try installation.open(keyFile: wrong.path) }
            #expect(error.code == .failedPrecondition)
            #expect(error.message.contains(needed.id.hex) && error.message.contains(wrong.id.hex))
            #expect(try installation.fingerprint() == before)
            // And the right key still opens it.
            let store = try installation.open()
            #expect(try store.read { try $0.file(store.key(for: installation.person)) } != nil)
        }
    }

    @Test("a missing, truncated, group-readable or misplaced key file is refused by name")
    func badKeyFiles() throws {
        try Installation.make { installation in
            let before = try installation.fingerprint()
            let missing = try refusal { _ = try installation.open(keyFile: installation.root + "/keys/none.key") }
            #expect(missing.message.contains("key file missing") && missing.message.contains("none.key"))

            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: installation.keyFile)))
            let truncated = installation.root + "/keys/truncated.key"
            _ = FileManager.default.createFile(atPath: truncated, contents: Data(bytes.prefix(20)), attributes: [.posixPermissions: 0o600])
            let short = try refusal { _ = try installation.open(keyFile: truncated) }
            #expect(short.message.contains("key file truncated") && short.message.contains("20 bytes"))

            let open = installation.root + "/keys/open.key"
            _ = FileManager.default.createFile(atPath: open, contents: Data(bytes), attributes: [.posixPermissions: 0o640])
            let readable = try refusal { _ = try installation.open(keyFile: open) }
            #expect(readable.message.contains("key file permissions") && readable.message.contains("chmod 600"))

            let inside = installation.folder + "/kek.key"
            _ = FileManager.default.createFile(atPath: inside, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
            let misplaced = try refusal { _ = try installation.open(keyFile: inside) }
            #expect(misplaced.message.contains("key file location"))
            try FileManager.default.removeItem(atPath: inside)
            #expect(try installation.fingerprint() == before)
        }
    }

    @Test("a missing key store or wrapped secret is named, and nothing is made in its place")
    func missingKeyStore() throws {
        try Installation.make { installation in
            try FileManager.default.moveItem(atPath: installation.folder + "/keystore", toPath: installation.root + "/keystore-aside")
            let before = try installation.fingerprint()
            let error = try refusal { _ = try installation.open() }
            #expect(error.message.contains("key store") && error.message.contains("missing"))
            #expect(!FileManager.default.fileExists(atPath: installation.folder + "/keystore"))
            #expect(try installation.fingerprint() == before)
            try FileManager.default.moveItem(atPath: installation.root + "/keystore-aside", toPath: installation.folder + "/keystore")
            try FileManager.default.moveItem(atPath: installation.folder + "/" + DataProtection.secretFileName, toPath: installation.root + "/secret-aside")
            let secret = try refusal { _ = try installation.open() }
            #expect(secret.message.contains(DataProtection.secretFileName) && secret.message.contains("missing"))
            #expect(!FileManager.default.fileExists(atPath: installation.folder + "/" + DataProtection.secretFileName))
        }
    }

    @Test("a tampered ciphertext does not open: the error names the value and says it was altered; the rest still reads")
    func tampered() throws {
        try Installation.make { installation in
            let store = try installation.open()
            let key = store.key(for: installation.person)
            let lmdb = try #require(store.backend as? LMDBStorage)
            var (recordKey, sealed) = try #require(try lmdb.rawEntries(of: "records").first { $0.key.starts(with: key.bytes) })
            sealed[sealed.count / 2] ^= 0x01
            try lmdb.rawWrite(in: "records", putting: [(recordKey, sealed)])
            let error = try #require(throws: SealedValueError.self) { _ = try store.read { try $0.file(key) } }
            #expect(!error.removed)
            #expect(error.message.contains("\"record\"") && error.message.contains("authentication failed") && error.message.contains("altered"))
            #expect(try store.read { try $0.file(store.key(for: installation.other)) }?.accounts.count == 1)
        }
    }

    @Test("a ciphertext swapped into another record or file does not open there: the error says it was moved")
    func swapped() throws {
        try Installation.make { installation in
            let store = try installation.open()
            let (person, other) = (store.key(for: installation.person), store.key(for: installation.other))
            let lmdb = try #require(store.backend as? LMDBStorage)
            let records = try lmdb.rawEntries(of: "records")
            let mine = try #require(records.first { $0.key.starts(with: person.bytes) })
            let theirs = try #require(records.first { $0.key.starts(with: other.bytes) })
            try lmdb.rawWrite(in: "records", putting: [(mine.key, theirs.value)])
            // Found through the key store (no key cached yet), then through the cache once the other file was read.
            for _ in 0..<2 {
                let error = try #require(throws: SealedValueError.self) { _ = try store.read { try $0.file(person) } }
                #expect(!error.removed)
                #expect(error.message.contains("moved or swapped"))
                #expect(try store.read { try $0.file(other) }?.accounts.count == 1)
            }
            let subjects = try lmdb.rawEntries(of: "subjects")
            let identity = try #require(subjects.first { $0.key == other.bytes })
            try lmdb.rawWrite(in: "records", putting: [(mine.key, mine.value)])
            try lmdb.rawWrite(in: "subjects", putting: [(person.bytes, identity.value)])
            let error = try #require(throws: SealedValueError.self) { _ = try store.read { try $0.identitySources(person) } }
            #expect(error.message.contains("moved or swapped"))
        }
    }

    @Test("restoring a backup with another KEK names the KEK it needs, before anything is restored")
    func restoreNamesTheKey() throws {
        try Installation.make { installation in
            let store = try installation.open()
            try Backup.take(of: store, to: installation.root + "/backup")
            let needed = try FileKeyEncryptionKey.load(from: installation.keyFile)
            let wrong = try FileKeyEncryptionKey.create(at: installation.root + "/other/kek.key")
            let error = try refusal { try Backup.checkKey(wrong, for: installation.root + "/backup") }
            #expect(error.message.contains("needs the key-encryption key \(needed.id)") && error.message.contains("\(wrong.id)"))
            try Backup.checkKey(needed, for: installation.root + "/backup")
        }
    }
}
