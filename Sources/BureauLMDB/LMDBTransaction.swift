import BureauCore
import BureauStore
import LMDB
import Foundation
import Crypto

/// Typed reads and writes over one LMDB transaction (read-only or read-write). Valid only inside the
/// closure that received it.
///
/// Every write keeps the secondary indexes in step with the records (the layout is in DESIGN.md).
final class LMDBTransaction: ReadWriteStoreTransaction {
    let txn: Transaction
    let databases: Databases
    let protection: DataProtection
    /// The keys this transaction made and shredded; nil when read-only.
    let changes: KeyChanges?
    /// Seals and opens the values that hold personal data.
    let values: StoredValues

    init(_ txn: Transaction, _ databases: Databases, _ protection: DataProtection, _ changes: KeyChanges?) {
        self.txn = txn
        self.databases = databases
        self.protection = protection
        self.changes = changes
        self.values = protection.values(changes)
    }

    func offer(_ prepared: PreparedFile?) { self.values.offer(prepared) }

    /// A nested LMDB transaction with its own ``KeyChanges``, handed to this one's only when it succeeds.
    func withNestedTransaction<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T {
        let child = self.changes?.child()
        let result = try self.txn.nested { nested in try body(LMDBTransaction(nested, self.databases, self.protection, child)) }
        if let child { self.changes?.adopt(child) }
        return result
    }

    // MARK: Files

    /// Whether a file exists under `key`.
    func hasFile(_ key: SubjectKey) throws -> Bool {
        try self.txn.withValue(forKey: key.bytes, in: self.databases.subjects) { _ in true } ?? false
    }

    /// Every source's identity facts on the file `key`, or nil when there is no file.
    func identitySources(_ key: SubjectKey) throws -> [IdentitySource]? {
        try self.txn.withValue(forKey: key.bytes, in: self.databases.subjects) { try self.values.openIdentity($0, of: key) }
    }

    /// The whole file under `key` (identity, records, statements, dispute marks), or nil.
    func file(_ key: SubjectKey) throws -> CreditFile? {
        guard let sources = try self.identitySources(key), let first = sources.first else { return nil }
        var file = CreditFile(subject: first.identity)
        try self.txn.scan(self.databases.records, from: key.bytes) { k, v in
            guard k.starts(with: key.bytes) else { return false }
            do {
                file.upsert(try self.openRecord(k, v).record)
            } catch let error as SealedValueError where error.removed {
                // Deleted after this copy of the data was made (its key is destroyed): not on the file, counted.
                file.removedRecords += 1
            }
            return true
        }
        try self.txn.scan(self.databases.attachments, from: key.bytes) { k, v in
            guard k.starts(with: key.bytes), k.count > 33 else { return false }
            let id = String(decoding: UnsafeRawBufferPointer(rebasing: k[33...]), as: UTF8.self)
            do {
                switch k[32] {
                case Keys.statement: file.statements.append(try self.values.openStatement(v, id: id, of: key, attachmentKey: Array(k)))
                case Keys.dispute: file.disputes.append(try self.values.openDisputeMark(v, id: id, of: key, attachmentKey: Array(k)))
                default: break
                }
            } catch let error as SealedValueError where error.removed {
                file.removedAttachments += 1
            }
            return true
        }
        file.putRecordsInOrder()
        file.identitySources = sources
        file.subject = IdentityRule.best(of: sources, holders: file.recordHolders) ?? first.identity
        return file
    }

    /// Stores every source's identity facts of the file `key` (creating the file), replacing what was there.
    func putIdentitySources(_ sources: [IdentitySource], for key: SubjectKey) throws {
        let fresh = try !self.hasFile(key)
        try self.txn.put(try self.values.sealIdentity(sources, of: key, fresh: fresh), forKey: key.bytes, in: self.databases.subjects)
    }

