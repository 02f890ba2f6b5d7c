public import BureauCore
import Crypto
public import Foundation

/// A record as the purge names it: subject key (32) + kind byte (1 account, 2 public record, 3 list entry) +
/// furnisher code (18) + record id. The purge's change digest hashes these bytes (and the LMDB backend keys
/// its records by them).
package enum RecordKeyBytes {
    package static func kindByte(_ kind: RecordKind) -> UInt8 {
        switch kind {
        case .account: 1
        case .publicRecord: 2
        case .listEntry: 3
        }
    }

    package static func of(_ subject: SubjectKey, _ reference: RecordReference) -> [UInt8] {
        var key = subject.bytes
        key.reserveCapacity(32 + 1 + 18 + reference.recordID.utf8.count)
        key.append(kindByte(reference.kind))
        key.append(contentsOf: reference.furnisher.value.utf8)
        key.append(contentsOf: reference.recordID.utf8)
        return key
    }
}

extension ReadWriteStoreTransaction {
    /// Deletes up to `limit` records whose retention ended on or before `day` under `catalogue` (with the
    /// statements, dispute marks, disputes and repair requests about them) and masks the expired late months
    /// of positive accounts, with one log entry for the batch naming the subjects, the true counts and the
    /// digest of the records' keys.
    ///
    /// The backend finds the candidates by where their retention counts from (``Retention/Anchor``), so a
    /// catalogue change, either way, takes effect at the next purge with nothing to rebuild.
    ///
    /// - Parameter catalogue: the catalogue in force; callers pass the one stored in this transaction
    ///   (`storedCatalogue() ?? .default`), so that a catalogue loaded a moment ago is the one applied.
    /// - Returns: how many records were deleted or rewritten (0: nothing is left to do).
    public func purgeExpired(onOrBefore day: CalendarDate, catalogue: Catalogue, time: Date, limit: Int = 1000) throws -> Int {
        // One range per rule: list entries by their end day, then each category with a retention.
        var categories: [(code: String, endedOnOrBefore: CalendarDate)] = []
        for category in catalogue.categories where category.negative && category.retentionYears > 0 {
            categories.append((category.code, Retention.latestExpiredAnchor(years: Int(category.retentionYears), on: day)))
        }
        let due = try self.recordsWithRetentionDue(fixedEndOnOrBefore: day, categories: categories, limit: limit) { record in
            Retention.action(for: record, on: day, under: catalogue) != .keep
        }
        guard !due.isEmpty else { return 0 }
        var hasher = SHA256()
        var subjects = Set<SubjectKey>()
        var deleted: [SubjectKey: Set<RecordReference>] = [:]
        var masked = 0
        for (key, record) in due {
            let reference = record.reference
            switch Retention.action(for: record, on: day, under: catalogue) {
            case .delete:
                try self.deleteRecord(reference, of: key, catalogue: catalogue)
                deleted[key, default: []].insert(reference)
            case .rewrite(let record):
                try self.putRecord(record, for: key, catalogue: catalogue)
                masked += 1
            case .keep:
                continue
            }
            hasher.update(data: RecordKeyBytes.of(key, reference))
            subjects.insert(key)
        }
        try self.deleteAttachments(about: deleted)
        let deletedCount = deleted.values.reduce(0) { $0 + $1.count }
        // The entry's own index makes the request id unique, however many purges run on one day.
        let index = try self.logSize()
        _ = try self.appendLog(
            AccessLogEntry(
                .retentionPurge, by: .bureau(), time: time, requestID: "retention-purge-\(index)", subjects: subjects.sorted(), outcome: .applied,
                reason: "\(deletedCount) record(s) deleted and \(masked) account history(ies) masked: retention ended on or before \(day) "
                    + "under catalogue v\(catalogue.version)",
                changeDigest: hasher.finalize().hexString
            )
        )
        return deletedCount + masked
    }
}
