public import BureauCore
public import Foundation

/// The reading side of the log store: the entries in append order, the RFC 6962 tree over them as stored
/// subtree hashes, and the query index (who asked about which file).
///
/// A backend provides the primitives; the tree, proofs, paging and the checks are built on them here.
public protocol LogReader {
    /// The number of entries in the log.
    func logSize() throws -> UInt64
    /// The stored hash of the complete subtree of leaves `[index << level, (index + 1) << level)`: the leaf
    /// hash of entry `index` at level 0. Nil when it is not stored.
    func storedTreeNode(level: Int, index: UInt64) throws -> [UInt8]?
    /// The canonical bytes of up to `limit` entries from index `start` on (or, with `reverse`, from `start`
    /// back), in that order, and no more than `maxBytes` of them in all, though always the first.
    func logEntryBytes(from start: UInt64, limit: Int, reverse: Bool, maxBytes: Int) throws -> [(index: UInt64, bytes: [UInt8])]
    /// Every report or score request about the file `key` since `since`, newest first, at most `limit`.
    func fileQueries(of key: SubjectKey, since: Date, limit: Int) throws -> [FileQuery]
    /// The index of the entry that first held, inline, the shared part whose key is `key`
    /// (``AccessLogEntry/inlineBytes(of:)``), or nil. A backend that does not keep these (the default) answers
    /// nil and ``LogWriter/indexesSharedParts`` false: its entries hold every part inline.
    func logEntryHolding(_ key: [UInt8]) throws -> UInt64?
    /// The verifier key (note format) of the key that signs this log's checkpoints, as the first bureaud started on
    /// the store recorded it; nil before. Every node of the store must sign with that key.
    func checkpointVerifierKey() throws -> String?
}

/// The writing side of the log store. Services append with ``appendLog(_:)``; the primitives below it
/// exist for backends and for tests that play a forger.
public protocol LogWriter: LogReader {
    /// Stores the canonical bytes of entry `index` (the entry alone: not its leaf, not the size).
    func putLogEntryBytes(_ bytes: [UInt8], at index: UInt64) throws
    /// Stores the hash of a complete subtree (level 0: a leaf hash), see ``LogReader/storedTreeNode(level:index:)``.
    func putTreeNode(_ hash: [UInt8], level: Int, index: UInt64) throws
    /// Stores, for the entry at `index`, its leaf hash (`hashes[0]`) and the hashes of the subtrees its leaf
    /// completes, level 1 up (`hashes[level]` is node `level`/`index >> level`): what one append adds to the
    /// tree. The default stores each with ``putTreeNode(_:level:index:)``; a backend may keep them together.
    func putTreeNodes(_ hashes: [[UInt8]], completedBy index: UInt64) throws
    /// Sets the number of entries in the log.
    func setLogSize(_ size: UInt64) throws
    /// Indexes a report or score request (the entry at `query.index`) under the file `key`.
    func putFileQuery(_ query: FileQuery, for key: SubjectKey) throws
    /// Whether this backend keeps ``putLogEntryHolding(_:at:)`` (so that entries refer to shared parts).
    var indexesSharedParts: Bool { get }
    /// Remembers that the entry at `index` holds inline the shared part whose key is `key`.
    func putLogEntryHolding(_ key: [UInt8], at index: UInt64) throws
    /// Records the verifier key of the key that signs this log's checkpoints (``LogReader/checkpointVerifierKey()``).
    func putCheckpointVerifierKey(_ key: String) throws
}

extension LogReader {
    /// Nothing kept: see ``LogReader/logEntryHolding(_:)``.
    public func logEntryHolding(_ key: [UInt8]) throws -> UInt64? { nil }
}

extension LogWriter {
    public func putTreeNodes(_ hashes: [[UInt8]], completedBy index: UInt64) throws {
        for (level, hash) in hashes.enumerated() { try self.putTreeNode(hash, level: level, index: index >> UInt64(level)) }
    }

    /// Nothing kept: entries hold every part inline.
    public var indexesSharedParts: Bool { false }
    public func putLogEntryHolding(_ key: [UInt8], at index: UInt64) throws {}
}

/// A stored log entry with its index, canonical bytes and leaf hash.
public struct LoggedEntry: Sendable {
    public var index: UInt64
    public var entry: AccessLogEntry
    public var bytes: [UInt8]
    public var leafHash: [UInt8]
}

