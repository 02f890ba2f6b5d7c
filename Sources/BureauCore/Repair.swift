/// Publicity periods of the severe-untrustworthiness list by severity: the least time before the subject
/// may ask for repair, and the most time it may be published (it stops by itself then).
public enum ListPolicy {
    public static func minimumBeforeRepair(_ severity: ListSeverity) -> (months: Int, text: String) {
        switch severity {
        case .minor: (3, "3 months")
        case .general: (12, "1 year")
        case .serious: (36, "3 years")
        }
    }

    public static func maximumPublicity(_ severity: ListSeverity) -> (years: Int, text: String) {
        switch severity {
        case .minor: (1, "1 year")
        case .general: (3, "3 years")
        case .serious: (5, "5 years")
        }
    }
}

/// A subject's request to have a list entry or a negative record repaired (removed early after rectification).
public struct Repair: Hashable, Codable, Sendable {
    public enum Status: String, Hashable, Codable, Sendable {
        case pending
        case approved
        case rejected
    }

    public var id: String
    public var subject: SubjectKey
    public var record: RecordReference
    public var requested: CalendarDate
    /// What the subject did to put things right.
    public var rectification: String
    /// Hex SHA-256 of the evidence the subject handed in.
    public var evidenceDigest: String
    public var status: Status
    public var reviewedBy: String
    public var note: String

    public init(id: String, subject: SubjectKey, record: RecordReference, requested: CalendarDate, rectification: String, evidenceDigest: String) {
        self.id = id
        self.subject = subject
        self.record = record
        self.requested = requested
        self.rectification = rectification
        self.evidenceDigest = evidenceDigest
        self.status = .pending
        self.reviewedBy = ""
        self.note = ""
    }

    /// Checks that `record` may be repaired on `today` under `catalogue`.
    ///
    /// - Throws: ``BureauError`` (failed precondition) naming why not.
    public static func check(_ record: CreditRecord, catalogue: Catalogue, today: CalendarDate) throws(BureauError) {
        switch record {
        case .listEntry(let entry):
            guard let severity = entry.severity else {
                throw BureauError(.failedPrecondition, "record: \(entry.list) entries are not repaired")
            }
            let minimum = ListPolicy.minimumBeforeRepair(severity)
            let earliest = CalendarDate(daysSinceEpoch: entry.listed.daysSinceEpoch + minimum.months * 30)
            guard today >= earliest else {
                throw BureauError(.failedPrecondition, "record: a \(severity.rawValue) listing may be repaired after \(minimum.text), from \(earliest)")
            }
        default:
            guard let category = catalogue.category(record.category), category.repairable else {
                throw BureauError(.failedPrecondition, "record: the catalogue does not allow repair of \(record.category)")
            }
        }
    }
}
