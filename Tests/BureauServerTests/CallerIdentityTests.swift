import BureauAPI
import BureauCore
import BureauOperations
@testable import BureauServer
import BureauStore
import Foundation
import GRPCCore
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import Testing

/// The in-process harness presents a certificate through `CallerResolver.inProcessPeer`; these tests prove
/// that nothing a remote caller does reaches that path: over bureaud's own transport only the certificate
/// the TLS handshake verified identifies the caller.
@Suite("A caller's identity comes only from its verified certificate", .serialized)
struct CallerIdentityClaimTests {
    @Test("over mTLS, metadata claiming another institution's certificate or name, or a verified peer, changes nothing")
    func metadataClaimsNothing() async throws {
        try await TestBureau.run { bureau in
            let regulator = bureau.clients["regulator"]!
            // Header values are one line: the PEM with its line breaks removed.
            let pem = try regulator.certificatePEM.split(whereSeparator: \.isNewline).joined()
            var claims = Metadata()
            for key in ["bureau-certificate", "bureau-peer-certificate", "x-client-cert", "ssl-client-cert", "bureau-in-process-peer"] {
                claims.addString(pem, forKey: key)
            }
            let fingerprint = try CallerResolver.fingerprint(of: regulator.certificate).hexString
            claims.addString(fingerprint, forKey: "bureau-certificate-fingerprint")
            // The header bureaud's own pipeline writes (VerifiedPeer): a client's is removed, whatever its token.
            claims.addString("0123:" + fingerprint, forKey: VerifiedPeer.header)
            claims.addString(String(repeating: "0", count: 64) + ":" + fingerprint, forKey: VerifiedPeer.header)
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
            context.transportSpecific = VerifiedPeer.Context(fingerprint: nil)
            let resolver = CallerResolver(store: bureau.store)
            try CallerResolver.$inProcessPeer.withValue(bureau.clients["regulator"]!.certificate) {
                #expect(CallerResolver.peerFingerprint(of: context) == nil)
                #expect(throws: BureauError.self) { try resolver.caller(of: context) }
                #expect(resolver.presenter(of: context) == nil)
            }
            // Outside any in-process scope, an in-process RPC has no caller either.
            context.transportSpecific = nil
            #expect(CallerResolver.peerFingerprint(of: context) == nil)
        }
    }

    @Test("a stamp counts only with this process's token, alone, and a SHA-256 fingerprint or none")
    func stampNeedsTheToken() throws {
        let peers = VerifiedPeer()
        let other = VerifiedPeer()
        let fingerprint = Array(repeating: UInt8(0xAB), count: 32)
        let stamp = peers.stamp(fingerprint)
        #expect(peers.context([stamp])?.fingerprint?.bytes == fingerprint)
        #expect(peers.context([stamp])?.fingerprint?.hex == fingerprint.hexString)
        let none = try #require(peers.context([peers.stamp(nil)]))
        #expect(none.fingerprint == nil, "a connection without a certificate: stamped, with no caller")
        #expect(other.context([stamp]) == nil, "another process's token")
        #expect(peers.context([stamp, stamp]) == nil, "two stamps")
        #expect(peers.context([]) == nil)
        let token = String(stamp.prefix(while: { $0 != ":" }))
        #expect(peers.context([token + ":" + "ab"]) == nil, "not 32 bytes")
        #expect(peers.context([token + ":" + String(repeating: "zz", count: 32)]) == nil, "not hex")
        #expect(peers.context([String(token.dropLast()) + ":" + fingerprint.hexString]) == nil, "a token one digit short")
        #expect(peers.context([":" + fingerprint.hexString]) == nil)
    }
}

