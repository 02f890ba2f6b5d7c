import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauWire
import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2
import Testing

/// Identity facts belong to the furnisher that reported them (issue 12, item 2): a furnisher without a
/// record on the file cannot rewrite a person's identity, each furnisher changes only its own facts, and
/// the subject's own report lists every source with its dates.
@Suite("Identity sources over the API", .serialized)
struct IdentitySourceTests {
    /// The demo person as `who` reports them, with no record.
    static func identityOnly(name: String = "王建国", phone: String, province: String = "北京市", city: String = "北京市", detail: String) -> Bureau_SubjectRecord {
        var record = Bureau_SubjectRecord()
        record.kind = .individual
        record.identifier = DemoData.personIdentifier
        record.name = name
        record.date.year = 1949
        record.date.month = 12
        record.date.day = 31
        record.phone = phone
        record.address.province = province
        record.address.city = city
        record.address.detail = detail
        return record
    }

    func submit(_ bureau: InProcessBureau, as who: String, batch: String, _ subject: Bureau_SubjectRecord) async throws -> Bureau_SubmitRecordsResponse {
        var request = Bureau_SubmitRecordsRequest()
        request.batchID = batch
        request.subjects = [subject]
        return try await bureau.withClient(who) { client in
            try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
        }
    }

    func bankReport(_ bureau: InProcessBureau) async throws -> Bureau_IndividualReport {
        try await bureau.withClient("bank") { client in
            try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                request: ClientRequest(message: individualRequest()), options: fastCall
            )
        }.report
    }

    func ownReport(_ bureau: InProcessBureau, kind: Bureau_SubjectKind = .individual, id: String = DemoData.personIdentifier, request: String) async throws -> Bureau_OwnReportResponse {
        var subject = Bureau_SubjectRequest()
        subject.requestID = request
        subject.subjectKind = kind
        subject.subjectIdentifier = id
        return try await bureau.withClient("channel") { client in
            try await Bureau_SubjectService.Client(wrapping: client).getOwnReport(request: ClientRequest(message: subject), options: fastCall)
        }
    }

    @Test("a furnisher with no record on a person cannot rewrite the identity: FAILED_PRECONDITION, nothing changes")
    func noRecordNoVoice() async throws {
        try await InProcessBureau.run { bureau in
            let before = try bureau.logEntries().count
            // The court holds records on other people, none on the demo person.
            let refused = await rpcError {
                _ = try await submit(
                    bureau, as: "court", batch: "court-rewrite",
                    Self.identityOnly(name: "李四", phone: "13999999999", province: "广东省", city: "广州市", detail: "天河路 1 号")
                )
            }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.hasPrefix("subjects[0]: ") == true)
            #expect(refused?.message.contains("holds no record on this file") == true)
            #expect(try bureau.logEntries().count == before)

            let identity = try await bankReport(bureau).identity
            #expect(identity.name == "王**")
            #expect(identity.phone == "138****5678")
            #expect(identity.address.province == "北京市")
            let own = try await ownReport(bureau, request: "own-1").individual.identity
            #expect(own.name == "王建国")
            #expect(own.phone == "13812345678")
            #expect(own.address.detail == "东城区建国门内大街 18 号")
        }
    }

    @Test("each lender changes only its own facts; the best value is the latest non-empty; the own report lists every source with its dates")
    func ownedFacts() async throws {
        try await InProcessBureau.run { bureau in
            let seeded = CalendarDate(utcDayOf: bureau.clock.now)
            // A day later the bank, which holds accounts on the person, reports a new phone and nothing else.
            bureau.clock.advance(days: 1)
            _ = try await submit(bureau, as: "bank", batch: "bank-phone", Self.identityOnly(phone: "13700001111", detail: "东城区建国门内大街 18 号"))
            #expect(try await bankReport(bureau).identity.phone == "137****1111")

            // Another day later the consumer finance lender reports a new street and no phone: its later
            // facts win where they say something, and do not erase the bank's phone.
            bureau.clock.advance(days: 1)
            _ = try await submit(bureau, as: "furnisher", batch: "cf-address", Self.identityOnly(phone: "", detail: "朝阳区光华路 9 号"))
            let own = try await ownReport(bureau, request: "own-1").individual
            #expect(own.identity.phone == "13700001111")
            #expect(own.identity.address.detail == "朝阳区光华路 9 号")

            // Every source, best first, with its dates, unmasked.
            #expect(own.identitySources.map(\.furnisherCode) == [DemoData.consumerFinance.value, DemoData.bank.value])
            #expect(own.identitySources.map(\.furnisherName) == ["Demo Consumer Finance", "Demo Commercial Bank"])
            #expect(own.identitySources.map(\.reported) == [Bureau_CalendarDate(CalendarDate(daysSinceEpoch: seeded.daysSinceEpoch + 2)), Bureau_CalendarDate(CalendarDate(daysSinceEpoch: seeded.daysSinceEpoch + 1))])
            #expect(own.identitySources.map(\.firstReported) == [Bureau_CalendarDate(seeded), Bureau_CalendarDate(seeded)])
            #expect(own.identitySources.map(\.person.phone) == ["", "13700001111"])
            #expect(own.identitySources.map(\.person.address.detail) == ["朝阳区光华路 9 号", "东城区建国门内大街 18 号"])
            #expect(own.identitySources.allSatisfy { $0.counted })
            // Agencies get the best value, masked, and no sources.
            let agency = try await bankReport(bureau)
            #expect(agency.identitySources.isEmpty)
            #expect(agency.identity.phone == "137****1111")

            // When the lender deletes its only record, its facts stop counting but stay visible to the subject.
            var deletion = Bureau_DeleteRecordRequest()
            deletion.requestID = "cf-delete"
            deletion.ref.subjectKind = .individual
            deletion.ref.subjectIdentifier = DemoData.personIdentifier
            deletion.ref.kind = .account
            deletion.ref.recordID = "CF00001234"
            deletion.reason = "furnished in error"
            _ = try await bureau.withClient("furnisher") { client in
                try await Bureau_FurnishService.Client(wrapping: client).deleteRecord(request: ClientRequest(message: deletion), options: fastCall)
            }
            let after = try await ownReport(bureau, request: "own-2").individual
            #expect(after.identity.address.detail == "东城区建国门内大街 18 号")
            #expect(after.identitySources.map(\.counted) == [false, true])
            // And without a record it cannot report identity again.
            let refused = await rpcError {
                _ = try await submit(bureau, as: "furnisher", batch: "cf-again", Self.identityOnly(phone: "13600000000", detail: "朝阳区光华路 9 号"))
            }
            #expect(refused?.code == .failedPrecondition)
        }
    }

    @Test("a business's own report lists each furnisher's registration facts")
    func businessSources() async throws {
        try await InProcessBureau.run { bureau in
            let own = try await ownReport(bureau, kind: .business, id: DemoData.businessIdentifier, request: "own-b").business
            #expect(Set(own.identitySources.map(\.furnisherCode)) == [DemoData.bank.value, DemoData.court.value])
            #expect(own.identitySources.allSatisfy { $0.business.legalRepresentative.identifier == DemoData.personIdentifier && $0.counted })
            #expect(own.identitySources.allSatisfy { $0.hasReported && $0.hasFirstReported })
        }
    }
}
