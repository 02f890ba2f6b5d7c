import Foundation
@testable import LMDB
import Testing

/// A fresh environment folder under the temporary directory, removed after the test.
func withTemporaryEnvironment<T>(
    mapSize: Int = 1 << 24,
    _ body: (String) throws -> T
) throws -> T {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("lmdb-test-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("LMDB environment and transactions")
struct EnvironmentTests {
    @Test("put, get and delete round-trip")
    func putGetDelete() throws {
        try withTemporaryEnvironment { path in
            let env = try Environment(path: path)
            let db = try env.openDatabase(named: "things")
            try env.write { txn in
                try txn.put(bytes("one"), forKey: bytes("k1"), in: db)
                try txn.put(bytes("two"), forKey: bytes("k2"), in: db)
            }
            #expect(try env.read { try $0.get(bytes("k1"), in: db) } == bytes("one"))
            #expect(try env.read { try $0.get(bytes("absent"), in: db) } == nil)
            let removed = try env.write { try $0.delete(bytes("k1"), in: db) }
            #expect(removed)
            #expect(try env.write { try $0.delete(bytes("k1"), in: db) } == false)
            #expect(try env.read { try $0.get(bytes("k1"), in: db) } == nil)
            #expect(try env.read { try $0.count(db) } == 1)
        }
    }

    @Test("a throwing write closure aborts: nothing it wrote is kept")
    func abortOnThrow() throws {
        struct Boom: Error {}
        try withTemporaryEnvironment { path in
            let env = try Environment(path: path)
            let db = try env.openDatabase(named: "things")
            #expect(throws: Boom.self) {
                try env.write { txn in
                    try txn.put(bytes("v"), forKey: bytes("k"), in: db)
                    throw Boom()
                }
            }
            #expect(try env.read { try $0.get(bytes("k"), in: db) } == nil)
        }
    }

    @Test("a nested transaction that throws leaves its parent's writes intact")
    func nestedAbort() throws {
        struct Boom: Error {}
        try withTemporaryEnvironment { path in
            let env = try Environment(path: path)
            let db = try env.openDatabase(named: "things")
            try env.write { txn in
                try txn.put(bytes("parent"), forKey: bytes("p"), in: db)
                _ = try? txn.nested { child in
                    try child.put(bytes("child"), forKey: bytes("c"), in: db)
                    throw Boom()
                }
                try txn.nested { child in try child.put(bytes("kept"), forKey: bytes("k"), in: db) }
            }
            #expect(try env.read { try $0.get(bytes("p"), in: db) } == bytes("parent"))
            #expect(try env.read { try $0.get(bytes("c"), in: db) } == nil)
            #expect(try env.read { try $0.get(bytes("k"), in: db) } == bytes("kept"))
        }
    }

    @Test("cursor scans go forward and backward from a start key")
    func scans() throws {
        try withTemporaryEnvironment { path in
            let env = try Environment(path: path)
            let db = try env.openDatabase(named: "ordered")
            try env.write { txn in
                for key in ["a", "b", "c", "d", "e"] { try txn.put(bytes(key.uppercased()), forKey: bytes(key), in: db) }
            }
            func collect(from start: String?, reverse: Bool, limit: Int = 10) throws -> String {
                var out = ""
                try env.read { txn in
                    try txn.scan(db, from: start.map(bytes), reverse: reverse) { key, _ in
                        out += String(decoding: key, as: UTF8.self)
                        return out.count < limit
                    }
                }
                return out
            }
            #expect(try collect(from: nil, reverse: false) == "abcde")
            #expect(try collect(from: nil, reverse: true) == "edcba")
            #expect(try collect(from: "bb", reverse: false) == "cde")
            #expect(try collect(from: "c", reverse: true) == "cba")
            #expect(try collect(from: "cc", reverse: true) == "cba")
            #expect(try collect(from: "z", reverse: true, limit: 2) == "ed")
            #expect(try collect(from: "b", reverse: false, limit: 2) == "bc")
        }
    }

    @Test("a full map is an error, the failed write leaves no trace, and earlier data is intact")
    func mapFull() throws {
        try withTemporaryEnvironment { path in
            let env = try Environment(path: path, configuration: .init(mapSize: 256 * 1024))
            let db = try env.openDatabase(named: "big")
            try env.write { try $0.put(bytes("safe"), forKey: bytes("first"), in: db) }
            let chunk = [UInt8](repeating: 7, count: 4096)
            var failure: LMDBError?
            do {
                try env.write { txn in
                    for i in 0..<1000 { try txn.put(chunk, forKey: bytes("key-\(i)"), in: db) }
                }
            } catch let error as LMDBError {
                failure = error
            }
            #expect(failure?.isMapFull == true)
            #expect(try env.read { try $0.count(db) } == 1)
            #expect(try env.read { try $0.get(bytes("first"), in: db) } == bytes("safe"))
            // The environment still takes writes that fit.
            try env.write { try $0.put(bytes("again"), forKey: bytes("second"), in: db) }
            #expect(try env.read { try $0.count(db) } == 2)
        }
    }

    @Test("data survives closing and reopening the environment")
    func reopen() throws {
        try withTemporaryEnvironment { path in
            do {
                let env = try Environment(path: path)
                let db = try env.openDatabase(named: "durable")
                try env.write { try $0.put(bytes("still here"), forKey: bytes("k"), in: db) }
            }
            let env = try Environment(path: path)
            let db = try env.openDatabase(named: "durable")
            #expect(try env.read { try $0.get(bytes("k"), in: db) } == bytes("still here"))
        }
    }
}

@Suite("LMDB bulk load: held alone, written through the map")
struct BulkLoadTests {
    /// Runs util-linux's `flock` on the folder's holders file, as another process would lock it, running
    /// `command` while it holds the lock (`cat` reading `input`: held until `input` is closed).
    private static func flock(_ path: String, _ arguments: [String], command: [String] = ["true"], input: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        process.arguments = arguments + [path + "/" + Environment.holdersFileName] + command
        if let input { process.standardInput = input }
        try process.run()
        return process
    }

    @Test("held alone, a bulk load keeps other handles out, writes and aborts as usual, and the next handle finds its data")
    func heldAlone() throws {
        try withTemporaryEnvironment { path in
            do {
                let bulk = try Environment(path: path, configuration: .init(mapSize: 1 << 26, bulkLoad: true))
                #expect(bulk.isHeldAlone)
                let db = try bulk.openDatabase(named: "things")
                // A handle of this process and another process are both kept out while it is held.
                let refused = try #require(throws: LMDBError.self) { _ = try Environment(path: path) }
                #expect(refused.isHeldAlone)
                #expect("\(refused)".contains("bulk load"))
                let other = try Self.flock(path, ["--shared", "--nonblock"])
                other.waitUntilExit()
                #expect(other.terminationStatus == 1)
                // 20,000 values of 1 KiB in one transaction; one that throws keeps nothing.
                try bulk.write { txn in
                    for i in 0..<20_000 { try txn.put([UInt8](repeating: UInt8(i & 0xFF), count: 1024), forKey: Array("key-\(i)".utf8), in: db) }
                }
                // LMDB sized the file to the map; the disk it takes is what was written.
                let length = try FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int
                #expect(length == 1 << 26)
                #expect(bulk.allocatedBytes > 20_000 * 1024 && bulk.allocatedBytes < 1 << 26, "\(bulk.allocatedBytes)")
                struct Boom: Error {}
                #expect(throws: Boom.self) {
                    try bulk.write { txn in
                        try txn.put(Array("lost".utf8), forKey: Array("key-0".utf8), in: db)
                        throw Boom()
                    }
                }
                // Through the map, LMDB cannot nest transactions: an error, never a corruption.
                #expect(throws: LMDBError.self) { try bulk.write { txn in try txn.nested { _ in } } }
            }
            let env = try Environment(path: path)
            #expect(!env.isHeldAlone)
            let db = try env.openDatabase(named: "things")
            #expect(try env.read { try $0.count(db) } == 20_000)
            #expect(try env.read { try $0.get(Array("key-0".utf8), in: db) } == [UInt8](repeating: 0, count: 1024))
            #expect(try env.read { try $0.get(Array("key-19999".utf8), in: db) } == [UInt8](repeating: UInt8(19_999 & 0xFF), count: 1024))
            // Shared again: nested transactions work.
            try env.write { txn in try txn.nested { try $0.put(Array("n".utf8), forKey: Array("nested".utf8), in: db) } }
        }
    }

    @Test("a bulk load beside another process that has the environment open shares it, as any handle does")
    func sharedWhenHeld() throws {
        try withTemporaryEnvironment { path in
            _ = try Environment(path: path)  // makes the folder and its holders file
            let input = Pipe()
            let other = try Self.flock(path, ["--shared"], command: ["cat"], input: input)
            defer {
                try? input.fileHandleForWriting.close()
                other.waitUntilExit()
            }
            // The other process holds its lock once flock has started sleeping; wait for that.
            var held = false
            for _ in 0..<100 where !held {
                let probe = try Self.flock(path, ["--exclusive", "--nonblock"])
                probe.waitUntilExit()
                if probe.terminationStatus == 1 { held = true } else { Thread.sleep(forTimeInterval: 0.05) }
            }
            #expect(held)
            let bulk = try Environment(path: path, configuration: .init(mapSize: 1 << 24, bulkLoad: true))
            #expect(!bulk.isHeldAlone)
            let db = try bulk.openDatabase(named: "things")
            try bulk.write { txn in try txn.nested { try $0.put(Array("v".utf8), forKey: Array("k".utf8), in: db) } }
            #expect(try bulk.read { try $0.get(Array("k".utf8), in: db) } == Array("v".utf8))
        }
    }

    @Test("the map is written through only when the device has room for all of it and the file-size limit allows it")
    func mapFits() {
        let gib = 1 << 30
        #expect(Environment.mapFits(4 * gib, allocated: 0, available: 5 * gib, fileSizeLimit: .max))
        #expect(Environment.mapFits(4 * gib, allocated: 3 * gib, available: gib + (64 << 20), fileSizeLimit: .max))
        #expect(!Environment.mapFits(4 * gib, allocated: 0, available: 4 * gib, fileSizeLimit: .max))
        #expect(!Environment.mapFits(4 * gib, allocated: 0, available: 100 * gib, fileSizeLimit: 2 * gib))
        #expect(Environment.mapFits(gib, allocated: 2 * gib, available: 64 << 20, fileSizeLimit: .max))
    }
}
