public import BureauCore
public import BureauStore
import BureauKeys
import Crypto
public import Foundation
import LMDB

/// `bureau keys encrypt-existing`: converts, in place, an LMDB installation made before encryption at rest
/// (issue 15) — cleartext values, record ids in record keys, the keyed-hash secret in a cleartext
/// `secret.key` — into the sealed layout of DESIGN.md ("Data protection").
///
/// - The secret is kept (subject keys, and so the log's subject hashes and `index.queries`, stay as they
///   are) and written wrapped by the KEK as `secret.wrapped`; data keys go into the key store.
/// - Every personal value is rewritten by the backend's own writers (`putIdentitySources`, `putRecord`,
///   `putConsent`, ...), so it is sealed exactly as a new write is; records, and the indexes and tombstones
///   keyed by their record keys, are re-keyed to the HMAC tokens.
/// - The log (`log.*`, the log size in `meta`) is never touched: every old entry, leaf and subtree stays
///   byte-identical and verifies against checkpoints signed before; one `keys.encrypt-existing` entry is
///   appended at the end.
/// - It works in batches, each one write transaction that also moves the cursor kept in `meta` under
///   ``stateKey``: a crash at any point, then a rerun, ends where an uninterrupted run ends.
/// - It ends with LMDB's compacting copy swapped in for the data file, so that the cleartext left in free
///   pages goes with the old file, and removes `secret.key` last.
///
/// ```swift
/// let summary = try EncryptExisting(folder: "data", configuration: .init(keys: .file("/etc/bureau/kek/kek.key"))).run()
/// ```
public struct EncryptExisting: Sendable {
    /// The data folder (holding `lmdb/` and `secret.key`).
    public var folder: String
    /// The KEK, the key store's folder and the map size, as bureaud's.
    public var configuration: Store.Configuration
    /// Values converted per write transaction.
    public var batchSize: Int
    /// Testing: stop (as a crash would) after this many committed batches.
    public var stopAfterBatches: Int?
    /// Testing: fail the batch after this many, once its new data keys are in the key store and before its
    /// data commits, as a crash at the worst point of a batch would (``Crash``).
    public var crashAfterBatches: Int?
    /// The time written in the migration's log entry.
    public var now: @Sendable () -> Date

    /// The key in `meta` of the conversion's progress: phase (1 byte) + cursor (the last key done).
    static let stateKey = Array("encrypt-existing".utf8)

    public init(
        folder: String, configuration: Store.Configuration = .defaults, batchSize: Int = 1000, stopAfterBatches: Int? = nil,
        crashAfterBatches: Int? = nil, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.folder = folder
        self.configuration = configuration
        self.batchSize = max(1, batchSize)
        self.stopAfterBatches = stopAfterBatches
        self.crashAfterBatches = crashAfterBatches
        self.now = now
    }

    /// What a run did.
    public struct Summary: Sendable, Equatable {
        /// Write transactions committed by this run.
        public var batches = 0
        /// Values converted by this run, by database (`subjects`, `records`, ...).
        public var converted: [String: Int] = [:]
        /// False when the run stopped early (``EncryptExisting/stopAfterBatches``): run it again.
        public var finished = false
        /// The index of the migration's log entry, once appended.
        public var logIndex: UInt64?
        /// The id of the KEK that wraps the secret and every data key.
        public var keyEncryptionKey = ""
    }

    /// The steps, in order; the stored phase is the step under way.
    enum Phase: UInt8, CaseIterable {
        case subjects = 1, attachments, protections, consents, disputes, repairs, batches
        case dropIndexes, stageRecords, records, stageTombstones, tombstones
        case log, compact
    }

    // MARK: Running

