public import BureauCore
public import BureauKeys

/// A furnished subject's values sealed ahead of its write, on another thread, for the case that its file
/// is new: a bulk import prepares each line on its parsing thread while the single writer stores the
/// previous ones, so that the writer does not derive keys, compute record tokens and run AES-GCM itself.
///
/// The writer offers it to its transaction (``ReadWriteStoreTransaction/offer(_:)``) before it furnishes the
/// same subject; each value is taken only where the write would have made a new key anyway (the file, or
/// the record, has no stored value) and only when what it would seal is equal to what was prepared (the
/// identity sources, the record, its subject and key). Otherwise the write seals as it always does, and
/// the prepared key, never stored, is simply dropped.
public final class PreparedFile: Sendable {
    /// The file's key.
    let subject: SubjectKey
    /// The identity sources of the new file (the furnisher's facts alone) and their sealed form.
    let sources: [IdentitySource]
    let identity: PreparedSeal
    /// Each record of the subject, in order, and its reference (compared apart: no record is copied).
    let records: [PreparedRecord]
    private let references: [RecordReference]

    /// The ids of the data keys it made (the identity's, then each record's): none is in the key store
    /// unless a write takes its value.
    public var keyIDs: [KeyID] { [self.identity.stored.keyID] + self.records.map(\.seal.stored.keyID) }

    init(subject: SubjectKey, sources: [IdentitySource], identity: PreparedSeal, records: [PreparedRecord]) {
        self.subject = subject
        self.sources = sources
        self.identity = identity
        self.records = records
        self.references = records.map(\.reference)
    }

    /// Where the prepared record of `reference` is in ``records``, if it is.
    func record(_ reference: RecordReference) -> Int? {
        for i in 0..<self.references.count where self.references[i] == reference { return i }
        return nil
    }
}

/// A value sealed under a new data key of its scope, not yet in any transaction.
struct PreparedSeal: Sendable {
    var sealed: [UInt8]
    /// The key's salt (the key itself stays on the thread that made it, and is derived again when the
    /// transaction keeps it: ``KeyChanges/Made/remembered``).
    var stored: StoredDataKey
    var scope: KeyScopeID
    var raw: KeyScope
}

/// A record sealed ahead, with both of its store keys.
struct PreparedRecord: Sendable {
    var reference: RecordReference
    var record: CreditRecord
    var recordKey: [UInt8]
    var indexKey: [UInt8]
    var seal: PreparedSeal
}

extension DataProtection {
    /// Seals `subject`'s values as a write would for a new file under `key`: thread-safe, no transaction,
    /// nothing stored. Nil when the subject's identity cannot be reported on a new file (the write then
    /// fails the same way on its own).
    public func prepare(_ subject: FurnishedSubject, as key: SubjectKey) -> PreparedFile? {
        var sources: [IdentitySource] = []
        guard (try? IdentityRule.report(subject.subject, by: subject.furnisher, on: subject.reported, into: &sources)) != nil,
            let identity = try? RecordCodec.encode(sources)
        else { return nil }
        let records = subject.records.map { record in
            let (recordKey, indexKey) = self.recordKeys(key, record.reference)
            return PreparedRecord(
                reference: record.reference, record: record, recordKey: recordKey, indexKey: indexKey,
                seal: self.prepareSeal(StoredValues.recordPlaintext(record), scope: .record(recordKey), binding: StoredValues.recordBinding(key, recordKey))
            )
        }
        return PreparedFile(
            subject: key, sources: sources,
            identity: self.prepareSeal(identity, scope: .identity(key), binding: StoredValues.identityBinding(key)), records: records
        )
    }

    /// `plaintext` sealed under a new data key of `scope`.
    private func prepareSeal(_ plaintext: [UInt8], scope: KeyScope, binding: FieldBinding) -> PreparedSeal {
        let id = self.scopeID(scope)
        let (key, salt) = self.newDataKey(scope: id)
        return PreparedSeal(sealed: key.seal(plaintext, for: binding), stored: StoredDataKey(salt), scope: id, raw: scope)
    }

    /// Takes a prepared value into the transaction of `changes`: its key is the scope's, as if
    /// ``sealingKey(_:_:fresh:)`` had made it. Returns the sealed bytes.
    func adopt(_ seal: PreparedSeal, _ changes: KeyChanges) throws -> [UInt8] {
        // The salt is held to the commit: copied here, so that millions of blocks held that long do not sit
        // among the parsing thread's short-lived ones (its heap fragmented, its allocations slowed a quarter).
        let stored = (try? StoredDataKey(bytes: Array(seal.stored.bytes))) ?? seal.stored
        try self.added(stored, scope: seal.scope, raw: seal.raw, changes) { try? self.unwrap(stored, scope: seal.scope) }
        return seal.sealed
    }
}
