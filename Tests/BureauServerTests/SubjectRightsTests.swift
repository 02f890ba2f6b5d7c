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

@Suite("Subject rights", .serialized)
struct SubjectRightsTests {
    static func subject(_ id: String = DemoData.personIdentifier, request: String = "r-1") -> Bureau_SubjectRequest {
        var s = Bureau_SubjectRequest()
        s.requestID = request
        s.subjectKind = .individual
        s.subjectIdentifier = id
        return s
    }

    func channel<T: Sendable>(_ bureau: InProcessBureau, _ body: @Sendable (Bureau_SubjectService.Client<InProcessTransport.Client>) async throws -> T) async throws -> T {
        try await bureau.withClient("channel") { client in try await body(Bureau_SubjectService.Client(wrapping: client)) }
    }

    @Test("the subject's own report is unmasked; two a year are free, the third is chargeable")
    func ownReport() async throws {
        try await InProcessBureau.run { bureau in
            var answers: [Bureau_OwnReportResponse] = []
            for n in 0..<3 {
                answers.append(try await channel(bureau) { try await $0.getOwnReport(request: ClientRequest(message: Self.subject(request: "own-\(n)")), options: fastCall) })
            }
            #expect(answers[0].individual.identity.identifier == DemoData.personIdentifier)
            #expect(answers.map(\.chargeable) == [false, false, true])
            #expect(answers.map(\.selfQueriesThisYear) == [1, 2, 3])
            let entry = try bureau.logEntries().first { $0.index == answers[2].receipt.entryIndex }
            #expect(entry?.entry.reason.hasPrefix("chargeable self-query 3") == true)
        }
    }

    @Test("the access history lists who asked, granted or not, each with a receipt in the log")
    func accessHistory() async throws {
        try await InProcessBureau.run { bureau in
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
            }
            _ = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest(purpose: .employmentScreening)), options: fastCall
                    )
                }
            }
            let history = try await channel(bureau) { try await $0.getAccessHistory(request: ClientRequest(message: Self.subject()), options: fastCall) }
            #expect(history.items.map(\.outcome) == ["denied", "hit"])
            #expect(history.items.allSatisfy { $0.institutionName == "Demo Commercial Bank" })
            let logged = try bureau.logEntries()
            for item in history.items {
                #expect(Array(item.receipt.leafHash) == logged[Int(item.receipt.entryIndex)].leafHash)
            }
        }
    }

    @Test("a dispute marks the record on every report until the furnisher answers; overdue ones reach regulators")
    func disputes() async throws {
        try await InProcessBureau.run { bureau in
            var dispute = Bureau_DisputeRequest()
            dispute.subject = Self.subject()
            dispute.record.kind = .account
            dispute.record.furnisher = DemoData.bank.value
            dispute.record.recordID = "6222020200112233"
            dispute.description_p = "I never missed a payment on this card"
            let filed = try await channel(bureau) { [dispute] in try await $0.fileDispute(request: ClientRequest(message: dispute), options: fastCall) }
            var statement = Bureau_StatementRequest()
            statement.subject = Self.subject(request: "st-1")
            statement.text = "The card was stolen in 2025; see police report 2025-117."
            _ = try await channel(bureau) { [statement] in try await $0.addStatement(request: ClientRequest(message: statement), options: fastCall) }

            let report = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
            }
            #expect(report.report.accounts.first { $0.accountNumber.hasSuffix("2233") }?.disputed == true)
            #expect(report.report.disputes.map(\.recordID) == ["6222020200112233"])
            #expect(report.report.statements.map(\.text) == [statement.text])

            let open = try await bureau.withClient("bank") { client in
                try await Bureau_FurnishService.Client(wrapping: client).listOpenDisputes(request: ClientRequest(message: .init()), options: fastCall)
            }
            #expect(open.disputes.map(\.disputeID) == [filed.disputeID])
            #expect(open.disputes.first?.overdue == false)

            // 21 days later the dispute is overdue, and regulators see it.
            bureau.clock.advance(days: 21)
            let overdue = try await bureau.withClient("regulator") { client in
                try await Bureau_OversightService.Client(wrapping: client).listOverdueDisputes(request: ClientRequest(message: .init()), options: fastCall)
            }
            #expect(overdue.disputes.map(\.disputeID) == [filed.disputeID])

            var answer = Bureau_AnswerDisputeRequest()
            answer.requestID = "ans-1"
            answer.disputeID = filed.disputeID
            answer.outcome = .confirmed
            answer.note = "payments verified against ledger"
            // Another furnisher cannot answer it.
            let stranger = await rpcError {
                _ = try await bureau.withClient("furnisher") { client in
                    try await Bureau_FurnishService.Client(wrapping: client).answerDispute(request: ClientRequest(message: answer), options: fastCall)
                }
            }
            #expect(stranger?.code == .notFound)
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_FurnishService.Client(wrapping: client).answerDispute(request: ClientRequest(message: answer), options: fastCall)
            }
            let after = try await bureau.withClient("regulator") { client in
                try await Bureau_OversightService.Client(wrapping: client).listOverdueDisputes(request: ClientRequest(message: .init()), options: fastCall)
            }
            #expect(after.disputes.isEmpty)
            let actions = try bureau.logEntries().map(\.entry.action)
            #expect(actions.contains(.disputeFile) && actions.contains(.disputeAnswer) && actions.contains(.subjectStatement))
        }
    }

    @Test("a deleted record cannot be furnished again unchanged")
    func tombstone() async throws {
        try await InProcessBureau.run { bureau in
            let batch = CreditFileServiceTests.batch("t-1")
            _ = try await bureau.withClient("furnisher") { client in
                try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: batch), options: fastCall)
            }
            var deletion = Bureau_DeleteRecordRequest()
            deletion.requestID = "del-1"
            deletion.ref.subjectKind = .individual
            deletion.ref.subjectIdentifier = CreditFileServiceTests.person
            deletion.ref.kind = .account
            deletion.ref.recordID = "CF-777"
            deletion.reason = "disputed and not verifiable"
            _ = try await bureau.withClient("furnisher") { client in
                try await Bureau_FurnishService.Client(wrapping: client).deleteRecord(request: ClientRequest(message: deletion), options: fastCall)
            }
            let again = await rpcError {
                _ = try await bureau.withClient("furnisher") { client in
                    try await Bureau_FurnishService.Client(wrapping: client).submitRecords(
                        request: ClientRequest(message: CreditFileServiceTests.batch("t-2")), options: fastCall
                    )
                }
            }
            #expect(again?.code == .failedPrecondition)
            // Changed, it may come back.
            _ = try await bureau.withClient("furnisher") { client in
                try await Bureau_FurnishService.Client(wrapping: client).submitRecords(
                    request: ClientRequest(message: CreditFileServiceTests.batch("t-3", balance: 400_000)), options: fastCall
                )
            }
        }
    }
}

