import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2
import Testing

@Suite("Retention over the API", .serialized)
struct RetentionServiceTests {
    static let person = CreditFileServiceTests.person

    static func wire(_ date: CalendarDate) -> Bureau_CalendarDate {
        Bureau_CalendarDate(year: date.year, month: date.month, day: date.day)
    }

    /// A batch from the court with one judgment whose behaviour ended on `ended`.
    static func judgment(_ batch: String, id: String = "J-2021-9", ended: CalendarDate) -> Bureau_SubmitRecordsRequest {
        var request = CreditFileServiceTests.batch(batch)
        var judgment = Bureau_PublicRecord()
        judgment.recordID = id
        judgment.type = .courtJudgment
        judgment.authority = "成都市武侯区人民法院"
        judgment.legalBasis.documentNumber = "(2019)川0107民初9号"
        judgment.legalBasis.authority = "成都市武侯区人民法院"
        judgment.legalBasis.date = .init(year: 2019, month: 3, day: 1)
        judgment.filed = judgment.legalBasis.date
        judgment.behaviourEnded = wire(ended)
        request.subjects[0].accounts = []
        request.subjects[0].publicRecords = [judgment]
        return request
    }

    func submit(_ bureau: InProcessBureau, _ request: Bureau_SubmitRecordsRequest, as who: String) async throws -> Bureau_SubmitRecordsResponse {
        try await bureau.withClient(who) { client in
            try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
        }
    }

