public import BureauCore
import Crypto
import LMDB
public import Foundation

extension StoreTransaction {
    /// Deletes up to `limit` records whose retention ended on or before `day`, with one log entry naming
    /// the subjects and the digest of what was removed. Returns how many were removed (0: nothing left).
    public func purgeExpired(onOrBefore day: CalendarDate, catalogue: Catalogue, time: Date, limit: Int = 1000) throws -> Int {
        let expired = try self.expiredRecords(onOrBefore: day, limit: limit)
        guard !expired.isEmpty else { return 0 }
        var hasher = SHA256()
        var subjects: [String] = []
        for (key, reference) in expired {
            if try self.deleteRecord(reference, of: key, catalogue: catalogue) == nil {
                // The index outlived its record (the catalogue's retention changed): drop the stale index entry.
                try self.dropRetentionIndex(onOrBefore: day, key: key, reference: reference)
            }
            hasher.update(data: Keys.record(key, reference))
            if subjects.last != key.hex { subjects.append(key.hex) }
        }
        _ = try self.appendLog(
            AccessLogEntry(
                time: time, action: "retention.purge", requestID: "purge-\(day)", institution: "", certificateFingerprint: "",
                subjects: Array(Set(subjects)).sorted(), outcome: .applied,
                reason: "\(expired.count) records whose retention ended on or before \(day)",
                changeDigest: hasher.finalize().hexString
            )
        )
        return expired.count
    }

    private func dropRetentionIndex(onOrBefore day: CalendarDate, key: SubjectKey, reference: RecordReference) throws {
        let recordKey = Keys.record(key, reference)
        var stale: [[UInt8]] = []
        try self.txn.scan(self.databases.retentionIndex) { k, _ in
            guard k.count > 4, !Keys.day(day).lexicographicallyPrecedes(Array(k[0..<4])) else { return false }
            if Array(k[4...]) == recordKey { stale.append(Array(k)) }
            return true
        }
        for k in stale { try self.txn.delete(k, in: self.databases.retentionIndex) }
    }
}
