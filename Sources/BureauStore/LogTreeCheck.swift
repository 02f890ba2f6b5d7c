import BureauCore

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
/// against the signed checkpoint, ``LogReader/checkTree(against:)``).
public struct LogTreeCheck: Sendable {
    /// The next entry to check.
    public private(set) var position: UInt64
    /// The roots of the complete subtrees that cover `[0, position)`, largest first.
    private var stack: [[UInt8]]

    /// Starts at entry `position`.
    public init(at position: UInt64, in txn: some LogReader) throws {
        self.position = position
        self.stack = []
        for level in stride(from: 63, through: 0, by: -1) where (position >> UInt64(level)) & 1 == 1 {
            self.stack.append(try Self.storedNode(level: level, index: (position >> UInt64(level)) - 1, in: txn))
        }
    }

    /// Checks the entries from ``position`` on, up to `limit` of them and below `end`.
    /// - Returns: how many entries were checked.
    /// - Throws: ``LogTampering`` naming the first entry or node that does not match; storage errors.
    public mutating func advance(limit: Int, end: UInt64, in txn: some LogReader) throws -> Int {
        var checked = 0
        // In pages, so that a long range is never held in memory at once.
        while checked < limit && self.position < end {
            let page = Int(min(UInt64(min(limit - checked, 4096)), end - self.position))
            let entries = try txn.logEntryBytes(from: self.position, limit: page, reverse: false, maxBytes: .max)
            guard !entries.isEmpty else { break }
            for (index, bytes) in entries {
                guard index == self.position else { throw LogTampering("log entry \(self.position) is missing") }
                let leaf = Merkle.leafHash(bytes)
                guard try txn.storedTreeNode(level: 0, index: index) == leaf else {
                    throw LogTampering("log entry \(index) does not hash to its stored leaf")
                }
                var hash = leaf
                var level = 0
                var at = index
                while at & 1 == 1 {
                    hash = Merkle.nodeHash(self.stack.removeLast(), hash)
                    level += 1
                    at >>= 1
                    guard try Self.storedNode(level: level, index: at, in: txn) == hash else {
                        throw LogTampering("the log's tree node \(level)/\(at) above entry \(index) differs from the entries below it")
                    }
                }
                self.stack.append(hash)
                self.position += 1
                checked += 1
            }
        }
        if checked < limit && self.position < end { throw LogTampering("log entry \(self.position) is missing") }
        return checked
    }

    /// A stored tree node, or a ``LogTampering`` when it is gone.
    private static func storedNode(level: Int, index: UInt64, in txn: some LogReader) throws -> [UInt8] {
        guard let stored = try txn.storedTreeNode(level: level, index: index) else {
            throw LogTampering("the log's tree node \(level)/\(index) is missing")
        }
        return stored
    }
}
