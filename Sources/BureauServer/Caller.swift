public import BureauCore
public import BureauStore
import Crypto
import Foundation
public import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftASN1
public import X509

/// Who is calling: the registered institution its verified client certificate is bound to, and for an
/// operator, the member of staff its client names.
public struct Caller: Sendable {
    public var institution: Institution
    /// Lowercase hex SHA-256 of the certificate's DER.
    public var certificateFingerprint: String
    /// The operator id from the `bureau-operator-id` metadata, for institutions with the operator role.
    public var operatorID: String
}

/// Maps the verified peer certificate of an RPC to a registered institution.
///
/// Identity comes only from the certificate the TLS handshake verified against the bureau's CA; nothing
/// in metadata can claim one. The binding and the institution are read from the store on every call, so a
/// revoked certificate, a new binding or a suspended licence takes effect at once, without a restart.
public final class CallerResolver: Sendable {
    private let store: Store

    public init(store: Store) {
        self.store = store
    }

    /// The caller of the RPC whose context is `context`.
    ///
    /// - Throws: ``BureauError``: unauthenticated when there is no verified certificate, it is revoked or
    ///   bound to no institution; invalid argument when an operator's client sends no operator id.
    public func caller(of context: ServerContext) throws -> Caller {
        guard let transport = context.transportSpecific as? HTTP2ServerTransport.Posix.Context,
            let certificate = transport.peerCertificate
        else {
            throw BureauError(.unauthenticated, "a client certificate issued by the bureau is required")
        }
        return try self.caller(presenting: certificate, operatorID: OperatorMetadata.current)
    }

    /// The caller presenting `certificate` (already verified by TLS).
    public func caller(presenting certificate: Certificate, operatorID: String = "") throws -> Caller {
        let fingerprint = try Self.fingerprint(of: certificate)
        let hex = fingerprint.hexString
        let institution = try self.store.read { txn -> Institution? in
            if try txn.isRevoked(certificateFingerprint: fingerprint) {
                throw BureauError(.unauthenticated, "certificate \(hex) was revoked")
            }
            return try txn.institution(certificateFingerprint: fingerprint)
        }
        guard let institution else {
            throw BureauError(.unauthenticated, "certificate \(hex) is not bound to a registered institution")
        }
        var caller = Caller(institution: institution, certificateFingerprint: hex, operatorID: "")
        if institution.roles.contains(.operator) {
            let id = operatorID.trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty else {
                throw BureauError.invalid("bureau-operator-id", "an operator's client sends the id (1 to 64 bytes) of the member of staff")
            }
            try LoggedText.check(id, field: "bureau-operator-id", limit: .operatorID)
            caller.operatorID = id
        }
        return caller
    }

    /// SHA-256 of the certificate's DER encoding (what `openssl x509 -fingerprint -sha256` prints).
    public static func fingerprint(of certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Array(SHA256.hash(data: serializer.serializedBytes))
    }
}

/// Carries the `bureau-operator-id` request metadata to the handler (unary handlers run inside the
/// interceptor's call). It names a member of staff for the log; it never identifies the institution.
public struct OperatorMetadata: ServerInterceptor {
    public static let key = "bureau-operator-id"
    @TaskLocal static var current = ""

    public init() {}

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let id = request.metadata[stringValues: Self.key].first(where: { _ in true }) ?? ""
        return try await Self.$current.withValue(String(id)) { try await next(request, context) }
    }
}
