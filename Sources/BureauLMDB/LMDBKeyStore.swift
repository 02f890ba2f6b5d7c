public import BureauKeys
public import BureauStore
import BureauCore
import Foundation
import LMDB

/// The LMDB key store: wrapped data keys in an LMDB environment of their own (`<data>/keystore` unless
/// configured elsewhere), apart from the data environment, so that a backup of the data holds no key and a
/// key destroyed here cannot open any backup of the data. Two databases: `keys`, scope id (16) + key id (16)
/// to the wrapped key (94 bytes, FORMAT.md in BureauKeys), and `ids`, key id (16) to scope id (16), which
/// tells a ciphertext moved from another value from one whose key was destroyed. Commits are synced (never `noSync`): a key must be
/// on disk before the data it sealed.
public final class LMDBKeyStore: KeyStore {
    let environment: Environment
    let keys: Database
    let ids: Database

    /// The folder name of the default key store inside the data folder (never copied by a backup).
    public static let defaultFolderName = "keystore"

    /// Opens (creating when absent) the key store in the folder `path`.
    public init(path: String, mapSize: Int = 1 << 30) throws {
        do {
            self.environment = try Environment(path: path, configuration: .init(mapSize: mapSize, maxDatabases: 2))
            self.keys = try self.environment.openDatabase(named: "keys")
            self.ids = try self.environment.openDatabase(named: "ids")
        } catch let error as LMDBError {
            throw BureauError(.unavailable, "the key store \(path) cannot be opened: \(error)")
        }
    }

    public func wrappedKeys(of scope: KeyScopeID) throws -> [WrappedKey] {
        try self.guarded {
            try self.environment.read { txn in
                var out: [WrappedKey] = []
                try txn.scan(self.keys, from: scope.bytes) { k, v in
                    guard k.starts(with: scope.bytes) else { return false }
                    out.append(try WrappedKey(bytes: Array(v)))
                    return true
                }
                return out
            }
        }
    }

    public func put(_ keys: [(scope: KeyScopeID, key: WrappedKey)]) throws {
        try self.guarded {
            try self.environment.write { txn in
                for (scope, key) in keys {
                    try txn.put(key.bytes, forKey: scope.bytes + key.keyID.bytes, in: self.keys)
                    try txn.put(scope.bytes, forKey: key.keyID.bytes, in: self.ids)
                }
            }
        }
    }

    public func destroy(_ keys: [(scope: KeyScopeID, id: KeyID)]) throws {
        try self.guarded {
            try self.environment.write { txn in
                for (scope, id) in keys {
                    _ = try txn.delete(scope.bytes + id.bytes, in: self.keys)
                    _ = try txn.delete(id.bytes, in: self.ids)
                }
            }
        }
    }

    public func allKeys() throws -> [(scope: KeyScopeID, key: WrappedKey)] {
        try self.guarded {
            try self.environment.read { txn in
                var out: [(scope: KeyScopeID, key: WrappedKey)] = []
                try txn.scan(self.keys) { k, v in
                    guard let scope = KeyScopeID(bytes: k.prefix(16)) else { return true }
                    out.append((scope, try WrappedKey(bytes: Array(v))))
                    return true
                }
                return out
            }
        }
    }

    public func scope(ofKey id: KeyID) throws -> KeyScopeID? {
        try self.guarded { try self.environment.read { try $0.get(id.bytes, in: self.ids).flatMap { KeyScopeID(bytes: $0) } } }
    }

    public func rewrap(
        after cursor: [UInt8]?, limit: Int, _ transform: (WrappedKey) throws -> WrappedKey?
    ) throws -> (rewrapped: Int, next: [UInt8]?) {
        try self.guarded {
            try self.environment.write { txn in
                var seen = 0
                var last: [UInt8]?
                var replaced: [(key: [UInt8], value: WrappedKey)] = []
                try txn.scan(self.keys, from: cursor) { k, v in
                    if let cursor, k.elementsEqual(cursor) { return true }
                    last = Array(k)
                    seen += 1
                    if let new = try transform(try WrappedKey(bytes: Array(v))) { replaced.append((Array(k), new)) }
                    return seen < limit
                }
                for (key, value) in replaced { try txn.put(value.bytes, forKey: key, in: self.keys) }
                return (replaced.count, seen < limit ? nil : last)
            }
        }
    }

    /// The number of keys held.
    public func count() throws -> Int { try self.guarded { try self.environment.read { try $0.count(self.keys) } } }

    private func guarded<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        } catch let error as KeyError {
            throw BureauError(.internal, "the key store holds a damaged key: \(error)")
        }
    }
}
