import BureauAPI
import BureauCore
import BureauKeys
import BureauLMDB
import BureauOperations
import BureauServer
import BureauStore
import BureauStoreConformance
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing

/// Looks for personal values in raw bytes: each value as given and without separators (and, for long digit
/// runs, grouped with spaces and hyphens as people write them), each in UTF-8, UTF-16LE and UTF-16BE.
struct LeakScanner {
    private var needles: [(bytes: [UInt8], label: String)] = []
    /// Needle indexes by their first six bytes, and whether any needle starts with a given two bytes (a cheap
    /// first test per position).
    private var buckets: [UInt64: [Int]] = [:]
    private var used = [Bool](repeating: false, count: 1 << 16)

    private static func prefix(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> UInt64 {
        var v: UInt64 = 0
        for j in 0..<6 { v = v << 8 | UInt64(b[i + j]) }
        return v
    }

    init(_ values: [(label: String, value: String)]) {
        var seen = Set<[UInt8]>()
        for (label, value) in values {
            for variant in Self.variants(of: value) {
                let utf16 = Array(variant.utf16)
                let encodings: [[UInt8]] = [
                    Array(variant.utf8),
                    utf16.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] },
                    utf16.flatMap { [UInt8(truncatingIfNeeded: $0 >> 8), UInt8(truncatingIfNeeded: $0)] },
                ]
                for bytes in encodings where bytes.count >= Self.shortest && seen.insert(bytes).inserted {
                    self.buckets[bytes.withUnsafeBufferPointer { Self.prefix($0, 0) }, default: []].append(self.needles.count)
                    self.used[Int(bytes[0]) << 8 | Int(bytes[1])] = true
                    self.needles.append((bytes, label))
                }
            }
        }
    }

    /// The shortest pattern looked for. A 4-byte pattern turns up by chance about once in 4 GiB of random
    /// bytes; the hundreds of two-character names in UTF-16 (4 bytes each) would then match a few times in the
    /// tens of MiB of ciphertext scanned, so patterns are at least 6 bytes: every name is still looked for in
    /// UTF-8 (6 bytes for two characters), the encoding every stored codec uses, and three-character names in
    /// UTF-16 too. The chance of a false hit is then about 1 in 10^4 for the whole scan.
    static let shortest = 6

    static func variants(of value: String) -> Set<String> {
        let separators: Set<Character> = [" ", "-", "_", ".", "/"]
        let bare = String(value.filter { !separators.contains($0) })
        var out: Set<String> = [value, bare]
        if bare.count >= 8, bare.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLetter) }) {
            let characters = Array(bare)
            for separator in [" ", "-"] {
                out.insert(stride(from: 0, to: characters.count, by: 4).map { String(characters[$0..<min($0 + 4, characters.count)]) }.joined(separator: separator))
                if characters.count == 11 {  // a mobile number: 3-4-4
                    out.insert([String(characters[0..<3]), String(characters[3..<7]), String(characters[7...])].joined(separator: separator))
                }
            }
        }
        return out
    }

    /// The labels of the values found in `bytes`.
    func hits(in bytes: [UInt8]) -> Set<String> {
        var found = Set<String>()
        bytes.withUnsafeBufferPointer { b in
            self.used.withUnsafeBufferPointer { used in
            guard b.count >= Self.shortest else { return }
            for i in 0...(b.count - Self.shortest) where used[Int(b[i]) << 8 | Int(b[i + 1])] {
                guard let bucket = self.buckets[Self.prefix(b, i)] else { continue }
                for n in bucket {
                    let needle = self.needles[n].bytes
                    guard i + needle.count <= b.count else { continue }
                    var match = true
                    for j in Self.shortest..<needle.count where b[i + j] != needle[j] {
                        match = false
                        break
                    }
                    if match { found.insert(self.needles[n].label) }
                }
            }
            }
        }
        return found
    }

    /// Every regular file under `folder`, with the labels found in it.
    func scan(folder: String) throws -> (files: Int, bytes: Int, hits: [String: Set<String>]) {
        var files = 0
        var total = 0
        var hits: [String: Set<String>] = [:]
        let fm = FileManager.default
        for relative in try fm.subpathsOfDirectory(atPath: folder) {
            let path = (folder as NSString).appendingPathComponent(relative)
            var isFolder: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            files += 1
            total += bytes.count
            let found = self.hits(in: bytes)
            if !found.isEmpty { hits[relative] = found }
        }
        return (files, total, hits)
    }
}