/// One query of a file, from the query index.
public struct FileQuery: Sendable, Hashable {
    public var index: UInt64
    public var time: Date
    public var purpose: Purpose
    public var outcome: Outcome
    public var institution: String

    public init(index: UInt64, time: Date, purpose: Purpose, outcome: Outcome, institution: String) {
        self.index = index
        self.time = time
        self.purpose = purpose
        self.outcome = outcome
        self.institution = institution
    }
}

extension LogWriter {
    /// Appends `entry` to the log and returns its receipt. The entry is durable when the enclosing
    /// write transaction commits. A disclosed report is also indexed under its subject, for the file's
    /// query records.
    ///
    /// - Throws: ``BureauError`` (invalid argument) when the entry would exceed
    ///   ``AccessLogEntry/maxCanonicalBytes``; storage errors.
    ///
    /// Its shared parts (actor, legal basis, disclosure profile) are written by reference to the first entry
    /// that held the same value, when the backend keeps those (docs/LOG-ENTRY.md); the first holds it inline.
    public func appendLog(_ entry: AccessLogEntry) throws -> LogReceipt {
        var entry = entry
        entry.references = LogReferences()
        var held: [[UInt8]] = []
        if self.indexesSharedParts {
            for part in LogSharedPart.allCases where entry.hasShareable(part) {
                let key = entry.inlineBytes(of: part)
                if let index = try self.logEntryHolding(key) {
                    entry.setReference(part, to: index)
                } else {
                    held.append(key)
                }
            }
        }
        let receipt = try self.appendEntryBytes(entry.canonicalBytes())
        for key in held { try self.putLogEntryHolding(key, at: receipt.index) }
        if entry.action.isQuery, let purpose = entry.purpose {
            // What a query record and the subject's access history show, so that neither decodes old entries.
            let query = FileQuery(index: receipt.index, time: entry.time, purpose: purpose, outcome: entry.outcome, institution: entry.institution)
            for subject in entry.subjects {
                try self.putFileQuery(query, for: subject)
            }
        }
        return receipt
    }

    /// Appends one entry's bytes, its leaf and the subtrees it completes.
    private func appendEntryBytes(_ bytes: [UInt8]) throws -> LogReceipt {
        let index = try self.logSize()
        guard bytes.count <= AccessLogEntry.maxCanonicalBytes else {
            throw BureauError.invalid(
                "request", "would make a log entry of \(bytes.count) bytes; an entry holds at most \(AccessLogEntry.maxCanonicalBytes) bytes"
            )
        }
        let leaf = Merkle.leafHash(bytes)
        try self.putLogEntryBytes(bytes, at: index)
        // Keep the hash of every complete subtree, so that roots and proofs cost O(log n) reads.
        var hashes = [leaf]
        var level = 0
        var position = index
        while position & 1 == 1 {
            hashes.append(Merkle.nodeHash(try self.treeNode(level: level, index: position - 1), hashes[level]))
            level += 1
            position >>= 1
        }
        try self.putTreeNodes(hashes, completedBy: index)
        try self.setLogSize(index + 1)
        return LogReceipt(index: index, leafHash: leaf)
    }
}

extension LogReader {
    /// The hash of the complete subtree of leaves `[index << level, (index + 1) << level)`.
    /// - Throws: ``BureauError`` (internal) when it is not stored.
    public func treeNode(level: Int, index: UInt64) throws -> [UInt8] {
        guard let stored = try self.storedTreeNode(level: level, index: index) else {
            throw BureauError(.internal, "the log's tree has no node \(level)/\(index)")
        }
        return stored
    }

    /// Roots and proofs of the log's tree, read from its stored subtrees.
    public var tree: MerkleTreeReader<any Error> {
        MerkleTreeReader { level, index throws(any Error) in try self.treeNode(level: level, index: index) }
    }

    /// The entry at `index`, or nil.
    public func logEntry(_ index: UInt64) throws -> LoggedEntry? {
        try self.logEntries(from: index, limit: 1).first { $0.index == index }
    }

