import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing

@Suite("Furnishing over the API", .serialized)
struct FurnishServiceTests {
    static func record(_ id: String, name: String, born: (Int32, Int32, Int32), account: String, status: Bureau_AccountStatus = .current) -> Bureau_SubjectRecord {
        var record = Bureau_SubjectRecord()
        record.kind = .individual
        record.identifier = id
        record.name = name
        record.date.year = born.0
        record.date.month = born.1
        record.date.day = born.2
        record.address.province = "四川省"
        record.address.city = "成都市"
        var line = Bureau_AccountRecord()
        line.accountNumber = account
        line.type = .personalLoan
        line.opened.year = 2024
        line.opened.month = 1
        line.opened.day = 15
        line.limit.minorUnits = 1_000_000
        line.limit.currency = "CNY"
        line.balance.minorUnits = 500_000
        line.balance.currency = "CNY"
        line.status = status
        line.paymentHistory = "000000000"
        record.accounts = [line]
        return record
    }

    @Test("a furnisher that is also an operator has its operator id in the batch's log entry")
    func operatorIDLogged() async throws {
        try await InProcessBureau.run { bureau in
            var institution = try #require(try bureau.store.read { try $0.institution(code: DemoData.consumerFinance) })
            institution.roles.insert(.operator)
            try InstitutionRegistry.register(institution, in: bureau.store)
            var request = Bureau_SubmitRecordsRequest()
            request.batchID = "batch-op-1"
            request.subjects = [Self.record("510107197802288918", name: "张伟", born: (1978, 2, 28), account: "CF-778")]
            let response = try await bureau.withClient("furnisher") { client in
                try await Bureau_FurnishService.Client(wrapping: client).submitRecords(
                    request: ClientRequest(message: request, metadata: ["bureau-operator-id": "staff-0007"]), options: fastCall
                )
            }
            let entry = try #require(bureau.logEntries().first { $0.index == response.receipt.entryIndex })
            #expect(entry.entry.action == .furnishSubmit)
            #expect(entry.entry.operatorID == "staff-0007")
        }
    }

    @Test("a valid batch is applied and logged, and the new file can be reported")
    func applied() async throws {
        try await InProcessBureau.run { bureau in
            var request = Bureau_SubmitRecordsRequest()
            request.batchID = "batch-001"
            request.subjects = [Self.record("510107197802288918", name: "张伟", born: (1978, 2, 28), account: "CF-777")]
            let response = try await bureau.withClient("furnisher") { client in
                try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
            }
            #expect(response.subjectsApplied == 1)
            #expect(response.accountsApplied == 1)
            let entry = try #require(bureau.logEntries().first { $0.index == response.receipt.entryIndex })
            #expect(entry.entry.action == .furnishSubmit)
            #expect(entry.entry.changeDigest.count == 64)
            #expect(entry.entry.institution == DemoData.consumerFinance.value)

            let report = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest("510107197802288918")), options: fastCall
                )
            }
            #expect(report.report.identity.name == "张*")
            #expect(report.report.accounts.map(\.accountNumber) == ["**-777"])
        }
    }

    @Test("one bad record refuses the whole batch, naming index and field; nothing changes")
    func allOrNothing() async throws {
        try await InProcessBureau.run { bureau in
            var bad = Self.record("310104198503121235", name: "李娜", born: (1985, 3, 12), account: "CF-1")
            bad.accounts[0].paymentHistory = "00Z"
            var request = Bureau_SubmitRecordsRequest()
            request.batchID = "batch-002"
            request.subjects = [Self.record("510107197802288918", name: "张伟", born: (1978, 2, 28), account: "CF-777"), bad]
            let before = try bureau.logEntries().count
            let error = await rpcError {
                _ = try await bureau.withClient("furnisher") { client in
                    try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
                }
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.hasPrefix("subjects[1].accounts[0].payment_history: ") == true)
            #expect(try bureau.logEntries().count == before)
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: "510107197802288918")))
            #expect(try bureau.store.read { try $0.file(key) } == nil)
        }
    }

    @Test("an institution without the furnisher role cannot furnish")
    func furnisherRole() async throws {
        try await InProcessBureau.run { bureau in
            var request = Bureau_SubmitRecordsRequest()
            request.batchID = "batch-003"
            request.subjects = [Self.record("510107197802288918", name: "张伟", born: (1978, 2, 28), account: "CF-777")]
            let error = await rpcError {
                _ = try await bureau.withClient("regulator") { client in
                    try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
                }
            }
            #expect(error?.code == .permissionDenied)
        }
    }
}