    /// Converts the folder, or goes on with a conversion that stopped.
    ///
    /// - Throws: ``BureauError`` (failed precondition) when the folder is encrypted already (nothing to
    ///   do), when a process (bureaud) has its database open, when the KEK is missing or is not the one a
    ///   stopped conversion began with; (invalid argument) when the folder holds no LMDB installation.
    public func run(progress: (String) -> Void = { _ in }) throws -> Summary {
        let fm = FileManager.default
        let lmdb = self.path("lmdb")
        let secretKey = self.path(InstallationSecret.fileName)
        let wrappedSecret = self.path(DataProtection.secretFileName)
        let keyStorePath = self.configuration.keyStore ?? self.path(LMDBKeyStore.defaultFolderName)
        // First of all: nothing is touched while another process (bureaud) has the data or the keys open.
        for environment in [lmdb, keyStorePath] { try Self.refuseIfOpen(environment) }
        try self.finishSwap()
        guard fm.fileExists(atPath: lmdb + "/data.mdb") else {
            throw BureauError.invalid("data", "\(self.folder) holds no LMDB installation (no lmdb/data.mdb)")
        }
        guard fm.fileExists(atPath: secretKey) else {
            if fm.fileExists(atPath: wrappedSecret) {
                throw BureauError(.failedPrecondition, "\(self.folder) is encrypted at rest already (it holds \(DataProtection.secretFileName) and no secret.key): nothing to do")
            }
            throw BureauError.invalid("data", "\(self.folder) holds neither secret.key nor \(DataProtection.secretFileName): not a bureau installation")
        }

        let kek = try self.configuration.keys.open(dataFolder: self.folder)
        if try Self.begun(lmdb, mapSize: self.configuration.mapSize), !fm.fileExists(atPath: keyStorePath + "/data.mdb") {
            // The keys of what is converted so far are in the key store the first run was given.
            throw BureauError(
                .failedPrecondition,
                "the conversion of \(self.folder) began with another key store: \(keyStorePath) holds none. Give the key store of the first run (--key-store, [keys] store). Nothing was changed."
            )
        }
        let secret = try self.secret(kek: kek, cleartext: secretKey, wrapped: wrappedSecret)
        let keyStore = try LMDBKeyStore(path: keyStorePath, mapSize: self.configuration.mapSize)
        let protection = try DataProtection(keyEncryptionKey: kek, secret: secret, keyStore: keyStore, folder: self.folder)
        var summary = Summary(keyEncryptionKey: kek.id.hex)
        do {
            let storage = try LMDBStorage(path: lmdb, configuration: self.configuration, protection: protection)
            let staging = try Staging(storage.environment)
            var state = try storage.read { try ($0 as! LMDBTransaction).txn.get(Self.stateKey, in: storage.databases.meta) }
                .map { State(stored: $0) } ?? State(phase: .subjects, cursor: nil)
            progress(state.phase == .subjects && state.cursor == nil ? "converting \(self.folder)" : "going on from \(state.phase)")
            while state.phase != .compact {
                if let stop = self.stopAfterBatches, summary.batches >= stop { return summary }
                let phase = state.phase
                let crash = self.crashAfterBatches == summary.batches
                state = try storage.write({ txn in
                    let next = try self.step(state, txn as! LMDBTransaction, staging, &summary)
                    try (txn as! LMDBTransaction).txn.put(next.stored, forKey: Self.stateKey, in: storage.databases.meta)
                    return next
                }, beforeCommit: { if crash { throw Crash(batch: summary.batches + 1) } })
                summary.batches += 1
                if state.phase != phase, state.phase != .compact { progress("\(state.phase)") }
            }
            progress("compacting")
            let compacting = self.path("lmdb.compacting")
            try? fm.removeItem(atPath: compacting)
            try fm.createDirectory(atPath: compacting, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            try storage.environment.copy(to: compacting, compact: true)
            for name in try fm.contentsOfDirectory(atPath: compacting) {
                try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: compacting + "/" + name)
            }
            try Self.renameFolder(compacting, self.path("lmdb.compacted"))
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
        // The environment is closed (the storage is gone): swap the compacted copy in, then drop the secret.
        try self.finishSwap()
        try Self.unlinkOrThrow(secretKey)
        summary.finished = true
        progress("done")
        return summary
    }

    private func path(_ name: String) -> String { (self.folder as NSString).appendingPathComponent(name) }

    /// The installation's secret: `secret.key`'s 32 bytes, wrapped by `kek` into `secret.wrapped` on the
    /// first run; a later run checks that `secret.wrapped` holds the same secret under this KEK.
    private func secret(kek: any KeyEncryptionKey, cleartext: String, wrapped: String) throws -> KeyedHashSecret {
        guard let bytes = FileManager.default.contents(atPath: cleartext), bytes.count == 32 else {
            throw BureauError(.failedPrecondition, "\(cleartext) is not a 32-byte secret: this folder cannot be converted")
        }
        let key = SymmetricKey(data: bytes)
        guard let stored = FileManager.default.contents(atPath: wrapped) else {
            let secret = KeyedHashSecret(id: .random(), key: key)
            try PrivateFile.write(Data(try kek.wrap(secret).bytes), to: wrapped)
            return secret
        }
        let wrappedKey: WrappedKey
        do { wrappedKey = try WrappedKey(bytes: Array(stored)) } catch {
            throw BureauError(.failedPrecondition, "\(wrapped) is damaged (\(error)); remove it to start the conversion again")
        }
        guard wrappedKey.keyEncryptionKeyID == kek.id else {
            throw BureauError(
                .failedPrecondition,
                "the conversion of \(self.folder) began with key-encryption key \(wrappedKey.keyEncryptionKeyID); the one given (\(kek.location)) is \(kek.id). Nothing was changed."
            )
        }
        let secret: KeyedHashSecret
        do { secret = try kek.unwrapKeyedHashSecret(wrappedKey) } catch {
            throw BureauError(.failedPrecondition, "cannot unwrap \(wrapped) with \(kek.location): \(error). Nothing was changed.")
        }
        guard secret.key == key else {
            throw BureauError(.failedPrecondition, "\(wrapped) does not hold the secret of \(cleartext): they belong to different installations. Nothing was changed.")
        }
        return secret
    }

    // MARK: One batch

    /// Does one batch of `state`'s phase in `txn`; returns the state after it.
    private func step(_ state: State, _ txn: LMDBTransaction, _ staging: Staging, _ summary: inout Summary) throws -> State {
        let databases = txn.databases
        let limit = self.batchSize
        func inPlace(_ database: Database, _ convert: ([UInt8], [UInt8]) throws -> Void) throws -> State {
            let batch = try Self.entries(of: database, after: state.cursor, limit: limit, in: txn.txn)
            for (k, v) in batch { try convert(k, v) }
            summary.converted[database.name, default: 0] += batch.count
            return batch.count < limit ? state.next : State(phase: state.phase, cursor: batch.last!.key)
        }
        switch state.phase {
        case .subjects:
            return try inPlace(databases.subjects) { k, v in
                let sources = try v.withUnsafeBytes { try RecordCodec.decodeIdentity($0) }
                try txn.putIdentitySources(sources, for: SubjectKey(bytes: k))
            }
        case .attachments:
            return try inPlace(databases.attachments) { k, v in
                guard k.count > 33 else { throw BinaryReader.Malformed(what: "attachment key of \(k.count) bytes") }
                let subject = SubjectKey(bytes: Array(k[0..<32]))
                let id = String(decoding: k[33...], as: UTF8.self)
                switch k[32] {
                case Keys.statement: try txn.putStatement(try v.withUnsafeBytes { try RecordCodec.decodeStatement(id: id, $0) }, for: subject)
                case Keys.dispute: try txn.putDispute(try v.withUnsafeBytes { try RecordCodec.decodeDispute(id: id, $0) }, for: subject)
                default: throw BinaryReader.Malformed(what: "attachment type \(k[32])")
                }
            }
        case .protections:
            return try inPlace(databases.protections) { k, v in
                try txn.putProtection(try StoredJSON.decode(FileProtection.self, v), for: SubjectKey(bytes: k))
            }
        case .consents:
            return try inPlace(databases.consents) { _, v in try txn.putConsent(try StoredJSON.decode(Consent.self, v)) }
        case .disputes:
            return try inPlace(databases.disputes) { _, v in try txn.putDispute(try StoredJSON.decode(Dispute.self, v)) }
        case .repairs:
            return try inPlace(databases.repairs) { _, v in try txn.putRepair(try StoredJSON.decode(Repair.self, v)) }
        case .batches:
            return try inPlace(databases.batches) { k, v in
                guard k.count > 18 else { throw BinaryReader.Malformed(what: "batch key of \(k.count) bytes") }
                let furnisher = try UnifiedSocialCreditCode(parsing: String(decoding: k[0..<18], as: UTF8.self))
                try txn.putBatchResult(v, furnisher: furnisher, batchID: String(decoding: k[18...], as: UTF8.self))
            }
        case .dropIndexes:
            // Their keys hold record ids; they are rebuilt as the records are written again.
            for index in [databases.furnisherIndex, databases.retentionIndex, databases.listIndex] { try txn.txn.empty(index) }
            return state.next
        case .stageRecords:
            return try Self.move(from: databases.records, to: staging.records, limit: limit, in: txn.txn) ? state.next : state
        case .records:
            let catalogue = try txn.storedCatalogue() ?? .default
            let batch = try Self.entries(of: staging.records, after: nil, limit: limit, in: txn.txn)
            for (k, v) in batch {
                let (subject, reference) = try Self.oldRecordKey(k)
                try txn.putRecord(try v.withUnsafeBytes { try RecordCodec.decodeRecord(reference, $0) }, for: subject, catalogue: catalogue)
                try txn.txn.delete(k, in: staging.records)
            }
            summary.converted["records", default: 0] += batch.count
            return batch.count < limit ? state.next : state
        case .stageTombstones:
            return try Self.move(from: databases.tombstones, to: staging.tombstones, limit: limit, in: txn.txn) ? state.next : state
        case .tombstones:
            let batch = try Self.entries(of: staging.tombstones, after: nil, limit: limit, in: txn.txn)
            for (k, v) in batch {
                let (subject, reference) = try Self.oldRecordKey(k)
                try txn.txn.put(v, forKey: txn.protection.recordKey(subject, reference), in: databases.tombstones)
                try txn.txn.delete(k, in: staging.tombstones)
            }
            summary.converted["tombstones", default: 0] += batch.count
            return batch.count < limit ? state.next : state
        case .log:
            let counts = try [databases.subjects, databases.records, databases.attachments, databases.consents, databases.disputes, databases.repairs]
                .map { "\(try txn.txn.count($0)) \($0.name)" }.joined(separator: ", ")
            let reason = "encrypted at rest in place: \(counts) sealed; keyed-hash secret wrapped by KEK \(txn.protection.keyEncryptionKey.id)"
            let receipt = try txn.appendLog(
                AccessLogEntry(
                    .keysEncryptExisting, by: .bureau(), time: self.now(), requestID: "encrypt-existing", outcome: .applied, reason: reason,
                    changeDigest: SHA256.hash(data: Array(reason.utf8)).hexString
                )
            )
            summary.logIndex = receipt.index
            return state.next
        case .compact:
            return state
        }
    }

    /// Whether a conversion of the LMDB environment in `path` has committed a batch already.
    private static func begun(_ path: String, mapSize: Int) throws -> Bool {
        do {
            let environment = try Environment(path: path, configuration: .init(mapSize: mapSize))
            let meta = try environment.openDatabase(named: "meta")
            return try environment.read { try $0.get(Self.stateKey, in: meta) } != nil
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        }
    }

    /// Up to `limit` entries of `database` after the key `cursor` (from the first when nil).
    private static func entries(of database: Database, after cursor: [UInt8]?, limit: Int, in txn: Transaction) throws -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        try txn.scan(database, from: cursor) { k, v in
            if let cursor, k.elementsEqual(cursor) { return true }
            out.append((Array(k), Array(v)))
            return out.count < limit
        }
        return out
    }