    /// Whether `furnisher` holds at least one record (of any kind) on the file `key`.
    func holdsRecord(_ furnisher: UnifiedSocialCreditCode, on key: SubjectKey) throws -> Bool {
        for kind in RecordKind.allCases {
            let prefix = key.bytes + [Keys.kindByte(kind)] + Array(furnisher.value.utf8)  // the record key up to its token
            var found = false
            try self.txn.scan(self.databases.records, from: prefix) { k, _ in
                found = k.starts(with: prefix)
                return false
            }
            if found { return true }
        }
        return false
    }

    /// The number of files on record.
    func fileCount() throws -> Int { try self.txn.count(self.databases.subjects) }

    // MARK: Records

    /// Opens a stored record: kind and furnisher from its key `k`, the rest (the record id included) from
    /// its sealed value.
    func openRecord(_ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer) throws -> (subject: SubjectKey, record: CreditRecord) {
        guard k.count == Keys.recordKeyCount else { throw BinaryReader.Malformed(what: "record key of \(k.count) bytes") }
        let subject = SubjectKey(bytes: Array(k[0..<32]))
        let furnisher = try UnifiedSocialCreditCode(parsing: String(decoding: UnsafeRawBufferPointer(rebasing: k[33..<51]), as: UTF8.self))
        return (subject, try self.values.openRecord(v, of: subject, recordKey: Array(k), kind: try Keys.kind(k[32]), furnisher: furnisher))
    }

    /// The record stored under the record key `recordKey`, or nil when there is none or it was removed
    /// (its data key destroyed).
    func storedRecord(_ recordKey: [UInt8]) throws -> (subject: SubjectKey, record: CreditRecord)? {
        do {
            return try self.txn.withValue(forKey: recordKey, in: self.databases.records) { v in
                try recordKey.withUnsafeBytes { try self.openRecord($0, v) }
            }
        } catch let error as SealedValueError where error.removed {
            return nil
        }
    }

    /// The file a record belongs to, found through the furnisher index.
    func owner(of reference: RecordReference) throws -> SubjectKey? {
        try self.txn.withValue(forKey: self.protection.recordIndexKey(reference), in: self.databases.furnisherIndex) {
            SubjectKey(bytes: Array($0))
        }
    }

    /// One record of the file `key`, or nil.
    func record(_ reference: RecordReference, of key: SubjectKey) throws -> CreditRecord? {
        let recordKey = self.protection.recordKey(key, reference)
        do {
            return try self.txn.withValue(forKey: recordKey, in: self.databases.records) {
                try self.values.openRecord($0, of: key, recordKey: recordKey, kind: reference.kind, furnisher: reference.furnisher)
            }
        } catch let error as SealedValueError where error.removed {
            return nil  // deleted after this copy of the data was made: its key is destroyed
        }
    }

    /// Adds or replaces `record` on the file `key`, keeping the furnisher, retention and list indexes.
    ///
    /// The retention index no longer depends on `catalogue` (it holds where retention counts from, see
    /// Retention.swift); the parameter stays so that callers need not change.
    ///
    /// - Throws: ``BureauError`` (already exists) when the furnisher filed the same record id on another file.
    func putRecord(_ record: CreditRecord, for key: SubjectKey, catalogue: Catalogue) throws {
        let reference = record.reference
        let (recordKey, indexKey) = self.values.recordKeys(key, reference)
        let owner = try self.txn.withValue(forKey: indexKey, in: self.databases.furnisherIndex) { SubjectKey(bytes: Array($0)) }
        if let owner, owner != key {
            throw BureauError(.alreadyExists, "\(reference.kind.rawValue) \(reference.recordID) is already on another file of this furnisher")
        }
        // The furnisher index names the file of every stored record, so without an owner there is nothing to
        // read back (a bulk import of new people skips a lookup per record).
        let previous = owner == nil ? nil : try self.storedRecord(recordKey)?.record
        if let previous {
            try self.removeIndexes(previous, of: key, catalogue: catalogue)
        }
        if let tombstone = try self.txn.get(recordKey, in: self.databases.tombstones) {
            // A deleted record comes back only changed, or on a new legal basis.
            guard tombstone != Array(SHA256.hash(data: RecordCodec.encode(record))) else {
                throw BureauError(
                    .failedPrecondition,
                    "\(reference.kind.rawValue) \(reference.recordID) was deleted; it cannot be furnished again unchanged without a new legal basis"
                )
            }
            try self.txn.delete(recordKey, in: self.databases.tombstones)
        }
        try self.txn.put(try self.values.sealRecord(record, of: key, recordKey: recordKey, fresh: previous == nil), forKey: recordKey, in: self.databases.records)
        try self.txn.put(key.bytes, forKey: indexKey, in: self.databases.furnisherIndex)
        // The retention index holds where retention counts from, not an end day: the purge applies the
        // catalogue in force, so a catalogue change needs no rebuild (see Retention.swift).
        if let anchor = Retention.anchor(of: record) {
            try self.txn.put([], forKey: Keys.retention(anchor, recordKey), in: self.databases.retentionIndex)
        }
        if case .listEntry(let entry) = record {
            try self.txn.put([], forKey: Keys.list(entry.list, recordKey), in: self.databases.listIndex)
        }
    }

