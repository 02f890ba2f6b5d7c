import GRPCNIOTransportCore
import NIOCore
import NIOPosix
import NIOSSL

/// bureaud's listener: a TCP socket whose every accepted connection is TLS with the bureau's own context
/// (``ServerLimits/sslContext(_:)``: client certificates from the bureau's CA required, AEAD suites, ALPN h2),
/// then gRPC's HTTP/2 pipeline, which the transport configures.
///
/// It is what `HTTP2ServerTransport.Posix` would bind, served through `HTTP2ServerTransport.Custom` instead:
/// the Posix transport parses the peer's certificate again for every RPC (after two round trips to the
/// connection's event loop, 22 us a call in a profile), where bureaud needs only the fingerprint the handshake
/// verified, taken once a connection (``VerifiedPeer``).
struct BureauListener: HTTP2ServerTransport.ListenerFactory {
    let host: String
    let port: Int
    let sslContext: NIOSSLContext
    let eventLoopGroup: any EventLoopGroup

    func makeListeningChannel(
        listenerConfigurator: HTTP2ServerTransport.ListenerConfigurator,
        connectionConfigurator: HTTP2ServerTransport.ConnectionConfigurator
    ) async throws -> NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never> {
        let sslContext = self.sslContext
        return try await ServerBootstrap(group: self.eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in listenerConfigurator.configure(channel: channel) }
            .bind(host: self.host, port: self.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                }.flatMap {
                    connectionConfigurator.configure(channel: channel, tls: .configured(requireALPN: true))
                }
            }
    }
}