    /// Moves the first `limit` entries of `source` to `destination`; true when `source` is then empty.
    private static func move(from source: Database, to destination: Database, limit: Int, in txn: Transaction) throws -> Bool {
        let batch = try entries(of: source, after: nil, limit: limit, in: txn)
        for (k, v) in batch {
            try txn.put(v, forKey: k, in: destination)
            try txn.delete(k, in: source)
        }
        return batch.count < limit
    }

    /// A record key of the layout before encryption: subject key (32) + kind (1) + furnisher code (18) + record id.
    static func oldRecordKey(_ key: [UInt8]) throws -> (SubjectKey, RecordReference) {
        guard key.count > 51 else { throw BinaryReader.Malformed(what: "record key of \(key.count) bytes (not of the layout before encryption)") }
        let furnisher = try UnifiedSocialCreditCode(parsing: String(decoding: key[33..<51], as: UTF8.self))
        let reference = RecordReference(kind: try Keys.kind(key[32]), furnisher: furnisher, recordID: String(decoding: key[51...], as: UTF8.self))
        return (SubjectKey(bytes: Array(key[0..<32])), reference)
    }

    /// The failure ``crashAfterBatches`` asks for.
    public struct Crash: Error, Sendable {
        /// The batch that failed, counted from 1 in this run.
        public var batch: Int
    }