@Suite("Personal data at rest", .serialized)
struct DataAtRestTests {
    static let people = 1_000

    func channel<T: Sendable>(_ bureau: InProcessBureau, _ body: @Sendable (Bureau_SubjectService.Client<InProcessTransport.Client>) async throws -> T) async throws -> T {
        try await bureau.withClient("channel") { client in try await body(Bureau_SubjectService.Client(wrapping: client)) }
    }

    static func subject(_ id: String, request: String) -> Bureau_SubjectRequest {
        var s = Bureau_SubjectRequest()
        s.requestID = request
        s.subjectKind = .individual
        s.subjectIdentifier = id
        return s
    }

    /// Every identifier, name, phone and account number of the demo data and of `people`.
    static func personalValues(_ people: [SubjectLine]) -> [(label: String, value: String)] {
        var values: [(label: String, value: String)] = []
        for (_, subjects) in DemoData.batches {
            for s in subjects {
                values += [("identifier \(s.identifier)", s.identifier), ("name of \(s.identifier)", s.name), ("phone of \(s.identifier)", s.phone)]
                if !s.legalRepresentativeName.isEmpty { values.append(("representative of \(s.identifier)", s.legalRepresentativeName)) }
                for a in s.accounts { values.append(("account \(a.accountNumber)", a.accountNumber)) }
                for p in s.publicRecords { values.append(("public record \(p.recordID)", p.recordID)) }
                for l in s.listEntries { values.append(("list entry \(l.recordID)", l.recordID)) }
            }
        }
        for p in people {
            values += [("identifier \(p.identifier)", p.identifier), ("name of \(p.identifier)", p.name), ("phone of \(p.identifier)", p.phone ?? "")]
            for a in p.accounts ?? [] { values.append(("account \(a.accountNumber)", a.accountNumber)) }
        }
        return values
    }

    /// `count` generated people, written to `work/people.jsonl` and loaded into `store` by the bulk importer.
    static func importPeople(_ count: Int, into store: Store, work: String) throws -> (people: [SubjectLine], file: String) {
        let synthetic = SyntheticData(furnishers: [DemoData.bank, DemoData.consumerFinance], today: CalendarDate(utcDayOf: Date()))
        let lines = work + "/people.jsonl"
        _ = FileManager.default.createFile(atPath: lines, contents: nil, attributes: [.posixPermissions: 0o600])
        let handle = try #require(FileHandle(forWritingAtPath: lines))
        try synthetic.writeLines(count: count, to: handle)
        try handle.close()
        let summary = try Importer(store: store).importFile(at: lines)
        #expect(summary.subjects == count)
        return ((0..<count).map { synthetic.person($0) }, lines)
    }

    /// The demo bank's request to delete its account `deleted` of the demo person.
    static func deleteRequest(_ deleted: RecordReference) -> Bureau_DeleteRecordRequest {
        var request = Bureau_DeleteRecordRequest()
        request.requestID = "delete-1"
        request.ref.subjectKind = .individual
        request.ref.subjectIdentifier = DemoData.personIdentifier
        request.ref.kind = .account
        request.ref.recordID = deleted.recordID
        request.reason = "opened in error"
        return request
    }

    @Test("demo data, 1,000 people, reports, disputes and statements, and a backup: no file holds any identifier, name, phone, account number or free text")
    func nothingPersonalAtRest() async throws {
        try await InProcessBureau.run(mapSize: 256 << 20) { bureau in
            let folder = bureau.store.folder
            let work = TestKeyFile.temporaryFolder("bureau-scan")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: work) }

            // 1,000 generated people through the bulk importer.
            let (people, lines) = try Self.importPeople(Self.people, into: bureau.store, work: work)
            func account(_ p: SubjectLine, _ n: Int) -> String { p.accounts?[n].accountNumber ?? "" }

