public import BureauCore
public import BureauStore
import Crypto
import Foundation
public import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftASN1
import Synchronization
public import X509

/// Who is calling: the registered institution its verified client certificate is bound to.
public struct Caller: Sendable {
    public var institution: Institution
    /// Lowercase hex SHA-256 of the certificate's DER.
    public var certificateFingerprint: String
}

/// Maps the verified peer certificate of an RPC to a registered institution.
///
/// Identity comes only from the certificate the TLS handshake verified against the bureau's CA; nothing
/// in metadata can claim one. Lookups are cached briefly, so a certificate registered with the CLI
/// while the daemon runs is known within ``cacheLifetime``.
public final class CallerResolver: Sendable {
    private let store: Store
    private let cache = Mutex<[String: (caller: Caller, expires: ContinuousClock.Instant)]>([:])
    /// How long a resolved caller is remembered.
    public let cacheLifetime: Duration

    public init(store: Store, cacheLifetime: Duration = .seconds(5)) {
        self.store = store
        self.cacheLifetime = cacheLifetime
    }

    /// The caller of the RPC whose context is `context`.
    ///
    /// - Throws: ``BureauError`` (unauthenticated) when there is no verified certificate or it is bound
    ///   to no institution.
    public func caller(of context: ServerContext) throws -> Caller {
        guard let transport = context.transportSpecific as? HTTP2ServerTransport.Posix.Context,
            let certificate = transport.peerCertificate
        else {
            throw BureauError(.unauthenticated, "a client certificate issued by the bureau is required")
        }
        return try self.caller(presenting: certificate)
    }

    /// The caller presenting `certificate` (already verified by TLS).
    public func caller(presenting certificate: Certificate) throws -> Caller {
        let fingerprint = try Self.fingerprint(of: certificate)
        let hex = fingerprint.hexString
        let now = ContinuousClock.now
        if let cached = self.cache.withLock({ $0[hex] }), cached.expires > now {
            return cached.caller
        }
        guard let institution = try self.store.read({ try $0.institution(certificateFingerprint: fingerprint) }) else {
            throw BureauError(.unauthenticated, "certificate \(hex) is not bound to a registered institution")
        }
        let caller = Caller(institution: institution, certificateFingerprint: hex)
        self.cache.withLock { $0[hex] = (caller, now.advanced(by: self.cacheLifetime)) }
        return caller
    }

    /// SHA-256 of the certificate's DER encoding (what `openssl x509 -fingerprint -sha256` prints).
    public static func fingerprint(of certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Array(SHA256.hash(data: serializer.serializedBytes))
    }
}
