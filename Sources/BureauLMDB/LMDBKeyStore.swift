public import BureauKeys
public import BureauStore
import BureauCore
import Foundation
import LMDB
import Synchronization

/// The LMDB key store: wrapped data keys in an LMDB environment of their own (`<data>/keystore` unless
/// configured elsewhere), apart from the data environment, so that a backup of the data holds no key and a
/// key destroyed here cannot open any backup of the data. Three databases: `keys`, scope id (16) + key id (16)
/// to the stored key (a 65-byte salt of the master data key, or a 94-byte key wrapped by the KEK in key
/// stores written before derived keys; FORMAT.md in BureauKeys); `ids`, key id (16) to scope id (16), which
/// tells a ciphertext moved from another value from one whose key was destroyed; `master`, the one key
/// `master` to the master data key wrapped by the KEK. Commits are synced (never `noSync`): a key must be
/// on disk before the data it sealed.
public final class LMDBKeyStore: KeyStore {
    let environment: Environment
    let keys: Database
    let ids: Database
    let master: Database
    /// The key of the master data key in `master`.
    static let masterKeyName = Array("master".utf8)

    /// The folder name of the default key store inside the data folder (never copied by a backup).
    public static let defaultFolderName = "keystore"

    /// Opens (creating when absent) the key store in the folder `path`; for a bulk load, held alone when no
    /// other process has it open (``Environment/Configuration/bulkLoad``).
    public init(path: String, mapSize: Int = 1 << 30, bulkLoad: Bool = false) throws {
        do {
            self.environment = try Environment(path: path, configuration: .init(mapSize: mapSize, maxDatabases: 3, bulkLoad: bulkLoad))
            self.keys = try self.environment.openDatabase(named: "keys")
            self.ids = try self.environment.openDatabase(named: "ids")
            self.master = try self.environment.openDatabase(named: "master")
        } catch let error as LMDBError {
            throw BureauError(.unavailable, "the key store \(path) cannot be opened: \(error)")
        }
    }

    public func keys(of scope: KeyScopeID) throws -> [StoredDataKey] {
        try self.guarded { try self.environment.read { try self.keys(of: scope, in: $0) } }
    }

    /// The keys of `scope` in the transaction `txn`.
    func keys(of scope: KeyScopeID, in txn: Transaction) throws -> [StoredDataKey] {
        var out: [StoredDataKey] = []
        let prefix = scope.bytes
        try txn.scan(self.keys, from: prefix) { k, v in
            guard k.starts(with: prefix) else { return false }
            out.append(try StoredDataKey(bytes: Array(v)))
            return true
        }
        return out
    }

    public func put(_ keys: [(scope: KeyScopeID, key: StoredDataKey)]) throws {
        try self.guarded { try self.environment.write { try self.put(keys, in: $0) } }
    }

    /// Puts `keys` in the transaction `txn`.
    func put(_ keys: [(scope: KeyScopeID, key: StoredDataKey)], in txn: Transaction) throws {
        // Each database's puts in its key order, from one buffer of keys: a bulk import puts millions of keys,
        // whose scope ids are random; sorted, they touch each page once instead of a random page per key. Key
        // ids are time-ordered (KeyID.timeOrdered), so `ids` takes them at its end (MDB_APPEND).
        var buffer = [UInt8]()
        buffer.reserveCapacity(keys.count * 32)
        for (scope, key) in keys {
            buffer.append(contentsOf: scope.bytes)
            buffer.append(contentsOf: key.keyID.bytes)
        }
        try buffer.withUnsafeBytes { raw in
            for entry in Self.order(keys.count, raw, at: 0) {
                let at = Int(entry.index) * 32
                try keys[Int(entry.index)].key.bytes.withUnsafeBytes { value in
                    try txn.put(value, forKey: UnsafeRawBufferPointer(rebasing: raw[at..<(at + 32)]), in: self.keys)
                }
            }
            for entry in Self.order(keys.count, raw, at: 16) {
                let at = Int(entry.index) * 32
                try txn.put(
                    UnsafeRawBufferPointer(rebasing: raw[at..<(at + 16)]), forKey: UnsafeRawBufferPointer(rebasing: raw[(at + 16)..<(at + 32)]),
                    in: self.ids, append: true
                )
            }
        }
    }

    /// A stream of keys into one key store transaction on a thread of its own (``KeyStream``).
    public func stream() throws -> (any KeyStream)? { Stream(self) }

    /// The key store transaction of a ``KeyStream``: the keys queued are put, a chunk at a time and each
    /// chunk in key order (``put(_:in:)``), while the data's writer goes on; ``finish()`` commits.
    final class Stream: KeyStream {
        private enum Item { case keys([(scope: KeyScopeID, key: StoredDataKey)]), query(KeyScopeID, Answer), finish, abandon }
        /// The answer to a query, handed from the stream's thread to the one waiting for it.
        private final class Answer: @unchecked Sendable {
            // Written by the stream's thread before `ready` is signalled, read after waiting on it.
            var keys: Result<[StoredDataKey], any Error> = .success([])
            let ready = DispatchSemaphore(value: 0)
        }
        private struct Abandoned: Error {}
        private let queue = Mutex<(items: [Item], error: (any Error)?)>(([], nil))
        private let available = DispatchSemaphore(value: 0)
        private let done = DispatchSemaphore(value: 0)

