public import BureauCore
public import Foundation

/// The reading side of the credit-file store: files and their records, the indexes over them, and the
/// access state kept beside them (consents, protections, quotas, institutions and certificates, disputes,
/// repairs, anomalies, furnishing batches). Every subject is keyed by its ``SubjectKey``.
public protocol CreditFileReader {
    /// Whether a file exists under `key`.
    func hasFile(_ key: SubjectKey) throws -> Bool
    /// Every source's identity facts on the file `key`, or nil when there is no file.
    func identitySources(_ key: SubjectKey) throws -> [IdentitySource]?
    /// The whole file under `key` (identity, records, statements, dispute marks), or nil.
    func file(_ key: SubjectKey) throws -> CreditFile?
    /// Whether `furnisher` holds at least one record (of any kind) on the file `key`.
    func holdsRecord(_ furnisher: UnifiedSocialCreditCode, on key: SubjectKey) throws -> Bool
    /// The number of files on record.
    func fileCount() throws -> Int
    /// The file a record belongs to, found through the furnisher index.
    func owner(of reference: RecordReference) throws -> SubjectKey?
    /// One record of the file `key`, or nil.
    func record(_ reference: RecordReference, of key: SubjectKey) throws -> CreditRecord?
    /// The subjects on the list `code`, at most `limit` (for list governance and publication).
    func listMembers(_ code: String, limit: Int) throws -> [(SubjectKey, RecordReference)]
    /// The answer stored for a furnisher's batch id, if the batch was applied before.
    func batchResult(furnisher: UnifiedSocialCreditCode, batchID: String) throws -> [UInt8]?
    /// The catalogue an operator loaded, or nil for the built-in one.
    func storedCatalogue() throws -> Catalogue?
    /// The institution registered under `code`, or nil.
    func institution(code: UnifiedSocialCreditCode) throws -> Institution?
    /// The institution a certificate fingerprint (32 bytes) is bound to, or nil.
    func institution(certificateFingerprint fingerprint: [UInt8]) throws -> Institution?
    /// Every registered institution, in code order.
    func institutions() throws -> [Institution]
    /// The consent filed under `reference`, or nil.
    func consent(_ reference: String) throws -> Consent?
    /// The freeze and fraud alert on the file `key` (none when nothing was set).
    func protection(_ key: SubjectKey) throws -> FileProtection
    /// Queries counted for `institution` on `day`.
    func queriesCounted(_ institution: UnifiedSocialCreditCode, on day: CalendarDate) throws -> UInt64
    /// Whether the certificate with this fingerprint (32 bytes) was revoked.
    func isRevoked(certificateFingerprint fingerprint: [UInt8]) throws -> Bool
    /// The code of the institution a revoked certificate (fingerprint, 32 bytes) was bound to when it was
    /// revoked ("" when it was bound to none), or nil when it is not revoked.
    func revocation(certificateFingerprint fingerprint: [UInt8]) throws -> String?
    /// The anomaly recorded under `id`, or nil.
    func recordedAnomaly(_ id: String) throws -> RecordedAnomaly?
    /// The dispute with `id`, or nil.
    func dispute(_ id: String) throws -> Dispute?
    /// The open disputes on `furnisher`'s records, oldest first.
    func openDisputes(of furnisher: UnifiedSocialCreditCode) throws -> [Dispute]
    /// Every open dispute past its deadline on `today`, oldest first.
    func overdueDisputes(on today: CalendarDate) throws -> [Dispute]
    /// The repair request with `id`, or nil.
    func repair(_ id: String) throws -> Repair?
    /// Repair requests waiting for review, oldest first.
    func pendingRepairs() throws -> [Repair]
}