    // MARK: State

    struct State {
        var phase: Phase
        var cursor: [UInt8]?

        init(phase: Phase, cursor: [UInt8]?) {
            self.phase = phase
            self.cursor = cursor
        }

        init(stored: [UInt8]) {
            self.phase = stored.first.flatMap(Phase.init(rawValue:)) ?? .subjects
            self.cursor = stored.count > 1 ? Array(stored.dropFirst()) : nil
        }

        var stored: [UInt8] { [self.phase.rawValue] + (self.cursor ?? []) }
        /// The next phase, from its start.
        var next: State { State(phase: Phase(rawValue: self.phase.rawValue + 1) ?? .compact, cursor: nil) }
    }

    /// Where records and tombstones wait between their old and new keys (both in one database would mix
    /// converted and unconverted keys under one cursor). Empty once the conversion is done.
    struct Staging {
        let records: Database
        let tombstones: Database

        init(_ environment: Environment) throws {
            self.records = try environment.openDatabase(named: "encrypt-existing.records")
            self.tombstones = try environment.openDatabase(named: "encrypt-existing.tombstones")
        }
    }

    // MARK: Files

    /// Finishes a swap of the compacted copy that a stopped run left half done: `lmdb.compacted` (a complete
    /// compacted copy) takes the place of `lmdb`, whose old file is overwritten with zeros and removed.
    private func finishSwap() throws {
        let fm = FileManager.default
        let lmdb = self.path("lmdb")
        let compacted = self.path("lmdb.compacted")
        let old = self.path("lmdb.cleartext")
        try? fm.removeItem(atPath: self.path("lmdb.compacting"))
        if fm.fileExists(atPath: compacted) {
            if fm.fileExists(atPath: lmdb) {
                try Self.refuseIfOpen(lmdb)
                if fm.fileExists(atPath: old) { try Self.wipe(old) }
                try Self.renameFolder(lmdb, old)
            }
            try Self.renameFolder(compacted, lmdb)
        }
        if fm.fileExists(atPath: old) { try Self.wipe(old) }
    }

