public import BureauCore
public import BureauStore
import Crypto
public import Foundation
public import GRPCCore
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

    /// Who the log names for this caller's calls: its institution, certificate and operator id.
    public var actor: LogActor {
        LogActor(institution: self.institution.code.value, certificateFingerprint: self.certificateFingerprint, operatorID: self.operatorID)
    }
}

/// Maps the verified peer certificate of an RPC to a registered institution in good standing.
///
/// Identity comes only from the certificate the TLS handshake verified against the bureau's CA; nothing
/// in metadata can claim one. The binding and the institution are read from the store on every call, so a
/// revoked certificate, a new binding or a suspended licence takes effect at once, without a restart.
///
/// This is the one place every service gets its caller, and so the one place the licence is checked for
/// every call of every role (``Institution/checkLicenceInForce(on:)``): a suspended, revoked, expired or
/// not yet valid licence stops furnishing, consents, the channel's calls, oversight and administration as
/// well as reports. ``recheck(_:in:on:)`` runs the same check again inside the write transaction that
/// commits what a call does.
public final class CallerResolver: Sendable {
    private let store: Store
    private let now: @Sendable () -> Date
    /// A resolver over `store`, whose licences are checked against the UTC day of `now`.
    public init(store: Store, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.now = now
    }

    /// The caller of the RPC whose context is `context`.
    ///
    /// - Throws: ``BureauError``: unauthenticated when there is no verified certificate, it is revoked or
    ///   bound to no institution; permission denied when the institution's licence is not in force today;
    ///   invalid argument when an operator's client sends no operator id.
    public func caller(of context: ServerContext) throws -> Caller {
        guard let fingerprint = Self.peerFingerprint(of: context) else {
            throw BureauError(.unauthenticated, "a client certificate issued by the bureau is required")
        }
        return try self.caller(presenting: fingerprint, operatorID: OperatorMetadata.current)
    }

    /// The caller presenting `certificate` (already verified by TLS).
    public func caller(presenting certificate: Certificate, operatorID: String = "") throws -> Caller {
        let bytes = try Self.fingerprint(of: certificate)
        return try self.caller(presenting: (bytes, bytes.hexString), operatorID: operatorID)
    }

