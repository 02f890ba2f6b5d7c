import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing

@Suite("Reports over the API", .serialized)
struct ReportServiceTests {
    @Test("a licensed bank gets a masked report whose receipt is already in the log")
    func maskedReport() async throws {
        try await InProcessBureau.run { bureau in
            let request = individualRequest()
            let response = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: request), options: fastCall
                )
            }
            let identity = response.report.identity
            #expect(identity.name == "王**")
            #expect(identity.identifier == "110105********002X")
            #expect(identity.birthDate.year == 1949 && identity.birthDate.month == 0)
            #expect(identity.phone == "138****5678")
            #expect(identity.address.detail.isEmpty)
            #expect(response.report.accounts.count == 3)
            #expect(response.report.accounts.allSatisfy { $0.accountNumber.hasPrefix("*") })
            #expect(response.report.accounts.contains { $0.furnisherName == "Demo Consumer Finance" })
            #expect(response.report.header.requestedBy == "Demo Commercial Bank")

            // Invariant 1: the entry the receipt names is committed, with the disclosure recorded.
            let logged = try bureau.logEntries()
            let entry = try #require(logged.first { $0.index == response.receipt.entryIndex })
            #expect(Array(response.receipt.leafHash) == entry.leafHash)
            #expect(entry.entry.outcome == .hit)
            #expect(entry.entry.purpose == .loanOrigination)
            #expect(entry.entry.requestID == request.requestID)
            #expect(entry.entry.consentReference == standingConsent(DemoData.personIdentifier, .loanOrigination))
            #expect(entry.entry.disclosedFields.contains("identity.identifier:masked"))
            #expect(entry.entry.disclosureVersion == DisclosureTable.version)
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
            #expect(entry.entry.subjects == [key])
            // Invariant 2: no cleartext identifier in any log entry.
            #expect(logged.allSatisfy { !String(decoding: $0.bytes, as: UTF8.self).contains(DemoData.personIdentifier) })
        }
    }

    @Test("an unlicensed purpose is PERMISSION_DENIED, logged as denied, with the receipt in the trailers")
    func unlicensedPurpose() async throws {
        try await InProcessBureau.run { bureau in
            let before = try bureau.logEntries().count
            let error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest(purpose: .employmentScreening)), options: fastCall
                    )
                }
            }
            #expect(error?.code == .permissionDenied)
            #expect(error?.message.contains("employment-screening") == true)
            let logged = try bureau.logEntries()
            #expect(logged.count == before + 1)
            let last = try #require(logged.last)
            #expect(last.entry.outcome == .denied)
            #expect(last.entry.disclosedFields.isEmpty)
            #expect(error?.metadata[stringValues: "bureau-receipt-index"].map { $0 } == [String(last.index)])
        }
    }

    @Test("a purpose that needs consent without a consent reference is PERMISSION_DENIED")
    func consentRequired() async throws {
        try await InProcessBureau.run { bureau in
            let error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest(consent: "")), options: fastCall
                    )
                }
            }
            #expect(error?.code == .permissionDenied)
            #expect(error?.message.hasPrefix("consent_reference:") == true)
        }
    }

    @Test("an invalid identifier is INVALID_ARGUMENT naming the field, and changes nothing")
    func invalidIdentifier() async throws {
        try await InProcessBureau.run { bureau in
            let before = try bureau.logEntries().count
            let error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest("110101199001011234")), options: fastCall
                    )
                }
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.hasPrefix("identifier: ") == true)
            #expect(try bureau.logEntries().count == before)
        }
    }

    @Test("an unspecified or unknown purpose is INVALID_ARGUMENT naming purpose")
    func badPurpose() async throws {
        try await InProcessBureau.run { bureau in
            for purpose in [Bureau_Purpose.unspecified, .UNRECOGNIZED(99)] {
                let error = await rpcError {
                    _ = try await bureau.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                            request: ClientRequest(message: individualRequest(purpose: purpose)), options: fastCall
                        )
                    }
                }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.hasPrefix("purpose: ") == true)
            }
        }
    }

    @Test("no file on record is NOT_FOUND and logged as no-hit")
    func noHit() async throws {
        try await InProcessBureau.run { bureau in
            let error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest("110108199001010036")), options: fastCall
                    )
                }
            }
            #expect(error?.code == .notFound)
            let last = try bureau.logEntries().last
            #expect(last?.entry.outcome == .noHit)
        }
    }

    @Test("post-loan management needs an account the asking bank furnished")
    func postLoan() async throws {
        try await InProcessBureau.run { bureau in
            let response = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest(purpose: .postLoanManagement, consent: "")), options: fastCall
                )
            }
            #expect(response.report.accounts.count == 3)
            // 陈晓 has only an account with the consumer finance company.
            let error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest("440305199207045670", purpose: .postLoanManagement, consent: "")),
                        options: fastCall
                    )
                }
            }
            #expect(error?.code == .permissionDenied)
        }
    }

    @Test("employment screening withholds accounts and the report says why")
    func employmentWithholds() async throws {
        try await InProcessBureau.run { bureau in
            let employer = try bureau.register(
                Institution(
                    code: try UnifiedSocialCreditCode(parsing: "91110000600037341L"), name: "Demo Employer Screening",
                    roles: [.agency], purposes: [.employmentScreening], certificateFingerprints: []
                )
            )
            let response = try await bureau.withClient(as: employer) { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest(purpose: .employmentScreening, agency: employerCode)), options: fastCall
                )
            }
            #expect(response.report.accounts.isEmpty)
            #expect(response.report.header.withheld.map(\.section) == ["summary", "accounts", "query-records"])
            #expect(response.report.identity.name == "王**")
        }
    }

    @Test("the subject's own report through the channel is unmasked")
    func selfAccess() async throws {
        try await InProcessBureau.run { bureau in
            let response = try await bureau.withClient("channel") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest(purpose: .selfAccess, consent: "")), options: fastCall
                )
            }
            #expect(response.report.identity.name == "王建国")
            #expect(response.report.identity.identifier == DemoData.personIdentifier)
            #expect(response.report.accounts.contains { $0.accountNumber == "6222020200112233" })
        }
    }

    @Test("a business report shows the code whole and masks the legal representative")
    func businessReport() async throws {
        try await InProcessBureau.run { bureau in
            var request = Bureau_BusinessReportRequest()
            request.identifier = DemoData.businessIdentifier
            request.purpose = .guaranteeReview
            request.consentReference = standingConsent(DemoData.businessIdentifier, .guaranteeReview)
            let response = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getBusinessReport(
                    request: ClientRequest(message: request), options: fastCall
                )
            }
            #expect(response.report.registration.identifier == DemoData.businessIdentifier)
            #expect(response.report.registration.legalRepresentative.name == "王**")
            #expect(response.report.registration.legalRepresentative.identifier == "110105********002X")
            #expect(response.report.accounts.count == 1)
            let last = try bureau.logEntries().last
            #expect(last?.entry.action == .report(.business))
        }
    }
}
