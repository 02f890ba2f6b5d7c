public import BureauCore
import LMDB

/// The stored log does not match what its entries hash to, or what was signed: someone changed it.
public struct LogTampering: Error, Hashable, Sendable, CustomStringConvertible {
    /// What did not match, naming the entry or the tree node.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}

/// Recomputes the log's Merkle tree from its entries, one range at a time: every entry must hash to its
/// stored leaf and every subtree it completes to the stored node, so that a changed entry, leaf or node is
/// found wherever it is. The stored subtrees left of the starting point are taken as given (they are checked
/// against the signed checkpoint, ``StoreTransaction/checkTree(against:)``).
public struct LogTreeCheck: Sendable {
    /// The next entry to check.
    public private(set) var position: UInt64
    /// The roots of the complete subtrees that cover `[0, position)`, largest first.
    private var stack: [[UInt8]]

    /// Starts at entry `position`.
    public init(at position: UInt64, in txn: StoreTransaction) throws {
        self.position = position
        self.stack = []
        for level in stride(from: 63, through: 0, by: -1) where (position >> UInt64(level)) & 1 == 1 {
            self.stack.append(try txn.storedNode(level: level, index: (position >> UInt64(level)) - 1))
        }
    }

    /// Checks the entries from ``position`` on, up to `limit` of them and below `end`.
    /// - Returns: how many entries were checked.
    /// - Throws: ``LogTampering`` naming the first entry or node that does not match; storage errors.
    public mutating func advance(limit: Int, end: UInt64, in txn: StoreTransaction) throws -> Int {
        var checked = 0
        var failure: LogTampering?
        try txn.txn.scan(txn.databases.logEntries, from: self.position.bigEndianBytes) { key, value in
            guard checked < limit && self.position < end else { return false }
            let index = UInt64(bigEndianBytes: key)
            guard index == self.position else {
                failure = LogTampering("log entry \(self.position) is missing")
                return false
            }
            let leaf = Merkle.leafHash(Array(value))
            guard try txn.txn.get(Array(key), in: txn.databases.logLeaves) == leaf else {
                failure = LogTampering("log entry \(index) does not hash to its stored leaf")
                return false
            }
            var hash = leaf
            var level = 0
            var at = index
            while at & 1 == 1 {
                hash = Merkle.nodeHash(self.stack.removeLast(), hash)
                level += 1
                at >>= 1
                guard try txn.storedNode(level: level, index: at) == hash else {
                    failure = LogTampering("the log's tree node \(level)/\(at) above entry \(index) differs from the entries below it")
                    return false
                }
            }
            self.stack.append(hash)
            self.position += 1
            checked += 1
            return true
        }
        if let failure { throw failure }
        if checked < limit && self.position < end { throw LogTampering("log entry \(self.position) is missing") }
        return checked
    }
}

extension StoreTransaction {
    /// A stored tree node, or a ``LogTampering`` when it is gone.
    fileprivate func storedNode(level: Int, index: UInt64) throws -> [UInt8] {
        let stored = level == 0
            ? try self.txn.get(index.bigEndianBytes, in: self.databases.logLeaves)
            : try self.txn.get([UInt8(level)] + index.bigEndianBytes, in: self.databases.logTree)
        guard let stored else { throw LogTampering("the log's tree node \(level)/\(index) is missing") }
        return stored
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
