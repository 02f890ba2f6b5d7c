import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import GRPCCore
import GRPCNIOTransportHTTP2
import InMemoryLogging
import Logging
import Testing

@Suite("bureaud's own log lines carry no personal data")
struct LogLinePrivacyTests {
    /// What identifies the demo person: the resident identity number in every spelling, the name and the phone.
    static let personal = [
        DemoData.personIdentifier, "110105194912310021", "王建国", "13812345678", "6222020200112233", "440305199207045670",
    ]

    @Test("reports, refusals, subject rights and log queries leave no identifier, name, phone or account number in bureaud's log")
    func noPersonalDataInLogLines() async throws {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "test-bureaud") { _ in handler }
        logger.logLevel = .trace
        try await TestBureau.run(logger: logger) { bureau in
            try await bureau.withClient("bank") { client in
                let reports = Bureau_ReportService.Client(wrapping: client)
                _ = try await reports.getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
                _ = try await reports.getIndividualReport(request: ClientRequest(message: individualRequest("440305199207045670")), options: fastCall)
                // Refused for the purpose, and a subject with no file: both logged by bureaud too.
                _ = await rpcError {
                    _ = try await reports.getIndividualReport(request: ClientRequest(message: individualRequest(purpose: .employmentScreening)), options: fastCall)
                }
                _ = await rpcError {
                    _ = try await reports.getIndividualReport(request: ClientRequest(message: individualRequest("110101199003074477")), options: fastCall)
                }
            }
            try await bureau.withClient("channel") { client in
                let subjects = Bureau_SubjectService.Client(wrapping: client)
                var own = Bureau_SubjectRequest()
                own.requestID = "own-1"
                own.subjectKind = .individual
                own.subjectIdentifier = DemoData.personIdentifier
                _ = try await subjects.getOwnReport(request: ClientRequest(message: own), options: fastCall)
                var dispute = Bureau_DisputeRequest()
                dispute.subject = own
                dispute.record.kind = .account
                dispute.record.furnisher = DemoData.bank.value
                dispute.record.recordID = "6222020200112233"
                dispute.description_p = "I never missed a payment on this card"
                _ = try await subjects.fileDispute(request: ClientRequest(message: dispute), options: fastCall)
            }
            try await bureau.withClient("regulator") { client in
                var query = Bureau_QueryAccessLogRequest()
                query.subjectKind = .individual
                query.subjectIdentifier = DemoData.personIdentifier
                try await Bureau_OversightService.Client(wrapping: client).queryAccessLog(
                    request: ClientRequest(message: query), options: fastCall
                ) { response in
                    for try await _ in response.messages {}
                }
            }
        }
        let lines = handler.entries.map { entry in
            "\(entry.message) \(entry.metadata.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")) \(entry.error.map { "\($0)" } ?? "")"
        }
        #expect(lines.count > 5)
        for line in lines {
            for value in Self.personal {
                #expect(!line.contains(value), "bureaud logged personal data: \(line)")
            }
            #expect(!ResidentIdentityNumber.occurs(in: line), "bureaud logged a resident identity number: \(line)")
        }
    }
}
