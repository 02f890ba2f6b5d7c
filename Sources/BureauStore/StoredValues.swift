public import BureauCore
public import BureauKeys
import Foundation

/// The stored form of every value that holds personal data, for every backend: each value is encoded by
/// its shared codec (``RecordCodec``, JSON) and sealed as one AES-256-GCM unit (``DataKey/seal(_:for:)``)
/// under its scope's data key, bound through ``FieldBinding`` to its subject's keyed hash, its record or
/// id, and its kind, so that a ciphertext moved to another record or kind does not open.
///
/// One per transaction (``DataProtection/values(_:)``): a backend calls `seal...` where it encoded a value
/// and `open...` where it decoded one, and ``shred(_:)`` where it deletes a record, attachment, dispute or
/// repair. Values of kinds with an owner field (consents, disputes, repairs) are stored as subject key (32)
/// followed by the sealed bytes, so that they can be opened without an index.
public struct StoredValues {
    /// The installation's keys.
    public let protection: DataProtection
    let changes: KeyChanges?

    init(protection: DataProtection, changes: KeyChanges?) {
        self.protection = protection
        self.changes = changes
    }

    // MARK: The hook

    /// Seals `plaintext` under `scope`'s data key for `binding`.
    ///
    /// - Parameter fresh: nothing was stored in this scope before (the backend just found no previous
    ///   value), so no key is looked up in the key store: a new one is made.
    public func seal(_ plaintext: [UInt8], scope: KeyScope, binding: FieldBinding, fresh: Bool = false) throws -> [UInt8] {
        guard let changes else { throw BureauError(.internal, "a value was written in a read-only transaction") }
        return try self.protection.sealingKey(scope, changes, fresh: fresh).seal(plaintext, for: binding)
    }

    /// Opens what ``seal(_:scope:binding:)`` made.
    ///
    /// - Throws: ``SealedValueError`` (removed) when the value's data key was destroyed; (not removed)
    ///   naming the value when the bytes are damaged or were moved from elsewhere: a stored value that cannot
    ///   be read, as one that cannot be decoded (not a ``BureauError``, so that services log it as such).
    public func open(_ sealed: UnsafeRawBufferPointer, scope: KeyScope, binding: FieldBinding) throws -> [UInt8] {
        let bytes = Array(sealed)
        do {
            let key = try self.protection.openingKey(try SealedField.keyID(of: bytes), scope, self.changes, what: "\(binding)")
            return try key.open(bytes, for: binding)
        } catch let error as KeyError {
            throw SealedValueError(removed: false, message: "stored \(binding) cannot be opened: \(error)")
        }
    }

    /// Offers the values of the file written next, sealed ahead on another thread (``PreparedFile``); nil
    /// withdraws the offer.
    public func offer(_ prepared: PreparedFile?) {
        self.changes?.offer(prepared)
    }

    /// Destroys `scope`'s data key when this transaction commits: what it sealed, in this store and in every
    /// backup, can no longer be opened.
    public func shred(_ scope: KeyScope) throws {
        guard let changes else { throw BureauError(.internal, "a value was deleted in a read-only transaction") }
        try self.protection.shred(scope, changes)
    }

    // MARK: Files

    /// A file's identity sources (the `subjects` value).
    public func sealIdentity(_ sources: [IdentitySource], of subject: SubjectKey, fresh: Bool = false) throws -> [UInt8] {
        if fresh, let changes, let prepared = changes.prepared, prepared.subject == subject, prepared.sources == sources {
            return try self.protection.adopt(prepared.identity, changes)
        }
        return try self.seal(try RecordCodec.encode(sources), scope: .identity(subject), binding: Self.identityBinding(subject), fresh: fresh)
    }

    public func openIdentity(_ bytes: UnsafeRawBufferPointer, of subject: SubjectKey) throws -> [IdentitySource] {
        let plain = try self.open(bytes, scope: .identity(subject), binding: Self.identityBinding(subject))
        return try plain.withUnsafeBytes { try RecordCodec.decodeIdentity($0) }
    }

    static func identityBinding(_ subject: SubjectKey) -> FieldBinding { FieldBinding(subject: subject.bytes, field: "identity") }

