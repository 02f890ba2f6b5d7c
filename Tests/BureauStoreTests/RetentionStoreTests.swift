import BureauCore
import BureauStore
import BureauLMDB
import Foundation
import Testing

@Suite("Retention purge")
struct RetentionStoreTests {
    static let court = try! UnifiedSocialCreditCode(parsing: "111100001000000593")
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let identifier = SubjectIdentifier.individual(try! ResidentIdentityNumber(parsing: "11010519491231002X"))
    static let person = CreditFile.Subject.person(
        PersonIdentity(name: "王建国", identifier: "11010519491231002X", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!,
                       phone: "", address: Address(province: "北京市", city: "北京市", detail: ""))
    )
    /// The day the behaviour of the judgments here ended.
    static let ended = CalendarDate(year: 2020, month: 6, day: 1)!

    static func judgment(_ id: String = "J-1", ended: CalendarDate = ended) -> CreditRecord {
        .publicRecord(
            PublicRecord(
                furnisher: court, recordID: id, type: .courtJudgment, authority: "Court",
                legalBasis: LegalBasis(documentNumber: "(2019)京01民初1号", authority: "Court", date: CalendarDate(year: 2019, month: 1, day: 1)!),
                amount: nil, filed: CalendarDate(year: 2019, month: 1, day: 1)!, behaviourEnded: ended, description: ""
            )
        )
    }

    /// The built-in catalogue with court judgments kept `years` years.
    static func catalogue(judgmentYears years: UInt32) throws -> Catalogue {
        var catalogue = Catalogue.default
        catalogue.version = 2
        let i = try #require(catalogue.categories.firstIndex { $0.code == PublicRecordType.courtJudgment.category })
        catalogue.categories[i].retentionYears = years
        return try catalogue.validated()
    }