@Suite("List repair", .serialized)
struct RepairTests {
    @Test("a listing is repaired after its minimum period on an operator's approval; a court enforcement is not repairable")
    func repair() async throws {
        try await InProcessBureau.run { bureau in
            func ask(_ kind: Bureau_RecordKind, _ furnisher: String, _ id: String) async -> (Bureau_RepairResponse?, RPCError?) {
                var request = Bureau_RepairRequest()
                request.subject = SubjectRightsTests.subject("440305199207045670")
                request.record.kind = kind
                request.record.furnisher = furnisher
                request.record.recordID = id
                request.rectification = "Paid the judgment debt in full on 2026-10-31"
                request.evidenceSha256 = Data(repeating: 9, count: 32)
                var answer: Bureau_RepairResponse?
                let error = await rpcError {
                    answer = try await bureau.withClient("channel") { client in
                        try await Bureau_SubjectService.Client(wrapping: client).requestRepair(request: ClientRequest(message: request), options: fastCall)
                    }
                }
                return (answer, error)
            }
            let (_, refused) = await ask(.publicRecord, DemoData.court.value, "2025-YUE-0305-ZHI-1234")
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.contains("does not allow repair") == true)
            let (asked, error) = await ask(.listEntry, DemoData.court.value, "SUL-2025-0042")
            let repair = try #require(asked, "\(String(describing: error))")

            let staff = try bureau.register(
                Institution(code: try UnifiedSocialCreditCode.make(organisation: "73000001"), name: "Bureau Repair Desk",
                            roles: [.operator], purposes: [], certificateFingerprints: [])
            )
            let pending = try await bureau.withClient(as: staff) { client in
                try await Bureau_OversightService.Client(wrapping: client).listRepairs(
                    request: ClientRequest(message: .init(), metadata: ["bureau-operator-id": "op-7"]), options: fastCall
                )
            }
            #expect(pending.repairs.map(\.repairID) == [repair.repairID])
            var review = Bureau_ReviewRepairRequest()
            review.requestID = "rev-1"
            review.repairID = repair.repairID
            review.approve = true
            review.note = "court confirms the debt is paid"
            _ = try await bureau.withClient(as: staff) { client in
                try await Bureau_OversightService.Client(wrapping: client).reviewRepair(
                    request: ClientRequest(message: review, metadata: ["bureau-operator-id": "op-7"]), options: fastCall
                )
            }
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: "440305199207045670")))
            let file = try bureau.store.read { try $0.file(key) }
            #expect(file?.listEntries.isEmpty == true)
            let approval = try bureau.logEntries().last { $0.entry.action == .repairApprove }
            #expect(approval?.entry.operatorID == "op-7")
        }
    }
}

typealias HTTP2ClientTransportPosix = GRPCNIOTransportHTTP2.HTTP2ClientTransport.Posix
