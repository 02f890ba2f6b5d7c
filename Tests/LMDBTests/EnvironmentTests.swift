import Foundation
import LMDB
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
