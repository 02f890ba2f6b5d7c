import BureauCore
import BureauStore
import Crypto
import Foundation
import NIOCore
import PostgresNIO

/// Typed reads and writes over one PostgreSQL transaction (read-only or read-write) on one connection. Valid
/// only inside the closure that received it.
///
/// The credit-file tables hold the LMDB backend's keys and values (bytea compares bytewise, as LMDB does, so
/// its ranges and prefixes read the same); the log is in its own tables (see DESIGN.md).
final class PostgresTransaction: ReadWriteStoreTransaction {
    let connection: Session
    /// How deep in savepoints this transaction is (0: the transaction itself).
    let depth: Int
    let protection: DataProtection
    /// The keys this transaction made and shredded; nil when read-only.
    let changes: KeyChanges?
    /// Seals and opens the values that hold personal data, as the LMDB backend does.
    let values: StoredValues

    init(_ connection: Session, depth: Int, protection: DataProtection, changes: KeyChanges?) {
        self.connection = connection
        self.depth = depth
        self.protection = protection
        self.changes = changes
        self.values = protection.values(changes)
    }

    func offer(_ prepared: PreparedFile?) { self.values.offer(prepared) }

    /// A savepoint: when `body` throws, PostgreSQL rolls back to it and this transaction goes on.
    func withNestedTransaction<T>(_ body: (any ReadWriteStoreTransaction) throws -> T) throws -> T {
        let name = "bureau_\(self.depth + 1)"
        try self.connection.run("SAVEPOINT \(name)")
        // Its own key changes, handed to this transaction's only when it succeeds (a request undone shreds nothing).
        let child = self.changes?.child()
        do {
            let result = try body(PostgresTransaction(self.connection, depth: self.depth + 1, protection: self.protection, changes: child))
            try self.connection.run("RELEASE SAVEPOINT \(name)")
            if let child { self.changes?.adopt(child) }
            return result
        } catch {
            try self.connection.run("ROLLBACK TO SAVEPOINT \(name)")
            throw error
        }
    }

    // MARK: Key-value primitives over the tables keyed like LMDB's databases

