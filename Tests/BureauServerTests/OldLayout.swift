import BureauCore
import BureauKeys
import BureauLMDB
import BureauStore
import Crypto
import Foundation

/// Test-only: rewrites a data folder made by this build into the layout of the last build before encryption
/// at rest (c92e411, Sources/BureauLMDB/DESIGN.md there), the installation `bureau keys encrypt-existing`
/// converts. Made here, from a store the services filled, rather than checked in as a folder written once by
/// that build: a checked-in folder would be megabytes of binary pinned to that build's certificates and demo
/// dates, and its "before" reports could not be asked for (this build refuses the old layout), while here
/// the same files read before and after the conversion. What it writes is that build's code, value for value:
///
/// - every value cleartext, in the codec that build used (`RecordCodec`, sorted-key JSON: the same codecs
///   today, which seal their output instead), and record keys, the furnisher index, the retention and list
///   indexes and tombstones holding the record id itself;
/// - the keyed-hash secret as 32 cleartext bytes in `secret.key`; no `secret.wrapped`, no key store;
/// - the log as that build wrote it: JSON entries (the compact entry came later), every part inline, a
///   disputed or repaired record named in full in the entry's reason (masked to its last 4 digits only since
///   encryption at rest), leaves in `log.leaves` and subtrees in `log.tree` (no `log.nodes`), and a
///   checkpoint signed over that tree in `checkpoint.note`.
enum OldLayout {
    /// Rewrites `folder` (a store of this build, closed) and signs its log with `signer`; returns the checkpoint
    /// and the log's entries as stored.
    ///
    /// - Parameter deleted: the records deleted by furnishers (tombstoned): a tombstone's key holds only the
    ///   record's token, so their ids are given.
    static func write(folder: String, signer: NoteSigner, deleted: [(SubjectKey, RecordReference)]) throws -> (checkpoint: Checkpoint, entries: [[UInt8]]) {
        let (checkpoint, entries) = try self.rewrite(folder: folder, signer: signer, deleted: deleted)
        let fm = FileManager.default
        let keyedHashSecret = try Self.secret(folder: folder)
        try PrivateFile.write(keyedHashSecret, to: folder + "/" + InstallationSecret.fileName)
        try fm.removeItem(atPath: folder + "/" + DataProtection.secretFileName)
        try fm.removeItem(atPath: folder + "/" + LMDBKeyStore.defaultFolderName)
        try PrivateFile.write(Data(try signer.sign(checkpoint.body).utf8), to: folder + "/checkpoint.note")
        return (checkpoint, entries)
    }

    private static func secret(folder: String) throws -> Data {
        let store = try Store(folder: folder)
        return store.backend.protection.secret.key.withUnsafeBytes { Data($0) }
    }