    /// Removes a record and its index entries; returns what was removed.
    ///
    /// - Parameter tombstone: remember what was deleted, so that it cannot be furnished again unchanged
    ///   (for deletions by furnishers; not for the retention purge).
    @discardableResult
    func deleteRecord(_ reference: RecordReference, of key: SubjectKey, catalogue: Catalogue, tombstone: Bool) throws -> CreditRecord? {
        guard let previous = try self.record(reference, of: key) else { return nil }
        let recordKey = self.protection.recordKey(key, reference)
        if tombstone {
            try self.txn.put(Array(SHA256.hash(data: RecordCodec.encode(previous))), forKey: recordKey, in: self.databases.tombstones)
        }
        try self.removeIndexes(previous, of: key, catalogue: catalogue)
        try self.txn.delete(recordKey, in: self.databases.records)
        try self.txn.delete(self.protection.recordIndexKey(reference), in: self.databases.furnisherIndex)
        // Crypto-shredding: the record's data key goes when this commits, so no backup opens it either.
        try self.values.shred(.record(recordKey))
        return previous
    }

    private func removeIndexes(_ record: CreditRecord, of key: SubjectKey, catalogue: Catalogue) throws {
        let recordKey = self.protection.recordKey(key, record.reference)
        if let anchor = Retention.anchor(of: record) {
            try self.txn.delete(Keys.retention(anchor, recordKey), in: self.databases.retentionIndex)
        }
        if case .listEntry(let entry) = record {
            try self.txn.delete(Keys.list(entry.list, recordKey), in: self.databases.listIndex)
        }
    }

    /// The subjects on the list `code` (for list governance and publication).
    func listMembers(_ code: String, limit: Int) throws -> [(SubjectKey, RecordReference)] {
        var out: [(SubjectKey, RecordReference)] = []
        let prefix = Array(code.utf8) + [0]
        try self.txn.scan(self.databases.listIndex, from: prefix) { k, _ in
            guard k.starts(with: prefix) else { return false }
            let recordKey = UnsafeRawBufferPointer(rebasing: k[prefix.count...])
            guard let (subject, record) = try self.storedRecord(Array(recordKey)) else { return true }
            out.append((subject, record.reference))
            return out.count < limit
        }
        return out
    }

    // MARK: Statements and dispute marks

    /// Attaches a statement to the file `key`.
    func putStatement(_ statement: Statement, for key: SubjectKey) throws {
        let attachmentKey = Keys.attachment(key, Keys.statement, statement.id)
        try self.txn.put(try self.values.sealStatement(statement, of: key, attachmentKey: attachmentKey), forKey: attachmentKey, in: self.databases.attachments)
    }

    /// Marks a record of the file `key` as disputed.
    func putDispute(_ dispute: DisputeMark, for key: SubjectKey) throws {
        let attachmentKey = Keys.attachment(key, Keys.dispute, dispute.id)
        try self.txn.put(try self.values.sealDisputeMark(dispute, of: key, attachmentKey: attachmentKey), forKey: attachmentKey, in: self.databases.attachments)
    }

    // MARK: Idempotent batches