@Suite("Caller identity from the client certificate", .serialized)
struct IdentityTests {
    @Test("a certificate from the bureau's CA that is bound to no institution is UNAUTHENTICATED")
    func unregistered() async throws {
        try await TestBureau.run { bureau in
            let stranger = try bureau.ca.issueClient(name: "Unregistered Lender", code: "91110000200000021A")
            let error = await rpcError {
                _ = try await bureau.withClient(as: stranger) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest()), options: fastCall
                    )
                }
            }
            #expect(error?.code == .unauthenticated)
        }
    }

    @Test("a certificate from another CA fails the handshake")
    func otherCA() async throws {
        try await TestBureau.run { bureau in
            let rogue = try CertificateAuthority.create(name: "Rogue CA")
            let impostor = try rogue.issueClient(name: "Demo Commercial Bank", code: DemoData.bank.value)
            let before = try bureau.logEntries().count
            let error = await rpcError {
                _ = try await bureau.withClient(as: impostor) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest()), options: fastCall
                    )
                }
            }
            #expect(error?.code == .unavailable)
            #expect(try bureau.logEntries().count == before)
        }
    }

    @Test("the catalogue is served to every registered caller")
    func catalogue() async throws {
        try await TestBureau.run { bureau in
            let response = try await bureau.withClient("regulator") { client in
                try await Bureau_CatalogService.Client(wrapping: client).listCategories(
                    request: ClientRequest(message: Bureau_ListCategoriesRequest()), options: fastCall
                )
            }
            #expect(response.version == Catalogue.default.version)
            #expect(response.categories.map(\.code) == Catalogue.default.categories.map(\.code))
            #expect(response.categories.contains { $0.negative && $0.retentionYears == 5 })
        }
    }
}

@Suite("The verified peer's stamp on each stream")
struct VerifiedPeerStreamTests {
    @Test("the stream's first HEADERS carry the connection's stamp alone; a client's copies are removed from every HEADERS")
    func stampReplacesTheClients() throws {
        let channel = EmbeddedChannel(handler: VerifiedPeer.StreamHandler(stamp: "secret:ab"))
        defer { _ = try? channel.finish() }
        func headers(_ fields: [(String, String)], endStream: Bool = false) -> HTTP2Frame.FramePayload {
            .headers(.init(headers: HPACKHeaders(fields), endStream: endStream))
        }
        func read() throws -> HPACKHeaders? {
            guard case .headers(let frame) = try channel.readInbound(as: HTTP2Frame.FramePayload.self) else { return nil }
            return frame.headers
        }
        try channel.writeInbound(headers([(":path", "/bureau.v1.ReportService/GetIndividualReport"), (VerifiedPeer.header, "forged:00"), (VerifiedPeer.header, "again")]))
        let first = try #require(try read())
        #expect(first[VerifiedPeer.header] == ["secret:ab"])
        #expect(first[":path"] == ["/bureau.v1.ReportService/GetIndividualReport"])
        // DATA passes untouched; later HEADERS (trailers) lose the client's copies and get no stamp.
        try channel.writeInbound(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(bytes: [0, 0, 0, 0, 0])))))
        guard case .data = try channel.readInbound(as: HTTP2Frame.FramePayload.self) else {
            Issue.record("DATA was not passed on")
            return
        }
        try channel.writeInbound(headers([(VerifiedPeer.header, "forged:00"), ("x-trailer", "1")], endStream: true))
        let trailers = try #require(try read())
        #expect(trailers[VerifiedPeer.header].isEmpty)
        #expect(trailers["x-trailer"] == ["1"])
    }

    @Test("a stream without a stamped connection carries no stamp, and a client's is still removed")
    func noStamp() throws {
        // No parent connection (so no handshake's stamp): what the factory makes for it.
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(VerifiedPeer.streamHandler(for: channel))
        defer { _ = try? channel.finish() }
        try channel.writeInbound(HTTP2Frame.FramePayload.headers(.init(headers: HPACKHeaders([(VerifiedPeer.header, "forged:00")]))))
        guard case .headers(let frame) = try channel.readInbound(as: HTTP2Frame.FramePayload.self) else {
            Issue.record("HEADERS were not passed on")
            return
        }
        #expect(frame.headers[VerifiedPeer.header].isEmpty)
    }
}
