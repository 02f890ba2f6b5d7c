public import BureauAPI
import BureauWire
import BureauCore
import BureauStore
import Foundation
public import GRPCCore
import Logging
import SwiftProtobuf

/// Random hex for references, codes and salts.
func randomHex(bytes count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
}

/// Consents on file: agencies register the consents subjects signed and quote them when they query.
public struct ConsentService: Bureau_ConsentService.SimpleServiceProtocol {
    let context: BureauContext

    init(context: BureauContext) {
        self.context = context
    }

    public func registerConsent(request: Bureau_RegisterConsentRequest, context: ServerContext) async throws -> Bureau_ConsentResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.agency)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        guard let kind = SubjectKind(request.subjectKind) else {
            throw BureauError.invalid("subject_kind", "must be individual or business")
        }
        let identifier = try SubjectIdentifier(kind: kind, parsing: request.subjectIdentifier, field: "subject_identifier")
        let purpose = try Purpose.parse(request.purpose)
        guard purpose.requiresConsent else {
            throw BureauError.invalid("purpose", "\(purpose.rawValue) does not rest on consent")
        }
        try caller.institution.authorize(purpose, kind: kind)
        guard request.hasValidFrom, let from = CalendarDate(year: Int(request.validFrom.year), month: Int(request.validFrom.month), day: Int(request.validFrom.day)) else {
            throw BureauError.invalid("valid_from", "is required and must be a real date")
        }
        guard request.hasValidUntil, let until = CalendarDate(year: Int(request.validUntil.year), month: Int(request.validUntil.month), day: Int(request.validUntil.day)) else {
            throw BureauError.invalid("valid_until", "is required and must be a real date")
        }
        guard until >= from else { throw BureauError.invalid("valid_until", "cannot be before valid_from") }
        guard until <= from.adding(years: 1) else { throw BureauError.invalid("valid_until", "a consent lasts at most one year") }
        guard request.evidenceSha256.count == 32 else {
            throw BureauError.invalid("evidence_sha256", "is the 32-byte SHA-256 of the signed consent")
        }
        let time = self.context.now()
        let key = self.context.store.key(for: identifier)
        let consent = Consent(
            reference: "CONSENT-" + randomHex(bytes: 12), subject: key, agency: caller.institution.code, purpose: purpose,
            validFrom: from, validUntil: until, evidenceDigest: Array(request.evidenceSha256).hexString, singleUse: request.singleUse
        )
        let entry = AccessLogEntry(
            .consentRegister, by: caller.actor, time: time, requestID: request.requestID, subjects: [key], purpose: purpose, consentReference: consent.reference, outcome: .applied,
            changeDigest: try FurnishService.digest(request)
        )
        let receipt = try await self.context.commit(for: caller) { txn in
            try txn.putConsent(consent)
            return try txn.appendLog(entry)
        }
        var response = Bureau_ConsentResponse()
        response.consentReference = consent.reference
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func revokeConsent(request: Bureau_RevokeConsentRequest, context: ServerContext) async throws -> Bureau_ConsentResponse {
        let caller = try self.context.callers.caller(of: context)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        guard !request.consentReference.isEmpty else { throw BureauError.invalid("consent_reference", "is required") }
        try Furnishing.validateLoggedText(request.reason, field: "reason")
        try Furnishing.validateLoggedText(request.consentReference, field: "consent_reference", limit: .consentReference)
        let time = self.context.now()
        let reference = request.consentReference
        let institution = caller.institution
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard var consent = try txn.consent(reference) else {
                throw BureauError(.notFound, "consent_reference: no consent \(reference) is on file")
            }
            // The agency that filed it, or the subject through the bureau's channel.
            guard consent.agency == institution.code || institution.roles.contains(.channel) else {
                throw BureauError(.permissionDenied, "consent_reference: consent \(reference) was filed by another agency")
            }
            consent.revokedOn = consent.revokedOn ?? CalendarDate(utcDayOf: time)
            try txn.putConsent(consent)
            return try txn.appendLog(
                AccessLogEntry(
                    .consentRevoke, by: caller.actor, time: time, requestID: request.requestID, subjects: [consent.subject],
                    purpose: consent.purpose, consentReference: reference, outcome: .applied, reason: String(request.reason.prefix(500)),
                    changeDigest: try FurnishService.digest(request)
                )
            )
        }
        var response = Bureau_ConsentResponse()
        response.consentReference = reference
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }
}