    /// Both store keys of a record (``DataProtection/recordKeys(_:_:)``), taken from the file offered to the
    /// transaction when it prepared them (``PreparedFile``).
    public func recordKeys(_ subject: SubjectKey, _ reference: RecordReference) -> (record: [UInt8], index: [UInt8]) {
        if let prepared = self.changes?.prepared, prepared.subject == subject, let i = prepared.record(reference) {
            return (prepared.records[i].recordKey, prepared.records[i].indexKey)
        }
        return self.protection.recordKeys(subject, reference)
    }

    /// A record (the `records` value) under its stored key (``DataProtection/recordKey(_:_:)``); the record id,
    /// which the key holds only as a token, is sealed with it.
    public func sealRecord(_ record: CreditRecord, of subject: SubjectKey, recordKey: [UInt8], fresh: Bool = false) throws -> [UInt8] {
        if fresh, let changes, let prepared = changes.prepared, prepared.subject == subject, let i = prepared.record(record.reference),
            prepared.records[i].recordKey == recordKey, prepared.records[i].record == record
        {
            return try self.protection.adopt(prepared.records[i].seal, changes)
        }
        return try self.seal(Self.recordPlaintext(record), scope: .record(recordKey), binding: Self.recordBinding(subject, recordKey), fresh: fresh)
    }

    /// What a record's sealed value holds: its record id, then its encoding.
    static func recordPlaintext(_ record: CreditRecord) -> [UInt8] {
        var w = BinaryWriter(format: RecordCodec.format)
        w.string(record.reference.recordID)
        return w.bytes + RecordCodec.encode(record)
    }

    static func recordBinding(_ subject: SubjectKey, _ recordKey: [UInt8]) -> FieldBinding {
        FieldBinding(subject: subject.bytes, record: recordKey, field: "record")
    }

    /// Opens a record; `kind` and `furnisher` come from its key.
    public func openRecord(
        _ bytes: UnsafeRawBufferPointer, of subject: SubjectKey, recordKey: [UInt8], kind: RecordKind, furnisher: UnifiedSocialCreditCode
    ) throws -> CreditRecord {
        let plain = try self.open(bytes, scope: .record(recordKey), binding: Self.recordBinding(subject, recordKey))
        return try plain.withUnsafeBytes { raw in
            var r = try BinaryReader(raw, format: RecordCodec.format)
            let recordID = try r.string()
            let reference = RecordReference(kind: kind, furnisher: furnisher, recordID: recordID)
            return try RecordCodec.decodeRecord(reference, UnsafeRawBufferPointer(rebasing: raw[r.offset...]))
        }
    }

    // MARK: Attachments

    /// A statement under its stored key (subject key + type + id).
    public func sealStatement(_ statement: Statement, of subject: SubjectKey, attachmentKey: [UInt8]) throws -> [UInt8] {
        try self.seal(RecordCodec.encode(statement), scope: .attachment(attachmentKey), binding: FieldBinding(subject: subject.bytes, record: attachmentKey, field: "statement"))
    }

    public func openStatement(_ bytes: UnsafeRawBufferPointer, id: String, of subject: SubjectKey, attachmentKey: [UInt8]) throws -> Statement {
        let plain = try self.open(bytes, scope: .attachment(attachmentKey), binding: FieldBinding(subject: subject.bytes, record: attachmentKey, field: "statement"))
        return try plain.withUnsafeBytes { try RecordCodec.decodeStatement(id: id, $0) }
    }

    /// A dispute mark under its stored key (subject key + type + id).
    public func sealDisputeMark(_ mark: DisputeMark, of subject: SubjectKey, attachmentKey: [UInt8]) throws -> [UInt8] {
        try self.seal(RecordCodec.encode(mark), scope: .attachment(attachmentKey), binding: FieldBinding(subject: subject.bytes, record: attachmentKey, field: "dispute mark"))
    }

    public func openDisputeMark(_ bytes: UnsafeRawBufferPointer, id: String, of subject: SubjectKey, attachmentKey: [UInt8]) throws -> DisputeMark {
        let plain = try self.open(bytes, scope: .attachment(attachmentKey), binding: FieldBinding(subject: subject.bytes, record: attachmentKey, field: "dispute mark"))
        return try plain.withUnsafeBytes { try RecordCodec.decodeDispute(id: id, $0) }
    }

