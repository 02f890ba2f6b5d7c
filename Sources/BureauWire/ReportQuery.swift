public import BureauAPI
public import BureauCore

/// The validated fields of a report or score request: everything that can be checked before the
/// caller's licence, the consent or the file is read. Each failure names the field and the rule.
public struct ReportQuery: Sendable, Hashable {
    public var identifier: SubjectIdentifier
    public var purpose: Purpose
    public var consentReference: String
    public var requestID: String
    public var freezeCode: String

    /// The longest request id, consent reference and freeze code accepted, in UTF-8 bytes.
    public static let maximumRequestID = 128
    public static let maximumConsentReference = 128
    public static let maximumFreezeCode = 64

    public init(
        kind: SubjectKind, identifier: String, purpose: Bureau_Purpose, consentReference: String, requestID: String, freezeCode: String
    ) throws(BureauError) {
        self.purpose = try Purpose.parse(purpose)
        self.identifier = try SubjectIdentifier(kind: kind, parsing: identifier)
        guard requestID.utf8.count <= Self.maximumRequestID else {
            throw .invalid("request_id", "is at most \(Self.maximumRequestID) bytes")
        }
        guard consentReference.utf8.count <= Self.maximumConsentReference else {
            throw .invalid("consent_reference", "is at most \(Self.maximumConsentReference) bytes")
        }
        guard freezeCode.utf8.count <= Self.maximumFreezeCode else {
            throw .invalid("freeze_code", "is at most \(Self.maximumFreezeCode) bytes")
        }
        // Both are written to the log: they must not smuggle a national identifier into it.
        for (field, value) in [("request_id", requestID), ("consent_reference", consentReference)]
        where ResidentIdentityNumber.occurs(in: value) {
            throw .invalid(field, "must not contain a national identifier")
        }
        self.consentReference = consentReference
        self.requestID = requestID
        self.freezeCode = freezeCode
    }

    public init(_ request: Bureau_IndividualReportRequest) throws(BureauError) {
        try self.init(
            kind: .individual, identifier: request.identifier, purpose: request.purpose,
            consentReference: request.consentReference, requestID: request.requestID, freezeCode: request.freezeCode
        )
    }

    public init(_ request: Bureau_BusinessReportRequest) throws(BureauError) {
        try self.init(
            kind: .business, identifier: request.identifier, purpose: request.purpose,
            consentReference: request.consentReference, requestID: request.requestID, freezeCode: request.freezeCode
        )
    }

    public init(_ request: Bureau_ScoreRequest) throws(BureauError) {
        guard let kind = SubjectKind(request.subjectKind) else {
            throw .invalid("subject_kind", "must be individual or business")
        }
        try self.init(
            kind: kind, identifier: request.identifier, purpose: request.purpose,
            consentReference: request.consentReference, requestID: request.requestID, freezeCode: request.freezeCode
        )
    }
}
