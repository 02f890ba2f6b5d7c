public import BureauAPI
import BureauWire
import BureauCore
import BureauStore
import BureauKeys
import Foundation
public import GRPCCore
import SwiftASN1
import SwiftProtobuf
import X509

/// Running the bureau over the API: institutions, licences, certificates and the catalogue, for the
/// bureau's operators, so that the store need not be on an operator's machine.
///
/// Every call needs the operator role and the `bureau-operator-id` metadata (the caller resolver refuses an
/// operator's call without it); every change is one log entry carrying the operator id, the request id and
/// the digest of the request; refusals are logged by ``RefusalLog`` like any other.
///
/// Certificates are issued where the CA's key is (`bureau institution issue-cert` on the operator's
/// machine) and bound here by their PEM: bureaud checks that the bureau's CA issued them, and never holds
/// the CA's private key. A server that can mint identities is a server whose compromise mints them; one
/// that only checks signatures with the CA's certificate cannot, and the same CA certificate is all mTLS
/// needs anyway.
public struct AdministrationService: Bureau_AdministrationService.SimpleServiceProtocol {
    let context: BureauContext
    /// The CA certificates a bound certificate must be issued by.
    let issuers: [Certificate]
    /// Suspension and reinstatement, shared with the regulators' ``OversightService``.
    let oversight: OversightService

    init(context: BureauContext, issuers: [Certificate], oversight: OversightService) {
        self.context = context
        self.issuers = issuers
        self.oversight = oversight
    }

    /// The most bytes of a certificate PEM.
    static let maxPEMBytes = 16 << 10
    /// The most certificates a registration binds.
    static let maxCertificates = 8