    /// The answer stored for a furnisher's batch id, if the batch was applied before.
    func batchResult(furnisher: UnifiedSocialCreditCode, batchID: String) throws -> [UInt8]? {
        try self.txn.withValue(forKey: Keys.batch(furnisher, batchID), in: self.databases.batches) {
            try self.values.openBatchResult($0, furnisher: furnisher, batchID: batchID)
        }
    }

    /// Remembers the answer to a furnisher's batch id.
    func putBatchResult(_ result: [UInt8], furnisher: UnifiedSocialCreditCode, batchID: String) throws {
        try self.txn.put(try self.values.sealBatchResult(result, furnisher: furnisher, batchID: batchID), forKey: Keys.batch(furnisher, batchID), in: self.databases.batches)
    }

    // MARK: Catalogue

    /// The catalogue an operator loaded, or nil for the built-in one.
    func storedCatalogue() throws -> Catalogue? {
        try self.txn.withValue(forKey: Keys.catalogue, in: self.databases.meta) { try Codec.decode(Catalogue.self, $0) }
    }

    /// Replaces the catalogue.
    func putCatalogue(_ catalogue: Catalogue) throws {
        try self.txn.put(Codec.encode(catalogue), forKey: Keys.catalogue, in: self.databases.meta)
    }

    // MARK: Checkpoint key

    func checkpointVerifierKey() throws -> String? {
        try self.txn.withValue(forKey: Keys.checkpointVerifier, in: self.databases.meta) { String(decoding: $0, as: UTF8.self) }
    }

    func putCheckpointVerifierKey(_ key: String) throws {
        try self.txn.put(Array(key.utf8), forKey: Keys.checkpointVerifier, in: self.databases.meta)
    }

    // MARK: Institutions

    /// The institution registered under `code`, or nil.
    func institution(code: UnifiedSocialCreditCode) throws -> Institution? {
        try self.txn.withValue(forKey: Array(code.value.utf8), in: self.databases.institutions) { bytes in
            try self.databases.institutionCache.value(for: bytes) { try Codec.decode(Institution.self, $0) }
        }
    }

    /// The institution a certificate fingerprint (32 bytes) is bound to, or nil.
    func institution(certificateFingerprint fingerprint: [UInt8]) throws -> Institution? {
        guard let code = try self.txn.get(fingerprint, in: self.databases.certificates) else { return nil }
        return try self.institution(code: UnifiedSocialCreditCode(parsing: String(decoding: code, as: UTF8.self)))
    }

    /// Every registered institution, in code order.
    func institutions() throws -> [Institution] {
        var out: [Institution] = []
        try self.txn.scan(self.databases.institutions) { _, value in
            out.append(try Codec.decode(Institution.self, value))
            return true
        }
        return out
    }

    /// Registers or replaces `institution` and rebinds its certificate fingerprints.
    ///
    /// - Throws: ``BureauError`` (already exists) when a fingerprint is bound to another institution.
    func putInstitution(_ institution: Institution) throws {
        let codeBytes = Array(institution.code.value.utf8)
        for fingerprint in institution.certificateFingerprints {
            guard let bytes = [UInt8](hex: fingerprint), bytes.count == 32 else {
                throw BureauError.invalid("certificate_fingerprint", "is 64 hex characters (SHA-256)")
            }
            if try self.txn.get(bytes, in: self.databases.revoked) != nil {
                throw BureauError(.failedPrecondition, "certificate \(fingerprint) was revoked and cannot be bound again")
            }
            if let owner = try self.txn.get(bytes, in: self.databases.certificates), owner != codeBytes {
                throw BureauError(.alreadyExists, "certificate \(fingerprint) is bound to \(String(decoding: owner, as: UTF8.self))")
            }
        }
        if let previous = try self.institution(code: institution.code) {
            for old in previous.certificateFingerprints.subtracting(institution.certificateFingerprints) {
                if let bytes = [UInt8](hex: old) { try self.txn.delete(bytes, in: self.databases.certificates) }
            }
        }
        for fingerprint in institution.certificateFingerprints {
            try self.txn.put(codeBytes, forKey: [UInt8](hex: fingerprint)!, in: self.databases.certificates)
        }
        try self.txn.put(Codec.encode(institution), forKey: codeBytes, in: self.databases.institutions)
    }

