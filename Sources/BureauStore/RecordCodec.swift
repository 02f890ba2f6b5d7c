public import BureauCore

/// Encodes the values of the `subjects`, `records` and `attachments` databases. The furnisher and the
/// record id live in the key, so they are not repeated in the value. Enum values are stored by their
/// position in `allCases`: new cases go at the end, never in between. Decoding checks every bound
/// and throws on malformed bytes; it is public so that tools and the fuzz targets in Fuzz/ can use it.
public enum RecordCodec {
    public static let format: UInt8 = 1

    // MARK: Identity (the `subjects` database)

    /// The format of a file's identity value. Format 1 held one identity, written by whichever furnisher
    /// submitted the subject last; format 2 holds every source's facts, attributed and dated.
    public static let identityFormat: UInt8 = 2

    /// Encodes a file's identity sources: the kind and identifier once (the subject is the file's key, not
    /// a fact of a source), then each source's attribution and facts.
    ///
    /// - Throws: ``BureauError`` (internal) when there is no source or the sources disagree on the subject.
    public static func encode(_ sources: [IdentitySource]) throws(BureauError) -> [UInt8] {
        guard let first = sources.first else { throw BureauError(.internal, "a file's identity needs at least one source") }
        var w = BinaryWriter(format: identityFormat)
        switch first.identity {
        case .person(let p):
            w.byte(1)
            w.string(p.identifier)
        case .business(let b):
            w.byte(2)
            w.string(b.code)
        }
        w.varint(UInt64(sources.count))
        for source in sources {
            if let attribution = source.attribution {
                w.byte(1)
                w.string(attribution.furnisher.value)
                w.date(attribution.firstReported)
                w.date(attribution.reported)
            } else {
                w.byte(0)
            }
            switch (first.identity, source.identity) {
            case (.person(let a), .person(let p)) where a.identifier == p.identifier:
                w.string(p.name)
                w.date(p.birthDate)
                w.string(p.phone)
                w.address(p.address)
            case (.business(let a), .business(let b)) where a.code == b.code:
                w.string(b.name)
                w.date(b.registrationDate)
                w.address(b.address)
                w.string(b.legalRepresentativeName)
                w.string(b.legalRepresentativeIdentifier)
            default:
                throw BureauError(.internal, "the identity sources of one file name different subjects")
            }
        }
        return w.bytes
    }

    /// Decodes a file's identity sources, in either format.
    ///
    /// A format 1 value (stored before identity facts were attributed) becomes one unattributed source
    /// (``IdentitySource/attribution`` nil): who wrote it is unknown, since the last submitter replaced it,
    /// so it is credited to no furnisher and counts only while no attributed source holds a record.
    public static func decodeIdentity(_ bytes: UnsafeRawBufferPointer) throws -> [IdentitySource] {
        var r = try BinaryReader(bytes, formats: format...identityFormat)
        if r.format == format {
            return [IdentitySource(attribution: nil, identity: try decodeLegacySubject(&r))]
        }
        let tag = try r.byte()
        guard tag == 1 || tag == 2 else { throw BinaryReader.Malformed(what: "subject tag \(tag)") }
        let identifier = try r.string()
        let count = try r.varint()
        guard count > 0, count <= UInt64(r.remaining) else { throw BinaryReader.Malformed(what: "\(count) identity sources") }
        var sources: [IdentitySource] = []
        var seen: Set<UnifiedSocialCreditCode?> = []
        for _ in 0..<count {
            var attribution: IdentitySource.Attribution?
            switch try r.byte() {
            case 0: attribution = nil
            case 1:
                attribution = IdentitySource.Attribution(
                    furnisher: try UnifiedSocialCreditCode(parsing: try r.string()), firstReported: try r.date(), reported: try r.date()
                )
            case let b: throw BinaryReader.Malformed(what: "identity attribution \(b)")
            }
            guard seen.insert(attribution?.furnisher).inserted else { throw BinaryReader.Malformed(what: "two identity sources of one furnisher") }
            let identity: CreditFile.Subject
            if tag == 1 {
                identity = .person(
                    PersonIdentity(name: try r.string(), identifier: identifier, birthDate: try r.date(), phone: try r.string(), address: try r.address())
                )
            } else {
                identity = .business(
                    BusinessRegistration(
                        name: try r.string(), code: identifier, registrationDate: try r.date(), address: try r.address(),
                        legalRepresentativeName: try r.string(), legalRepresentativeIdentifier: try r.string()
                    )
                )
            }
            sources.append(IdentitySource(attribution: attribution, identity: identity))
        }
        return sources
    }

    /// The single identity of format 1.
    private static func decodeLegacySubject(_ r: inout BinaryReader) throws -> CreditFile.Subject {
        switch try r.byte() {
        case 1:
            return .person(
                PersonIdentity(name: try r.string(), identifier: try r.string(), birthDate: try r.date(), phone: try r.string(), address: try r.address())
            )
        case 2:
            return .business(
                BusinessRegistration(
                    name: try r.string(), code: try r.string(), registrationDate: try r.date(), address: try r.address(),
                    legalRepresentativeName: try r.string(), legalRepresentativeIdentifier: try r.string()
                )
            )
        case let tag:
            throw BinaryReader.Malformed(what: "subject tag \(tag)")
        }
    }

