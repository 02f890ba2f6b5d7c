import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauLMDB
import BureauStoreConformance
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing

@Suite("Credit files over the API", .serialized)
struct CreditFileServiceTests {
    static let person = "510107197802288918"

    static func batch(_ id: String, balance: Int64 = 500_000) -> Bureau_SubmitRecordsRequest {
        var record = FurnishServiceTests.record(person, name: "张伟", born: (1978, 2, 28), account: "CF-777")
        record.accounts[0].balance.minorUnits = balance
        var request = Bureau_SubmitRecordsRequest()
        request.batchID = id
        request.subjects = [record]
        return request
    }

    func submit(_ bureau: InProcessBureau, _ request: Bureau_SubmitRecordsRequest, as who: String = "furnisher") async throws -> Bureau_SubmitRecordsResponse {
        try await bureau.withClient(who) { client in
            try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
        }
    }

    func report(
        _ bureau: InProcessBureau, _ id: String = person, purpose: Bureau_Purpose = .loanOrigination, as who: String = "bank"
    ) async throws -> Bureau_IndividualReportResponse {
        try await bureau.withClient(who) { client in
            try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                request: ClientRequest(message: individualRequest(id, purpose: purpose)), options: fastCall
            )
        }
    }

    @Test("a repeated batch id is answered with the first answer and applied once")
    func idempotentBatch() async throws {
        try await InProcessBureau.run { bureau in
            let first = try await submit(bureau, Self.batch("batch-7"))
            let again = try await submit(bureau, Self.batch("batch-7", balance: 999_999))
            #expect(again == first)
            let applied = try bureau.logEntries().filter { $0.entry.action == .furnishSubmit }
            #expect(applied.count == 1)
            #expect(try await report(bureau).report.accounts.first?.balance.minorUnits == 500_000)
        }
    }

    @Test("a furnisher corrects and deletes only its own records, each change logged with its digest")
    func ownership() async throws {
        try await InProcessBureau.run { bureau in
            _ = try await submit(bureau, Self.batch("batch-1"))
            var correction = Bureau_CorrectRecordRequest()
            correction.requestID = "fix-1"
            correction.ref.subjectKind = .individual
            correction.ref.subjectIdentifier = Self.person
            correction.ref.kind = .account
            correction.ref.recordID = "CF-777"
            correction.account = Self.batch("x", balance: 123_000).subjects[0].accounts[0]
            correction.reason = "balance misreported"

            // The bank did not furnish CF-777: for it the record does not exist.
            let stranger = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_FurnishService.Client(wrapping: client).correctRecord(request: ClientRequest(message: correction), options: fastCall)
                }
            }
            #expect(stranger?.code == .notFound)

            let changed = try await bureau.withClient("furnisher") { client in
                try await Bureau_FurnishService.Client(wrapping: client).correctRecord(request: ClientRequest(message: correction), options: fastCall)
            }
            let entry = try #require(bureau.logEntries().first { $0.index == changed.receipt.entryIndex })
            #expect(entry.entry.action == .furnishCorrect)
            #expect(entry.entry.changeDigest.count == 64)
            #expect(try await report(bureau).report.accounts.first?.balance.minorUnits == 123_000)

            var deletion = Bureau_DeleteRecordRequest()
            deletion.requestID = "del-1"
            deletion.ref = correction.ref
            deletion.reason = "furnished in error"
            let refused = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_FurnishService.Client(wrapping: client).deleteRecord(request: ClientRequest(message: deletion), options: fastCall)
                }
            }
            #expect(refused?.code == .notFound)
            _ = try await bureau.withClient("furnisher") { client in
                try await Bureau_FurnishService.Client(wrapping: client).deleteRecord(request: ClientRequest(message: deletion), options: fastCall)
            }
            #expect(try await report(bureau).report.accounts.isEmpty)
            let deletions = try bureau.logEntries().filter { $0.entry.action == .furnishDelete }
            #expect(deletions.count == 1)
        }
    }

    @Test("a category outside the furnisher's licence is PERMISSION_DENIED and nothing is applied")
    func unlicensedCategory() async throws {
        try await InProcessBureau.run { bureau in
            var request = Self.batch("batch-9")
            var judgment = Bureau_PublicRecord()
            judgment.recordID = "J-1"
            judgment.type = .courtJudgment
            judgment.authority = "Court"
            judgment.legalBasis.documentNumber = "(2025)川01民初1号"
            judgment.legalBasis.authority = "Court"
            judgment.legalBasis.date.year = 2025
            judgment.legalBasis.date.month = 1
            judgment.legalBasis.date.day = 2
            judgment.filed = judgment.legalBasis.date
            judgment.behaviourEnded = judgment.legalBasis.date
            request.subjects[0].publicRecords = [judgment]
            let error = await rpcError { _ = try await submit(bureau, request) }
            #expect(error?.code == .permissionDenied)
            #expect(error?.message.contains("public-record.court-judgment") == true)
            let entries = try bureau.logEntries()
            #expect(entries.allSatisfy { $0.entry.action != .furnishSubmit })
        }
    }

    @Test("a negative record stops being disclosed when its retention ends, and the purge deletes it with a log entry")
    func retentionAndPurge() async throws {
        try await InProcessBureau.run { bureau in
            var request = Self.batch("court-1")
            let today = CalendarDate(utcDayOf: bureau.clock.now)
            var judgment = Bureau_PublicRecord()
            judgment.recordID = "J-2021-9"
            judgment.type = .courtJudgment
            judgment.authority = "成都市武侯区人民法院"
            judgment.legalBasis.documentNumber = "(2021)川0107民初9号"
            judgment.legalBasis.authority = "成都市武侯区人民法院"
            judgment.legalBasis.date = .init(year: 2021, month: 3, day: 1)
            judgment.filed = judgment.legalBasis.date
            judgment.behaviourEnded = Bureau_CalendarDate(year: today.year, month: today.month, day: today.day)
            request.subjects[0].accounts = []
            request.subjects[0].publicRecords = [judgment]
            _ = try await submit(bureau, request, as: "court")
            #expect(try await report(bureau, purpose: .regulatorySupervision, as: "regulator").report.publicRecords.count == 1)

            // Five years after the behaviour ended the record is no longer disclosed...
            bureau.clock.advance(days: 5 * 366)
            let later = try await report(bureau, purpose: .regulatorySupervision, as: "regulator")
            #expect(later.report.publicRecords.isEmpty)
            #expect(later.report.header.withheld.isEmpty)
            // ...and the purge removes it, logged.
            let removed = try await bureau.daemon.purgeExpired()
            #expect(removed >= 1)
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.person)))
            let file = try bureau.store.read { try $0.file(key) }
            #expect(file?.publicRecords.isEmpty == true)
            let purge = try #require(bureau.logEntries().last { $0.entry.action == .retentionPurge })
            #expect(purge.entry.subjects.contains(key))
            #expect(try await bureau.daemon.purgeExpired() == 0)
        }
    }

    @Test("an individual report holds accounts, public records, list entries and query records")
    func completeIndividualReport() async throws {
        try await InProcessBureau.run { bureau in
            _ = try await report(bureau, "440305199207045670")
            let second = try await report(bureau, "440305199207045670")
            let report = second.report
            #expect(report.accounts.count == 1)
            #expect(report.accounts[0].category == "account.delinquency")
            #expect(report.accounts[0].legalBasis.documentNumber == "CF-LOAN-2021-9876")
            #expect(report.publicRecords.map(\.type) == [.enforcement])
            #expect(report.publicRecords[0].legalBasis.documentNumber.isEmpty == false)
            #expect(report.listEntries.map(\.list) == [Catalogue.severeUntrustworthinessList])
            #expect(report.listEntries[0].severity == .general)
            #expect(report.queries.count == 1, "the earlier query shows; the current one is logged after")
            #expect(report.queries.first?.institutionName == "Demo Commercial Bank")
        }
    }

    @Test("a business report holds registration, masked representative, accounts and list entries")
    func completeBusinessReport() async throws {
        try await InProcessBureau.run { bureau in
            var request = Bureau_BusinessReportRequest()
            request.identifier = DemoData.businessIdentifier
            request.purpose = .loanOrigination
            request.consentReference = standingConsent(DemoData.businessIdentifier, .loanOrigination)
            let response = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getBusinessReport(request: ClientRequest(message: request), options: fastCall)
            }
            #expect(response.report.registration.name == "北京示范制造有限公司")
            #expect(response.report.registration.legalRepresentative.identifier == "110105********002X")
            #expect(response.report.accounts.map(\.type) == [.businessLoan])
            #expect(response.report.listEntries.map(\.list) == [Catalogue.redList])
        }
    }

    @Test("a catalogue an operator loaded is the one served and enforced")
    func loadedCatalogue() async throws {
        var catalogue = Catalogue.default
        catalogue.version = 2
        catalogue.categories.removeAll { $0.code == PublicRecordType.taxArrears.category }
        try await InProcessBureau.run(prepare: { store in try store.write { try $0.putCatalogue(try catalogue.validated()) } }) { bureau in
            let response = try await bureau.withClient("regulator") { client in
                try await Bureau_CatalogService.Client(wrapping: client).listCategories(
                    request: ClientRequest(message: Bureau_ListCategoriesRequest()), options: fastCall
                )
            }
            #expect(response.version == 2)
            #expect(!response.categories.contains { $0.code == "public-record.tax-arrears" })
            #expect(response.categories.contains { $0.code == Catalogue.severeUntrustworthinessList && $0.feedsList })
        }
    }
}