    // MARK: Access log

    /// The number of entries in the log.
    func logSize() throws -> UInt64 {
        try self.txn.withValue(forKey: Keys.logSize, in: self.databases.meta) { UInt64(bigEndianBytes: $0) } ?? 0
    }

    func storedTreeNode(level: Int, index: UInt64) throws -> [UInt8]? {
        let last = ((index + 1) << UInt64(level)) &- 1
        if let hashes = try self.txn.get(last.bigEndianBytes, in: self.databases.logNodes) {
            return hashes.count >= 32 * (level + 1) ? Array(hashes[(32 * level)..<(32 * level + 32)]) : nil
        }
        // A log begun before `log.nodes` keeps its older leaves and nodes in `log.leaves` and `log.tree`.
        return level == 0
            ? try self.txn.get(index.bigEndianBytes, in: self.databases.logLeaves)
            : try self.txn.get([UInt8(level)] + index.bigEndianBytes, in: self.databases.logTree)
    }

    func logEntryBytes(from start: UInt64, limit: Int, reverse: Bool, maxBytes: Int) throws -> [(index: UInt64, bytes: [UInt8])] {
        var out: [(index: UInt64, bytes: [UInt8])] = []
        guard limit > 0 else { return out }
        var total = 0
        try self.txn.scan(self.databases.logEntries, from: start.bigEndianBytes, reverse: reverse) { key, value in
            total += value.count
            if !out.isEmpty && total > maxBytes { return false }
            out.append((UInt64(bigEndianBytes: key), Array(value)))
            return out.count < limit
        }
        return out
    }

    // Entries and tree hashes are keyed by entry index, in the order they are made, so each is an append at
    // the end of its database: pages fill up instead of splitting in half (DESIGN.md).

    func putLogEntryBytes(_ bytes: [UInt8], at index: UInt64) throws {
        try self.txn.append(bytes, forKey: index.bigEndianBytes, in: self.databases.logEntries)
    }

    /// One record for entry `index`: its leaf hash, then the subtree hashes its leaf completes, level 1 up.
    func putTreeNodes(_ hashes: [[UInt8]], completedBy index: UInt64) throws {
        try self.txn.append(Array(hashes.joined()), forKey: index.bigEndianBytes, in: self.databases.logNodes)
    }

    /// One hash into the record of the entry whose leaf completes the subtree (a forger's rewrite, or a
    /// backend wrapper that stores node by node).
    func putTreeNode(_ hash: [UInt8], level: Int, index: UInt64) throws {
        let key = (((index + 1) << UInt64(level)) &- 1).bigEndianBytes
        var hashes = try self.txn.get(key, in: self.databases.logNodes) ?? []
        if hashes.count < 32 * level {
            // Below it, keep what the older layout holds, so that the record reads as before.
            for below in (hashes.count / 32)..<level {
                hashes += try self.storedTreeNode(level: below, index: (index << UInt64(level - below)) + (1 << UInt64(level - below)) - 1)
                    ?? Array(repeating: 0, count: 32)
            }
        }
        if hashes.count >= 32 * (level + 1) {
            hashes.replaceSubrange((32 * level)..<(32 * level + 32), with: hash)
        } else {
            hashes += hash
        }
        try self.txn.append(hashes, forKey: key, in: self.databases.logNodes)
    }

    var indexesSharedParts: Bool { true }

    /// SHA-256 of a shared part's key -> index (8, BE) of the entry that first held it.
    func logEntryHolding(_ key: [UInt8]) throws -> UInt64? {
        try self.txn.withValue(forKey: Array(SHA256.hash(data: key)), in: self.databases.logParts) { UInt64(bigEndianBytes: $0) }
    }

    func putLogEntryHolding(_ key: [UInt8], at index: UInt64) throws {
        try self.txn.put(index.bigEndianBytes, forKey: Array(SHA256.hash(data: key)), in: self.databases.logParts)
    }

