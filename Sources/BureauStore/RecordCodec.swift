public import BureauCore

/// Encodes the values of the `subjects`, `records` and `attachments` databases. The furnisher and the
/// record id live in the key, so they are not repeated in the value. Enum values are stored by their
/// position in `allCases`: new cases go at the end, never in between. Decoding checks every bound
/// and throws on malformed bytes; it is public so that tools and the fuzz targets in Fuzz/ can use it.
public enum RecordCodec {
    public static let format: UInt8 = 1

    // MARK: Subjects

    public static func encode(_ subject: CreditFile.Subject) -> [UInt8] {
        var w = BinaryWriter(format: format)
        switch subject {
        case .person(let p):
            w.byte(1)
            w.string(p.name)
            w.string(p.identifier)
            w.date(p.birthDate)
            w.string(p.phone)
            w.address(p.address)
        case .business(let b):
            w.byte(2)
            w.string(b.name)
            w.string(b.code)
            w.date(b.registrationDate)
            w.address(b.address)
            w.string(b.legalRepresentativeName)
            w.string(b.legalRepresentativeIdentifier)
        }
        return w.bytes
    }

    public static func decodeSubject(_ bytes: UnsafeRawBufferPointer) throws -> CreditFile.Subject {
        var r = try BinaryReader(bytes, format: format)
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
