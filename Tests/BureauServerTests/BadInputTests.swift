import BureauAPI
import BureauCore
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
