/// A subject's dispute of one record, and the furnisher's answer.
public struct Dispute: Hashable, Codable, Sendable {
    public enum Status: String, Hashable, Codable, Sendable {
        case open
        /// The furnisher corrected or deleted the record.
        case corrected
        /// The furnisher confirmed the record as it stands.
        case confirmed
        /// The furnisher could not verify the record; the mark stays.
        case unresolved
    }

    /// Days a furnisher has to answer.
    public static let answerDays = 20

    public var id: String
    /// The keyed hash of the subject.
    public var subject: SubjectKey
    public var record: RecordReference
    public var filed: CalendarDate
    public var description: String
    public var status: Status
    public var answeredOn: CalendarDate?
    public var note: String

    public init(id: String, subject: SubjectKey, record: RecordReference, filed: CalendarDate, description: String) {
        self.id = id
        self.subject = subject
        self.record = record
        self.filed = filed
        self.description = description
        self.status = .open
        self.answeredOn = nil
        self.note = ""
    }

    /// The last day for the furnisher's answer.
    public var deadline: CalendarDate { CalendarDate(daysSinceEpoch: self.filed.daysSinceEpoch + Dispute.answerDays) }

    /// Whether the dispute is open past its deadline on `today`.
    public func isOverdue(on today: CalendarDate) -> Bool { self.status == .open && today > self.deadline }
}