    // MARK: Records

    public static func encode(_ record: CreditRecord) -> [UInt8] {
        var w = BinaryWriter(format: format)
        switch record {
        case .account(let a):
            w.enumeration(a.type)
            w.date(a.opened)
            w.money(a.limit)
            w.money(a.balance)
            w.enumeration(a.status)
            w.string(a.paymentHistory)
            w.optionalDate(a.closed)
            w.legalBasis(a.legalBasis)
            w.optionalDate(a.behaviourEnded)
        case .publicRecord(let p):
            w.enumeration(p.type)
            w.string(p.authority)
            w.legalBasis(p.legalBasis)
            if let amount = p.amount {
                w.byte(1)
                w.money(amount)
            } else {
                w.byte(0)
            }
            w.date(p.filed)
            w.date(p.behaviourEnded)
            w.string(p.description)
        case .listEntry(let l):
            w.string(l.list)
            if let severity = l.severity {
                w.byte(1)
                w.enumeration(severity)
            } else {
                w.byte(0)
            }
            w.string(l.reason)
            w.legalBasis(l.legalBasis)
            w.date(l.listed)
            w.date(l.publicityEnds)
        }
        return w.bytes
    }

    public static func decodeRecord(_ reference: RecordReference, _ bytes: UnsafeRawBufferPointer) throws -> CreditRecord {
        var r = try BinaryReader(bytes, format: format)
        switch reference.kind {
        case .account:
            return .account(
                Account(
                    furnisher: reference.furnisher, accountNumber: reference.recordID, type: try r.enumeration(AccountType.self),
                    opened: try r.date(), limit: try r.money(), balance: try r.money(), status: try r.enumeration(AccountStatus.self),
                    paymentHistory: try r.string(), closed: try r.optionalDate(), legalBasis: try r.legalBasis(),
                    behaviourEnded: try r.optionalDate()
                )
            )
        case .publicRecord:
            let type = try r.enumeration(PublicRecordType.self)
            let authority = try r.string()
            guard let basis = try r.legalBasis() else { throw BinaryReader.Malformed(what: "public record without legal basis") }
            let amount = try r.byte() == 1 ? try r.money() : nil
            return .publicRecord(
                PublicRecord(
                    furnisher: reference.furnisher, recordID: reference.recordID, type: type, authority: authority, legalBasis: basis,
                    amount: amount, filed: try r.date(), behaviourEnded: try r.date(), description: try r.string()
                )
            )
        case .listEntry:
            let list = try r.string()
            let severity = try r.byte() == 1 ? try r.enumeration(ListSeverity.self) : nil
            let reason = try r.string()
            guard let basis = try r.legalBasis() else { throw BinaryReader.Malformed(what: "list entry without legal basis") }
            return .listEntry(
                ListEntry(
                    furnisher: reference.furnisher, recordID: reference.recordID, list: list, severity: severity, reason: reason,
                    legalBasis: basis, listed: try r.date(), publicityEnds: try r.date()
                )
            )
        }
    }

    // MARK: Attachments (statements and dispute marks)

    public static func encode(_ statement: Statement) -> [UInt8] {
        var w = BinaryWriter(format: format)
        w.string(statement.text)
        w.date(statement.added)
        encode(statement.about, into: &w)
        return w.bytes
    }

    public static func decodeStatement(id: String, _ bytes: UnsafeRawBufferPointer) throws -> Statement {
        var r = try BinaryReader(bytes, format: format)
        return Statement(id: id, text: try r.string(), added: try r.date(), about: try decodeReference(&r))
    }

    public static func encode(_ dispute: DisputeMark) -> [UInt8] {
        var w = BinaryWriter(format: format)
        encode(dispute.record, into: &w)
        w.date(dispute.filed)
        w.string(dispute.description)
        return w.bytes
    }

    public static func decodeDispute(id: String, _ bytes: UnsafeRawBufferPointer) throws -> DisputeMark {
        var r = try BinaryReader(bytes, format: format)
        guard let record = try decodeReference(&r) else { throw BinaryReader.Malformed(what: "dispute without record") }
        return DisputeMark(id: id, record: record, filed: try r.date(), description: try r.string())
    }

    private static func encode(_ reference: RecordReference?, into w: inout BinaryWriter) {
        guard let reference else { return w.byte(0) }
        w.byte(1)
        w.enumeration(reference.kind)
        w.string(reference.furnisher.value)
        w.string(reference.recordID)
    }

    private static func decodeReference(_ r: inout BinaryReader) throws -> RecordReference? {
        guard try r.byte() == 1 else { return nil }
        let kind = try r.enumeration(RecordKind.self)
        return RecordReference(kind: kind, furnisher: try UnifiedSocialCreditCode(parsing: try r.string()), recordID: try r.string())
    }
}
