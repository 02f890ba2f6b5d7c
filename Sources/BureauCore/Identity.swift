/// One source's identity facts about a subject: who reported them, when, and what.
///
/// A file keeps one source per furnisher that reported the subject: for a person the name, birth date, phone
/// and address; for a business the name, registration date, address and legal representative (name and
/// identifier). A furnisher's submission replaces only its own source. The subject's identifier is the file's
/// key, not a fact: every source of a file carries the same identifier. Reports show the best current value
/// of the sources (``IdentityRule``); the subject's own report lists every source with its dates.
public struct IdentitySource: Hashable, Codable, Sendable {
    /// Who reported the facts and when.
    public struct Attribution: Hashable, Codable, Sendable {
        public var furnisher: UnifiedSocialCreditCode
        /// The day the furnisher first reported the subject's identity.
        public var firstReported: CalendarDate
        /// The day of its latest report.
        public var reported: CalendarDate

        public init(furnisher: UnifiedSocialCreditCode, firstReported: CalendarDate, reported: CalendarDate) {
            self.furnisher = furnisher
            self.firstReported = firstReported
            self.reported = reported
        }
    }

    /// Who reported the facts and when; nil for the identity that was on file before identity facts were
    /// attributed (a file stored in the first record format), whose furnisher and date are unknown.
    public var attribution: Attribution?
    /// The facts as the source reported them.
    public var identity: CreditFile.Subject

    public init(attribution: Attribution?, identity: CreditFile.Subject) {
        self.attribution = attribution
        self.identity = identity
    }

    /// The reporting furnisher, nil when the source is the unattributed identity on file before attribution.
    public var furnisher: UnifiedSocialCreditCode? { self.attribution?.furnisher }
}

/// The rule that picks, field by field, the identity a report shows from a file's ``IdentitySource``s,
/// and the rule that decides who may report identity facts at all.
///
/// **Best current value.** The sources that count are those whose furnisher currently holds at least one
/// record of its own on the file (an account, public record or list entry). When no source holds a record
/// (a file stored before attribution, or one whose records were all deleted or purged), every source
/// counts, so that the file keeps the identity last reported. Among the sources that count, each field
/// takes the most recently reported non-empty value; a tie on the day goes to the source that first
/// reported earlier, then to the lower furnisher code; the unattributed source comes after every
/// attributed one. Fields: a person's name, birth date, phone and address; a business's name,
/// registration date, address and legal representative (name and identifier together). An address is one
/// field (province, city and detail together), so that one source's street never joins another's city.
///
/// **Who may report.** A furnisher reports identity facts only together with a record of its own on the
/// file: a submission that would leave it with identity facts but no record of its own on that subject is
/// refused with FAILED_PRECONDITION (the file's state, not the request's form, decides). So a furnisher
/// with no business with the subject cannot speak for its identity.
///
/// A source whose furnisher no longer holds a record (all of them deleted or purged) is kept, shown to the
/// subject as not counted, and stops counting; it counts again when the furnisher reports a record again.
public enum IdentityRule {
    /// Whether `a` comes before `b`: the later report first; on the same day the earlier first report;
    /// then the lower furnisher code; the unattributed source last.
    public static func precedes(_ a: IdentitySource, _ b: IdentitySource) -> Bool {
        switch (a.attribution, b.attribution) {
        case (nil, _): return false
        case (_, nil): return true
        case (let x?, let y?):
            if x.reported != y.reported { return x.reported > y.reported }
            if x.firstReported != y.firstReported { return x.firstReported < y.firstReported }
            return x.furnisher.value < y.furnisher.value
        }
    }

    /// Whether `source` counts for the best value, given the furnishers holding a record on the file.
    public static func counts(_ source: IdentitySource, among sources: [IdentitySource], holders: Set<UnifiedSocialCreditCode>) -> Bool {
        let anyHolds = sources.contains { $0.furnisher.map(holders.contains) ?? false }
        return !anyHolds || (source.furnisher.map(holders.contains) ?? false)
    }

    /// The sources that count, in the rule's order (see ``precedes(_:_:)``).
    public static func counted(_ sources: [IdentitySource], holders: Set<UnifiedSocialCreditCode>) -> [IdentitySource] {
        sources.filter { counts($0, among: sources, holders: holders) }.sorted(by: precedes)
    }

