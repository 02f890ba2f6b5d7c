import BureauCore
import BureauStore
import BureauLMDB
import Foundation
import Testing

/// The mode bits of the file or folder at `path`.
func mode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return try #require((attributes[.posixPermissions] as? NSNumber)?.intValue) & 0o777
}

@Suite("File modes")
struct FileModeTests {
    @Test("a data folder and everything in it is readable by its owner only")
    func dataFolder() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            try store.write { txn in _ = try txn.appendLog(entry(1)) }
            #expect(try mode(folder) == 0o700)
            #expect(try mode(folder + "/lmdb") == 0o700)
            #expect(try mode(folder + "/lmdb/data.mdb") == 0o600)
            #expect(try mode(folder + "/lmdb/lock.mdb") == 0o600)
            #expect(try mode(folder + "/" + DataProtection.secretFileName) == 0o600)
            #expect(try mode(folder + "/keystore") == 0o700)
            #expect(try mode(folder + "/keystore/data.mdb") == 0o600)
        }
    }

    @Test("a backup's folders are 0700 and its files 0600")
    func backup() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder + "/data")
            try store.write { txn in _ = try txn.appendLog(entry(1)) }
            _ = FileManager.default.createFile(atPath: folder + "/data/checkpoint.key", contents: Data(count: 32), attributes: [.posixPermissions: 0o600])
            _ = FileManager.default.createFile(atPath: folder + "/data/checkpoint.note", contents: Data("note\n".utf8), attributes: [.posixPermissions: 0o600])
            try Backup.take(of: store, to: folder + "/backup")
            #expect(try mode(folder + "/backup") == 0o700)
            #expect(try mode(folder + "/backup/lmdb") == 0o700)
            let files = try FileManager.default.subpathsOfDirectory(atPath: folder + "/backup")
            #expect(files.contains("lmdb/data.mdb"))
            #expect(files.contains(DataProtection.secretFileName))
            // The key store is backed up apart: a backup of the data holds no data key.
            #expect(!files.contains { $0.hasPrefix("keystore") })
            for file in files {
                var isFolder: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: folder + "/backup/" + file, isDirectory: &isFolder)
                #expect(try mode(folder + "/backup/" + file) == (isFolder.boolValue ? 0o700 : 0o600), "\(file)")
            }
        }
    }
}

@Suite("Log entry size")
struct LogEntrySizeTests {
    @Test("an entry above the bound is refused, naming the bound, and the log is unchanged")
    func oversizedEntryRefused() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            var big = entry(1)
            big.reason = String(repeating: "x", count: AccessLogEntry.maxCanonicalBytes)
            let error = #expect(throws: BureauError.self) { try store.write { txn in _ = try txn.appendLog(big) } }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("\(AccessLogEntry.maxCanonicalBytes) bytes") == true)
            let before = try store.read { try $0.logSize() }
            #expect(before == 0)
            // Just under the bound is taken.
            big.reason = String(repeating: "x", count: AccessLogEntry.maxCanonicalBytes - 1000)
            _ = try store.write { txn in try txn.appendLog(big) }
            let after = try store.read { try $0.logSize() }
            #expect(after == 1)
        }
    }

    @Test("entries are read up to a byte budget, at least one")
    func entriesByBudget() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            var big = entry(1)
            big.reason = String(repeating: "y", count: 10_000)
            try store.write { txn in for _ in 0..<10 { _ = try txn.appendLog(big) } }
            let size = big.canonicalBytes().count
            let page = try store.read { try $0.logEntries(from: 0, limit: 1000, maxBytes: 3 * size + 10) }
            #expect(page.count == 3)
            let one = try store.read { try $0.logEntries(from: 4, limit: 1000, maxBytes: 10) }
            #expect(one.map(\.index) == [4])
        }
    }
}