    // MARK: Access state with personal data

    /// The freeze and fraud alert of a file (the alert's contact phone is personal), under the identity's key.
    public func sealProtection(_ protection: FileProtection, of subject: SubjectKey) throws -> [UInt8] {
        try self.seal(try Self.json(protection), scope: .identity(subject), binding: FieldBinding(subject: subject.bytes, field: "protection"))
    }

    public func openProtection(_ bytes: UnsafeRawBufferPointer, of subject: SubjectKey) throws -> FileProtection {
        try Self.decode(FileProtection.self, try self.open(bytes, scope: .identity(subject), binding: FieldBinding(subject: subject.bytes, field: "protection")))
    }

    /// A consent (its evidence), stored as subject key (32) + sealed JSON.
    public func sealConsent(_ consent: Consent) throws -> [UInt8] {
        try self.sealOwned(try Self.json(consent), subject: consent.subject, scope: .consent(consent.reference), id: consent.reference, field: "consent")
    }

    public func openConsent(_ bytes: UnsafeRawBufferPointer, reference: String) throws -> Consent {
        try Self.decode(Consent.self, try self.openOwned(bytes, scope: .consent(reference), id: reference, field: "consent"))
    }

    /// A dispute (its description and answer), stored as subject key (32) + sealed JSON.
    public func sealDispute(_ dispute: Dispute) throws -> [UInt8] {
        try self.sealOwned(try Self.json(dispute), subject: dispute.subject, scope: .dispute(dispute.id), id: dispute.id, field: "dispute")
    }

    public func openDispute(_ bytes: UnsafeRawBufferPointer, id: String) throws -> Dispute {
        try Self.decode(Dispute.self, try self.openOwned(bytes, scope: .dispute(id), id: id, field: "dispute"))
    }

    /// A repair request (its reason and rectification), stored as subject key (32) + sealed JSON.
    public func sealRepair(_ repair: Repair) throws -> [UInt8] {
        try self.sealOwned(try Self.json(repair), subject: repair.subject, scope: .repair(repair.id), id: repair.id, field: "repair")
    }

    public func openRepair(_ bytes: UnsafeRawBufferPointer, id: String) throws -> Repair {
        try Self.decode(Repair.self, try self.openOwned(bytes, scope: .repair(id), id: id, field: "repair"))
    }

    /// A furnishing batch's first answer (it may name identifiers and account numbers).
    public func sealBatchResult(_ result: [UInt8], furnisher: UnifiedSocialCreditCode, batchID: String) throws -> [UInt8] {
        try self.seal(result, scope: .batch(furnisher, batchID), binding: Self.batchBinding(furnisher, batchID))
    }

    public func openBatchResult(_ bytes: UnsafeRawBufferPointer, furnisher: UnifiedSocialCreditCode, batchID: String) throws -> [UInt8] {
        try self.open(bytes, scope: .batch(furnisher, batchID), binding: Self.batchBinding(furnisher, batchID))
    }

    private static func batchBinding(_ furnisher: UnifiedSocialCreditCode, _ batchID: String) -> FieldBinding {
        FieldBinding(subject: [], record: Array(furnisher.value.utf8) + [0] + Array(batchID.utf8), field: "batch result")
    }

    private func sealOwned(_ plain: [UInt8], subject: SubjectKey, scope: KeyScope, id: String, field: String) throws -> [UInt8] {
        subject.bytes + (try self.seal(plain, scope: scope, binding: FieldBinding(subject: subject.bytes, record: id, field: field)))
    }

    private func openOwned(_ bytes: UnsafeRawBufferPointer, scope: KeyScope, id: String, field: String) throws -> [UInt8] {
        guard bytes.count > 32 else { throw BureauError(.internal, "stored \(field) of \(bytes.count) bytes is damaged") }
        let subject = Array(bytes[0..<32])
        return try self.open(UnsafeRawBufferPointer(rebasing: bytes[32...]), scope: scope, binding: FieldBinding(subject: subject, record: id, field: field))
    }

    private static func json(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

}