    private static func rewrite(folder: String, signer: NoteSigner, deleted: [(SubjectKey, RecordReference)]) throws -> (Checkpoint, [[UInt8]]) {
        let store = try Store(folder: folder)
        let lmdb = store.backend as! LMDBStorage
        let protection = lmdb.protection
        let values = protection.values(nil)
        func raw(_ name: String) throws -> [(key: [UInt8], value: [UInt8])] { try lmdb.rawEntries(of: name) }
        func replace(_ name: String, _ entries: [(key: [UInt8], value: [UInt8])]) throws {
            try lmdb.rawWrite(in: name, deleting: try raw(name).map(\.key), putting: entries)
        }
        func string(_ bytes: some Collection<UInt8>) -> String { String(decoding: Array(bytes), as: UTF8.self) }
        func oldRecordKey(_ subject: SubjectKey, _ reference: RecordReference) -> [UInt8] {
            subject.bytes + [RecordKeyBytes.kindByte(reference.kind)] + Array(reference.furnisher.value.utf8) + Array(reference.recordID.utf8)
        }

        try replace("subjects", try raw("subjects").map { k, v in
            (k, try RecordCodec.encode(try v.withUnsafeBytes { try values.openIdentity($0, of: SubjectKey(bytes: k)) }))
        })
        var oldKeys: [[UInt8]: [UInt8]] = [:]
        var records: [(key: [UInt8], value: [UInt8])] = []
        var furnisherIndex: [(key: [UInt8], value: [UInt8])] = []
        for (k, v) in try raw("records") {
            let subject = SubjectKey(bytes: Array(k[0..<32]))
            let kind: RecordKind = [1: .account, 2: .publicRecord, 3: .listEntry][k[32]]!
            let furnisher = try UnifiedSocialCreditCode(parsing: string(k[33..<51]))
            let record = try v.withUnsafeBytes { try values.openRecord($0, of: subject, recordKey: k, kind: kind, furnisher: furnisher) }
            let old = oldRecordKey(subject, record.reference)
            oldKeys[k] = old
            records.append((old, RecordCodec.encode(record)))
            furnisherIndex.append((Array(furnisher.value.utf8) + [k[32]] + Array(record.reference.recordID.utf8), subject.bytes))
        }
        for (subject, reference) in deleted { oldKeys[protection.recordKey(subject, reference)] = oldRecordKey(subject, reference) }
        try replace("records", records)
        try replace("index.furnisher", furnisherIndex)
        for index in ["index.retention", "index.lists"] {
            // Both end with the record key (67 bytes here).
            try replace(index, try raw(index).map { k, v in (Array(k.dropLast(67)) + oldKeys[Array(k.suffix(67))]!, v) })
        }
        try replace("tombstones", try raw("tombstones").map { k, v in (oldKeys[k]!, v) })
        try replace("attachments", try raw("attachments").map { k, v in
            let subject = SubjectKey(bytes: Array(k[0..<32]))
            let id = string(k[33...])
            return try v.withUnsafeBytes { v in
                k[32] == 1
                    ? (k, RecordCodec.encode(try values.openStatement(v, id: id, of: subject, attachmentKey: k)))
                    : (k, RecordCodec.encode(try values.openDisputeMark(v, id: id, of: subject, attachmentKey: k)))
            }
        })
        try replace("protections", try raw("protections").map { k, v in
            (k, try StoredJSON.encode(try v.withUnsafeBytes { try values.openProtection($0, of: SubjectKey(bytes: k)) }))
        })
        try replace("consents", try raw("consents").map { k, v in (k, try StoredJSON.encode(try v.withUnsafeBytes { try values.openConsent($0, reference: string(k)) })) })
        var disputes: [String: Dispute] = [:]
        try replace("disputes", try raw("disputes").map { k, v in
            let dispute = try v.withUnsafeBytes { try values.openDispute($0, id: string(k)) }
            disputes[dispute.id] = dispute
            return (k, try StoredJSON.encode(dispute))
        })
        var repairs: [String: Repair] = [:]
        try replace("repairs", try raw("repairs").map { k, v in
            let repair = try v.withUnsafeBytes { try values.openRepair($0, id: string(k)) }
            repairs[repair.id] = repair
            return (k, try StoredJSON.encode(repair))
        })
        try replace("batches", try raw("batches").map { k, v in
            let furnisher = try UnifiedSocialCreditCode(parsing: string(k[0..<18]))
            return (k, try v.withUnsafeBytes { try values.openBatchResult($0, furnisher: furnisher, batchID: string(k[18...])) })
        })

        // The log: JSON entries, leaves and level-first subtrees, as that build appended them.
        let logged = try store.read { try $0.logEntries(from: 0, limit: 1_000_000) }
        var entries: [(key: [UInt8], value: [UInt8])] = []
        var level: [[UInt8]] = []
        for item in logged {
            var entry = item.entry
            if entry.action == .disputeFile, let dispute = disputes[entry.requestID] { entry.reason = "\(dispute.record)" }
            if entry.action == .repairRequest, let repair = repairs[entry.requestID] { entry.reason = "\(repair.record)" }
            let bytes = entry.jsonBytes()
            entries.append((bigEndian(item.index), bytes))
            level.append(Merkle.leafHash(bytes))
        }
        let leaves = level
        try replace("log.entries", entries)
        try replace("log.leaves", leaves.enumerated().map { (bigEndian(UInt64($0.offset)), $0.element) })
        var tree: [(key: [UInt8], value: [UInt8])] = []
        var height: UInt8 = 0
        while level.count > 1 {
            height += 1
            level = stride(from: 0, to: level.count - 1, by: 2).map { Merkle.nodeHash(level[$0], level[$0 + 1]) }
            tree += level.enumerated().map { ([height] + bigEndian(UInt64($0.offset)), $0.element) }
        }
        try replace("log.tree", tree)
        try replace("log.nodes", [])
        try replace("log.parts", [])
        return (Checkpoint(origin: signer.name, size: UInt64(leaves.count), root: Merkle.root(of: leaves[...])), entries.map(\.value))
    }

    private static func bigEndian(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
}