    /// The best current identity of a file, field by field; nil only when there is no source.
    ///
    /// - Parameters:
    ///   - sources: every source's facts (all of one subject).
    ///   - holders: the furnishers that hold at least one record on the file.
    public static func best(of sources: [IdentitySource], holders: Set<UnifiedSocialCreditCode>) -> CreditFile.Subject? {
        let ordered = counted(sources, holders: holders)
        guard let top = ordered.first else { return nil }
        func first<T>(_ value: (CreditFile.Subject) -> T?) -> T? {
            for source in ordered { if let found = value(source.identity) { return found } }
            return nil
        }
        func nonEmpty(_ text: String) -> String? { text.trimmingWhitespace().isEmpty ? nil : text }
        func nonEmpty(_ address: Address) -> Address? {
            [address.province, address.city, address.detail].allSatisfy { $0.trimmingWhitespace().isEmpty } ? nil : address
        }
        switch top.identity {
        case .person(var person):
            func facts(_ subject: CreditFile.Subject) -> PersonIdentity? {
                if case .person(let p) = subject { p } else { nil }
            }
            person.name = first { facts($0).flatMap { nonEmpty($0.name) } } ?? person.name
            person.phone = first { facts($0).flatMap { nonEmpty($0.phone) } } ?? person.phone
            person.address = first { facts($0).flatMap { nonEmpty($0.address) } } ?? person.address
            return .person(person)
        case .business(var business):
            func facts(_ subject: CreditFile.Subject) -> BusinessRegistration? {
                if case .business(let b) = subject { b } else { nil }
            }
            business.name = first { facts($0).flatMap { nonEmpty($0.name) } } ?? business.name
            business.address = first { facts($0).flatMap { nonEmpty($0.address) } } ?? business.address
            if let representative = first({ facts($0).flatMap { nonEmpty($0.legalRepresentativeName) == nil ? nil : $0 } }) {
                business.legalRepresentativeName = representative.legalRepresentativeName
                business.legalRepresentativeIdentifier = representative.legalRepresentativeIdentifier
            }
            return .business(business)
        }
    }

    /// Replaces `furnisher`'s facts in `sources` with `identity` reported on `day`, keeping the day it first
    /// reported; other sources are untouched.
    ///
    /// - Throws: ``BureauError`` (internal) when `identity` is of another subject than the sources.
    public static func report(
        _ identity: CreditFile.Subject, by furnisher: UnifiedSocialCreditCode, on day: CalendarDate, into sources: inout [IdentitySource]
    ) throws(BureauError) {
        if let other = sources.first, other.identity.identifier != identity.identifier {
            throw BureauError(.internal, "identity facts of another subject were filed under this file's key")
        }
        if let i = sources.firstIndex(where: { $0.furnisher == furnisher }) {
            let first = sources[i].attribution?.firstReported ?? day
            sources[i] = IdentitySource(
                attribution: .init(furnisher: furnisher, firstReported: min(first, day), reported: day), identity: identity
            )
        } else {
            sources.append(IdentitySource(attribution: .init(furnisher: furnisher, firstReported: day, reported: day), identity: identity))
        }
    }

    /// Refuses identity facts from a furnisher that would hold no record of its own on the file.
    ///
    /// - Parameters:
    ///   - holdsRecord: whether `furnisher` holds a record on the file once the submission is applied.
    ///   - path: the submitted subject's field path (`subjects[2]`).
    /// - Throws: ``BureauError`` (failed precondition) naming `path` and the rule.
    public static func requireRecord(_ holdsRecord: Bool, of furnisher: UnifiedSocialCreditCode, at path: String) throws(BureauError) {
        guard holdsRecord else {
            throw BureauError(
                .failedPrecondition,
                "\(path): \(furnisher) holds no record on this file; identity facts are accepted only from a furnisher with an account, public record or list entry of its own on the file (send one with them)"
            )
        }
    }
}

extension CreditFile.Subject {
    /// The subject's normalised identifier (resident identity number or unified social credit code).
    public var identifier: String {
        switch self {
        case .person(let p): p.identifier
        case .business(let b): b.code
        }
    }
}
