import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCProtobuf
import Testing

/// Sends bytes as they are, whatever the method expects.
struct RawBytes: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

@Suite("Bad input over the wire", .serialized)
struct BadInputTests {
    func askRaw(_ bureau: TestBureau, _ bytes: [UInt8]) async -> RPCError? {
        await rpcError {
            _ = try await bureau.withClient("bank") { client in
                try await client.unary(
                    request: ClientRequest(message: bytes),
                    descriptor: Bureau_ReportService.Method.GetIndividualReport.descriptor,
                    serializer: RawBytes(),
                    deserializer: ProtobufDeserializer<Bureau_IndividualReportResponse>(),
                    options: fastCall
                ) { try $0.message }
            }
        }
    }

    func stillServes(_ bureau: TestBureau) async throws {
        _ = try await bureau.withClient("bank") { client in
            try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
        }
    }

    @Test("malformed protobuf bytes and oversized messages are refused, nothing is logged, and the daemon keeps serving")
    func malformedAndOversized() async throws {
        try await TestBureau.run { bureau in
            let before = try bureau.store.read { try $0.logSize() }
            let garbage = await askRaw(bureau, [0xFF, 0xFF, 0xFF, 0x0F, 0x12])
            #expect(garbage != nil)
            // The documented maximum request is 4 MiB (grpc-swift's default).
            let huge = await askRaw(bureau, [0x0A] + [0xFF, 0xFF, 0xFF, 0x02] + [UInt8](repeating: 0x41, count: 5 << 20))
            #expect(huge != nil)
            let after = try bureau.store.read { try $0.logSize() }
            #expect(after == before)
            try await stillServes(bureau)
        }
    }

    @Test("every identifier rule is INVALID_ARGUMENT naming the field and the rule, with nothing logged")
    func identifierRules() async throws {
        let people: [(String, String)] = [
            ("", "is required"),
            ("11010519491231", "has 18 characters (or 15 in the legacy form), got 14"),
            ("1101054912310A2", "15-character resident identity number has digits only"),
            ("1101051949123100AX", "first 17 characters of a resident identity number are digits"),
            ("11010519491231002Y", "check character of a resident identity number is a digit or X"),
            ("99010519491231002X", "region code does not name a province"),
            ("110105189912310021", "must be a real date after 1900"),
            ("110105194902301238", "must be a real date after 1900"),
            ("110105194912310021", "check character does not match (ISO 7064 MOD 11-2)"),
        ]
        let businesses: [(String, String)] = [
            ("", "is required"),
            ("9111000010000001", "has 18 characters, got 16"),
            ("91110000100000016I", "uses digits and capitals except I, O, S, V, Z"),
            ("9111A000100000016D", "characters 3 to 8 of a unified social credit code are the region code"),
            ("91110000100000017D", "organisation code (characters 9 to 17) fails its GB 11714 check"),
            ("91110000100000016E", "check character does not match (GB 32100)"),
        ]
        try await TestBureau.run { bureau in
            let before = try bureau.logEntries().count
            for (identifier, rule) in people {
                let error = await rpcError {
                    _ = try await bureau.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                            request: ClientRequest(message: individualRequest(identifier)), options: fastCall
                        )
                    }
                }
                #expect(error?.code == .invalidArgument, "\(identifier)")
                #expect(error?.message.hasPrefix("identifier: ") == true && error?.message.contains(rule) == true, "\(identifier): \(error?.message ?? "")")
            }
            for (identifier, rule) in businesses {
                var request = Bureau_BusinessReportRequest()
                request.identifier = identifier
                request.purpose = .guaranteeReview
                let error = await rpcError {
                    _ = try await bureau.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getBusinessReport(request: ClientRequest(message: request), options: fastCall)
                    }
                }
                #expect(error?.code == .invalidArgument, "\(identifier)")
                #expect(error?.message.hasPrefix("identifier: ") == true && error?.message.contains(rule) == true, "\(identifier): \(error?.message ?? "")")
            }
            #expect(try bureau.logEntries().count == before)
            try await stillServes(bureau)
        }
    }

    @Test("unknown enum values are INVALID_ARGUMENT naming the field, with nothing logged")
    func unknownEnums() async throws {
        try await TestBureau.run { bureau in
            let before = try bureau.logEntries().count
            var score = Bureau_ScoreRequest()
            score.identifier = DemoData.personIdentifier
            score.purpose = .postLoanManagement
            score.subjectKind = .UNRECOGNIZED(7)
            let kind = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getScore(request: ClientRequest(message: score), options: fastCall)
                }
            }
            #expect(kind?.code == .invalidArgument)
            #expect(kind?.message.hasPrefix("subject_kind: ") == true)
            var report = individualRequest()
            report.purpose = .UNRECOGNIZED(4242)
            let purpose = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: report), options: fastCall)
                }
            }
            #expect(purpose?.code == .invalidArgument)
            #expect(purpose?.message == "purpose: unknown value 4242")
            var furnish = Bureau_SubmitRecordsRequest()
            furnish.batchID = "enum-batch"
            var subject = FurnishServiceTests.record("510107197802288918", name: "张伟", born: (1978, 2, 28), account: "E-1")
            subject.accounts[0].status = .UNRECOGNIZED(99)
            furnish.subjects = [subject]
            let status = await rpcError {
                _ = try await bureau.withClient("furnisher") { client in
                    try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: furnish), options: fastCall)
                }
            }
            #expect(status?.code == .invalidArgument)
            #expect(status?.message.hasPrefix("subjects[0].accounts[0].status: ") == true, "\(status?.message ?? "")")
            #expect(try bureau.logEntries().count == before)
            try await stillServes(bureau)
        }
    }

    @Test("empty and huge strings get INVALID_ARGUMENT naming the field")
    func strings() async throws {
        try await TestBureau.run { bureau in
            for (identifier, requestID, field) in [
                ("", "r", "identifier"), (String(repeating: "1", count: 100_000), "r", "identifier"),
                (DemoData.personIdentifier, String(repeating: "x", count: 10_000), "request_id"),
            ] {
                var request = individualRequest()
                request.identifier = identifier
                request.requestID = requestID
                let error = await rpcError {
                    _ = try await bureau.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                    }
                }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.hasPrefix(field + ": ") == true, "\(error?.message ?? "")")
            }
            try await stillServes(bureau)
        }
    }

    @Test("expired and not-yet-valid certificates from the bureau's own CA fail the handshake")
    func certificateValidity() async throws {
        try await TestBureau.run { bureau in
            let now = Date()
            let expired = try bureau.ca.issueClient(
                name: "Demo Commercial Bank", code: DemoData.bank.value,
                notBefore: now.addingTimeInterval(-30 * 86_400), notAfter: now.addingTimeInterval(-86_400)
            )
            let early = try bureau.ca.issueClient(
                name: "Demo Commercial Bank", code: DemoData.bank.value,
                notBefore: now.addingTimeInterval(86_400), notAfter: now.addingTimeInterval(30 * 86_400)
            )
            for identity in [expired, early] {
                let found = try bureau.store.read { try $0.institution(code: DemoData.bank) }
                var institution = try #require(found)
                institution.certificateFingerprints.insert(try CallerResolver.fingerprint(of: identity.certificate).hexString)
                try InstitutionRegistry.register(institution, in: bureau.store)
                let error = await rpcError {
                    _ = try await bureau.withClient(as: identity) { client in
                        try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
                    }
                }
                #expect(error?.code == .unavailable)
            }
            try await stillServes(bureau)
        }
    }
}
