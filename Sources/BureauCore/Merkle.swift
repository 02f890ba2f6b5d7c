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