    func get(_ key: [UInt8], in table: Schema.Table) throws -> [UInt8]? {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: key))
        return try self.connection.run("SELECT value FROM \(table.rawValue) WHERE key = $1", binds).first.map { Array(try $0.decode(ByteBuffer.self).readableBytesView) }
    }

    func put(_ value: [UInt8], forKey key: [UInt8], in table: Schema.Table) throws {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: key))
        binds.append(ByteBuffer(bytes: value))
        try self.connection.run(
            "INSERT INTO \(table.rawValue) (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", binds
        )
    }

    func delete(_ key: [UInt8], in table: Schema.Table) throws {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: key))
        try self.connection.run("DELETE FROM \(table.rawValue) WHERE key = $1", binds)
    }

    func count(_ table: Schema.Table) throws -> Int {
        try self.connection.run("SELECT count(*) FROM \(table.rawValue)").first?.decode(Int.self) ?? 0
    }

    /// Calls `body` with each key and value of `table` from `start` on (with `reverse`, from the last key at or
    /// before `start` back), in key order, while it returns true; within `prefix` only, when given. Reads pages
    /// that grow from 16 rows, so a scan that stops early reads little.
    func scan(
        _ table: Schema.Table, from start: [UInt8]? = nil, prefix: [UInt8]? = nil, reverse: Bool = false,
        _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool
    ) throws {
        var from = start ?? (reverse ? nil : prefix)
        var inclusive = true
        var page = 16
        while true {
            var binds = PostgresBindings()
            var conditions: [String] = []
            if let from {
                binds.append(ByteBuffer(bytes: from))
                conditions.append("key \(reverse ? "<" : ">")\(inclusive ? "=" : "") $\(binds.count)")
            }
            if let prefix {
                binds.append(ByteBuffer(bytes: prefix))
                conditions.append("key >= $\(binds.count)")
                if let end = Self.successor(of: prefix) {
                    binds.append(ByteBuffer(bytes: end))
                    conditions.append("key < $\(binds.count)")
                }
            }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            let rows = try self.connection.run(
                "SELECT key, value FROM \(table.rawValue) \(filter) ORDER BY key \(reverse ? "DESC" : "ASC") LIMIT \(page)", binds
            )
            var last: [UInt8]?
            for row in rows {
                let (k, v) = try row.decode((ByteBuffer, ByteBuffer).self)
                let key = Array(k.readableBytesView)
                guard try body(key, Array(v.readableBytesView)) else { return }
                last = key
            }
            guard rows.count == page, let last else { return }
            from = last
            inclusive = false
            page = min(page * 4, 1024)
        }
    }

    /// The first key after every key that starts with `prefix`, or nil when there is none (all 0xFF).
    static func successor(of prefix: [UInt8]) -> [UInt8]? {
        var end = prefix
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return nil
    }

    // MARK: Files

    func hasFile(_ key: SubjectKey) throws -> Bool {
        try self.get(key.bytes, in: .subjects) != nil
    }

    func identitySources(_ key: SubjectKey) throws -> [IdentitySource]? {
        try self.get(key.bytes, in: .subjects).map { bytes in try bytes.withUnsafeBytes { try self.values.openIdentity($0, of: key) } }
    }

    func file(_ key: SubjectKey) throws -> CreditFile? {
        guard let sources = try self.identitySources(key), let first = sources.first else { return nil }
        var file = CreditFile(subject: first.identity)
        try self.scan(.records, prefix: key.bytes) { k, v in
            do {
                file.upsert(try self.openRecord(k, v).record)
            } catch let error as SealedValueError where error.removed {
                // Deleted after this copy of the data was made (its key is destroyed): not on the file, counted.
                file.removedRecords += 1
            }
            return true
        }
        try self.scan(.attachments, prefix: key.bytes) { k, v in
            guard k.count > 33 else { return true }
            let id = String(decoding: k[33...], as: UTF8.self)
            do {
                switch k[32] {
                case PGKeys.statement: file.statements.append(try v.withUnsafeBytes { try self.values.openStatement($0, id: id, of: key, attachmentKey: k) })
                case PGKeys.dispute: file.disputes.append(try v.withUnsafeBytes { try self.values.openDisputeMark($0, id: id, of: key, attachmentKey: k) })
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

    func putIdentitySources(_ sources: [IdentitySource], for key: SubjectKey) throws {
        try self.put(try self.values.sealIdentity(sources, of: key), forKey: key.bytes, in: .subjects)
    }

    func holdsRecord(_ furnisher: UnifiedSocialCreditCode, on key: SubjectKey) throws -> Bool {
        for kind in RecordKind.allCases {
            var found = false
            // The record key up to its token.
            try self.scan(.records, prefix: key.bytes + [RecordKeyBytes.kindByte(kind)] + Array(furnisher.value.utf8)) { _, _ in
                found = true
                return false
            }
            if found { return true }
        }
        return false
    }

    func fileCount() throws -> Int { try self.count(.subjects) }

    // MARK: Records

    /// Opens a stored record: kind and furnisher from its key `k`, the rest (the record id included) from its
    /// sealed value.
    func openRecord(_ k: [UInt8], _ v: [UInt8]) throws -> (subject: SubjectKey, record: CreditRecord) {
        guard k.count == PGKeys.recordKeyCount else { throw BinaryReader.Malformed(what: "record key of \(k.count) bytes") }
        let subject = SubjectKey(bytes: Array(k[0..<32]))
        let furnisher = try UnifiedSocialCreditCode(parsing: String(decoding: k[33..<51], as: UTF8.self))
        let kind = try PGKeys.kind(k[32])
        return (subject, try v.withUnsafeBytes { try self.values.openRecord($0, of: subject, recordKey: k, kind: kind, furnisher: furnisher) })
    }

    /// The record stored under the record key `recordKey`, or nil when there is none or it was removed (its
    /// data key destroyed).
    func storedRecord(_ recordKey: [UInt8]) throws -> (subject: SubjectKey, record: CreditRecord)? {
        do {
            return try self.get(recordKey, in: .records).map { try self.openRecord(recordKey, $0) }
        } catch let error as SealedValueError where error.removed {
            return nil
        }
    }

    func owner(of reference: RecordReference) throws -> SubjectKey? {
        try self.get(self.protection.recordIndexKey(reference), in: .furnisherIndex).map { SubjectKey(bytes: $0) }
    }

    func record(_ reference: RecordReference, of key: SubjectKey) throws -> CreditRecord? {
        let recordKey = self.protection.recordKey(key, reference)
        do {
            return try self.get(recordKey, in: .records).map { bytes in
                try bytes.withUnsafeBytes {
                    try self.values.openRecord($0, of: key, recordKey: recordKey, kind: reference.kind, furnisher: reference.furnisher)
                }
            }
        } catch let error as SealedValueError where error.removed {
            return nil  // deleted after this copy of the data was made: its key is destroyed
        }
    }

    func putRecord(_ record: CreditRecord, for key: SubjectKey, catalogue: Catalogue) throws {
        let reference = record.reference
        if let owner = try self.owner(of: reference), owner != key {
            throw BureauError(.alreadyExists, "\(reference.kind.rawValue) \(reference.recordID) is already on another file of this furnisher")
        }
        if let previous = try self.record(reference, of: key) {
            try self.removeIndexes(previous, of: key)
        }
        let recordKey = self.protection.recordKey(key, reference)
        let encoded = RecordCodec.encode(record)
        if let tombstone = try self.get(recordKey, in: .tombstones) {
            // A deleted record comes back only changed, or on a new legal basis.
            guard tombstone != Array(SHA256.hash(data: encoded)) else {
                throw BureauError(
                    .failedPrecondition,
                    "\(reference.kind.rawValue) \(reference.recordID) was deleted; it cannot be furnished again unchanged without a new legal basis"
                )
            }
            try self.delete(recordKey, in: .tombstones)
        }
        try self.put(try self.values.sealRecord(record, of: key, recordKey: recordKey), forKey: recordKey, in: .records)
        try self.put(key.bytes, forKey: self.protection.recordIndexKey(reference), in: .furnisherIndex)
        if let anchor = Retention.anchor(of: record) {
            try self.put([], forKey: PGKeys.retention(anchor, recordKey), in: .retentionIndex)
        }
        if case .listEntry(let entry) = record {
            try self.put([], forKey: PGKeys.list(entry.list, recordKey), in: .listIndex)
        }
    }

    @discardableResult
    func deleteRecord(_ reference: RecordReference, of key: SubjectKey, catalogue: Catalogue, tombstone: Bool) throws -> CreditRecord? {
        guard let previous = try self.record(reference, of: key) else { return nil }
        let recordKey = self.protection.recordKey(key, reference)
        if tombstone {
            try self.put(Array(SHA256.hash(data: RecordCodec.encode(previous))), forKey: recordKey, in: .tombstones)
        }
        try self.removeIndexes(previous, of: key)
        try self.delete(recordKey, in: .records)
        try self.delete(self.protection.recordIndexKey(reference), in: .furnisherIndex)
        // Crypto-shredding: the record's data key goes when this commits, so no backup opens it either.
        try self.values.shred(.record(recordKey))
        return previous
    }

    private func removeIndexes(_ record: CreditRecord, of key: SubjectKey) throws {
        let recordKey = self.protection.recordKey(key, record.reference)
        if let anchor = Retention.anchor(of: record) {
            try self.delete(PGKeys.retention(anchor, recordKey), in: .retentionIndex)
        }
        if case .listEntry(let entry) = record {
            try self.delete(PGKeys.list(entry.list, recordKey), in: .listIndex)
        }
    }

    func listMembers(_ code: String, limit: Int) throws -> [(SubjectKey, RecordReference)] {
        var out: [(SubjectKey, RecordReference)] = []
        guard limit > 0 else { return out }
        let prefix = Array(code.utf8) + [0]
        // Collect the keys first: the records are read with statements of their own.
        var recordKeys: [[UInt8]] = []
        try self.scan(.listIndex, prefix: prefix) { k, _ in
            recordKeys.append(Array(k[prefix.count...]))
            return true
        }
        for recordKey in recordKeys where out.count < limit {
            guard let (subject, record) = try self.storedRecord(recordKey) else { continue }
            out.append((subject, record.reference))
        }
        return out
    }

    // MARK: Statements and dispute marks

    func putStatement(_ statement: Statement, for key: SubjectKey) throws {
        let attachmentKey = PGKeys.attachment(key, PGKeys.statement, statement.id)
        try self.put(try self.values.sealStatement(statement, of: key, attachmentKey: attachmentKey), forKey: attachmentKey, in: .attachments)
    }

    func putDispute(_ dispute: DisputeMark, for key: SubjectKey) throws {
        let attachmentKey = PGKeys.attachment(key, PGKeys.dispute, dispute.id)
        try self.put(try self.values.sealDisputeMark(dispute, of: key, attachmentKey: attachmentKey), forKey: attachmentKey, in: .attachments)
    }

    func removeDisputeMark(id: String, of key: SubjectKey) throws {
        let attachmentKey = PGKeys.attachment(key, PGKeys.dispute, id)
        if try self.get(attachmentKey, in: .attachments) != nil {
            try self.delete(attachmentKey, in: .attachments)
            try self.values.shred(.attachment(attachmentKey))
        }
    }

    // MARK: Idempotent batches

    func batchResult(furnisher: UnifiedSocialCreditCode, batchID: String) throws -> [UInt8]? {
        try self.get(PGKeys.batch(furnisher, batchID), in: .batches).map { bytes in
            try bytes.withUnsafeBytes { try self.values.openBatchResult($0, furnisher: furnisher, batchID: batchID) }
        }
    }

    func putBatchResult(_ result: [UInt8], furnisher: UnifiedSocialCreditCode, batchID: String) throws {
        try self.put(try self.values.sealBatchResult(result, furnisher: furnisher, batchID: batchID), forKey: PGKeys.batch(furnisher, batchID), in: .batches)
    }

    // MARK: Catalogue

    func storedCatalogue() throws -> Catalogue? {
        try self.get(PGKeys.catalogue, in: .meta).map { try StoredJSON.decode(Catalogue.self, $0) }
    }

    func putCatalogue(_ catalogue: Catalogue) throws {
        try self.put(StoredJSON.encode(catalogue), forKey: PGKeys.catalogue, in: .meta)
    }

    // MARK: Checkpoint key

    func checkpointVerifierKey() throws -> String? {
        try self.get(PGKeys.checkpointVerifier, in: .meta).map { String(decoding: $0, as: UTF8.self) }
    }

    func putCheckpointVerifierKey(_ key: String) throws {
        try self.put(Array(key.utf8), forKey: PGKeys.checkpointVerifier, in: .meta)
    }

    // MARK: Institutions

    func institution(code: UnifiedSocialCreditCode) throws -> Institution? {
        try self.get(Array(code.value.utf8), in: .institutions).map { try StoredJSON.decode(Institution.self, $0) }
    }

    func institution(certificateFingerprint fingerprint: [UInt8]) throws -> Institution? {
        guard let code = try self.get(fingerprint, in: .certificates) else { return nil }
        return try self.institution(code: UnifiedSocialCreditCode(parsing: String(decoding: code, as: UTF8.self)))
    }

    func institutions() throws -> [Institution] {
        var out: [Institution] = []
        try self.scan(.institutions) { _, value in
            out.append(try StoredJSON.decode(Institution.self, value))
            return true
        }
        return out
    }

    func putInstitution(_ institution: Institution) throws {
        let codeBytes = Array(institution.code.value.utf8)
        for fingerprint in institution.certificateFingerprints {
            guard let bytes = [UInt8](hex: fingerprint), bytes.count == 32 else {
                throw BureauError.invalid("certificate_fingerprint", "is 64 hex characters (SHA-256)")
            }
            if try self.get(bytes, in: .revoked) != nil {
                throw BureauError(.failedPrecondition, "certificate \(fingerprint) was revoked and cannot be bound again")
            }
            if let owner = try self.get(bytes, in: .certificates), owner != codeBytes {
                throw BureauError(.alreadyExists, "certificate \(fingerprint) is bound to \(String(decoding: owner, as: UTF8.self))")
            }
        }
        if let previous = try self.institution(code: institution.code) {
            for old in previous.certificateFingerprints.subtracting(institution.certificateFingerprints) {
                if let bytes = [UInt8](hex: old) { try self.delete(bytes, in: .certificates) }
            }
        }
        for fingerprint in institution.certificateFingerprints {
            try self.put(codeBytes, forKey: [UInt8](hex: fingerprint)!, in: .certificates)
        }
        try self.put(StoredJSON.encode(institution), forKey: codeBytes, in: .institutions)
    }

    // MARK: Consents, protections, quotas, revocation

    func consent(_ reference: String) throws -> Consent? {
        try self.get(Array(reference.utf8), in: .consents).map { bytes in try bytes.withUnsafeBytes { try self.values.openConsent($0, reference: reference) } }
    }

    func putConsent(_ consent: Consent) throws {
        try self.put(try self.values.sealConsent(consent), forKey: Array(consent.reference.utf8), in: .consents)
    }

    func protection(_ key: SubjectKey) throws -> FileProtection {
        try self.get(key.bytes, in: .protections).map { bytes in try bytes.withUnsafeBytes { try self.values.openProtection($0, of: key) } } ?? FileProtection()
    }

    func putProtection(_ protection: FileProtection, for key: SubjectKey) throws {
        if protection.freeze == nil && protection.fraudAlert == nil {
            try self.delete(key.bytes, in: .protections)
        } else {
            try self.put(try self.values.sealProtection(protection, of: key), forKey: key.bytes, in: .protections)
        }
    }

    func queriesCounted(_ institution: UnifiedSocialCreditCode, on day: CalendarDate) throws -> UInt64 {
        try self.get(Array(institution.value.utf8) + PGKeys.day(day), in: .quotas).map(PGKeys.uint64) ?? 0
    }

    @discardableResult
    func countQuery(_ institution: UnifiedSocialCreditCode, on day: CalendarDate) throws -> UInt64 {
        let counted = try self.queriesCounted(institution, on: day)
        // Saturating: a stored count at the top of the range must not trap the report that counts it.
        let count = counted == .max ? counted : counted + 1
        try self.put(PGKeys.bytes(count), forKey: Array(institution.value.utf8) + PGKeys.day(day), in: .quotas)
        return count
    }

    func countSelfQuery(_ key: SubjectKey, year: Int) throws -> UInt64 {
        let k = key.bytes + [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year)]
        let stored = try self.get(k, in: .selfQueries).map(PGKeys.uint64) ?? 0
        let count = stored == .max ? stored : stored + 1
        try self.put(PGKeys.bytes(count), forKey: k, in: .selfQueries)
        return count
    }

    func isRevoked(certificateFingerprint fingerprint: [UInt8]) throws -> Bool {
        try self.get(fingerprint, in: .revoked) != nil
    }

    func revocation(certificateFingerprint fingerprint: [UInt8]) throws -> String? {
        try self.get(fingerprint, in: .revoked).map { String(decoding: $0, as: UTF8.self) }
    }

    @discardableResult
    func revokeCertificate(fingerprint hex: String) throws -> Institution? {
        guard let bytes = [UInt8](hex: hex), bytes.count == 32 else {
            throw BureauError.invalid("fingerprint", "is 64 hex characters (SHA-256)")
        }
        var owner = try self.institution(certificateFingerprint: bytes)
        try self.put(Array((owner?.code.value ?? "").utf8), forKey: bytes, in: .revoked)
        if var institution = owner {
            institution.certificateFingerprints.remove(hex)
            try self.putInstitution(institution)
            owner = institution
        }
        try self.delete(bytes, in: .certificates)
        return owner
    }

    // MARK: Anomalies, disputes, repairs

    func recordedAnomaly(_ id: String) throws -> RecordedAnomaly? {
        try self.get(Array(id.utf8), in: .anomalies).map { try StoredJSON.decode(RecordedAnomaly.self, $0) }
    }

    func putAnomaly(_ recorded: RecordedAnomaly) throws {
        try self.put(StoredJSON.encode(recorded), forKey: Array(recorded.anomaly.id.utf8), in: .anomalies)
    }

    func dispute(_ id: String) throws -> Dispute? {
        try self.get(Array(id.utf8), in: .disputes).map { bytes in try bytes.withUnsafeBytes { try self.values.openDispute($0, id: id) } }
    }

    /// The dispute stored under the key `k`, or nil when it was removed (its data key destroyed).
    func openDispute(_ k: [UInt8], _ v: [UInt8]) throws -> Dispute? {
        do {
            return try v.withUnsafeBytes { try self.values.openDispute($0, id: String(decoding: k, as: UTF8.self)) }
        } catch let error as SealedValueError where error.removed {
            return nil
        }
    }

    func putDispute(_ dispute: Dispute) throws {
        try self.put(try self.values.sealDispute(dispute), forKey: Array(dispute.id.utf8), in: .disputes)
        let indexKey = Array(dispute.record.furnisher.value.utf8) + Array(dispute.id.utf8)
        if dispute.status == .open {
            try self.put([], forKey: indexKey, in: .disputeIndex)
        } else {
            try self.delete(indexKey, in: .disputeIndex)
        }
    }

    func openDisputes(of furnisher: UnifiedSocialCreditCode) throws -> [Dispute] {
        let prefix = Array(furnisher.value.utf8)
        var ids: [String] = []
        try self.scan(.disputeIndex, prefix: prefix) { k, _ in
            ids.append(String(decoding: k[prefix.count...], as: UTF8.self))
            return true
        }
        return try ids.compactMap { try self.dispute($0) }.sorted { $0.filed < $1.filed }
    }

    func overdueDisputes(on today: CalendarDate) throws -> [Dispute] {
        var out: [Dispute] = []
        var ids: [String] = []
        try self.scan(.disputeIndex) { k, _ in
            if k.count > 18 { ids.append(String(decoding: k[18...], as: UTF8.self)) }
            return true
        }
        for id in ids {
            if let dispute = try self.dispute(id), dispute.isOverdue(on: today) { out.append(dispute) }
        }
        return out.sorted { $0.filed < $1.filed }
    }

    func repair(_ id: String) throws -> Repair? {
        try self.get(Array(id.utf8), in: .repairs).map { bytes in try bytes.withUnsafeBytes { try self.values.openRepair($0, id: id) } }
    }

    /// The repair request stored under the key `k`, or nil when it was removed (its data key destroyed).
    func openRepair(_ k: [UInt8], _ v: [UInt8]) throws -> Repair? {
        do {
            return try v.withUnsafeBytes { try self.values.openRepair($0, id: String(decoding: k, as: UTF8.self)) }
        } catch let error as SealedValueError where error.removed {
            return nil
        }
    }

    func putRepair(_ repair: Repair) throws {
        try self.put(try self.values.sealRepair(repair), forKey: Array(repair.id.utf8), in: .repairs)
    }

    func pendingRepairs() throws -> [Repair] {
        var out: [Repair] = []
        try self.scan(.repairs) { k, v in
            guard let repair = try self.openRepair(k, v) else { return true }
            if repair.status == .pending { out.append(repair) }
            return true
        }
        return out.sorted { $0.requested < $1.requested }
    }

    // MARK: Retention

    func recordsWithRetentionDue(
        fixedEndOnOrBefore: CalendarDate, categories: [(code: String, endedOnOrBefore: CalendarDate)], limit: Int,
        where isDue: (CreditRecord) -> Bool
    ) throws -> [(SubjectKey, CreditRecord)] {
        var due: [(SubjectKey, CreditRecord)] = []
        var stale: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        var ranges: [(prefix: [UInt8], last: CalendarDate)] = [([PGKeys.retentionFixedEnd], fixedEndOnOrBefore)]
        for (code, last) in categories {
            ranges.append((PGKeys.retentionCategoryPrefix(code), last))
        }
        for (prefix, last) in ranges where due.count < limit {
            let end = PGKeys.day(last)
            var found: [(key: [UInt8], recordKey: ArraySlice<UInt8>)] = []
            // Collect the range first: the records are read with statements of their own.
            try self.scan(.retentionIndex, prefix: prefix) { k, _ in
                guard k.count == prefix.count + 4 + PGKeys.recordKeyCount else { return true }
                let dayBytes = Array(k[prefix.count..<(prefix.count + 4)])
                guard dayBytes.lexicographicallyPrecedes(end) || dayBytes == end else { return false }
                found.append((k, k[(prefix.count + 4)...]))
                return true
            }
            for (k, recordKey) in found {
                guard let (key, record) = try self.storedRecord(Array(recordKey)) else {
                    stale.append(k)
                    continue
                }
                let current = Retention.anchor(of: record).map { PGKeys.retention($0, Array(recordKey)) }
                if current != k { stale.append(k) }
                if isDue(record), seen.insert(Array(recordKey)).inserted { due.append((key, record)) }
                if due.count >= limit { break }
            }
        }
        for k in stale { try self.delete(k, in: .retentionIndex) }
        return due
    }

    func deleteAttachments(about references: [SubjectKey: Set<RecordReference>]) throws {
        guard !references.isEmpty else { return }
        var attachments: [[UInt8]] = []
        for (key, records) in references {
            try self.scan(.attachments, prefix: key.bytes) { k, v in
                guard k.count > 33 else { return true }
                let id = String(decoding: k[33...], as: UTF8.self)
                do {
                    switch k[32] {
                    case PGKeys.statement:
                        if let about = try v.withUnsafeBytes({ try self.values.openStatement($0, id: id, of: key, attachmentKey: k) }).about, records.contains(about) {
                            attachments.append(k)
                        }
                    case PGKeys.dispute:
                        if records.contains(try v.withUnsafeBytes { try self.values.openDisputeMark($0, id: id, of: key, attachmentKey: k) }.record) {
                            attachments.append(k)
                        }
                    default: break
                    }
                } catch let error as SealedValueError where error.removed {
                    attachments.append(k)  // already shredded: only its ciphertext is left
                }
                return true
            }
        }
        for k in attachments {
            try self.delete(k, in: .attachments)
            try self.values.shred(.attachment(k))
        }
        var disputes: [Dispute] = []
        try self.scan(.disputes) { k, v in
            guard let dispute = try self.openDispute(k, v) else { return true }
            if references[dispute.subject]?.contains(dispute.record) == true { disputes.append(dispute) }
            return true
        }
        for dispute in disputes {
            try self.delete(Array(dispute.id.utf8), in: .disputes)
            try self.delete(Array(dispute.record.furnisher.value.utf8) + Array(dispute.id.utf8), in: .disputeIndex)
            try self.values.shred(.dispute(dispute.id))
        }
        var repairs: [String] = []
        try self.scan(.repairs) { k, v in
            guard let repair = try self.openRepair(k, v) else { return true }
            if references[repair.subject]?.contains(repair.record) == true { repairs.append(repair.id) }
            return true
        }
        for id in repairs {
            try self.delete(Array(id.utf8), in: .repairs)
            try self.values.shred(.repair(id))
        }
    }

    // MARK: Access log

    func logSize() throws -> UInt64 {
        UInt64(try self.connection.run("SELECT size FROM log_head WHERE one").first?.decode(Int64.self) ?? 0)
    }

    func storedTreeNode(level: Int, index: UInt64) throws -> [UInt8]? {
        guard let index = Int64(exactly: index) else { return nil }
        var binds = PostgresBindings()
        binds.append(Int16(clamping: level))
        binds.append(index)
        return try self.connection.run("SELECT hash FROM log_tree WHERE level = $1 AND idx = $2", binds).first.map {
            Array(try $0.decode(ByteBuffer.self).readableBytesView)
        }
    }

    func logEntryBytes(from start: UInt64, limit: Int, reverse: Bool, maxBytes: Int) throws -> [(index: UInt64, bytes: [UInt8])] {
        var out: [(index: UInt64, bytes: [UInt8])] = []
        guard limit > 0 else { return out }
        var from = Int64(clamping: start)
        var inclusive = true
        var total = 0
        while out.count < limit {
            let page = min(limit - out.count, 512)
            var binds = PostgresBindings()
            binds.append(from)
            let rows = try self.connection.run(
                "SELECT idx, entry FROM log_entries WHERE idx \(reverse ? "<" : ">")\(inclusive ? "=" : "") $1 ORDER BY idx \(reverse ? "DESC" : "ASC") LIMIT \(page)",
                binds
            )
            for row in rows {
                let (index, bytes) = try row.decode((Int64, ByteBuffer).self)
                total += bytes.readableBytes
                if !out.isEmpty && total > maxBytes { return out }
                out.append((UInt64(index), Array(bytes.readableBytesView)))
                from = index
            }
            if rows.count < page { break }
            inclusive = false
        }
        return out
    }

    func putLogEntryBytes(_ bytes: [UInt8], at index: UInt64) throws {
        var binds = PostgresBindings()
        binds.append(try Self.bigint(index))
        binds.append(ByteBuffer(bytes: bytes))
        try self.connection.run(
            "INSERT INTO log_entries (idx, entry) VALUES ($1, $2) ON CONFLICT (idx) DO UPDATE SET entry = EXCLUDED.entry", binds
        )
    }

    func putTreeNode(_ hash: [UInt8], level: Int, index: UInt64) throws {
        var binds = PostgresBindings()
        binds.append(Int16(clamping: level))
        binds.append(try Self.bigint(index))
        binds.append(ByteBuffer(bytes: hash))
        try self.connection.run(
            "INSERT INTO log_tree (level, idx, hash) VALUES ($1, $2, $3) ON CONFLICT (level, idx) DO UPDATE SET hash = EXCLUDED.hash", binds
        )
    }

    func setLogSize(_ size: UInt64) throws {
        var binds = PostgresBindings()
        binds.append(try Self.bigint(size))
        try self.connection.run("UPDATE log_head SET size = $1 WHERE one", binds)
    }

    private static func bigint(_ value: UInt64) throws -> Int64 {
        guard let value = Int64(exactly: value) else { throw BureauError(.internal, "log index \(value) is beyond PostgreSQL's bigint") }
        return value
    }

    /// subject key (32) + index (8, BE) -> time (ms, 8 bytes), purpose and outcome by their stable index codes,
    /// the institution's code: the LMDB backend's layout.
    func putFileQuery(_ query: FileQuery, for key: SubjectKey) throws {
        let millis = UInt64(max(0, (query.time.timeIntervalSince1970 * 1000).rounded()))
        let value = PGKeys.bytes(millis) + [query.purpose.indexCode, query.outcome.indexCode] + Array(query.institution.utf8)
        try self.put(value, forKey: key.bytes + PGKeys.bytes(query.index), in: .queryIndex)
    }

    func fileQueries(of key: SubjectKey, since: Date, limit: Int) throws -> [FileQuery] {
        var found: [FileQuery] = []
        guard limit > 0 else { return found }
        try self.scan(.queryIndex, prefix: key.bytes, reverse: true) { k, v in
            guard k.count == 40, v.count > 10, let purpose = Purpose(indexCode: v[8]), let outcome = Outcome(indexCode: v[9]) else { return false }
            let time = Date(timeIntervalSince1970: Double(PGKeys.uint64(Array(v[0..<8]))) / 1000)
            if time < since { return false }
            found.append(
                FileQuery(
                    index: PGKeys.uint64(Array(k[32...])), time: time, purpose: purpose, outcome: outcome,
                    institution: String(decoding: v[10...], as: UTF8.self)
                )
            )
            return found.count < limit
        }
        return found
    }
}

/// The LMDB backend's key construction (its DESIGN.md has the layout), over byte arrays.
enum PGKeys {
    static let statement: UInt8 = 1
    static let dispute: UInt8 = 2
    static let catalogue = Array("catalogue".utf8)
    static let checkpointVerifier = Array("checkpoint.verifier".utf8)
    static let retentionFixedEnd: UInt8 = 1
    static let retentionFromBehaviour: UInt8 = 2

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

    /// 2 + category code + 0x00: the part of the retention index for one category.
    static func retentionCategoryPrefix(_ code: String) -> [UInt8] { [retentionFromBehaviour] + Array(code.utf8) + [0] }

    /// 1 + end day (4) + records key, or 2 + category + 0x00 + behaviour end day (4) + records key.
    static func retention(_ anchor: Retention.Anchor, _ recordKey: [UInt8]) -> [UInt8] {
        switch anchor {
        case .fixedEnd(let end): [retentionFixedEnd] + day(end) + recordKey
        case .behaviourEnded(let category, let ended): retentionCategoryPrefix(category) + day(ended) + recordKey
        }
    }

    static func bytes(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    static func uint64(_ bytes: [UInt8]) -> UInt64 { bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }
}
