import BureauCore
import BureauStore
import Foundation
import LMDB

extension LMDBTransaction {
    // MARK: Consents

    /// The consent filed under `reference`, or nil.
    func consent(_ reference: String) throws -> Consent? {
        try self.txn.withValue(forKey: Array(reference.utf8), in: self.databases.consents) { try self.values.openConsent($0, reference: reference) }
    }

    /// Files or replaces a consent.
    func putConsent(_ consent: Consent) throws {
        try self.txn.put(try self.values.sealConsent(consent), forKey: Array(consent.reference.utf8), in: self.databases.consents)
    }

    // MARK: Freezes and fraud alerts

    /// The freeze and fraud alert on the file `key`.
    func protection(_ key: SubjectKey) throws -> FileProtection {
        try self.txn.withValue(forKey: key.bytes, in: self.databases.protections) { try self.values.openProtection($0, of: key) }
            ?? FileProtection()
    }

    /// Replaces the freeze and fraud alert on the file `key`.
    func putProtection(_ protection: FileProtection, for key: SubjectKey) throws {
        if protection.freeze == nil && protection.fraudAlert == nil {
            try self.txn.delete(key.bytes, in: self.databases.protections)
        } else {
            try self.txn.put(try self.values.sealProtection(protection, of: key), forKey: key.bytes, in: self.databases.protections)
        }
    }

    // MARK: Quotas

    /// Queries counted for `institution` on `day`.
    func queriesCounted(_ institution: UnifiedSocialCreditCode, on day: CalendarDate) throws -> UInt64 {
        try self.txn.withValue(forKey: Array(institution.value.utf8) + Keys.day(day), in: self.databases.quotas) {
            UInt64(bigEndianBytes: $0)
        } ?? 0
    }

    /// Counts one more query for `institution` on `day`; returns the new count.
    @discardableResult
    func countQuery(_ institution: UnifiedSocialCreditCode, on day: CalendarDate) throws -> UInt64 {
        let counted = try self.queriesCounted(institution, on: day)
        // Saturating: a stored count at the top of the range must not trap the report that counts it.
        let count = counted == .max ? counted : counted + 1
        try self.txn.put(count.bigEndianBytes, forKey: Array(institution.value.utf8) + Keys.day(day), in: self.databases.quotas)
        return count
    }

    // MARK: Certificate revocation

    /// Whether the certificate with this fingerprint (32 bytes) was revoked.
    func isRevoked(certificateFingerprint fingerprint: [UInt8]) throws -> Bool {
        try self.txn.get(fingerprint, in: self.databases.revoked) != nil
    }

    /// The code of the institution a revoked certificate (fingerprint, 32 bytes) was bound to when it was
    /// revoked ("" when it was bound to none), or nil when it is not revoked.
    func revocation(certificateFingerprint fingerprint: [UInt8]) throws -> String? {
        try self.txn.get(fingerprint, in: self.databases.revoked).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Revokes a certificate: it is unbound from its institution and refused from now on.
    /// - Returns: the institution it was bound to, if any.
    @discardableResult
    func revokeCertificate(fingerprint hex: String) throws -> Institution? {
        guard let bytes = [UInt8](hex: hex), bytes.count == 32 else {
            throw BureauError.invalid("fingerprint", "is 64 hex characters (SHA-256)")
        }
        var owner = try self.institution(certificateFingerprint: bytes)
        try self.txn.put(Array((owner?.code.value ?? "").utf8), forKey: bytes, in: self.databases.revoked)
        if var institution = owner {
            institution.certificateFingerprints.remove(hex)
            try self.putInstitution(institution)
            owner = institution
        }
        try self.txn.delete(bytes, in: self.databases.certificates)
        return owner
    }
}

extension LMDBTransaction {
    /// The anomaly recorded under `id`, or nil.
    func recordedAnomaly(_ id: String) throws -> RecordedAnomaly? {
        try self.txn.withValue(forKey: Array(id.utf8), in: self.databases.anomalies) { try Codec.decode(RecordedAnomaly.self, $0) }
    }

