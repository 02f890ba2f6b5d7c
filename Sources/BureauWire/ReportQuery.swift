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

    /// The longest request id, consent reference and freeze code accepted, in UTF-8 bytes (``FieldLimit``).
    public static let maximumRequestID = FieldLimit.requestID.bytes
    public static let maximumConsentReference = FieldLimit.consentReference.bytes
    public static let maximumFreezeCode = FieldLimit.freezeCode.bytes

    public init(
        kind: SubjectKind, identifier: String, purpose: Bureau_Purpose, consentReference: String, requestID: String, freezeCode: String
    ) throws(BureauError) {
        self.purpose = try Purpose.parse(purpose)
        self.identifier = try SubjectIdentifier(kind: kind, parsing: identifier)
        // Both are written to the log: no control characters, no national identifier.
        try LoggedText.check(requestID, field: "request_id", limit: .requestID)
        try LoggedText.check(consentReference, field: "consent_reference", limit: .consentReference)
        try FieldLimit.freezeCode.check(freezeCode, field: "freeze_code")
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