    /// A store holding one file with `records`, furnished under the built-in catalogue.
    func withFile(_ records: [CreditRecord], _ body: (Store, SubjectKey) throws -> Void) async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            let key = store.key(for: Self.identifier)
            try store.write { txn in
                try txn.putSubject(Self.person, for: key)
                for record in records { try txn.putRecord(record, for: key, catalogue: .default) }
            }
            try body(store, key)
        }
    }

    /// Purges as bureaud and `bureau purge` do: batches until nothing is left, under the catalogue in force.
    func purge(_ store: Store, on day: CalendarDate) throws -> Int {
        var total = 0
        while true {
            let removed = try store.write { txn in
                try txn.purgeExpired(onOrBefore: day, catalogue: try txn.storedCatalogue() ?? .default, time: Date())
            }
            total += removed
            if removed == 0 { return total }
        }
    }

    func purgeEntries(_ store: Store) throws -> [AccessLogEntry] {
        try store.read { try $0.logEntries(from: 0, limit: 1000) }.map(\.entry).filter { $0.action == .retentionPurge }
    }

    @Test("after a catalogue raises a category's retention, the purge keeps its records until the new end")
    func raisedRetention() async throws {
        try await withFile([Self.judgment()]) { store, key throws in
            try store.write { try $0.putCatalogue(try Self.catalogue(judgmentYears: 7)) }
            // Five years after the behaviour the record is still within its (now seven-year) retention.
            #expect(try purge(store, on: CalendarDate(year: 2025, month: 6, day: 2)!) == 0)
            #expect(try store.read { try $0.file(key) }?.publicRecords.count == 1)
            #expect(try purge(store, on: CalendarDate(year: 2027, month: 5, day: 31)!) == 0)
            #expect(try purge(store, on: CalendarDate(year: 2027, month: 6, day: 1)!) == 1)
            #expect(try store.read { try $0.file(key) }?.publicRecords.isEmpty == true)
        }
    }

    @Test("after a catalogue lowers a category's retention, the purge deletes what is past the new end")
    func loweredRetention() async throws {
        try await withFile([Self.judgment()]) { store, key throws in
            try store.write { try $0.putCatalogue(try Self.catalogue(judgmentYears: 3)) }
            #expect(try purge(store, on: CalendarDate(year: 2023, month: 5, day: 31)!) == 0)
            #expect(try purge(store, on: CalendarDate(year: 2023, month: 6, day: 1)!) == 1)
            #expect(try store.read { try $0.file(key) }?.publicRecords.isEmpty == true)
            #expect(try purgeEntries(store).count == 1)
        }
    }

    @Test("a purge batch that deletes one record reports one and writes one log entry, with a request id of its own")
    func oneEntryPerBatch() async throws {
        try await withFile([Self.judgment()]) { store, key throws in
            try store.write { try $0.putCatalogue(try Self.catalogue(judgmentYears: 7)) }
            let day = CalendarDate(year: 2030, month: 1, day: 1)!
            #expect(try purge(store, on: day) == 1)
            var entries = try purgeEntries(store)
            #expect(entries.count == 1)
            #expect(entries.first?.reason.hasPrefix("1 record") == true, "\(entries.first?.reason ?? "")")
            #expect(entries.first?.subjects == [key])

            // A second purge the same day gets its own request id.
            try store.write { try $0.putRecord(Self.judgment("J-2"), for: key, catalogue: .default) }
            #expect(try purge(store, on: day) == 1)
            entries = try purgeEntries(store)
            #expect(entries.count == 2)
            #expect(Set(entries.map(\.requestID)).count == 2)
        }
    }

    @Test("the purge masks the expired late months of a settled account and keeps the account")
    func settledAccountWithOldLateMonths() async throws {
        let settled = Account(
            furnisher: Self.bank, accountNumber: "LOAN-1", type: .personalLoan, opened: CalendarDate(year: 2015, month: 1, day: 1)!,
            limit: Money(minorUnits: 1_000_000, currency: "CNY"), balance: Money(minorUnits: 0, currency: "CNY"),
            status: .settled, paymentHistory: "000000000000000000000120", closed: CalendarDate(year: 2020, month: 3, day: 31)!
        )
        try await withFile([.account(settled)]) { store, key throws in
            #expect(try purge(store, on: CalendarDate(year: 2025, month: 1, day: 30)!) == 0)
            #expect(try purge(store, on: CalendarDate(year: 2025, month: 1, day: 31)!) == 1)
            #expect(try store.read { try $0.file(key) }?.accounts.first?.paymentHistory == "000000000000000000000*20")
            #expect(try purge(store, on: CalendarDate(year: 2025, month: 3, day: 1)!) == 1)
            #expect(try store.read { try $0.file(key) }?.accounts.first?.paymentHistory == "000000000000000000000**0")
            #expect(try purge(store, on: CalendarDate(year: 2040, month: 1, day: 1)!) == 0)
            #expect(try store.read { try $0.file(key) }?.accounts.count == 1)
        }
    }

    @Test("dispute marks, disputes, statements and repair requests about a purged record are deleted with it")
    func attachmentsArePurged() async throws {
        let old = Self.judgment("J-OLD")
        let new = Self.judgment("J-NEW", ended: CalendarDate(year: 2025, month: 1, day: 1)!)
        try await withFile([old, new]) { store, key throws in
            let filed = CalendarDate(year: 2021, month: 1, day: 1)!
            try store.write { txn in
                for (id, record) in [("D-OLD", old), ("D-NEW", new)] {
                    try txn.putDispute(Dispute(id: id, subject: key, record: record.reference, filed: filed, description: "not mine"))
                    try txn.putDispute(DisputeMark(id: id, record: record.reference, filed: filed, description: "not mine"), for: key)
                }
                try txn.putStatement(Statement(id: "S-OLD", text: "paid", added: filed, about: old.reference), for: key)
                try txn.putStatement(Statement(id: "S-NEW", text: "appealed", added: filed, about: new.reference), for: key)
                try txn.putStatement(Statement(id: "S-FILE", text: "hello", added: filed, about: nil), for: key)
                try txn.putRepair(
                    Repair(id: "R-OLD", subject: key, record: old.reference, requested: filed, rectification: "paid", evidenceDigest: "")
                )
            }
            #expect(try purge(store, on: CalendarDate(year: 2026, month: 1, day: 1)!) == 1)
            let file = try #require(try store.read { try $0.file(key) })
            #expect(file.publicRecords.map(\.recordID) == ["J-NEW"])
            #expect(file.disputes.map(\.id) == ["D-NEW"])
            #expect(file.statements.map(\.id).sorted() == ["S-FILE", "S-NEW"])
            #expect(try store.read { try $0.dispute("D-OLD") } == nil)
            #expect(try store.read { try $0.dispute("D-NEW") } != nil)
            #expect(try store.read { try $0.openDisputes(of: Self.court) }.map(\.id) == ["D-NEW"])
            #expect(try store.read { try $0.repair("R-OLD") } == nil)
        }
    }

    @Test("an index written before anchors (end days fixed at furnishing) is rebuilt at the first purge and follows the catalogue")
    func legacyIndexIsRebuilt() async throws {
        try await withFile([Self.judgment()]) { store, key throws in
            // Put the index back as the old layout had it: the end day under the catalogue of the day it was furnished.
            let lmdb = try #require(store.backend as? LMDBStorage)
            let keys = try lmdb.rawEntries(of: "index.retention").map(\.key)
            #expect(keys.count == 1)
            let end = UInt32(CalendarDate(year: 2025, month: 6, day: 1)!.daysSinceEpoch).bigEndian
            let recordKey = key.bytes + [2] + Array(Self.court.value.utf8) + Array("J-1".utf8)
            try lmdb.rawWrite(in: "index.retention", deleting: keys, putting: [(withUnsafeBytes(of: end) { Array($0) } + recordKey, [])])
            try store.write { try $0.putCatalogue(try Self.catalogue(judgmentYears: 3)) }
            #expect(try purge(store, on: CalendarDate(year: 2023, month: 6, day: 1)!) == 1)
            #expect(try store.read { try $0.file(key) }?.publicRecords.isEmpty == true)
            let left = try lmdb.rawEntries(of: "index.retention").count
            #expect(left == 0)
        }
    }
}
