public import GRPCNIOTransportHTTP2

/// Builds the client side of the bureau's mutual TLS: the institution's certificate and key, and the
/// bureau's CA as the only trust root for the server.
public enum BureauClientTransport {
    /// A transport to `host:port` presenting `certificateChain` and `privateKey`, trusting only `ca`.
    ///
    /// - Parameter authority: the name the server certificate must carry (also sent as SNI).
    public static func make(
        host: String,
        port: Int,
        certificateChain: [TLSConfig.CertificateSource],
        privateKey: TLSConfig.PrivateKeySource,
        ca: [TLSConfig.CertificateSource],
        authority: String = "localhost"
    ) throws -> HTTP2ClientTransport.Posix {
        try HTTP2ClientTransport.Posix(
            target: .ipv4(address: host, port: port),
            transportSecurity: .mTLS(certificateChain: certificateChain, privateKey: privateKey) { config in
                config.trustRoots = .certificates(ca)
            },
            config: .defaults { $0.http2.authority = authority }
        )
    }
}
