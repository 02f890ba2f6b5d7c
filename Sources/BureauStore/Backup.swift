import BureauCore
import Foundation

/// Hot backups: a consistent copy of the data (the backend's ``StorageBackend/hotCopy(into:)``, taken
/// while writers go on) together with the keys the data cannot be used without. Restoring is the
/// backend's (`Backup.restore(from:to:)` in `BureauLMDB`).
public enum Backup {
    /// Files copied beside the database: the subject-key secret (wrapped by the KEK) and the checkpoint
    /// signing key. The key store is not copied: it is backed up apart, so that a key destroyed since a
    /// backup was taken cannot open that backup's copy of what it sealed (crypto-shredding).
    public static let keyFiles = [DataProtection.secretFileName, "checkpoint.key"]

    /// Copies the store into the new folder `destination` (made under a temporary name and renamed when
    /// complete, so an interrupted backup leaves no half copy under the final name).
    public static func take(of store: Store, to destination: String) throws {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: destination) else {
            throw BureauError.invalid("destination", "\(destination) exists; a backup goes into a new folder")
        }
        let partial = destination + ".partial-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: partial)
        // Owner only, whatever the umask: the copy holds every file and the keys.
        try fm.createDirectory(atPath: partial, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            // The last signed checkpoint before the copy, so that the copy holds at least what it signs and
            // bureaud can check the restored log against it at start.
            let note = (store.folder as NSString).appendingPathComponent(checkpointNote)
            if let signed = fm.contents(atPath: note) {
                try PrivateFile.write(signed, to: (partial as NSString).appendingPathComponent(checkpointNote))
            }
            try store.backend.hotCopy(into: partial)
            for name in keyFiles {
                let source = (store.folder as NSString).appendingPathComponent(name)
                if let data = fm.contents(atPath: source) {
                    try PrivateFile.write(data, to: (partial as NSString).appendingPathComponent(name))
                }
            }
            try fm.moveItem(atPath: partial, toPath: destination)
        } catch {
            try? fm.removeItem(atPath: partial)
            throw error
        }
    }

    /// The last signed checkpoint bureaud keeps in the data folder.
    package static let checkpointNote = "checkpoint.note"

    /// Checks the log of `store`: every entry hashes to its stored leaf, and the stored subtrees give the
    /// same root as the leaves recomputed from the entries. Returns the log's size and root.
    public static func verifyLog(of store: Store, progress: (UInt64, UInt64) -> Void = { _, _ in }) throws -> (size: UInt64, root: [UInt8]) {
        try store.read { txn in
            let size = try txn.logSize()
            var leaves: [[UInt8]] = []
            leaves.reserveCapacity(Int(size))
            while UInt64(leaves.count) < size {
                let batch = try txn.logEntries(from: UInt64(leaves.count), limit: 10_000)
                guard !batch.isEmpty else { break }
                for logged in batch {
                    guard logged.index == UInt64(leaves.count) else { throw BureauError(.internal, "log entry \(leaves.count) is missing") }
                    let leaf = Merkle.leafHash(logged.bytes)
                    guard leaf == logged.leafHash else { throw BureauError(.internal, "log entry \(logged.index) does not hash to its leaf") }
                    leaves.append(leaf)
                }
                progress(UInt64(leaves.count), size)
            }
            let root = try txn.tree.root(size: size)
            guard root == Merkle.root(of: leaves[...]) else {
                throw BureauError(.internal, "the stored tree's root differs from the root of the entries")
            }
            return (size, root)
        }
    }
}

/// Sizes and counts of a store, for `bureau stats`.
public struct StoreStatistics: Sendable {
    public var files: Int
    public var institutions: Int
    public var logSize: UInt64
    /// The most the store may grow to (the LMDB map size), in bytes.
    public var mapSize: Int
    /// The bytes in use.
    public var usedBytes: Int

    public init(_ store: Store) throws {
        let info = try store.backend.statistics()
        (self.files, self.institutions, self.logSize) = try store.read { txn in
            (try txn.fileCount(), try txn.institutions().count, try txn.logSize())
        }
        self.mapSize = info.capacityBytes
        self.usedBytes = info.usedBytes
    }
}
