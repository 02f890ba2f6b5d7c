import Crypto

/// RFC 6962 Merkle tree hashing (SHA-256): leaves are hashed with a 0x00 prefix, interior nodes with 0x01,
/// so that a leaf can never be passed off as a node.
public enum Merkle {
    /// `SHA-256(0x00 || entry)`.
    public static func leafHash(_ entry: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: entry)
        return Array(hasher.finalize())
    }

    /// `SHA-256(0x01 || left || right)`.
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The root of the tree over `leaves` (leaf hashes), per RFC 6962 section 2.1: the left subtree is
    /// the largest power of two smaller than the count. The empty tree's root is SHA-256 of nothing.
    public static func root(of leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        switch leaves.count {
        case 0: return Array(SHA256.hash(data: [UInt8]()))
        case 1: return leaves.first!
        default:
            var split = 1
            while split * 2 < leaves.count { split *= 2 }
            let mid = leaves.startIndex + split
            return nodeHash(root(of: leaves[..<mid]), root(of: leaves[mid...]))
        }
    }
}

extension Merkle {
    /// A proof that does not verify, and why.
    public struct ProofError: Error, Hashable, Sendable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { self.reason }
    }

    /// The largest power of two smaller than `n` (n > 1).
    public static func split(_ n: UInt64) -> UInt64 {
        var k: UInt64 = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// Verifies that `leafHash` is entry `index` of the tree of `size` leaves whose root is `root`
    /// (RFC 9162, section 2.1.3.2).
    public static func verifyInclusion(index: UInt64, size: UInt64, leafHash: [UInt8], proof: [[UInt8]], root: [UInt8]) throws(ProofError) {
        guard index < size else { throw ProofError("index \(index) is not below the tree size \(size)") }
        guard leafHash.count == 32, root.count == 32, proof.allSatisfy({ $0.count == 32 }) else {
            throw ProofError("every hash is 32 bytes")
        }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { throw ProofError("the proof is longer than the tree is deep") }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw ProofError("the proof is shorter than the tree is deep") }
        guard r == root else { throw ProofError("the proof leads to another root") }
    }

    /// Verifies that the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves with
    /// root `root1` (RFC 9162, section 2.1.4.2).
    public static func verifyConsistency(
        size1: UInt64, size2: UInt64, root1: [UInt8], root2: [UInt8], proof: [[UInt8]]
    ) throws(ProofError) {
        guard size1 <= size2 else { throw ProofError("size1 \(size1) is above size2 \(size2)") }
        guard root1.count == 32, root2.count == 32, proof.allSatisfy({ $0.count == 32 }) else {
            throw ProofError("every hash is 32 bytes")
        }
        if size1 == size2 {
            guard proof.isEmpty else { throw ProofError("equal sizes take an empty proof") }
            guard root1 == root2 else { throw ProofError("equal sizes with different roots") }
            return
        }
        if size1 == 0 {
            guard proof.isEmpty else { throw ProofError("the empty tree takes an empty proof") }
            return
        }
        guard !proof.isEmpty else { throw ProofError("the proof is empty") }
        var path = proof[...]
        if size1 & (size1 - 1) == 0 { path = [root1] + path }
        var fn = size1 - 1
        var sn = size2 - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path.first!
        var sr = path.first!
        for c in path.dropFirst() {
            guard sn != 0 else { throw ProofError("the proof is longer than the tree is deep") }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw ProofError("the proof is shorter than the tree is deep") }
        guard fr == root1 else { throw ProofError("the proof does not lead to root1") }
        guard sr == root2 else { throw ProofError("the proof does not lead to root2") }
    }
}

/// Computes RFC 6962 roots and proofs over a tree whose complete subtrees can be looked up, so that each
/// costs O(log n) lookups. `node(level, index)` returns the hash of leaves
/// `[index << level, (index + 1) << level)`, which must be complete in the tree.
public struct MerkleTreeReader<Failure: Error> {
    let node: (_ level: Int, _ index: UInt64) throws(Failure) -> [UInt8]

    public init(node: @escaping (_ level: Int, _ index: UInt64) throws(Failure) -> [UInt8]) {
        self.node = node
    }

    /// The hash of leaves `[start, end)`.
    public func hash(_ start: UInt64, _ end: UInt64) throws(Failure) -> [UInt8] {
        let size = end - start
        if size & (size - 1) == 0 && start % size == 0 {
            return try self.node(size.trailingZeroBitCount, start / size)
        }
        let k = Merkle.split(size)
        return Merkle.nodeHash(try self.hash(start, start + k), try self.hash(start + k, end))
    }

    /// The root of the tree of `size` leaves (SHA-256 of nothing when empty).
    public func root(size: UInt64) throws(Failure) -> [UInt8] {
        size == 0 ? Merkle.root(of: [][...]) : try self.hash(0, size)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 PATH).
    public func inclusionProof(index: UInt64, size: UInt64) throws(Failure) -> [[UInt8]] {
        try self.path(index, 0, size)
    }

    private func path(_ m: UInt64, _ start: UInt64, _ end: UInt64) throws(Failure) -> [[UInt8]] {
        let n = end - start
        if n <= 1 { return [] }
        let k = Merkle.split(n)
        if m < start + k { return try self.path(m, start, start + k) + [try self.hash(start + k, end)] }
        return try self.path(m, start + k, end) + [try self.hash(start, start + k)]
    }

    /// The consistency proof between the trees of `size1` and `size2` leaves (RFC 6962 PROOF).
    public func consistencyProof(size1: UInt64, size2: UInt64) throws(Failure) -> [[UInt8]] {
        guard size1 > 0, size1 < size2 else { return [] }
        return try self.subproof(size1, 0, size2, true)
    }

    private func subproof(_ m: UInt64, _ start: UInt64, _ end: UInt64, _ complete: Bool) throws(Failure) -> [[UInt8]] {
        let n = end - start
        if m == n { return complete ? [] : [try self.hash(start, end)] }
        let k = Merkle.split(n)
        if m <= k { return try self.subproof(m, start, start + k, complete) + [try self.hash(start + k, end)] }
        return try self.subproof(m - k, start + k, end, false) + [try self.hash(start, start + k)]
    }
}