/// The writing side of the credit-file store. Every write keeps the secondary indexes in step with the
/// records (the furnisher, retention and list indexes, the open-dispute index, tombstones).
public protocol CreditFileWriter: CreditFileReader {
    /// Stores every source's identity facts of the file `key` (creating the file), replacing what was there.
    func putIdentitySources(_ sources: [IdentitySource], for key: SubjectKey) throws
    /// Adds or replaces `record` on the file `key`, keeping the furnisher, retention and list indexes.
    /// - Throws: ``BureauError`` (already exists) when the furnisher filed the same record id on another
    ///   file; (failed precondition) when a record deleted with a tombstone comes back unchanged.
    func putRecord(_ record: CreditRecord, for key: SubjectKey, catalogue: Catalogue) throws
    /// Removes a record and its index entries; returns what was removed.
    /// - Parameter tombstone: remember what was deleted, so that it cannot be furnished again unchanged
    ///   (for deletions by furnishers; not for the retention purge).
    @discardableResult
    func deleteRecord(_ reference: RecordReference, of key: SubjectKey, catalogue: Catalogue, tombstone: Bool) throws -> CreditRecord?
    /// Attaches a statement to the file `key`.
    func putStatement(_ statement: Statement, for key: SubjectKey) throws
    /// Marks a record of the file `key` as disputed.
    func putDispute(_ dispute: DisputeMark, for key: SubjectKey) throws
    /// Removes the dispute mark with `id` from the file `key`.
    func removeDisputeMark(id: String, of key: SubjectKey) throws
    /// Remembers the answer to a furnisher's batch id.
    func putBatchResult(_ result: [UInt8], furnisher: UnifiedSocialCreditCode, batchID: String) throws
    /// Replaces the catalogue.
    func putCatalogue(_ catalogue: Catalogue) throws
    /// Registers or replaces `institution` and rebinds its certificate fingerprints.
    /// - Throws: ``BureauError`` (already exists) when a fingerprint is bound to another institution;
    ///   (failed precondition) when it was revoked; (invalid argument) when it is not 64 hex characters.
    func putInstitution(_ institution: Institution) throws
    /// Files or replaces a consent.
    func putConsent(_ consent: Consent) throws
    /// Replaces the freeze and fraud alert on the file `key`.
    func putProtection(_ protection: FileProtection, for key: SubjectKey) throws
    /// Counts one more query for `institution` on `day`; returns the new count.
    @discardableResult
    func countQuery(_ institution: UnifiedSocialCreditCode, on day: CalendarDate) throws -> UInt64
    /// Counts one more self-query of the file `key` in `year`; returns the count.
    func countSelfQuery(_ key: SubjectKey, year: Int) throws -> UInt64
    /// Revokes a certificate: it is unbound from its institution and refused from now on.
    /// - Returns: the institution it was bound to, if any.
    @discardableResult
    func revokeCertificate(fingerprint hex: String) throws -> Institution?
    /// Records an anomaly with the receipt of its log entry.
    func putAnomaly(_ recorded: RecordedAnomaly) throws
    /// Files or updates a dispute, and the furnisher index while it is open.
    func putDispute(_ dispute: Dispute) throws
    /// Files or updates a repair request.
    func putRepair(_ repair: Repair) throws
    /// The records with something due under the retention rules, by where their retention counts from
    /// (``Retention/Anchor``): list entries whose publicity ended on or before `fixedEndOnOrBefore`, then, for
    /// each category in `categories`, its records whose behaviour ended on or before `endedOnOrBefore`; each
    /// once, only those `isDue` accepts, at most `limit`, in anchor order within each range. A backend may
    /// drop index entries that no longer match their record on the way (hence a write).
    func recordsWithRetentionDue(
        fixedEndOnOrBefore: CalendarDate, categories: [(code: String, endedOnOrBefore: CalendarDate)], limit: Int,
        where isDue: (CreditRecord) -> Bool
    ) throws -> [(SubjectKey, CreditRecord)]
    /// Deletes the statements, dispute marks, disputes and repair requests about the records `references`
    /// of each file.
    func deleteAttachments(about references: [SubjectKey: Set<RecordReference>]) throws
}

/// An anomaly as recorded, with the receipt of the log entry that recorded it.
public struct RecordedAnomaly: Codable, Sendable {
    public var anomaly: Anomaly
    public var receipt: LogReceipt

    public init(anomaly: Anomaly, receipt: LogReceipt) {
        self.anomaly = anomaly
        self.receipt = receipt
    }
}

extension CreditFileReader {
    /// The identity or registration reports show for the file `key` (the best value of its sources, see
    /// ``IdentityRule``), or nil.
    public func subject(_ key: SubjectKey) throws -> CreditFile.Subject? {
        try self.file(key)?.subject
    }

    /// Whether the record `reference` of the file with keyed hash `subject` is on file with its retention
    /// ended on `today` (so that disputes about it are no longer listed; the purge deletes them). A record a
    /// furnisher deleted is not: its open dispute still waits for the furnisher's answer.
    public func hasExpired(_ reference: RecordReference, ofSubject subject: SubjectKey, on today: CalendarDate, under catalogue: Catalogue) throws -> Bool {
        guard let record = try self.record(reference, of: subject) else { return false }
        return !Retention.isRetained(record, on: today, under: catalogue)
    }

    /// The name of the institution with `code`, or the code.
    public func institutionName(_ code: String) -> String {
        (try? UnifiedSocialCreditCode(parsing: code)).flatMap { try? self.institution(code: $0)?.name } ?? code
    }
}

extension CreditFileWriter {
    /// Stores `subject` as the only identity of the file `key` (creating the file), unattributed: for tools
    /// and tests that build a file directly. Furnished identities go through ``furnish(_:as:catalogue:path:)``.
    public func putSubject(_ subject: CreditFile.Subject, for key: SubjectKey) throws {
        try self.putIdentitySources([IdentitySource(attribution: nil, identity: subject)], for: key)
    }

    /// Files a validated subject: its records are added or replace the same records, and its identity facts
    /// replace only the furnisher's own (``IdentityRule``).
    ///
    /// - Parameter path: the subject's field path in the request, for the refusal.
    /// - Throws: ``BureauError`` (failed precondition) when the furnisher would hold identity facts but no
    ///   record of its own on the file; (already exists) as ``putRecord(_:for:catalogue:)``.
    public func furnish(_ subject: FurnishedSubject, as key: SubjectKey, catalogue: Catalogue, path: String = "subject") throws {
        try IdentityRule.requireRecord(
            try !subject.records.isEmpty || self.holdsRecord(subject.furnisher, on: key), of: subject.furnisher, at: path
        )
        var sources = try self.identitySources(key) ?? []
        try IdentityRule.report(subject.subject, by: subject.furnisher, on: subject.reported, into: &sources)
        try self.putIdentitySources(sources, for: key)
        for record in subject.records {
            try self.putRecord(record, for: key, catalogue: catalogue)
        }
    }

    /// Removes a record and its index entries, without a tombstone; returns what was removed.
    @discardableResult
    public func deleteRecord(_ reference: RecordReference, of key: SubjectKey, catalogue: Catalogue) throws -> CreditRecord? {
        try self.deleteRecord(reference, of: key, catalogue: catalogue, tombstone: false)
    }
}
