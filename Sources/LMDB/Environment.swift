internal import CLMDB
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An LMDB environment: one memory-mapped file holding named databases.
///
/// Transactions are scoped, synchronous closures: ``read(_:)`` and ``write(_:)`` commit when the closure
/// returns and abort when it throws. A transaction belongs to the thread that runs the closure, so never
/// suspend (`await`) inside one. Read transactions never wait for the writer.
///
/// ```swift
/// let env = try Environment(path: "data/lmdb", configuration: .init(mapSize: 1 << 30))
/// let people = try env.openDatabase(named: "people")
/// try env.write { txn in try txn.put(Array("key".utf8), Array("value".utf8), in: people) }
/// let value = try env.read { txn in try txn.get(Array("key".utf8), in: people) }
/// ```
public final class Environment: Sendable {
    /// Options for opening an environment.
    public struct Configuration: Sendable {
        /// The size of the memory map in bytes: the most the database can grow to.
        public var mapSize: Int
        /// How many named databases may be opened.
        public var maxDatabases: Int
        /// How many concurrent read transactions are allowed (across processes).
        public var maxReaders: Int
        /// Skip the fsync at commit. Only for benchmarks and bulk imports that can be redone.
        public var noSync: Bool
        /// Open for a bulk load: hold the environment alone when no other process has it open
        /// (``Environment/isHeldAlone``), and then write through a writable map (`MDB_WRITEMAP`).
        ///
        /// A write transaction larger than LMDB's limit of dirty pages (131,072 pages, 512 MiB) otherwise
        /// writes part of them out early and reads them back when it changes them again: a million-person
        /// import wrote 11 GB through `pwrite` for a 2.3 GB result. Through the map, changed pages stay where
        /// they are until the commit flushes them. While it is held, other processes cannot open the
        /// environment (``LMDBError/isHeldAlone``); when one already has it open, or the device lacks room
        /// for the whole map, it opens as usual, shared. Such a handle cannot nest transactions.
        public var bulkLoad: Bool

        public init(mapSize: Int = 1 << 30, maxDatabases: Int = 32, maxReaders: Int = 256, noSync: Bool = false, bulkLoad: Bool = false) {
            self.mapSize = mapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.noSync = noSync
            self.bulkLoad = bulkLoad
        }

        public static var defaults: Configuration { Configuration() }
    }

    /// The raw environment handle. LMDB's environment is safe to share between threads: every
    /// transaction made from it is confined to the closure (and thread) that uses it.
    nonisolated(unsafe) let handle: OpaquePointer
    /// The folder holding `data.mdb` and `lock.mdb`.
    public let path: String
    /// Whether this handle holds the environment alone and writes through the map: opened for a bulk load
    /// (``Configuration/bulkLoad``) while no other process had it open.
    public let isHeldAlone: Bool
    /// The open file `holders.lock` in the folder: every handle holds a shared `flock` on it, a bulk load
    /// that holds the environment alone an exclusive one. LMDB's own `fcntl` lock on `lock.mdb` shows who has
    /// the environment open but cannot keep them out: it belongs to the process, and LMDB's own open turns it
    /// shared (Sources/BureauLMDB/DESIGN.md, "Bulk loads").
    private let holders: Int32

    /// The file beside `data.mdb` that the handles of an environment lock (``isHeldAlone``).
    public static let holdersFileName = "holders.lock"