    public func registerInstitution(
        request: Bureau_RegisterInstitutionRequest, context: ServerContext
    ) async throws -> Bureau_AdministrationResponse {
        let caller = try self.operator(context)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        guard request.hasInstitution else { throw BureauError.invalid("institution", "is required") }
        var institution = try Institution(wire: request.institution, field: "institution")
        guard request.certificatePem.count <= Self.maxCertificates else {
            throw BureauError.invalid("certificate_pem", "binds at most \(Self.maxCertificates) certificates")
        }
        for (i, pem) in request.certificatePem.enumerated() {
            let fingerprint = try self.fingerprint(ofIssued: pem, field: "certificate_pem[\(i)]")
            guard institution.certificateFingerprints.insert(fingerprint).inserted else {
                throw BureauError.invalid("certificate_pem[\(i)]", "appears twice")
            }
        }
        let (code, registered) = (institution.code, institution)
        let entry = try self.entry(caller, .institutionRegister, request.requestID, target: code.value, request)
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard try txn.institution(code: code) == nil else {
                throw BureauError(.alreadyExists, "institution.code: \(code) is registered (UpdateInstitution changes it)")
            }
            try txn.putInstitution(try registered.validated(against: try txn.storedCatalogue() ?? .default))
            return try txn.appendLog(entry)
        }
        return Self.response(receipt, institution: code.value)
    }

    public func updateInstitution(
        request: Bureau_UpdateInstitutionRequest, context: ServerContext
    ) async throws -> Bureau_AdministrationResponse {
        let caller = try self.operator(context)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        guard request.hasInstitution else { throw BureauError.invalid("institution", "is required") }
        let institution = try Institution(wire: request.institution, field: "institution")
        let code = institution.code
        let entry = try self.entry(caller, .institutionUpdate, request.requestID, target: code.value, request)
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard let current = try txn.institution(code: code) else {
                throw BureauError(.notFound, "institution.code: \(code) is not registered")
            }
            var updated = try institution.validated(against: try txn.storedCatalogue() ?? .default)
            updated.certificateFingerprints = current.certificateFingerprints
            try txn.putInstitution(updated)
            return try txn.appendLog(entry)
        }
        return Self.response(receipt, institution: code.value)
    }

    public func listInstitutions(
        request: Bureau_ListInstitutionsRequest, context: ServerContext
    ) async throws -> Bureau_ListInstitutionsResponse {
        _ = try self.operator(context)
        var response = Bureau_ListInstitutionsResponse()
        response.institutions = try self.context.store.read { try $0.institutions() }.map(Bureau_InstitutionRecord.init)
        return response
    }

    public func bindCertificate(
        request: Bureau_BindCertificateRequest, context: ServerContext
    ) async throws -> Bureau_AdministrationResponse {
        let caller = try self.operator(context)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        let code = try UnifiedSocialCreditCode(parsing: request.institution, field: "institution")
        let fingerprint = try self.fingerprint(ofIssued: request.certificatePem, field: "certificate_pem")
        let entry = try self.entry(caller, .certificateBind, request.requestID, target: "\(code): sha256:\(fingerprint)", request)
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard var institution = try txn.institution(code: code) else {
                throw BureauError(.notFound, "institution: \(code) is not registered")
            }
            guard institution.certificateFingerprints.insert(fingerprint).inserted else {
                throw BureauError(.alreadyExists, "certificate_pem: sha256:\(fingerprint) is bound to \(code) already")
            }
            // Refuses a revoked certificate and one bound to another institution.
            try txn.putInstitution(institution)
            return try txn.appendLog(entry)
        }
        return Self.response(receipt, institution: code.value, fingerprint: fingerprint)
    }

    public func revokeCertificate(
        request: Bureau_RevokeCertificateRequest, context: ServerContext
    ) async throws -> Bureau_AdministrationResponse {
        let caller = try self.operator(context)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        let hex = request.fingerprint.lowercased()
        guard hex.utf8.count == 64, let bytes = [UInt8](hex: hex), bytes.count == 32 else {
            throw BureauError.invalid("fingerprint", "is 64 hex characters (SHA-256 of the certificate's DER)")
        }
        let entry = try self.entry(caller, .certificateRevoke, request.requestID, target: "sha256:\(hex)", request)
        let (receipt, owner) = try await self.context.commit(for: caller) { txn -> (LogReceipt, String) in
            if try txn.isRevoked(certificateFingerprint: bytes) {
                throw BureauError(.alreadyExists, "fingerprint: sha256:\(hex) is revoked already")
            }
            // A certificate bound to no one may be revoked too: one issued and lost before it was bound.
            let owner = try txn.revokeCertificate(fingerprint: hex)?.code.value ?? ""
            var named = entry
            named.reason = "\(owner.isEmpty ? "unbound" : owner): \(entry.reason)"
            return (try txn.appendLog(named), owner)
        }
        return Self.response(receipt, institution: owner, fingerprint: hex)
    }

    /// Rotates the key-encryption key to the key file `key_file` on bureaud's machine while serving (see
    /// ``Store/rotateKeys(to:batch:)``), then logs it; the re-wrap runs on a thread of its own.
    public func rotateKeys(request: Bureau_RotateKeysRequest, context: ServerContext) async throws -> Bureau_RotateKeysResponse {
        let caller = try self.operator(context)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        guard request.keyFile.hasPrefix("/"), request.keyFile.utf8.count <= 1024, !request.keyFile.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw BureauError.invalid("key_file", "is an absolute path of at most 1024 bytes")
        }
        let store = self.context.store
        let new: FileKeyEncryptionKey
        do {
            new = try FileKeyEncryptionKey.load(from: request.keyFile, outside: store.folder)
        } catch {
            throw BureauError(.failedPrecondition, "key_file: \(error)")
        }
        guard new.id != store.backend.protection.keyEncryptionKey.id else {
            throw BureauError(.failedPrecondition, "key_file: KEK \(new.id) is the one in force already")
        }
        let rotation = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<DataProtection.Rotation, any Error>) in
            let thread = Thread { continuation.resume(with: Result { try store.rotateKeys(to: new) }) }
            thread.name = "bureau-key-rotation"
            thread.start()
        }
        let entry = try self.entry(
            caller, .keysRotate, request.requestID,
            target: "KEK \(rotation.from) -> \(rotation.to): the master data key and \(rotation.rewrapped) wrapped data key(s) re-wrapped, \(rotation.keys) in the key store", request
        )
        let receipt = try await self.context.commit(for: caller) { txn in try txn.appendLog(entry) }
        var response = Bureau_RotateKeysResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        response.previousKeyID = rotation.from.hex
        response.keyID = rotation.to.hex
        response.rewrapped = UInt64(rotation.rewrapped)
        response.keys = UInt64(rotation.keys)
        return response
    }

    public func replaceCatalogue(
        request: Bureau_ReplaceCatalogueRequest, context: ServerContext
    ) async throws -> Bureau_AdministrationResponse {
        let caller = try self.operator(context)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        let catalogue = try Catalogue(version: request.version, wire: request.categories)
        let entry = try self.entry(caller, .catalogueReplace, request.requestID, target: "version \(catalogue.version)", request)
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            let current = try txn.storedCatalogue() ?? .default
            guard catalogue.version > current.version else {
                throw BureauError(.failedPrecondition, "version: \(catalogue.version) must be above the version in force, \(current.version)")
            }
            try txn.putCatalogue(catalogue)
            return try txn.appendLog(entry)
        }
        // Reports follow it from the next call; the store at the next purge (which reads the stored one).
        self.context.catalogue.invalidate()
        return Self.response(receipt, institution: "")
    }

    public func suspendLicence(request: Bureau_LicenceActionRequest, context: ServerContext) async throws -> Bureau_LicenceActionResponse {
        let caller = try self.operator(context)
        if (try? UnifiedSocialCreditCode(parsing: request.institution)) == caller.institution.code {
            // Its own staff would be locked out, with no one left to reinstate it but a regulator.
            throw BureauError(.failedPrecondition, "institution: an operator does not suspend its own institution")
        }
        return try await self.oversight.changeLicence(request, context, to: .suspended, action: .licenceSuspend, role: .operator)
    }

    public func reinstateLicence(request: Bureau_LicenceActionRequest, context: ServerContext) async throws -> Bureau_LicenceActionResponse {
        try await self.oversight.changeLicence(request, context, to: .active, action: .licenceReinstate, role: .operator)
    }

    /// The caller, an operator (the resolver has checked its operator id).
    private func `operator`(_ context: ServerContext) throws -> Caller {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.operator)
        return caller
    }

    /// The log entry of a change to `target` by `caller`.
    private func entry(
        _ caller: Caller, _ action: LogAction, _ requestID: String, target: String, _ request: some SwiftProtobuf.Message
    ) throws -> AccessLogEntry {
        AccessLogEntry(
            action, by: caller.actor, time: self.context.now(), requestID: requestID, outcome: .applied,
            reason: target, changeDigest: try FurnishService.digest(request)
        )
    }

    private static func response(_ receipt: LogReceipt, institution: String, fingerprint: String = "") -> Bureau_AdministrationResponse {
        var response = Bureau_AdministrationResponse()
        response.receipt = Bureau_LogReceipt(receipt)
        response.institution = institution
        response.fingerprint = fingerprint
        return response
    }

    /// The fingerprint of a client certificate the bureau's CA issued, sent as PEM at `field`.
    ///
    /// - Throws: ``BureauError``: invalid argument when it is not one PEM certificate of at most 16 KiB, not
    ///   signed by the bureau's CA, a CA certificate, not for client authentication or expired; failed
    ///   precondition when bureaud knows no CA.
    func fingerprint(ofIssued pem: String, field: String) throws -> String {
        guard !pem.isEmpty, pem.utf8.count <= Self.maxPEMBytes else { throw BureauError.invalid(field, "is a PEM certificate of at most 16 KiB") }
        let certificate: Certificate
        do { certificate = try Certificate(pemEncoded: pem) } catch { throw BureauError.invalid(field, "is not a PEM certificate") }
        guard !self.issuers.isEmpty else {
            throw BureauError(.failedPrecondition, "bureaud was started without the bureau's CA certificate and cannot check \(field)")
        }
        guard self.issuers.contains(where: { $0.subject == certificate.issuer && $0.publicKey.isValidSignature(certificate.signature, for: certificate) })
        else { throw BureauError.invalid(field, "was not issued by the bureau's CA") }
        if let constraints = try? certificate.extensions.basicConstraints, case .isCertificateAuthority = constraints {
            throw BureauError.invalid(field, "is a CA certificate, not a client certificate")
        }
        if let usages = try? certificate.extensions.extendedKeyUsage, !usages.contains(.clientAuth) {
            throw BureauError.invalid(field, "is not for client authentication (extended key usage)")
        }
        guard certificate.notValidAfter > self.context.now() else {
            throw BureauError.invalid(field, "expired on \(certificate.notValidAfter)")
        }
        return try CallerResolver.fingerprint(of: certificate).hexString
    }
}

extension Bureau_RegisterInstitutionRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}

extension Bureau_UpdateInstitutionRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}

extension Bureau_BindCertificateRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}

extension Bureau_RevokeCertificateRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}

extension Bureau_ReplaceCatalogueRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}
