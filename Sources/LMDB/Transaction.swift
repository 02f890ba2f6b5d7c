internal import CLMDB

/// A read or write transaction. Only valid inside the closure that received it, on that thread.
public final class Transaction {
    let handle: OpaquePointer
    /// Whether this transaction may write.
    public let isReadOnly: Bool
    private var finished = false

    init(environment: OpaquePointer, parent: OpaquePointer?, readOnly: Bool) throws {
        var txn: OpaquePointer?
        try check(
            mdb_txn_begin(environment, parent, readOnly ? UInt32(MDB_RDONLY) : 0, &txn),
            readOnly ? "txn_begin(read)" : "txn_begin(write)"
        )
        self.handle = txn!
        self.isReadOnly = readOnly
    }

    func commit() throws {
        precondition(!self.finished, "transaction already finished")
        self.finished = true
        try check(mdb_txn_commit(self.handle), "txn_commit")
    }

    func abort() {
        guard !self.finished else { return }
        self.finished = true
        mdb_txn_abort(self.handle)
    }

    /// Runs `body` in a child transaction: its changes join this transaction when it returns and are
    /// discarded when it throws, leaving this transaction as it was.
    public func nested<T>(_ body: (Transaction) throws -> T) throws -> T {
        let child = try Transaction(environment: mdb_txn_env(self.handle), parent: self.handle, readOnly: false)
        let result: T
        do {
            result = try body(child)
        } catch {
            child.abort()
            throw error
        }
        try child.commit()
        return result
    }

    /// Calls `body` with the stored bytes for `key`, or returns nil when absent. The buffer points into
    /// the map and is valid only during `body`: copy what you keep.
    public func withValue<T>(
        forKey key: [UInt8],
        in database: Database,
        _ body: (UnsafeRawBufferPointer) throws -> T
    ) throws -> T? {
        var value = MDB_val()
        let rc = key.withUnsafeBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_get(self.handle, database.dbi, &k, &value)
        }
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "get from \(database.name)")
        return try body(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }

    /// The stored bytes for `key`, or nil when absent.
    public func get(_ key: [UInt8], in database: Database) throws -> [UInt8]? {
        try self.withValue(forKey: key, in: database) { Array($0) }
    }

    /// Stores `value` under `key`, replacing what was there.
    ///
    /// - Throws: ``LMDBError`` (``LMDBError/isMapFull`` when the map has no room).
    public func put(_ value: [UInt8], forKey key: [UInt8], in database: Database) throws {
        try key.withUnsafeBytes { keyBytes in
            try value.withUnsafeBytes { try self.put($0, forKey: keyBytes, in: database) }
        }
    }

    /// Stores the bytes `value` under the bytes `key`, replacing what was there; with `append`, as
    /// ``append(_:forKey:in:)`` does. For callers that hold many keys in one buffer.
    ///
    /// - Throws: ``LMDBError`` (``LMDBError/isMapFull`` when the map has no room).
    public func put(_ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, in database: Database, append: Bool = false) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        if append {
            let rc = mdb_put(self.handle, database.dbi, &k, &v, UInt32(MDB_APPEND))
            if rc != MDB_KEYEXIST { return try check(rc, "append to \(database.name)") }
        }
        try check(mdb_put(self.handle, database.dbi, &k, &v, 0), "put into \(database.name)")
    }

    /// Stores `value` under `key` at the end of `database` (LMDB's `MDB_APPEND`: no search, and a full
    /// page stays full instead of splitting in half); when `key` is not past the last key, an ordinary
    /// ``put(_:forKey:in:)``.
    ///
    /// - Throws: ``LMDBError`` (``LMDBError/isMapFull`` when the map has no room).
    public func append(_ value: [UInt8], forKey key: [UInt8], in database: Database) throws {
        let rc = key.withUnsafeBytes { keyBytes in
            value.withUnsafeBytes { valueBytes in
                var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
                var v = MDB_val(mv_size: valueBytes.count, mv_data: UnsafeMutableRawPointer(mutating: valueBytes.baseAddress))
                return mdb_put(self.handle, database.dbi, &k, &v, UInt32(MDB_APPEND))
            }
        }
        if rc == MDB_KEYEXIST { return try self.put(value, forKey: key, in: database) }
        try check(rc, "append to \(database.name)")
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func delete(_ key: [UInt8], in database: Database) throws -> Bool {
        let rc = key.withUnsafeBytes { keyBytes in
            var k = MDB_val(mv_size: keyBytes.count, mv_data: UnsafeMutableRawPointer(mutating: keyBytes.baseAddress))
            return mdb_del(self.handle, database.dbi, &k, nil)
        }
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "delete from \(database.name)")
        return true
    }

    /// Removes every entry of `database` (which stays, empty), freeing its pages.
    public func empty(_ database: Database) throws {
        try check(mdb_drop(self.handle, database.dbi, 0), "drop \(database.name)")
    }

    /// Visits entries in key order (or reverse), starting at the first key at or after `start`
    /// (at or before it when reversed; from the end when nil). Return false from `body` to stop.
    ///
    /// The buffers point into the map and are valid only during the call.
    public func scan(
        _ database: Database,
        from start: [UInt8]? = nil,
        reverse: Bool = false,
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(self.handle, database.dbi, &cursor), "cursor_open \(database.name)")
        defer { mdb_cursor_close(cursor) }

        var key = MDB_val()
        var value = MDB_val()
        var rc: Int32
        if let start {
            rc = start.withUnsafeBytes { bytes in
                key = MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
            }
            if reverse {
                if rc == MDB_NOTFOUND {
                    rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
                } else if rc == MDB_SUCCESS {
                    let found = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
                    if !found.elementsEqual(start) {
                        rc = mdb_cursor_get(cursor, &key, &value, MDB_PREV)
                    }
                }
            }
        } else {
            rc = mdb_cursor_get(cursor, &key, &value, reverse ? MDB_LAST : MDB_FIRST)
        }
        while rc == MDB_SUCCESS {
            let keep = try body(
                UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
            )
            if !keep { return }
            rc = mdb_cursor_get(cursor, &key, &value, reverse ? MDB_PREV : MDB_NEXT)
        }
        if rc != MDB_NOTFOUND {
            try check(rc, "cursor_get \(database.name)")
        }
    }

    /// The pages `database` takes (branch, leaf and overflow pages).
    public func pages(_ database: Database) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(self.handle, database.dbi, &stat), "stat \(database.name)")
        return stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages
    }

    /// The number of entries in `database`.
    public func count(_ database: Database) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(self.handle, database.dbi, &stat), "stat \(database.name)")
        return stat.ms_entries
    }
}