    /// Opens (creating if needed) the environment in the folder `path`.
    ///
    /// - Throws: ``LMDBError`` when the folder cannot be created or LMDB refuses to open it, and
    ///   ``LMDBError/isHeldAlone`` while a bulk load in another process holds it.
    public init(path: String, configuration: Configuration = .defaults) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw LMDBError(code: errno, operation: "mkdir \(path)")
        }
        let holders = open(path + "/" + Self.holdersFileName, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard holders >= 0 else { throw LMDBError(code: errno, operation: "open \(path)/\(Self.holdersFileName)") }
        var alone = false
        var env: OpaquePointer?
        do {
            if configuration.bulkLoad && flock(holders, LOCK_EX | LOCK_NB) == 0 {
                alone = Self.mapFits(configuration.mapSize, in: path)
            }
            // A shared lock: taken, or converted from the exclusive one when the map does not fit.
            if !alone && flock(holders, LOCK_SH | LOCK_NB) != 0 {
                let code = errno
                throw LMDBError(code: code == EWOULDBLOCK ? LMDBError.heldAloneCode : code, operation: "open \(path)")
            }
            try check(mdb_env_create(&env), "env_create")
            guard let env else { throw LMDBError(code: EINVAL, operation: "env_create") }
            try check(mdb_env_set_mapsize(env, configuration.mapSize), "env_set_mapsize")
            try check(mdb_env_set_maxdbs(env, MDB_dbi(configuration.maxDatabases)), "env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, UInt32(configuration.maxReaders)), "env_set_maxreaders")
            // NOTLS: read transactions are not tied to thread-local slots, so pooled threads can run them.
            var flags = UInt32(MDB_NOTLS)
            if configuration.noSync { flags |= UInt32(MDB_NOSYNC) }
            // LMDB: never mix processes with and without WRITEMAP on one environment; the exclusive lock
            // keeps every other process out while this handle is open.
            if alone { flags |= UInt32(MDB_WRITEMAP) }
            try check(mdb_env_open(env, path, flags, 0o600), "env_open \(path)")
        } catch {
            if let env { mdb_env_close(env) }
            close(holders)
            throw error
        }
        self.handle = env!
        self.path = path
        self.isHeldAlone = alone
        self.holders = holders
    }

    deinit {
        mdb_env_close(self.handle)
        close(self.holders)  // releases the lock, after LMDB has let go of the files
    }

    /// Whether a writable map of `mapSize` bytes fits the folder `path`: LMDB sizes `data.mdb` to the
    /// whole map (sparse), and a page of it written when the device is full kills the process (SIGBUS)
    /// instead of failing a write; so the device must have room for what the file does not hold yet, and
    /// the process's file-size limit must allow the map.
    static func mapFits(_ mapSize: Int, in path: String) -> Bool {
        let allocated = Self.allocatedBytes(path)
        var volume = statvfs()
        guard statvfs(path, &volume) == 0 else { return false }
        return Self.mapFits(
            mapSize, allocated: allocated, available: Int(clamping: UInt64(volume.f_bavail) * UInt64(volume.f_frsize)),
            fileSizeLimit: Self.fileSizeLimit() ?? .max
        )
    }

    /// The process's file-size limit (`RLIMIT_FSIZE`) in bytes; nil when there is none.
    static func fileSizeLimit() -> Int? {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_FSIZE.rawValue)
        #else
        let resource = RLIMIT_FSIZE
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < rlim_t(Int64.max) else { return nil }
        return Int(limit.rlim_cur)
    }

    /// The bytes of disk `data.mdb` takes (its blocks): less than its length when LMDB sized it to the map.
    public var allocatedBytes: Int { Self.allocatedBytes(self.path) }

    private static func allocatedBytes(_ path: String) -> Int {
        var status = stat()
        return stat(path + "/data.mdb", &status) == 0 ? Int(status.st_blocks) * 512 : 0
    }

    /// ``mapFits(_:in:)`` on its figures: the map's bytes not yet allocated to the file, plus 64 MiB to
    /// spare, within the device's available bytes; the map within the file-size limit.
    static func mapFits(_ mapSize: Int, allocated: Int, available: Int, fileSizeLimit: Int) -> Bool {
        mapSize <= fileSizeLimit && max(0, mapSize - allocated) + (64 << 20) <= available
    }

    /// Opens (creating if needed) a named database.
    public func openDatabase(named name: String) throws -> Database {
        try self.write { txn in
            var dbi = MDB_dbi()
            try check(mdb_dbi_open(txn.handle, name, UInt32(MDB_CREATE), &dbi), "dbi_open \(name)")
            return Database(dbi: dbi, name: name)
        }
    }

    /// Runs `body` in a read-only transaction, a consistent snapshot that never blocks the writer.
    public func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        let txn = try Transaction(environment: self.handle, parent: nil, readOnly: true)
        defer { txn.abort() }
        return try body(txn)
    }

    /// Runs `body` in the write transaction; commits when it returns, aborts when it throws.
    ///
    /// Only one write transaction exists at a time (across processes); others wait for it.
    /// - Throws: what `body` throws, or ``LMDBError`` from the commit (``LMDBError/isMapFull`` when full).
    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        let txn = try Transaction(environment: self.handle, parent: nil, readOnly: false)
        let result: T
        do {
            result = try body(txn)
        } catch {
            txn.abort()
            throw error
        }
        do {
            try txn.commit()
        } catch let error as LMDBError where error.code == EIO && self.isOutOfSpace() {
            // LMDB reports a short write as EIO; on a full device (or at the file-size limit) that is
            // what a write that ran out of room looks like, so say so.
            throw LMDBError(code: ENOSPC, operation: "txn_commit (short write, no room left for data.mdb)")
        }
        return result
    }

    /// Whether the data file can grow no further: the device has (almost) no free blocks, or the file
    /// has reached the process's file-size limit. Asked only after a commit failed with EIO.
    func isOutOfSpace() -> Bool {
        let dataFile = self.path + "/data.mdb"
        var status = stat()
        let size = stat(dataFile, &status) == 0 ? UInt64(status.st_size) : 0
        if let limit = Self.fileSizeLimit(), size + 64 * 1024 > UInt64(limit) {
            return true
        }
        var volume = statvfs()
        guard statvfs(self.path, &volume) == 0 else { return false }
        // A commit writes its dirty pages at once; less room than a few MiB cannot hold one.
        return UInt64(volume.f_bavail) * UInt64(volume.f_frsize) < 4 << 20
    }

    /// Flushes buffers to disk (only needed with ``Configuration/noSync``).
    public func sync(force: Bool = true) throws {
        try check(mdb_env_sync(self.handle, force ? 1 : 0), "env_sync")
    }

    /// Writes a consistent copy of the environment to the folder `path` (which must exist and be empty),
    /// optionally compacting free pages. Safe while other threads and processes read and write.
    public func copy(to path: String, compact: Bool = true) throws {
        try check(mdb_env_copy2(self.handle, path, compact ? UInt32(MDB_CP_COMPACT) : 0), "env_copy \(path)")
    }

    /// Raises or lowers the map size. No transaction of this process may be open.
    public func setMapSize(_ bytes: Int) throws {
        try check(mdb_env_set_mapsize(self.handle, bytes), "env_set_mapsize")
    }

    /// Facts about the map: its size, the pages in use and the page size.
    public func info() throws -> Info {
        var info = MDB_envinfo()
        try check(mdb_env_info(self.handle, &info), "env_info")
        var stat = MDB_stat()
        try check(mdb_env_stat(self.handle, &stat), "env_stat")
        return Info(
            mapSize: info.me_mapsize,
            lastPageNumber: info.me_last_pgno,
            pageSize: Int(stat.ms_psize)
        )
    }

    /// The memory map's size and use.
    public struct Info: Sendable {
        public var mapSize: Int
        public var lastPageNumber: Int
        public var pageSize: Int
        /// Bytes of the map in use (pages up to the last one used).
        public var usedBytes: Int { (self.lastPageNumber + 1) * self.pageSize }
    }
}

/// A named database inside an ``Environment``.
public struct Database: Sendable, Hashable {
    let dbi: MDB_dbi
    /// The database's name.
    public let name: String
}