    func regulatorReport(_ bureau: InProcessBureau, _ id: String = person) async throws -> Bureau_IndividualReport {
        try await bureau.withClient("regulator") { client in
            try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                request: ClientRequest(message: individualRequest(id, purpose: .regulatorySupervision)), options: fastCall
            )
        }.report
    }

    func channel<T: Sendable>(_ bureau: InProcessBureau, _ body: @Sendable (Bureau_SubjectService.Client<InProcessTransport.Client>) async throws -> T) async throws -> T {
        try await bureau.withClient("channel") { client in try await body(Bureau_SubjectService.Client(wrapping: client)) }
    }

    static func subject(_ request: String) -> Bureau_SubjectRequest {
        var s = Bureau_SubjectRequest()
        s.requestID = request
        s.subjectKind = .individual
        s.subjectIdentifier = person
        return s
    }

    static func ref(_ id: String = "J-2021-9") -> Bureau_SubjectRecordRef {
        var ref = Bureau_SubjectRecordRef()
        ref.kind = .publicRecord
        ref.furnisher = DemoData.court.value
        ref.recordID = id
        return ref
    }

    func dispute(_ bureau: InProcessBureau, _ request: String) async throws -> Bureau_DisputeResponse {
        var dispute = Bureau_DisputeRequest()
        dispute.subject = Self.subject(request)
        dispute.record = Self.ref()
        dispute.description_p = "The judgment was satisfied in full"
        return try await channel(bureau) { [dispute] in try await $0.fileDispute(request: ClientRequest(message: dispute), options: fastCall) }
    }

    func statement(_ bureau: InProcessBureau, _ request: String) async throws -> Bureau_ProtectionResponse {
        var statement = Bureau_StatementRequest()
        statement.subject = Self.subject(request)
        statement.text = "Paid on the day of the judgment."
        statement.about = Self.ref()
        return try await channel(bureau) { [statement] in try await $0.addStatement(request: ClientRequest(message: statement), options: fastCall) }
    }

    @Test("dispute marks and statements follow their record: hidden when it expires, refused on it, deleted when it is purged")
    func attachmentsFollowTheRecord() async throws {
        try await InProcessBureau.run { bureau in
            let today = CalendarDate(utcDayOf: bureau.clock.now)
            _ = try await submit(bureau, Self.judgment("court-1", ended: today), as: "court")
            let filed = try await dispute(bureau, "d-1")
            _ = try await statement(bureau, "s-1")
            let before = try await regulatorReport(bureau)
            #expect(before.disputes.map(\.recordID) == ["J-2021-9"])
            #expect(before.statements.count == 1)

            // Past the record's retention, nothing names it any more...
            bureau.clock.advance(days: 5 * 366)
            let after = try await regulatorReport(bureau)
            #expect(after.publicRecords.isEmpty)
            #expect(after.disputes.isEmpty)
            #expect(after.statements.isEmpty)
            // ...and nothing new can be filed on it: for the subject it no longer exists.
            let disputeRefused = await rpcError { _ = try await dispute(bureau, "d-2") }
            #expect(disputeRefused?.code == .notFound)
            let statementRefused = await rpcError { _ = try await statement(bureau, "s-2") }
            #expect(statementRefused?.code == .notFound)
            let open = try await bureau.withClient("court") { client in
                try await Bureau_FurnishService.Client(wrapping: client).listOpenDisputes(request: ClientRequest(message: .init()), options: fastCall)
            }
            #expect(open.disputes.isEmpty, "the court is not asked about a record that no longer exists")
            let overdue = try await bureau.withClient("regulator") { client in
                try await Bureau_OversightService.Client(wrapping: client).listOverdueDisputes(request: ClientRequest(message: .init()), options: fastCall)
            }
            #expect(!overdue.disputes.contains { $0.disputeID == filed.disputeID })

            // The purge deletes the record with its marks, statements and dispute.
            #expect(try await bureau.daemon.purgeExpired() >= 1)
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.person)))
            let file = try #require(try bureau.store.read { try $0.file(key) })
            #expect(file.publicRecords.isEmpty && file.disputes.isEmpty && file.statements.isEmpty)
            #expect(try bureau.store.read { try $0.dispute(filed.disputeID) } == nil)
            let openAfter = try await bureau.withClient("court") { client in
                try await Bureau_FurnishService.Client(wrapping: client).listOpenDisputes(request: ClientRequest(message: .init()), options: fastCall)
            }
            #expect(openAfter.disputes.isEmpty)
        }
    }

    @Test("a record whose retention ended before it was furnished is refused with FAILED_PRECONDITION naming the end, and nothing is applied")
    func expiredAtFurnishing() async throws {
        try await InProcessBureau.run { bureau in
            let today = CalendarDate(utcDayOf: bureau.clock.now)
            let ended = today.adding(years: -6)
            let error = await rpcError { _ = try await submit(bureau, Self.judgment("court-old", ended: ended), as: "court") }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message.contains("subjects[0].public_records[0].behaviour_ended") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(ended.adding(years: 5).description) == true, "\(error?.message ?? "")")
            #expect(try bureau.logEntries().allSatisfy { $0.entry.action != .furnishSubmit })
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.person)))
            #expect(try bureau.store.read { try $0.hasFile(key) } == false)
        }
    }

    @Test("disclosed negative records carry their retention end; positive accounts carry none")
    func retentionEndsOnTheWire() async throws {
        try await InProcessBureau.run { bureau in
            let li = try await regulatorReport(bureau, "310104198503121235")
            let late = try #require(li.accounts.first { $0.accountNumber.hasSuffix("8877") })
            #expect(late.retentionEnds == Bureau_CalendarDate(year: 2031, month: 10, day: 31))
            let closed = try #require(li.accounts.first { $0.accountNumber.hasSuffix("5521") })
            #expect(!closed.hasRetentionEnds)
            let chen = try await regulatorReport(bureau, "440305199207045670")
            #expect(chen.publicRecords.map(\.retentionEnds) == [Bureau_CalendarDate(year: 2031, month: 10, day: 31)])
            #expect(chen.listEntries.map(\.retentionEnds) == [Bureau_CalendarDate(year: 2028, month: 4, day: 1)])
        }
    }

    @Test("late months of a settled account leave its history and the score 5 years after their month, and the purge masks them")
    func settledAccountWithOldLateMonths() async throws {
        try await InProcessBureau.run { bureau in
            let today = CalendarDate(utcDayOf: bureau.clock.now)
            // Settled last month; 30 days late the month before.
            let closed = CalendarDate(daysSinceEpoch: CalendarDate(year: today.year, month: today.month, day: 1)!.daysSinceEpoch - 1)
            var request = CreditFileServiceTests.batch("settled-1")
            request.subjects[0].accounts[0].status = .settled
            request.subjects[0].accounts[0].closed = Self.wire(closed)
            request.subjects[0].accounts[0].paymentHistory = "0000000010"
            _ = try await submit(bureau, request, as: "furnisher")
            let now = try await regulatorReport(bureau)
            #expect(now.accounts.first?.paymentHistory == "0000000010")
            #expect(now.score.reasons.contains { $0.text.hasPrefix("Late payments") })

            bureau.clock.advance(days: 5 * 366)
            let later = try await regulatorReport(bureau)
            #expect(later.accounts.first?.paymentHistory == "00000000*0")
            #expect(!later.score.reasons.contains { $0.text.hasPrefix("Late payments") })

            _ = try await bureau.daemon.purgeExpired()
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.person)))
            #expect(try bureau.store.read { try $0.file(key) }?.accounts.first?.paymentHistory == "00000000*0")
            let purge = try #require(bureau.logEntries().last { $0.entry.action == .retentionPurge })
            #expect(purge.entry.subjects.contains(key))
        }
    }

    @Test("bureaud's purge follows a catalogue loaded while it runs")
    func purgeFollowsTheCatalogueInForce() async throws {
        try await InProcessBureau.run { bureau in
            let today = CalendarDate(utcDayOf: bureau.clock.now)
            _ = try await submit(bureau, Self.judgment("court-2", ended: today.adding(years: -2)), as: "court")
            var catalogue = Catalogue.default
            catalogue.version = 2
            let i = try #require(catalogue.categories.firstIndex { $0.code == PublicRecordType.courtJudgment.category })
            catalogue.categories[i].retentionYears = 1
            try bureau.store.write { try $0.putCatalogue(try catalogue.validated()) }
            #expect(try await bureau.daemon.purgeExpired() == 1)
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.person)))
            #expect(try bureau.store.read { try $0.file(key) }?.publicRecords.isEmpty == true)
        }
    }
}
