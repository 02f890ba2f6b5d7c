public import struct Foundation.Date
import class Foundation.JSONEncoder
import class Foundation.JSONDecoder
import struct Foundation.Data

/// What happened to a request, as the log records it.
///
/// The query index stores an outcome as its ``indexCode``; new outcomes take new codes.
public enum Outcome: String, Hashable, Codable, Sendable, CaseIterable {
    /// A report was disclosed.
    case hit
    /// No file under that identifier.
    case noHit = "no-hit"
    /// Refused: the entry's `reason` says why.
    case denied
    /// Refused because the file is frozen.
    case frozen
    /// A change to files was applied.
    case applied

    /// The outcome's stable one-byte code in the query index: hit 0, no-hit 1, denied 2, frozen 3,
    /// applied 4 (the order of the cases when the index was introduced, which stored entries hold).
    public var indexCode: UInt8 {
        switch self {
        case .hit: 0
        case .noHit: 1
        case .denied: 2
        case .frozen: 3
        case .applied: 4
        }
    }

    /// The outcome whose ``indexCode`` is `code`, or nil.
    public init?(indexCode code: UInt8) {
        guard let found = Self.allCases.first(where: { $0.indexCode == code }) else { return nil }
        self = found
    }
}

/// One entry of the access log: who asked what about whom, for which purpose, and what they got.
///
/// No cleartext national identifier ever appears here: the subject is named by its ``SubjectKey``.
/// ``canonicalBytes()`` is the exact byte string whose RFC 6962 leaf hash goes into the Merkle tree.
public struct AccessLogEntry: Hashable, Codable, Sendable {
    /// When the server decided the request (millisecond precision).
    public var time: Date
    /// The action: `report.individual`, `report.business`, `furnish.submit`, ...
    public var action: LogAction
    /// The caller's own request or batch id.
    public var requestID: String
    /// The institution's Unified Social Credit Code, or empty when the caller was not recognised.
    public var institution: String
    /// Hex SHA-256 of the caller's certificate.
    public var certificateFingerprint: String
    /// The operator id sent by an operator's client (empty otherwise).
    public var operatorID: String
    /// The keyed hashes of the subjects concerned (written as hex).
    public var subjects: [SubjectKey]
    public var purpose: Purpose?
    public var consentReference: String
    /// The legal basis relied on.
    public var legalBasis: String
    public var outcome: Outcome
    /// Why a request was denied (empty otherwise).
    public var reason: String
    /// The disclosed fields with their treatment.
    public var disclosedFields: [String]
    /// The disclosure table's version that decided the fields (0 when nothing was disclosed).
    public var disclosureVersion: UInt32
    /// For changes: hex SHA-256 of what changed.
    public var changeDigest: String
    /// Which shared parts (actor, legal basis, disclosure profile) the stored bytes name by the index of an
    /// earlier entry that holds the same value, instead of holding them (docs/LOG-ENTRY.md). Empty for an entry
    /// written inline and for JSON entries. The store sets them when it appends; ``resolveReferences(at:holder:)``
    /// fills the referenced parts in.
    public var references = LogReferences()

    /// The one way to make an entry: `action` done by `actor` (institution, certificate and operator id
    /// together, see ``LogActor``), at `time`.
    public init(
        _ action: LogAction, by actor: LogActor, time: Date, requestID: String, subjects: [SubjectKey] = [], purpose: Purpose? = nil,
        consentReference: String = "", legalBasis: String = "", outcome: Outcome, reason: String = "", disclosedFields: [String] = [],
        disclosureVersion: UInt32 = 0, changeDigest: String = ""
    ) {
        // Millisecond precision so that the canonical bytes round-trip exactly.
        self.time = Date(timeIntervalSince1970: (time.timeIntervalSince1970 * 1000).rounded() / 1000)
        self.action = action
        self.requestID = requestID
        self.institution = actor.institution
        self.certificateFingerprint = actor.certificateFingerprint
        self.operatorID = actor.operatorID
        self.subjects = subjects
        self.purpose = purpose
        self.consentReference = consentReference
        self.legalBasis = legalBasis
        self.outcome = outcome
        self.reason = reason
        self.disclosedFields = disclosedFields
        self.disclosureVersion = disclosureVersion
        self.changeDigest = changeDigest
    }

    enum CodingKeys: String, CodingKey {
        case time, action, institution, purpose, subjects, outcome, reason
        case requestID = "request_id"
        case certificateFingerprint = "certificate_sha256"
        case operatorID = "operator_id"
        case consentReference = "consent_reference"
        case legalBasis = "legal_basis"
        case disclosedFields = "disclosed_fields"
        case disclosureVersion = "disclosure_version"
        case changeDigest = "change_sha256"
    }

    /// The most bytes one entry's canonical encoding may take (256 KiB). A batch of the most subjects with
    /// every other field at its limit stays well below; ``StoreTransaction/appendLog(_:)`` refuses more, so
    /// that any entry fits a message with room to spare.
    public static let maxCanonicalBytes = 256 << 10

    /// The canonical encoding, the bytes whose RFC 6962 leaf hash goes into the tree: the compact binary
    /// entry of docs/LOG-ENTRY.md (version byte 0x01), with the parts named in ``references`` by reference.
    /// Anyone holding an entry's bytes can recompute its leaf hash.
    public func canonicalBytes() -> [UInt8] {
        LogEntryCodec.encode(self)
    }

    /// The JSON encoding entries were stored in before the compact one (version 0: compact JSON, keys
    /// sorted, time in integer milliseconds since 1970), with every part inline. Still read and verified;
    /// also the export's JSON Lines form.
    public func jsonBytes() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .millisecondsSince1970
        // Encoding plain strings, numbers and arrays cannot fail.
        return Array(try! encoder.encode(self))
    }

    /// Decodes stored bytes of either version: a compact entry (first byte 0x01), whose referenced parts
    /// stay empty until ``resolveReferences(at:holder:)``, or a JSON entry (first byte `{`).
    ///
    /// - Throws: ``LogEntryCodec/Malformed`` (or a `DecodingError` for JSON) when the bytes are not an entry.
    public init(canonicalBytes bytes: [UInt8]) throws {
        if bytes.first == LogEntryCodec.version {
            self = try LogEntryCodec.decode(bytes)
            return
        }
        guard bytes.first == UInt8(ascii: "{") else {
            throw LogEntryCodec.Malformed("an entry starts with version byte 0x01 or with { (JSON), not \(bytes.first.map { String($0) } ?? "nothing")")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        self = try decoder.decode(AccessLogEntry.self, from: Data(bytes))
    }
}

/// A proof handed to the caller that its request is in the log: the entry's index and leaf hash.
public struct LogReceipt: Hashable, Codable, Sendable {
    public var index: UInt64
    public var leafHash: [UInt8]

    public init(index: UInt64, leafHash: [UInt8]) {
        self.index = index
        self.leafHash = leafHash
    }
}