        init(_ store: LMDBKeyStore) {
            Thread.detachNewThread { [self] in
                do {
                    try store.guarded {
                        try store.environment.write { txn in
                            while true {
                                self.available.wait()
                                switch self.queue.withLock({ $0.items.removeFirst() }) {
                                case .keys(let keys): try store.put(keys, in: txn)
                                case .query(let scope, let answer):
                                    answer.keys = Result { try store.keys(of: scope, in: txn) }
                                    answer.ready.signal()
                                case .finish: return
                                case .abandon: throw Abandoned()
                                }
                            }
                        }
                    }
                } catch is Abandoned {
                } catch {
                    self.queue.withLock { $0.error = error }
                }
                self.done.signal()
            }
        }

        private func send(_ item: Item) {
            self.queue.withLock { $0.items.append(item) }
            self.available.signal()
        }

        func put(_ keys: [(scope: KeyScopeID, key: StoredDataKey)]) {
            if !keys.isEmpty { self.send(.keys(keys)) }
        }

        func keys(of scope: KeyScopeID) throws -> [StoredDataKey] {
            let answer = Answer()
            self.send(.query(scope, answer))
            // The stream's thread answers in turn, or stops (an error or the end): then nothing is waiting on it.
            while answer.ready.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
                if let error = self.queue.withLock({ $0.error }) { throw error }
            }
            return try answer.keys.get()
        }

        func finish() throws {
            self.send(.finish)
            self.done.wait()
            if let error = self.queue.withLock({ $0.error }) { throw error }
        }

        func abandon() {
            self.send(.abandon)
            self.done.wait()
        }
    }

    /// An entry of ``order(_:_:at:)``: the first 16 bytes of its sort key as two big-endian words.
    private struct Ordered: Comparable {
        var high: UInt64
        var low: UInt64
        var index: UInt32
        static func < (a: Ordered, b: Ordered) -> Bool { (a.high, a.low, a.index) < (b.high, b.low, b.index) }
    }

    /// The `count` 32-byte entries of `raw` in the order of their 16 bytes at `offset` (ties, which random
    /// and time-ordered ids never make in practice, in the order given; each database's key is unique as a
    /// whole and LMDB orders it in full).
    private static func order(_ count: Int, _ raw: UnsafeRawBufferPointer, at offset: Int) -> [Ordered] {
        var out = [Ordered]()
        out.reserveCapacity(count)
        for i in 0..<count {
            let at = i * 32 + offset
            out.append(
                Ordered(
                    high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)),
                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self)), index: UInt32(i)
                )
            )
        }
        out.sort()
        return out
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

    public func allKeys() throws -> [(scope: KeyScopeID, key: StoredDataKey)] {
        try self.guarded {
            try self.environment.read { txn in
                var out: [(scope: KeyScopeID, key: StoredDataKey)] = []
                try txn.scan(self.keys) { k, v in
                    guard let scope = KeyScopeID(bytes: k.prefix(16)) else { return true }
                    out.append((scope, try StoredDataKey(bytes: Array(v))))
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
        after cursor: [UInt8]?, limit: Int, _ transform: (StoredDataKey) throws -> StoredDataKey?
    ) throws -> (rewrapped: Int, next: [UInt8]?) {
        try self.guarded {
            try self.environment.write { txn in
                var seen = 0
                var last: [UInt8]?
                var replaced: [(key: [UInt8], value: StoredDataKey)] = []
                try txn.scan(self.keys, from: cursor) { k, v in
                    if let cursor, k.elementsEqual(cursor) { return true }
                    last = Array(k)
                    seen += 1
                    if let new = try transform(try StoredDataKey(bytes: Array(v))) { replaced.append((Array(k), new)) }
                    return seen < limit
                }
                for (key, value) in replaced { try txn.put(value.bytes, forKey: key, in: self.keys) }
                return (replaced.count, seen < limit ? nil : last)
            }
        }
    }

    public func masterKey() throws -> WrappedKey? {
        try self.guarded { try self.environment.read { try $0.get(Self.masterKeyName, in: self.master).map { try WrappedKey(bytes: $0) } } }
    }

    public func addMasterKey(_ wrapped: WrappedKey) throws -> WrappedKey {
        try self.guarded {
            try self.environment.write { txn in
                if let stored = try txn.get(Self.masterKeyName, in: self.master) { return try WrappedKey(bytes: stored) }
                try txn.put(wrapped.bytes, forKey: Self.masterKeyName, in: self.master)
                return wrapped
            }
        }
    }

    public func replaceMasterKey(_ wrapped: WrappedKey) throws {
        try self.guarded { try self.environment.write { try $0.put(wrapped.bytes, forKey: Self.masterKeyName, in: self.master) } }
    }

    /// The number of keys held.
    public func count() throws -> Int { try self.guarded { try self.environment.read { try $0.count(self.keys) } } }

    fileprivate func guarded<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as LMDBError {
            throw BureauError(storage: error)
        } catch let error as KeyError {
            throw BureauError(.internal, "the key store holds a damaged key: \(error)")
        }
    }
}