    func setLogSize(_ size: UInt64) throws {
        try self.txn.put(size.bigEndianBytes, forKey: Keys.logSize, in: self.databases.meta)
    }

    /// subject key (32) + index (8, BE) -> time (ms, 8 bytes), purpose and outcome by their stable index codes,
    /// the institution's code.
    func putFileQuery(_ query: FileQuery, for key: SubjectKey) throws {
        let millis = UInt64(max(0, (query.time.timeIntervalSince1970 * 1000).rounded()))
        let value = millis.bigEndianBytes + [query.purpose.indexCode, query.outcome.indexCode] + Array(query.institution.utf8)
        try self.txn.put(value, forKey: key.bytes + query.index.bigEndianBytes, in: self.databases.queryIndex)
    }

    /// Every report or score request about the file `key` since `since`, newest first.
    func fileQueries(of key: SubjectKey, since: Date, limit: Int) throws -> [FileQuery] {
        var found: [FileQuery] = []
        let end = key.bytes + UInt64.max.bigEndianBytes
        try self.txn.scan(self.databases.queryIndex, from: end, reverse: true) { k, v in
            guard k.starts(with: key.bytes), k.count == 40, v.count > 10, let purpose = Purpose(indexCode: v[8]),
                let outcome = Outcome(indexCode: v[9])
            else { return false }
            let time = Date(timeIntervalSince1970: Double(UInt64(bigEndianBytes: UnsafeRawBufferPointer(rebasing: v[0..<8]))) / 1000)
            if time < since { return false }
            found.append(
                FileQuery(
                    index: UInt64(bigEndianBytes: UnsafeRawBufferPointer(rebasing: k[32...])), time: time,
                    purpose: purpose, outcome: outcome,
                    institution: String(decoding: UnsafeRawBufferPointer(rebasing: v[10...]), as: UTF8.self)
                )
            )
            return found.count < limit
        }
        return found
    }
}

/// Key construction for the store's databases (layout in DESIGN.md).
enum Keys {
    static let statement: UInt8 = 1
    static let dispute: UInt8 = 2
    static let logSize = Array("log.size".utf8)
    static let catalogue = Array("catalogue".utf8)
    static let checkpointVerifier = Array("checkpoint.verifier".utf8)

    static func kindByte(_ kind: RecordKind) -> UInt8 { RecordKeyBytes.kindByte(kind) }

    static func kind(_ byte: UInt8) throws -> RecordKind {
        switch byte {
        case 1: return .account
        case 2: return .publicRecord
        case 3: return .listEntry
        default: throw BinaryReader.Malformed(what: "record kind \(byte)")
        }
    }

    /// The length of a record key: subject key (32) + kind (1) + furnisher code (18) + record token (16)
    /// (``DataProtection/recordKey(_:_:)``).
    static let recordKeyCount = 32 + 1 + 18 + 16

    static func day(_ date: CalendarDate) -> [UInt8] {
        withUnsafeBytes(of: UInt32(clamping: max(0, date.daysSinceEpoch)).bigEndian) { Array($0) }
    }

    /// list code + 0x00 + record key
    static func list(_ code: String, _ recordKey: [UInt8]) -> [UInt8] { Array(code.utf8) + [0] + recordKey }

    /// subject key (32) + type (1) + id
    static func attachment(_ subject: SubjectKey, _ type: UInt8, _ id: String) -> [UInt8] { subject.bytes + [type] + Array(id.utf8) }

    /// furnisher code (18) + batch id
    static func batch(_ furnisher: UnifiedSocialCreditCode, _ batchID: String) -> [UInt8] {
        Array(furnisher.value.utf8) + Array(batchID.utf8)
    }
}

extension UInt64 {
    var bigEndianBytes: [UInt8] { withUnsafeBytes(of: self.bigEndian) { Array($0) } }

    init(bigEndianBytes bytes: UnsafeRawBufferPointer) {
        var value: UInt64 = 0
        for b in bytes.prefix(8) { value = value << 8 | UInt64(b) }
        self = value
    }
}

/// The JSON codec for small stored values (institutions, the catalogue): BureauStore's, shared by every backend.
typealias Codec = StoredJSON
