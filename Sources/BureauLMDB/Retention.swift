import BureauCore
import BureauStore
import LMDB
import Foundation

/// The retention index, as the purge in BureauStore (``ReadWriteStoreTransaction/purgeExpired``) walks it.
///
/// The `index.retention` database holds, for every record with something that expires, where its retention
/// counts from (``Retention/Anchor``), not an end day: `1` + end day + records key for a list entry (its
/// publicity end, whatever the catalogue says), `2` + category + `0x00` + day + records key for a negative
/// record (the day its behaviour ended) or a positive account with late months (the end of its earliest late
/// month, under `account.delinquency`). The purge turns each category's retention in the catalogue in force
/// into a cutoff day and reads the index up to it, so a catalogue change, either way, takes effect at the
/// next purge with nothing to rebuild. Keys written before this layout (they start with the 4-byte end day,
/// so with 0x00) are rebuilt from the records at the first purge.
extension LMDBTransaction {
    func recordsWithRetentionDue(
        fixedEndOnOrBefore: CalendarDate, categories: [(code: String, endedOnOrBefore: CalendarDate)], limit: Int,
        where isDue: (CreditRecord) -> Bool
    ) throws -> [(SubjectKey, CreditRecord)] {
        try self.rebuildLegacyRetentionIndex()
        var due: [(SubjectKey, CreditRecord)] = []
        var stale: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        // One range of the index per rule: list entries by their end day, then each category with a retention.
        var ranges: [(prefix: [UInt8], last: CalendarDate)] = [([Keys.retentionFixedEnd], fixedEndOnOrBefore)]
        for (code, last) in categories {
            ranges.append((Keys.retentionCategoryPrefix(code), last))
        }
        let retentionIndex = self.databases.retentionIndex
        for (prefix, last) in ranges where due.count < limit {
            let end = Keys.day(last)
            try self.txn.scan(retentionIndex, from: prefix) { k, _ in
                guard k.starts(with: prefix), k.count > prefix.count + 4 + 51 else { return false }
                let dayBytes = Array(k[prefix.count..<(prefix.count + 4)])
                guard dayBytes.lexicographicallyPrecedes(end) || dayBytes == end else { return false }
                let recordKey = UnsafeRawBufferPointer(rebasing: k[(prefix.count + 4)...])
                guard let (key, record) = try self.storedRecord(Array(recordKey)) else {
                    stale.append(Array(k))
                    return true
                }
                let current = Retention.anchor(of: record).map { Keys.retention($0, Array(recordKey)) }
                if current != Array(k) { stale.append(Array(k)) }
                if isDue(record), seen.insert(Array(recordKey)).inserted { due.append((key, record)) }
                return due.count < limit
            }
        }
        for k in stale { try self.txn.delete(k, in: retentionIndex) }
        return due
    }

    /// Deletes the statements, dispute marks, disputes and repair requests about the records `references` of each file.
    func deleteAttachments(about references: [SubjectKey: Set<RecordReference>]) throws {
        guard !references.isEmpty else { return }
        var attachments: [[UInt8]] = []
        for (key, records) in references {
            try self.txn.scan(self.databases.attachments, from: key.bytes) { k, v in
                guard k.starts(with: key.bytes), k.count > 33 else { return false }
                let id = String(decoding: UnsafeRawBufferPointer(rebasing: k[33...]), as: UTF8.self)
                do {
                    switch k[32] {
                    case Keys.statement:
                        if let about = try self.values.openStatement(v, id: id, of: key, attachmentKey: Array(k)).about, records.contains(about) {
                            attachments.append(Array(k))
                        }
                    case Keys.dispute:
                        if records.contains(try self.values.openDisputeMark(v, id: id, of: key, attachmentKey: Array(k)).record) { attachments.append(Array(k)) }
                    default: break
                    }
                } catch let error as SealedValueError where error.removed {
                    attachments.append(Array(k))  // already shredded: only its ciphertext is left
                }
                return true
            }
        }
        for k in attachments {
            try self.txn.delete(k, in: self.databases.attachments)
            try self.values.shred(.attachment(k))
        }
        // Disputes, open or answered, name the record too. They are few; one pass over them per batch.
        var disputes: [Dispute] = []
        let bySubject = Dictionary(uniqueKeysWithValues: references.map { ($0.key, $0.value) })
        try self.txn.scan(self.databases.disputes) { k, v in
            guard let dispute = try self.openDispute(k, v) else { return true }
            if bySubject[dispute.subject]?.contains(dispute.record) == true { disputes.append(dispute) }
            return true
        }
        for dispute in disputes {
            try self.txn.delete(Array(dispute.id.utf8), in: self.databases.disputes)
            try self.txn.delete(Array(dispute.record.furnisher.value.utf8) + Array(dispute.id.utf8), in: self.databases.disputeIndex)
            try self.values.shred(.dispute(dispute.id))
        }
        // So do repair requests.
        var repairs: [String] = []
        try self.txn.scan(self.databases.repairs) { k, v in
            guard let repair = try self.openRepair(k, v) else { return true }
            if bySubject[repair.subject]?.contains(repair.record) == true { repairs.append(repair.id) }
            return true
        }
        for id in repairs {
            try self.txn.delete(Array(id.utf8), in: self.databases.repairs)
            try self.values.shred(.repair(id))
        }
    }

    /// Rebuilds the retention index from the records when it still holds keys of the layout before anchors
    /// (end days computed at furnishing, which went stale when the catalogue changed).
    private func rebuildLegacyRetentionIndex() throws {
        var legacy: [[UInt8]] = []
        try self.txn.scan(self.databases.retentionIndex) { k, _ in
            guard k.first == 0 else { return false }
            legacy.append(Array(k))
            return true
        }
        guard !legacy.isEmpty else { return }
        for k in legacy { try self.txn.delete(k, in: self.databases.retentionIndex) }
        var anchors: [[UInt8]] = []
        try self.txn.scan(self.databases.records) { k, v in
            if let anchor = Retention.anchor(of: try self.openRecord(k, v).record) { anchors.append(Keys.retention(anchor, Array(k))) }
            return true
        }
        for k in anchors { try self.txn.put([], forKey: k, in: self.databases.retentionIndex) }
    }
}

extension Keys {
    static let retentionFixedEnd: UInt8 = 1
    static let retentionFromBehaviour: UInt8 = 2

    /// 2 + category code + 0x00: the part of the retention index for one category.
    static func retentionCategoryPrefix(_ code: String) -> [UInt8] { [retentionFromBehaviour] + Array(code.utf8) + [0] }

    /// 1 + end day (4) + records key, or 2 + category + 0x00 + behaviour end day (4) + records key.
    static func retention(_ anchor: Retention.Anchor, _ recordKey: [UInt8]) -> [UInt8] {
        switch anchor {
        case .fixedEnd(let end): [retentionFixedEnd] + day(end) + recordKey
        case .behaviourEnded(let category, let ended): retentionCategoryPrefix(category) + day(ended) + recordKey
        }
    }
}
