import struct Foundation.Date
import Crypto

/// A subject's consent, on file, for one agency to query for one purpose.
public struct Consent: Hashable, Codable, Sendable {
    /// The bureau's reference for it, quoted in report requests and log entries.
    public var reference: String
    /// The keyed hash of the subject.
    public var subject: SubjectKey
    public var agency: UnifiedSocialCreditCode
    public var purpose: Purpose
    public var validFrom: CalendarDate
    public var validUntil: CalendarDate
    /// Hex SHA-256 of the signed evidence the agency holds.
    public var evidenceDigest: String
    public var singleUse: Bool
    public var used: Bool
    public var revokedOn: CalendarDate?

    public init(
        reference: String, subject: SubjectKey, agency: UnifiedSocialCreditCode, purpose: Purpose, validFrom: CalendarDate,
        validUntil: CalendarDate, evidenceDigest: String, singleUse: Bool, used: Bool = false, revokedOn: CalendarDate? = nil
    ) {
        self.reference = reference
        self.subject = subject
        self.agency = agency
        self.purpose = purpose
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.evidenceDigest = evidenceDigest
        self.singleUse = singleUse
        self.used = used
        self.revokedOn = revokedOn
    }

    /// Checks that this consent covers a query by `agency` about `subject` for `purpose` on `today`.
    ///
    /// - Throws: ``BureauError`` (permission denied) naming what is wrong: another subject, agency or
    ///   purpose, not yet valid, expired, revoked or used up.
    public func check(subject: SubjectKey, agency: UnifiedSocialCreditCode, purpose: Purpose, on today: CalendarDate) throws(BureauError) {
        let field = "consent_reference"
        guard subject == self.subject else { throw BureauError(.permissionDenied, "\(field): consent \(self.reference) is for another subject") }
        guard agency == self.agency else { throw BureauError(.permissionDenied, "\(field): consent \(self.reference) was given to another agency") }
        guard purpose == self.purpose else {
            throw BureauError(.permissionDenied, "\(field): consent \(self.reference) is for \(self.purpose.rawValue), not \(purpose.rawValue)")
        }
        if let revoked = self.revokedOn { throw BureauError(.permissionDenied, "\(field): consent \(self.reference) was revoked on \(revoked)") }
        guard today >= self.validFrom else { throw BureauError(.permissionDenied, "\(field): consent \(self.reference) is valid from \(self.validFrom)") }
        guard today <= self.validUntil else { throw BureauError(.permissionDenied, "\(field): consent \(self.reference) expired on \(self.validUntil)") }
        guard !(self.singleUse && self.used) else { throw BureauError(.permissionDenied, "\(field): single-use consent \(self.reference) was already used") }
    }
}

/// A security freeze on a file: purposes that open new credit are refused unless the request carries the
/// one-time code the subject received when freezing.
public struct Freeze: Hashable, Codable, Sendable {
    public var placed: CalendarDate
    /// Hex SHA-256 of the salt and the code; the code itself is never stored.
    public var codeDigest: String
    public var salt: String
    /// The day the one-time code let a query through; nil while it is unused. A used code passes no
    /// other query (it still lifts the freeze, which only the subject can ask for through the channel).
    public var codeUsedOn: CalendarDate?

    public init(placed: CalendarDate, code: String, salt: String) {
        self.placed = placed
        self.salt = salt
        self.codeDigest = Freeze.digest(code: code, salt: salt)
    }

    static func digest(code: String, salt: String) -> String {
        SHA256.hash(data: Array((salt + ":" + code).utf8)).hexString
    }

    /// Whether `code` is the freeze's one-time code.
    public func accepts(code: String) -> Bool { !code.isEmpty && Freeze.digest(code: code, salt: self.salt) == self.codeDigest }

    /// Purposes a freeze blocks: those that open new credit. Account review and court orders still pass.
    public static func blocks(_ purpose: Purpose) -> Bool {
        switch purpose {
        case .loanOrigination, .creditCardOrigination, .guaranteeReview: true
        default: false
        }
    }
}

/// A fraud alert on a file, shown on every report.
public struct FraudAlert: Hashable, Codable, Sendable {
    public var placed: CalendarDate
    public var note: String

    public init(placed: CalendarDate, note: String) {
        self.placed = placed
        self.note = note
    }
}

/// A file's protections: a freeze and a fraud alert.
public struct FileProtection: Hashable, Codable, Sendable {
    public var freeze: Freeze?
    public var fraudAlert: FraudAlert?

    public init(freeze: Freeze? = nil, fraudAlert: FraudAlert? = nil) {
        self.freeze = freeze
        self.fraudAlert = fraudAlert
    }

    /// Checks that a query for `purpose` may pass the freeze, with the one-time `code` if any.
    ///
    /// - Throws: ``BureauError`` (failed precondition) when the file is frozen for this purpose: no code,
    ///   a wrong one, or one that already let a query through.
    public func check(_ purpose: Purpose, code: String) throws(BureauError) {
        guard let freeze = self.freeze, Freeze.blocks(purpose) else { return }
        if code.isEmpty {
            throw BureauError(.failedPrecondition, "the file is frozen since \(freeze.placed): purpose \(purpose.rawValue) needs the subject's one-time code (freeze_code)")
        }
        guard freeze.accepts(code: code) else {
            throw BureauError(.failedPrecondition, "freeze_code: the code does not lift the freeze on this file")
        }
        if let used = freeze.codeUsedOn {
            throw BureauError(.failedPrecondition, "freeze_code: the one-time code already let a query through on \(used)")
        }
    }

    /// Admits a query for `purpose` past the freeze, using up the one-time `code` when it is what lets
    /// the query through.
    ///
    /// - Returns: the protection to store when the code was used up, nil when nothing changes.
    /// - Throws: what ``check(_:code:)`` throws.
    public func admitting(_ purpose: Purpose, code: String, on today: CalendarDate) throws(BureauError) -> FileProtection? {
        try self.check(purpose, code: code)
        guard self.freeze != nil, Freeze.blocks(purpose) else { return nil }
        var used = self
        used.freeze?.codeUsedOn = today
        return used
    }
}