extension Bureau_CalendarDate {
    init(year: Int, month: Int, day: Int) {
        self.init()
        self.year = Int32(year)
        self.month = Int32(month)
        self.day = Int32(day)
    }
}

@Suite("Bulk import")
struct ImportTests {
    static func withStore(bulkLoad: Bool = false, _ body: (Store, String) throws -> Void) throws {
        let folder = TestKeyFile.temporaryFolder("bureau-import")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try Store(folder: folder + "/data", configuration: .init(mapSize: 256 << 20, bulkLoad: bulkLoad))
        _ = try DemoData.seed(into: store, certificates: nil)
        try body(store, folder)
    }

    static func lines(_ count: Int) throws -> [String] {
        let generator = SyntheticData(furnishers: [DemoData.bank, DemoData.consumerFinance], today: CalendarDate(utcDayOf: Date()))
        let encoder = JSONEncoder()
        return try (0..<count).map { String(decoding: try encoder.encode(generator.person($0)), as: UTF8.self) }
    }

    @Test("synthetic people import with valid identifiers and land on file with their accounts")
    func imports() throws {
        try Self.withStore { store, folder in
            let path = folder + "/people.jsonl"
            try (try Self.lines(2500).joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            let before = try store.read { try $0.fileCount() }
            let summary = try Importer(store: store).importFile(at: path)
            #expect(summary.subjects == 2500)
            #expect(summary.records == 7500)
            #expect(summary.logEntries == 3)
            #expect(try store.read { try $0.fileCount() } == before + 2500)
            let generator = SyntheticData(furnishers: [DemoData.bank], today: CalendarDate(utcDayOf: Date()))
            let id = try ResidentIdentityNumber(parsing: generator.person(1234).identifier)
            let file = try store.read { try $0.file(store.key(for: .individual(id))) }
            #expect(file?.accounts.count == 3)
        }
    }

    /// Lines of every shape the bulk format has: nulls, public records, list entries, legal bases, spaces.
    static let shapes: [String] = [
        #"{"furnisher":"91110000100000016D","kind":"individual","identifier":"11010519491231002X","name":"王建国","date":"1949-12-31","phone":null,"address":{"province":"北京市","city":"北京市","detail":"建设路 50 号"},"accounts":null,"public_records":[{"record_id":"PR-1","type":"civil-judgment","authority":"北京市第一中级人民法院","legal_basis":{"document_number":"(2024)京01民初1号","authority":"法院","date":"2024-01-02"},"amount":{"minor_units":-120,"currency":"CNY"},"filed":"2024-01-02","behaviour_ended":null,"description":"说明"}],"list_entries":[{"record_id":"LE-1","list":"dishonest","severity":null,"reason":"判决","legal_basis":null,"listed":"2024-02-01","publicity_ends":"2027-02-01"}]}"#,
        #" { "furnisher" : "91110000100000016D" , "kind":"organization","identifier":"91110000100000016D","name":"公司","date":"2001-01-01","address":{"province":"p","city":"c","detail":"d"},"legal_representative":{"name":"李","identifier":"11010519491231002X"},"accounts":[{"account_number":"A-1","type":"credit-card","opened":"2020-01-01","limit":{"minor_units":0,"currency":"CNY"},"balance":{"currency":"CNY","minor_units":9223372036854775807},"status":"closed","payment_history":"0","closed":"2021-01-01","legal_basis":null,"behaviour_ended":"2021-01-01"}],"public_records":[],"list_entries":null}\#t"#,
        #"{"furnisher":"x","kind":"individual","identifier":"1","name":"a"b","date":"d","address":{"province":"p","city":"c","detail":"d"}}"#,
        #"{"furnisher":"x","kind":"individual","identifier":"1","name":"a","date":"d","address":{"province":"p","city":"c","detail":"d"},"extra":1}"#,
        #"{"furnisher":"x","furnisher":"y","kind":"individual","identifier":"1","name":"a","date":"d","address":{"province":"p","city":"c","detail":"d"}}"#,
        #"{"furnisher":"x","kind":"individual","identifier":"1","name":"a","date":"d","address":{"province":"p","city":"c","detail":"d"},"accounts":[{"account_number":"A","type":"t","opened":"o","limit":{"minor_units":1.0,"currency":"C"},"balance":{"minor_units":-0,"currency":"C"},"status":"s","payment_history":"0"}]}"#,
        #"{"furnisher":"x","kind":"individual","identifier":"1","name":"a","date":"d","address":{"province":"p","city":"c","detail":"d"},"accounts":[{"account_number":"A","type":"t","opened":"o","limit":{"minor_units":01,"currency":"C"},"balance":{"minor_units":9223372036854775808,"currency":"C"},"status":"s","payment_history":"0"}]}"#,
    ]

    @Test("the importer's fast reader gives what JSONDecoder gives, or gives up: on synthetic lines, every shape of the format, and each of them mutated byte by byte")
    func fastReaderAgreesWithJSONDecoder() throws {
        let synthetic = try Self.lines(20).map { Array($0.utf8) }
        let shapes = Self.shapes.map { Array($0.utf8) }
        let decoder = JSONDecoder()
        var read = 0
        var disagreements: [String] = []
        func check(_ line: [UInt8]) {
            guard let fast = SubjectLineParser.parse(line) else { return }
            read += 1
            let decoded = try? decoder.decode(SubjectLine.self, from: Data(line))
            if fast != decoded, disagreements.count < 5 { disagreements.append(String(decoding: line, as: UTF8.self)) }
        }
        for line in synthetic + shapes { check(line) }
        // Every synthetic line and the first two shapes are read by the fast reader (the others are for it to give up on).
        #expect(read == synthetic.count + 2)
        // Each byte of a line and the first shapes replaced, or dropped: whatever the reader accepts, JSONDecoder reads alike.
        let replacements: [UInt8] = [0x22, 0x5C, 0x2C, 0x3A, 0x7D, 0x5D, 0x30, 0x2D, 0x20, 0x00, 0xC3, 0xFF, 0x6E]
        for line in [synthetic[0]] + shapes.prefix(2) {
            for i in line.indices {
                var dropped = line
                dropped.remove(at: i)
                check(dropped)
                for byte in replacements where byte != line[i] {
                    var mutated = line
                    mutated[i] = byte
                    check(mutated)
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
    }

    @Test("a bad line stops the import with its number, field and rule, and nothing is written", arguments: [
        ("{\"furnisher\": 1}", "not a subject line"),
        ("not json", "not a subject line"),
        ("BAD_ID", "subject.identifier: check character"),
        ("BAD_STATUS", "subject.accounts[0].status"),
        ("BAD_FURNISHER", "furnisher: 91110000600037341L is not a registered furnisher"),
        ("NO_RECORD", "subject: 91110000100000016D holds no record on this file"),
    ])
    func badLine(replacement: String, message: String) throws {
        try Self.withStore { store, folder in
            var lines = try Self.lines(30)
            var line = try JSONDecoder().decode(SubjectLine.self, from: Data(lines[17].utf8))
            switch replacement {
            case "BAD_ID": line.identifier = "110101199001011234"
            case "BAD_STATUS": line.accounts?[0].status = "sometimes"
            case "BAD_FURNISHER": line.furnisher = "91110000600037341L"
            case "NO_RECORD":
                // A person of the file with identity facts and no record of the furnisher's own.
                line.furnisher = DemoData.bank.value
                line.accounts = []
            default: break
            }
            lines[17] = replacement.hasPrefix("BAD_") || replacement == "NO_RECORD" ? String(decoding: try JSONEncoder().encode(line), as: UTF8.self) : replacement
            let path = folder + "/bad.jsonl"
            try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            let (files, log) = try store.read { (try $0.fileCount(), try $0.logSize()) }
            do {
                _ = try Importer(store: store).importFile(at: path)
                Issue.record("the import succeeded")
            } catch let error as Importer.LineError {
                #expect(error.line == 18)
                #expect(error.message.contains(message), "\(error.message)")
            }
            let after = try store.read { (try $0.fileCount(), try $0.logSize()) }
            #expect(after == (files, log))
        }
    }

    @Test("an import that holds the data folder alone (bureau import's way when no bureaud runs) keeps other openers out with a clear error, and leaves its files to the next opener")
    func heldAlone() throws {
        let folder = TestKeyFile.temporaryFolder("bureau-import")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = folder + "/data"
        let seeded = try {
            let store = try Store(folder: data, configuration: .init(mapSize: 256 << 20))
            _ = try DemoData.seed(into: store, certificates: nil)
            return try store.read { try $0.fileCount() }
        }()
        let path = folder + "/people.jsonl"
        try (try Self.lines(300).joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try {
            let store = try Store(folder: data, configuration: .init(mapSize: 256 << 20, bulkLoad: true))
            #expect((store.backend as? LMDBStorage)?.isHeldAlone == true)
            let refused = try #require(throws: BureauError.self) { _ = try Store(folder: data) }
            #expect(refused.code == .unavailable)
            #expect(refused.message.contains("bulk"), "\(refused.message)")
            #expect(try Importer(store: store).importFile(at: path).subjects == 300)
        }()
        let store = try Store(folder: data, configuration: .init(mapSize: 256 << 20))
        #expect((store.backend as? LMDBStorage)?.isHeldAlone == false)
        #expect(try store.read { try $0.fileCount() } == seeded + 300)
        let generator = SyntheticData(furnishers: [DemoData.bank], today: CalendarDate(utcDayOf: Date()))
        let id = try ResidentIdentityNumber(parsing: generator.person(299).identifier)
        #expect(try store.read { try $0.file(store.key(for: .individual(id))) }?.accounts.count == 3)
    }

    @Test("an import of several batches (parsed and sealed while the ones before are written, its keys streamed to the key store; held alone, as bureau import runs) lands whole, a subject furnished again late in the file included; a bad line in a later batch writes nothing, not even a key")
    func severalBatches() throws {
        try Self.withStore(bulkLoad: true) { store, folder in
            #expect((store.backend as? LMDBStorage)?.isHeldAlone == true)
            // Four batches of 4,096 lines and part of a fifth: over 65,536 data keys, so that they stream to the key
            // store while the import goes on; the last line furnishes the first person again, whose identity was
            // sealed (and its key streamed) long before.
            var lines = try Self.lines(4 * 4096 + 500)
            var again = try JSONDecoder().decode(SubjectLine.self, from: Data(lines[0].utf8))
            again.accounts = [try #require(again.accounts?.first)]
            again.accounts?[0].accountNumber = "6222999900001111"
            let path = folder + "/people.jsonl"
            try ((lines + [String(decoding: try JSONEncoder().encode(again), as: UTF8.self)]).joined(separator: "\n") + "\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            let before = try store.read { try $0.fileCount() }
            let summary = try Importer(store: store).importFile(at: path)
            #expect(summary.subjects == lines.count + 1)
            #expect(summary.logEntries == 17)
            #expect(try store.read { try $0.fileCount() } == before + lines.count)
            let first = try store.read { try $0.file(store.key(for: .individual(try ResidentIdentityNumber(parsing: again.identifier)))) }
            #expect(first?.accounts.count == 4)
            #expect(first?.accounts.contains { $0.accountNumber == "6222999900001111" } == true)
            #expect(first?.subject != nil)

            // Into a fresh store: line 16,800 (in the fifth batch, after keys began to stream) is bad.
            try Self.withStore(bulkLoad: true) { fresh, folder in
                var line = try JSONDecoder().decode(SubjectLine.self, from: Data(lines[16_799].utf8))
                line.accounts?[0].status = "sometimes"
                lines[16_799] = String(decoding: try JSONEncoder().encode(line), as: UTF8.self)
                let bad = folder + "/bad.jsonl"
                try lines.joined(separator: "\n").write(toFile: bad, atomically: true, encoding: .utf8)
                let (files, log) = try fresh.read { (try $0.fileCount(), try $0.logSize()) }
                let keys = try fresh.backend.protection.keyStore.allKeys().count
                let error = try #require(throws: Importer.LineError.self) { _ = try Importer(store: fresh).importFile(at: bad) }
                #expect(error.line == 16_800)
                #expect(error.message.contains("subject.accounts[0].status"), "\(error.message)")
                #expect(try fresh.read { (try $0.fileCount(), try $0.logSize()) } == (files, log))
                #expect(try fresh.backend.protection.keyStore.allKeys().count == keys)
            }
        }
    }
}