    /// Records an anomaly with the receipt of its log entry.
    func putAnomaly(_ recorded: RecordedAnomaly) throws {
        try self.txn.put(Codec.encode(recorded), forKey: Array(recorded.anomaly.id.utf8), in: self.databases.anomalies)
    }
}

extension LMDBTransaction {
    /// Counts one more self-query of the file `key` in `year`; returns the count.
    func countSelfQuery(_ key: SubjectKey, year: Int) throws -> UInt64 {
        let k = key.bytes + [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year)]
        let stored = try self.txn.withValue(forKey: k, in: self.databases.selfQueries) { UInt64(bigEndianBytes: $0) } ?? 0
        let count = stored == .max ? stored : stored + 1
        try self.txn.put(count.bigEndianBytes, forKey: k, in: self.databases.selfQueries)
        return count
    }
}

extension LMDBTransaction {
    /// The dispute with `id`, or nil.
    func dispute(_ id: String) throws -> Dispute? {
        try self.txn.withValue(forKey: Array(id.utf8), in: self.databases.disputes) { try self.values.openDispute($0, id: id) }
    }

    /// The dispute stored under the key `k`, or nil when it was removed (its data key destroyed).
    func openDispute(_ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer) throws -> Dispute? {
        do {
            return try self.values.openDispute(v, id: String(decoding: k, as: UTF8.self))
        } catch let error as SealedValueError where error.removed {
            return nil
        }
    }

    /// Files or updates a dispute, and the furnisher index while it is open.
    func putDispute(_ dispute: Dispute) throws {
        try self.txn.put(try self.values.sealDispute(dispute), forKey: Array(dispute.id.utf8), in: self.databases.disputes)
        let indexKey = Array(dispute.record.furnisher.value.utf8) + Array(dispute.id.utf8)
        if dispute.status == .open {
            try self.txn.put([], forKey: indexKey, in: self.databases.disputeIndex)
        } else {
            try self.txn.delete(indexKey, in: self.databases.disputeIndex)
        }
    }

    /// The open disputes on `furnisher`'s records.
    func openDisputes(of furnisher: UnifiedSocialCreditCode) throws -> [Dispute] {
        let prefix = Array(furnisher.value.utf8)
        var ids: [String] = []
        try self.txn.scan(self.databases.disputeIndex, from: prefix) { k, _ in
            guard k.starts(with: prefix) else { return false }
            ids.append(String(decoding: UnsafeRawBufferPointer(rebasing: k[prefix.count...]), as: UTF8.self))
            return true
        }
        return try ids.compactMap { try self.dispute($0) }.sorted { $0.filed < $1.filed }
    }

    /// Every open dispute past its deadline on `today`.
    func overdueDisputes(on today: CalendarDate) throws -> [Dispute] {
        var out: [Dispute] = []
        try self.txn.scan(self.databases.disputeIndex) { k, _ in
            guard k.count > 18 else { return true }
            let id = String(decoding: UnsafeRawBufferPointer(rebasing: k[18...]), as: UTF8.self)
            if let dispute = try self.dispute(id), dispute.isOverdue(on: today) { out.append(dispute) }
            return true
        }
        return out.sorted { $0.filed < $1.filed }
    }

    /// Removes the dispute mark with `id` from the file `key`.
    func removeDisputeMark(id: String, of key: SubjectKey) throws {
        let attachmentKey = Keys.attachment(key, Keys.dispute, id)
        if try self.txn.delete(attachmentKey, in: self.databases.attachments) { try self.values.shred(.attachment(attachmentKey)) }
    }
}

extension LMDBTransaction {
    /// The repair request with `id`, or nil.
    func repair(_ id: String) throws -> Repair? {
        try self.txn.withValue(forKey: Array(id.utf8), in: self.databases.repairs) { try self.values.openRepair($0, id: id) }
    }

    /// The repair request stored under the key `k`, or nil when it was removed (its data key destroyed).
    func openRepair(_ k: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer) throws -> Repair? {
        do {
            return try self.values.openRepair(v, id: String(decoding: k, as: UTF8.self))
        } catch let error as SealedValueError where error.removed {
            return nil
        }
    }

    /// Files or updates a repair request.
    func putRepair(_ repair: Repair) throws {
        try self.txn.put(try self.values.sealRepair(repair), forKey: Array(repair.id.utf8), in: self.databases.repairs)
    }

    /// Repair requests waiting for review, oldest first.
    func pendingRepairs() throws -> [Repair] {
        var out: [Repair] = []
        try self.txn.scan(self.databases.repairs) { k, v in
            guard let repair = try self.openRepair(k, v) else { return true }
            if repair.status == .pending { out.append(repair) }
            return true
        }
        return out.sorted { $0.requested < $1.requested }
    }
}