    /// Up to `limit` entries from index `start` on (or, with `reverse`, from `start` back), and no more than
    /// `maxBytes` of canonical bytes in all, though always the first.
    public func logEntries(from start: UInt64, limit: Int, reverse: Bool = false, maxBytes: Int = .max) throws -> [LoggedEntry] {
        guard limit > 0 else { return [] }
        var holders: [UInt64: AccessLogEntry?] = [:]
        return try self.logEntryBytes(from: start, limit: limit, reverse: reverse, maxBytes: maxBytes).map { index, bytes in
            let leaf = try self.storedTreeNode(level: 0, index: index) ?? Merkle.leafHash(bytes)
            var entry = try AccessLogEntry(canonicalBytes: bytes)
            try entry.resolveReferences(at: index) { target in
                if let known = holders[target] { return known }
                let stored = try self.logEntryBytes(from: target, limit: 1, reverse: false, maxBytes: .max).first
                // Only a compact entry holds parts others refer to.
                let holder = try stored.flatMap { found, bytes in
                    found == target && bytes.first == LogEntryCodec.version ? try AccessLogEntry(canonicalBytes: bytes) : nil
                }
                holders[target] = holder
                return holder
            }
            return LoggedEntry(index: index, entry: entry, bytes: bytes, leafHash: leaf)
        }
    }

    /// Every report or score request about the file `key` since `since`, newest first, at most 500.
    public func fileQueries(of key: SubjectKey, since: Date) throws -> [FileQuery] {
        try self.fileQueries(of: key, since: since, limit: 500)
    }

    /// The index of the first log entry at or after `time` (entries are appended in time order).
    public func firstLogIndex(atOrAfter time: Date) throws -> UInt64 {
        var low: UInt64 = 0
        var high = try self.logSize()
        while low < high {
            let mid = low + (high - low) / 2
            guard let entry = try self.logEntry(mid) else { break }
            if entry.entry.time < time { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Checks the stored log against a signed checkpoint: it holds at least the checkpoint's entries, and its
    /// stored subtrees give the checkpoint's root at that size.
    /// - Throws: ``LogTampering`` when they do not.
    public func checkTree(against checkpoint: Checkpoint) throws {
        let size = try self.logSize()
        guard checkpoint.size <= size else {
            throw LogTampering("the log holds \(size) entries, fewer than the \(checkpoint.size) of the last signed checkpoint")
        }
        let root: [UInt8]
        do {
            root = try self.tree.root(size: checkpoint.size)
        } catch {
            throw LogTampering("the log's tree at \(checkpoint.size) entries cannot be read: \(error)")
        }
        guard root == checkpoint.root else {
            throw LogTampering("the log's tree at \(checkpoint.size) entries does not have the root of the last signed checkpoint")
        }
    }
}

extension ReadOnlyStoreTransaction {
    /// The requests about the file `key` since `since`, newest first: the newest `limit` disclosed ones and
    /// the newest `limit` refused ones. The index holds refused requests too, so it is read further back
    /// until `limit` disclosed ones are found (or it ends): a flood of refused requests cannot push disclosed
    /// ones out of a report's query records or the subject's access history.
    public func fileQueriesKeepingDisclosed(of key: SubjectKey, since: Date, limit: Int = 500) throws -> [FileQuery] {
        var read = max(limit, 1)
        while true {
            let queries = try self.fileQueries(of: key, since: since, limit: read)
            if queries.count < read || queries.lazy.filter({ $0.outcome == .hit }).count >= limit {
                var (hits, refused) = (0, 0)
                return queries.filter { query in
                    if query.outcome == .hit {
                        hits += 1
                        return hits <= limit
                    }
                    refused += 1
                    return refused <= limit
                }
            }
            read *= 4
        }
    }

    /// The reports disclosed about the file `key` since `since`, newest first, with the names of the
    /// institutions that asked.
    public func queryRecords(of key: SubjectKey, since: Date, limit: Int = 500) throws -> [QueryRecord] {
        let hits = try self.fileQueriesKeepingDisclosed(of: key, since: since, limit: limit).filter { $0.outcome == .hit }
        var names: [String: String] = [:]
        return hits.map { query in
            if names[query.institution] == nil { names[query.institution] = self.institutionName(query.institution) }
            return QueryRecord(time: query.time, institution: query.institution, institutionName: names[query.institution]!, purpose: query.purpose)
        }
    }
}
