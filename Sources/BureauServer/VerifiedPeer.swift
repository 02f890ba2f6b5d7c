import BureauCore
import Crypto
import GRPCCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOSSL
import NIOTLS

/// Carries the fingerprint of the client certificate a connection's TLS handshake verified to each RPC on
/// that connection, computed once a connection.
///
/// The connection's pipeline takes the fingerprint when the handshake completes (``ConnectionHandler``);
/// each HTTP/2 stream's pipeline, before anything of gRPC's, removes every request header named ``header``
/// the client sent and adds its own, `token:fingerprint-hex` (``StreamHandler``); the first interceptor
/// (``Interceptor``) takes that header out of the request's metadata and, when its token is this process's,
/// puts the fingerprint in the RPC's context (``Context``), where ``CallerResolver`` reads it. The token is
/// 32 random bytes made when bureaud starts, never sent to anyone: a header the pipeline did not write
/// cannot carry it, so no caller (nor a test's in-process transport) can claim a certificate through
/// metadata.
final class VerifiedPeer: Sendable {
    /// The request header the stream's pipeline writes.
    static let header = "bureau-verified-peer"
    private let token: String

    /// A fresh random token.
    init() {
        self.token = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }.hexString
    }

    /// The header value for a connection whose verified certificate has `fingerprint` (nil: none).
    func stamp(_ fingerprint: [UInt8]?) -> String { self.token + ":" + (fingerprint?.hexString ?? "") }

    /// The context that a request's ``header`` values stand for: nil unless there is exactly one, written
    /// with this process's token and a SHA-256 fingerprint (64 hex digits) or none.
    func context(_ values: [String]) -> Context? {
        guard values.count == 1, let stamp = values.first, stamp.utf8.count > self.token.utf8.count,
            let colon = stamp.utf8.firstIndex(of: UInt8(ascii: ":")),
            Self.equalInConstantTime(stamp.utf8[..<colon], self.token.utf8)
        else { return nil }
        let hex = String(stamp[stamp.index(after: colon)...])
        if hex.isEmpty { return Context(fingerprint: nil) }
        guard hex.utf8.count == 64, let bytes = [UInt8](hex: hex), bytes.count == 32 else { return nil }
        return Context(fingerprint: (bytes, hex))
    }

    private static func equalInConstantTime(_ a: Substring.UTF8View, _ b: String.UTF8View) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// What bureaud's transport tells an RPC about its peer: the verified client certificate's SHA-256
    /// fingerprint (bytes and lowercase hex), or nil when the connection presented none.
    struct Context: ServerContext.TransportSpecific {
        var fingerprint: (bytes: [UInt8], hex: String)?
    }

    /// On a connection, after the TLS handler: the verified peer's stamp, taken when the handshake completes.
    final class ConnectionHandler: ChannelInboundHandler {
        typealias InboundIn = NIOAny
        private let peers: VerifiedPeer
        /// This connection's ``VerifiedPeer/stamp(_:)``; nil until the handshake completes.
        private(set) var stamp: String?

        init(peers: VerifiedPeer) { self.peers = peers }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event {
                var fingerprint: [UInt8]?
                if let certificate = try? context.pipeline.syncOperations.nioSSL_peerCertificate(), let der = try? certificate.toDERBytes() {
                    fingerprint = Array(SHA256.hash(data: der))
                }
                self.stamp = self.peers.stamp(fingerprint)
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// On each HTTP/2 stream, first: removes the client's ``VerifiedPeer/header`` from every HEADERS frame
    /// and adds the connection's stamp to the first (none when there is no stamp: its RPCs have no caller).
    final class StreamHandler: ChannelInboundHandler {
        typealias InboundIn = HTTP2Frame.FramePayload
        typealias InboundOut = HTTP2Frame.FramePayload
        private var stamp: String?

        init(stamp: String?) { self.stamp = stamp }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .headers(var headers) = Self.unwrapInboundIn(data) else {
                context.fireChannelRead(data)
                return
            }
            headers.headers.remove(name: VerifiedPeer.header)
            if let stamp = self.stamp {
                headers.headers.add(name: VerifiedPeer.header, value: stamp)
                self.stamp = nil
            }
            context.fireChannelRead(Self.wrapInboundOut(.headers(headers)))
        }
    }

    /// The stream handler for `stream`, with its connection's stamp (none before a completed handshake, which
    /// HTTP/2 over TLS cannot be: its RPCs would have no caller). Called on the stream's event loop, its
    /// connection's.
    static func streamHandler(for stream: any Channel) -> StreamHandler {
        let connection = try? stream.parent?.pipeline.syncOperations.handler(type: ConnectionHandler.self)
        return StreamHandler(stamp: connection?.stamp)
    }

    /// The first interceptor: lifts the stream's stamp out of the metadata into the RPC's context.
    struct Interceptor: ServerInterceptor {
        let peers: VerifiedPeer
        init(peers: VerifiedPeer) { self.peers = peers }

        func intercept<Input: Sendable, Output: Sendable>(
            request: StreamingServerRequest<Input>,
            context: ServerContext,
            next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
        ) async throws -> StreamingServerResponse<Output> {
            var request = request
            let values = request.metadata[stringValues: VerifiedPeer.header].map { String($0) }
            guard !values.isEmpty else { return try await next(request, context) }
            request.metadata.removeAllValues(forKey: VerifiedPeer.header)
            var context = context
            if let peer = self.peers.context(values) { context.transportSpecific = peer }
            return try await next(request, context)
        }
    }
}
