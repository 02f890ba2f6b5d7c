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
    /// Needle indexes by their first two bytes, and whether a bucket has any (a cheap first test per byte).
    private var buckets = [[Int]](repeating: [], count: 1 << 16)
    private var used = [Bool](repeating: false, count: 1 << 16)

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
                    self.buckets[Int(bytes[0]) << 8 | Int(bytes[1])].append(self.needles.count)
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
            guard b.count >= 2 else { return }
            for i in 0..<(b.count - 1) where used[Int(b[i]) << 8 | Int(b[i + 1])] {
                for n in self.buckets[Int(b[i]) << 8 | Int(b[i + 1])] {
                    let needle = self.needles[n].bytes
                    guard i + needle.count <= b.count else { continue }
                    var match = true
                    for j in 2..<needle.count where b[i + j] != needle[j] {
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
            let synthetic = SyntheticData(furnishers: [DemoData.bank, DemoData.consumerFinance], today: CalendarDate(utcDayOf: Date()))
            let lines = work + "/people.jsonl"
            _ = FileManager.default.createFile(atPath: lines, contents: nil, attributes: [.posixPermissions: 0o600])
            let handle = try #require(FileHandle(forWritingAtPath: lines))
            try synthetic.writeLines(count: Self.people, to: handle)
            try handle.close()
            let summary = try Importer(store: bureau.store).importFile(at: lines)
            #expect(summary.subjects == Self.people)
            let people = (0..<Self.people).map { synthetic.person($0) }
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
            #expect(file.accounts.map(\.reference).sorted { "\($0)" < "\($1)" } == before.accounts.map(\.reference).filter { $0 != deleted }.sorted { "\($0)" < "\($1)" })
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

            // The control: with a key store from before the deletion the same backup opens the record, so the
            // destroyed key is what keeps it closed (and key store backups are kept for a short time).
            try Backup.restore(from: work + "/backup", to: work + "/restored-old-keys", keyStore: try LMDBKeyStore(path: work + "/keystore-before"))
            let old = try Store(folder: work + "/restored-old-keys")
            #expect(try old.read { try $0.record(deleted, of: key) } != nil)
        }
    }
}