            // Reports, disputes and statements, with free texts that must not be readable either.
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
            }
            var texts: [(label: String, value: String)] = []
            for (n, person) in [(0, people[0]), (1, people[1]), (2, people[2])] {
                let own = try await channel(bureau) { try await $0.getOwnReport(request: ClientRequest(message: Self.subject(person.identifier, request: "own-\(n)")), options: fastCall) }
                #expect(own.individual.identity.identifier == person.identifier)
                var dispute = Bureau_DisputeRequest()
                dispute.subject = Self.subject(person.identifier, request: "dispute-\(n)")
                dispute.record.kind = .account
                dispute.record.furnisher = person.furnisher
                dispute.record.recordID = account(person, 0)
                dispute.description_p = "Disputed by person \(n): I closed account ending \(account(person, 0).suffix(4)) in March"
                texts.append(("dispute \(n)", dispute.description_p))
                _ = try await channel(bureau) { [dispute] in try await $0.fileDispute(request: ClientRequest(message: dispute), options: fastCall) }
                var statement = Bureau_StatementRequest()
                statement.subject = Self.subject(person.identifier, request: "statement-\(n)")
                statement.text = "Statement of person \(n): my wallet was stolen on the night of the harvest festival"
                texts.append(("statement \(n)", statement.text))
                _ = try await channel(bureau) { [statement] in try await $0.addStatement(request: ClientRequest(message: statement), options: fastCall) }
            }
            let backup = work + "/backup"
            try Backup.take(of: bureau.store, to: backup)

            let scanner = LeakScanner(Self.personalValues(people) + texts)
            // The scanner finds what it looks for: every person is in the cleartext import file.
            let control = scanner.hits(in: [UInt8](try Data(contentsOf: URL(fileURLWithPath: lines))))
            #expect(people.allSatisfy { control.contains("identifier \($0.identifier)") && control.contains("account \(account($0, 2))") })
            let phone = try #require(people[7].phone)
            let utf16 = Array("x-\(phone.prefix(3)) \(phone.dropFirst(3).prefix(4)) \(phone.suffix(4))".utf16)
            #expect(scanner.hits(in: utf16.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }) == ["phone of \(people[7].identifier)"])

            for scanned in [folder, backup] {
                let result = try scanner.scan(folder: scanned)
                #expect(result.files >= 3 && result.bytes > 100_000, "\(scanned): \(result.files) files, \(result.bytes) bytes")
                #expect(result.hits.isEmpty, "\(scanned): \(result.hits.mapValues { $0.sorted().prefix(5) })")
            }
            // And the data is all still there for those who may see it.
            let own = try await channel(bureau) { try await $0.getOwnReport(request: ClientRequest(message: Self.subject(people[1].identifier, request: "own-again")), options: fastCall) }
            #expect(own.individual.identity.name == people[1].name)
            #expect(own.individual.statements.map(\.text) == [texts[3].value])
        }
    }

    @Test("a record deleted after a backup cannot be opened from that backup restored with the current key store: it reads as removed, not corrupted")
    func cryptoShredding() async throws {
        try await InProcessBureau.run { bureau in
            let work = TestKeyFile.temporaryFolder("bureau-shred")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: work) }
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
            let deleted = RecordReference(kind: .account, furnisher: DemoData.bank, recordID: "6222020200112233")
            let before = try #require(try bureau.store.read { try $0.file(key) })
            #expect(before.accounts.contains { $0.reference == deleted })
            let liveKeys = try #require(bureau.store.backend.protection.keyStore as? LMDBKeyStore)

            // A backup of the data, and (for the control) a copy of the key store, both before the deletion.
            try Backup.take(of: bureau.store, to: work + "/backup")
            try liveKeys.copy(to: work + "/keystore-before")

            // The furnisher deletes its record, over the service.
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_FurnishService.Client(wrapping: client).deleteRecord(request: ClientRequest(message: Self.deleteRequest(deleted)), options: fastCall)
            }

            // The old backup, restored with the current key store.
            try Backup.restore(from: work + "/backup", to: work + "/restored", keyStore: liveKeys)
            let restored = try Store(folder: work + "/restored")
            let file = try #require(try restored.read { try $0.file(key) })
            #expect(!file.accounts.contains { $0.reference == deleted })
            // Everything else of the file is there: removed, not corrupted.
            let kept: [String] = file.accounts.map { "\($0.reference)" }.sorted()
            let expected: [String] = before.accounts.filter { $0.reference != deleted }.map { "\($0.reference)" }.sorted()
            #expect(kept == expected)
            #expect(file.subject == before.subject)
            #expect(try restored.read { try $0.record(deleted, of: key) } == nil)
            // Its ciphertext is in the backup, and says why it does not open.
            let recordKey = restored.backend.protection.recordKey(key, deleted)
            let lmdb = try #require(restored.backend as? LMDBStorage)
            let sealed = try #require(try lmdb.rawEntries(of: "records").first { $0.key == recordKey }?.value)
            let changes = KeyChanges()
            let error = try #require(throws: SealedValueError.self) {
                try sealed.withUnsafeBytes {
                    try restored.backend.protection.values(changes).openRecord($0, of: key, recordKey: recordKey, kind: .account, furnisher: DemoData.bank)
                }
            }
            #expect(error.removed)
            #expect(error.message.contains("was removed"))

            // The reports served from the restored copy say a record was removed, and show nothing of it: the
            // institution's report and the subject's own.
            // (A second restore, so that bureaud has its copy to itself.)
            try Backup.restore(from: work + "/backup", to: work + "/restored-served", keyStore: liveKeys)
            try await InProcessBureau.run(folder: work + "/restored-served", seed: false) { restoredBureau in
                let report = try await restoredBureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
                }.report
                #expect(report.header.removedRecords == 1)
                #expect(report.header.removedAttachments == 0)
                #expect(report.accounts.count == before.accounts.count - 1)
                let own = try await channel(restoredBureau) {
                    try await $0.getOwnReport(request: ClientRequest(message: Self.subject(DemoData.personIdentifier, request: "own-restored")), options: fastCall)
                }
                #expect(own.individual.header.removedRecords == 1)
                #expect(own.individual.accounts.count == before.accounts.count - 1)
                #expect(!own.individual.accounts.contains { (line: Bureau_AccountLine) in line.accountNumber == deleted.recordID })
            }
            // A record whose ciphertext was altered is not "removed": reading the file fails, naming the value.
            let other = try #require(try lmdb.rawEntries(of: "records").first { $0.key.starts(with: key.bytes) && $0.key != recordKey })
            var altered = other.value
            altered[altered.count - 1] ^= 0x01
            try lmdb.rawWrite(in: "records", putting: [(other.key, altered)])
            let alteredError = try #require(throws: SealedValueError.self) { try restored.read { try $0.file(key) } }
            #expect(!alteredError.removed)

            // The control: with a key store from before the deletion the same backup opens the record, so the
            // destroyed key is what keeps it closed (and key store backups are kept for a short time).
            try Backup.restore(from: work + "/backup", to: work + "/restored-old-keys", keyStore: try LMDBKeyStore(path: work + "/keystore-before"))
            let old = try Store(folder: work + "/restored-old-keys")
            #expect(try old.read { try $0.record(deleted, of: key) } != nil)
        }
    }

    @Test("the KEK is rotated while statements are filed and reports read: every key ends under the new KEK, and a copy opens with it alone")
    func rotationUnderLoad() async throws {
        try await InProcessBureau.run { bureau in
            let work = TestKeyFile.temporaryFolder("bureau-rotate")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: work) }
            let old = bureau.store.backend.protection.keyEncryptionKey
            let new = try FileKeyEncryptionKey.create(at: work + "/kek/new.key")
            let keyStore = try #require(bureau.store.backend.protection.keyStore as? LMDBKeyStore)
            let people = [DemoData.personIdentifier, "440305199207045670", "310104198503121235"]  // on file, with standing consents
            let rotation = try await withThrowingTaskGroup(of: DataProtection.Rotation?.self) { group in
                for (n, person) in people.enumerated() {
                    group.addTask {
                        for i in 0..<12 {
                            var statement = Bureau_StatementRequest()
                            statement.subject = Self.subject(person, request: "load-\(n)-\(i)")
                            statement.text = "statement \(i) of person \(n)"
                            _ = try await channel(bureau) { [statement] in try await $0.addStatement(request: ClientRequest(message: statement), options: fastCall) }
                            _ = try await bureau.withClient("bank") { client in
                                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest(person)), options: fastCall)
                            }
                        }
                        return nil
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(50))
                    return try bureau.store.rotateKeys(to: new, batch: 7)
                }
                var rotation: DataProtection.Rotation?
                for try await result in group { rotation = rotation ?? result }
                return try #require(rotation)
            }
            #expect(rotation.from == old.id && rotation.to == new.id && rotation.keys > 0)
            // The master data key is under the new KEK and unwraps with it alone, the old one no longer does;
            // every data key is a salt of that master (none is wrapped by a KEK).
            let wrappedMaster = try #require(try keyStore.masterKey())
            #expect(wrappedMaster.keyEncryptionKeyID == new.id)
            let master = try new.unwrapMasterDataKey(wrappedMaster)
            #expect(throws: KeyError.self) { _ = try old.unwrapMasterDataKey(wrappedMaster) }
            let keys = try keyStore.allKeys()
            #expect(keys.count >= rotation.keys)
            #expect(keys.allSatisfy { $0.key.salt?.masterID == master.id })
            // A copy, opened as a new process would, with the new KEK only: every file opens.
            try Backup.take(of: bureau.store, to: work + "/backup")
            try Backup.restore(from: work + "/backup", to: work + "/restored", keyStore: keyStore)
            // The retired KEK no longer opens the copy (checked first: an environment is opened once at a time).
            #expect(throws: BureauError.self) { _ = try Store(folder: work + "/restored", configuration: .init(keys: .file(TestKeyFile.install()))) }
            let restored = try Store(folder: work + "/restored", configuration: .init(mapSize: 64 << 20, keys: .file(new.path)))
            let subjects = try #require(restored.backend as? LMDBStorage).rawEntries(of: "subjects").map { SubjectKey(bytes: $0.key) }
            #expect(subjects.count == (try bureau.store.read { try $0.fileCount() }))
            let statements = try restored.read { txn in try subjects.map { try #require(try txn.file($0)).statements.count }.reduce(0, +) }
            let live = try bureau.store.read { txn in try subjects.map { try txn.file($0)?.statements.count ?? 0 }.reduce(0, +) }
            #expect(statements == live && statements >= people.count * 12)
        }
    }

    @Test("RotateKeys: operators only; a bad key file is refused naming it and changes nothing; a good one rotates and is logged")
    func rotateOverTheAPI() async throws {
        try await InProcessBureau.run { bureau in
            let work = TestKeyFile.temporaryFolder("bureau-rotate-api")
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: work) }
            let old = bureau.store.backend.protection.keyEncryptionKey.id
            let new = try FileKeyEncryptionKey.create(at: work + "/kek/new.key")
            func rotate(_ file: String, as identity: String = "operator") async -> (Bureau_RotateKeysResponse?, RPCError?) {
                var request = Bureau_RotateKeysRequest()
                request.requestID = "rotate-\(UUID().uuidString)"
                request.keyFile = file
                do {
                    let response = try await bureau.administer(as: bureau.clients[identity]) { admin, metadata in
                        try await admin.rotateKeys(request: ClientRequest(message: request, metadata: metadata), options: fastCall)
                    }
                    return (response, nil)
                } catch let error as RPCError {
                    return (nil, error)
                } catch {
                    return (nil, RPCError(code: .unknown, message: "\(error)"))
                }
            }
            let (_, denied) = await rotate(new.path, as: "bank")
            #expect(denied?.code == .permissionDenied)
            let (_, missing) = await rotate(work + "/kek/none.key")
            #expect(missing?.code == .failedPrecondition && missing?.message.contains("none.key") == true)
            let (_, relative) = await rotate("kek/new.key")
            #expect(relative?.code == .invalidArgument && relative?.message.contains("key_file") == true)
            #expect(bureau.store.backend.protection.keyEncryptionKey.id == old)

            let before = try bureau.store.read { try $0.logSize() }
            let (response, error) = await rotate(new.path)
            #expect(error == nil)
            let rotated = try #require(response)
            #expect(rotated.previousKeyID == old.hex && rotated.keyID == new.id.hex && rotated.keys > 0 && rotated.rewrapped == 0)  // every data key derives from the master: only it is re-wrapped
            #expect(bureau.store.backend.protection.keyEncryptionKey.id == new.id)
            let entry = try #require(try bureau.logEntries().first { $0.index >= before && $0.entry.action == .keysRotate })
            #expect(entry.entry.operatorID == "staff-0042" && entry.entry.reason.contains(new.id.hex))
            // The same key again is refused: it is in force already.
            let (_, again) = await rotate(new.path)
            #expect(again?.code == .failedPrecondition)
        }
    }
}