    /// Overwrites every file of `folder` with zeros, then removes the folder: the old data file's cleartext
    /// pages are not left in its freed blocks for as long as the file system keeps them (on a copy-on-write
    /// or flash device the blocks may survive anyway: take the device's own measures).
    static func wipe(_ folder: String) throws {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] {
            let file = folder + "/" + name
            let fd = open(file, O_WRONLY)
            guard fd >= 0 else { continue }
            var size = stat()
            if fstat(fd, &size) == 0 {
                let zeros = [UInt8](repeating: 0, count: 1 << 20)
                var left = Int(size.st_size)
                while left > 0 {
                    let n = zeros.withUnsafeBytes { write(fd, $0.baseAddress, min(left, $0.count)) }
                    if n <= 0 { break }
                    left -= n
                }
                fsync(fd)
            }
            close(fd)
        }
        try fm.removeItem(atPath: folder)
    }

    private static func renameFolder(_ from: String, _ to: String) throws {
        guard rename(from, to) == 0 else {
            throw BureauError(.internal, "cannot rename \(from) to \(to): \(String(cString: strerror(errno)))")
        }
    }

    private static func unlinkOrThrow(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw BureauError(.internal, "cannot remove \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Refuses when another process has the LMDB environment in `folder` open: every process that opens
    /// one holds a shared `fcntl` lock on the first byte of its `lock.mdb` for as long as it is open (LMDB's
    /// `mdb_env_setup_locks`), so asking for the exclusive lock tells who holds it, bureaud or any other.
    static func refuseIfOpen(_ folder: String) throws {
        let fd = open(folder + "/lock.mdb", O_RDONLY)
        guard fd >= 0 else { return }  // no lock file: nobody ever opened it
        defer { close(fd) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = 0
        lock.l_len = 1
        guard fcntl(fd, F_GETLK, &lock) == 0 else { return }
        if lock.l_type != Int16(F_UNLCK) {
            throw BureauError(
                .failedPrecondition,
                "process \(lock.l_pid) has \(folder) open (bureaud, or another bureau command): stop it first, then convert. Nothing was changed."
            )
        }
    }
}

extension EncryptExisting.Phase: CustomStringConvertible {
    var description: String {
        switch self {
        case .subjects: "identities"
        case .attachments: "statements and dispute marks"
        case .protections: "freezes and fraud alerts"
        case .consents: "consents"
        case .disputes: "disputes"
        case .repairs: "repair requests"
        case .batches: "furnishing answers"
        case .dropIndexes: "record indexes"
        case .stageRecords: "records (set aside)"
        case .records: "records"
        case .stageTombstones: "tombstones (set aside)"
        case .tombstones: "tombstones"
        case .log: "log entry"
        case .compact: "compacting copy"
        }
    }
}
