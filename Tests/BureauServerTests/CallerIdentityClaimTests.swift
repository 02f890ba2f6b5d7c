import BureauAPI
import BureauCore
import BureauOperations
@testable import BureauServer
import BureauStore
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// The in-process harness presents a certificate through `CallerResolver.inProcessPeer`; these tests prove
/// that nothing a remote caller does reaches that path: over bureaud's own transport only the certificate
/// the TLS handshake verified identifies the caller.
@Suite("A caller's identity comes only from its verified certificate", .serialized)
struct CallerIdentityClaimTests {
    @Test("over mTLS, metadata claiming another institution's certificate or name changes nothing")
    func metadataClaimsNothing() async throws {
        try await TestBureau.run { bureau in
            let regulator = bureau.clients["regulator"]!
            // Header values are one line: the PEM with its line breaks removed.
            let pem = try regulator.certificatePEM.split(whereSeparator: \.isNewline).joined()
            var claims = Metadata()
            for key in ["bureau-certificate", "bureau-peer-certificate", "x-client-cert", "ssl-client-cert", "bureau-in-process-peer"] {
                claims.addString(pem, forKey: key)
            }
            claims.addString(try CallerResolver.fingerprint(of: regulator.certificate).hexString, forKey: "bureau-certificate-fingerprint")
            claims.addString(DemoData.regulator.value, forKey: "bureau-institution")
            claims.addString("regulator", forKey: "bureau-caller")
            let before = try bureau.logSize
            let error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_OversightService.Client(wrapping: client).getCheckpoint(
                        request: ClientRequest(message: .init(), metadata: claims), options: fastCall
                    )
                }
            }
            let entry = try expectLoggedRefusal(error, .permissionDenied, mentioning: "regulator role", institution: DemoData.bank.value, since: before, in: bureau)
            #expect(entry?.entry.certificateFingerprint == (try CallerResolver.fingerprint(of: bureau.clients["bank"]!.certificate).hexString))
        }
    }

    @Test("bureaud's transport without a peer certificate is unauthenticated, even where the in-process certificate is set")
    func tlsContextIgnoresTheInProcessCertificate() async throws {
        try await InProcessBureau.run { bureau in
            var context = ServerContext(
                descriptor: Bureau_OversightService.Method.GetCheckpoint.descriptor, remotePeer: "ipv4:192.0.2.1:1", localPeer: "ipv4:127.0.0.1:2",
                cancellation: .init()
            )
            context.transportSpecific = HTTP2ServerTransport.Posix.Context()
            let resolver = CallerResolver(store: bureau.store)
            try CallerResolver.$inProcessPeer.withValue(bureau.clients["regulator"]!.certificate) {
                #expect(CallerResolver.peerCertificate(of: context) == nil)
                #expect(throws: BureauError.self) { try resolver.caller(of: context) }
                #expect(resolver.presenter(of: context) == nil)
            }
            // Outside any in-process scope, an in-process RPC has no caller either.
            context.transportSpecific = nil
            #expect(CallerResolver.peerCertificate(of: context) == nil)
        }
    }
}