    /// The caller presenting the certificate with `fingerprint` (SHA-256 of its DER, and its hex).
    func caller(presenting fingerprint: (bytes: [UInt8], hex: String), operatorID: String) throws -> Caller {
        let today = CalendarDate(utcDayOf: self.now())
        let institution = try self.store.read { txn in try Self.institution(boundTo: fingerprint.bytes, in: txn, on: today) }
        var caller = Caller(institution: institution, certificateFingerprint: fingerprint.hex, operatorID: "")
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

    /// Checks, inside `txn`, that `caller` still stands as it did when its call came in: its certificate not
    /// revoked and still bound to the same institution, which still holds its roles and whose licence is in
    /// force on `today`.
    ///
    /// Services run it in the write transaction that commits what the call does, so that a certificate
    /// revoked or a licence suspended between the call's reads and its commit stops it.
    /// - Returns: the institution as `txn` holds it.
    /// - Throws: ``BureauError`` as ``caller(of:)`` does.
    public func recheck(_ caller: Caller, in txn: StoreSnapshot, on today: CalendarDate) throws -> Institution {
        guard let fingerprint = [UInt8](hex: caller.certificateFingerprint), fingerprint.count == 32 else {
            throw BureauError(.internal, "the caller's certificate fingerprint is not SHA-256 hex")
        }
        let institution = try Self.institution(boundTo: fingerprint, in: txn, on: today)
        guard institution.code == caller.institution.code else {
            throw BureauError(.unauthenticated, "certificate \(caller.certificateFingerprint) is now bound to \(institution.code)")
        }
        guard caller.institution.roles.isSubset(of: institution.roles) else {
            throw BureauError(.permissionDenied, "the roles of \(institution.code) changed during the call")
        }
        return institution
    }

    /// The institution the certificate with `fingerprint` is bound to, with its licence in force on `today`.
    private static func institution(boundTo fingerprint: [UInt8], in txn: StoreSnapshot, on today: CalendarDate) throws -> Institution {
        if try txn.isRevoked(certificateFingerprint: fingerprint) {
            throw BureauError(.unauthenticated, "certificate \(fingerprint.hexString) was revoked")
        }
        guard let institution = try txn.institution(certificateFingerprint: fingerprint) else {
            throw BureauError(.unauthenticated, "certificate \(fingerprint.hexString) is not bound to a registered institution")
        }
        try institution.checkLicenceInForce(on: today)
        return institution
    }

    /// Who presented the certificate of `context`, whatever its standing, for the log entry of a refused
    /// call: the certificate's fingerprint and the code of the institution it is bound to (for a revoked
    /// certificate, the one it was bound to when revoked; empty for none). Nil without a certificate.
    func presenter(of context: ServerContext) -> (certificateFingerprint: String, institution: String)? {
        guard let fingerprint = Self.peerFingerprint(of: context)?.bytes else { return nil }
        let institution = try? self.store.read { txn -> String in
            if let owner = try txn.revocation(certificateFingerprint: fingerprint) { return owner }
            return try txn.institution(certificateFingerprint: fingerprint)?.code.value ?? ""
        }
        return (fingerprint.hexString, institution ?? "")
    }

    /// The fingerprint (bytes and hex) of the certificate that identifies the caller of the RPC whose context is
    /// `context`: the one the TLS handshake verified, for bureaud's transport (``VerifiedPeer``); that of
    /// ``inProcessPeer`` for an RPC that reached the services over the in-process transport of the tests (no
    /// transport-specific context); nil otherwise.
    static func peerFingerprint(of context: ServerContext) -> (bytes: [UInt8], hex: String)? {
        if let transport = context.transportSpecific as? VerifiedPeer.Context {
            // bureaud's own transport: the verified certificate or nothing, whatever the task-local holds.
            return transport.fingerprint
        }
        guard context.transportSpecific == nil, let certificate = Self.inProcessPeer,
            let bytes = try? Self.fingerprint(of: certificate)
        else { return nil }
        return (bytes, bytes.hexString)
    }

    /// The certificate the in-process test harness presents for the calls it serves (Tests/BureauServerTests,
    /// `InProcessBureau`), so that behaviour tests run without TLS yet resolve callers exactly as bureaud does.
    ///
    /// Nothing a remote caller sends can set it, by construction:
    /// - it is `internal`, so only code in this module or a test target's `@testable import` (possible in
    ///   debug builds only, which enable testing) can bind it, and no code in this module does;
    /// - it is a task-local: it holds a value only inside a `withValue` scope in the serving process, never
    ///   anything read from a request (metadata, messages or the peer address);
    /// - ``peerCertificate(of:)`` never reads it for bureaud's transport (HTTP/2 over mTLS): there the
    ///   verified peer certificate alone counts, and bureaud serves no other transport.
    /// `CallerIdentityClaimTests` proves over real mTLS that a claim in metadata changes nothing.
    @TaskLocal static var inProcessPeer: Certificate?

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

extension BureauContext {
    /// Queues `work` for the next commit, as ``GroupCommitWriter/submit(_:)`` does, after checking inside
    /// the same write transaction that `caller` still stands (``CallerResolver/recheck(_:in:on:)``).
    ///
    /// - Throws: the re-check's ``BureauError`` (nothing of `work` is written; the refusal is logged like
    ///   any other, see ``RefusalLog``), or what `work` and the commit throw.
    func commit<T: Sendable>(for caller: Caller, _ work: @escaping @Sendable (StoreTransaction) throws -> T) async throws -> T {
        let (callers, today) = (self.callers, CalendarDate(utcDayOf: self.now()))
        return try await self.writer.submit { txn in
            _ = try callers.recheck(caller, in: txn, on: today)
            return try work(txn)
        }
    }
}
