import BureauCore
import BureauLMDB
import BureauStore
import Foundation
import Testing

@Suite("The log's LMDB layout: compact entries appended, old logs still read")
struct LogLayoutTests {
    static func report(_ n: Int) -> AccessLogEntry {
        AccessLogEntry(
            .report(.individual), by: LogActor(institution: "91110000100000016D", certificateFingerprint: String(repeating: "ab", count: 32), operatorID: ""),
            time: Date(timeIntervalSince1970: 1_800_000_000 + Double(n)), requestID: "bench-\(n)",
            subjects: [SubjectKey(hex: String(format: "%064x", n + 1))!], purpose: .postLoanManagement,
            legalBasis: Purpose.postLoanManagement.legalBasis, outcome: .hit,
            disclosedFields: (0..<40).map { "section.field_\($0):shown" }, disclosureVersion: 3
        )
    }

    @Test("audited reports take a fraction of a page each: log entries and tree hashes are packed, not a page an entry")
    func packed() async throws {
        try await withTemporaryFolder { folder in
            let store = try Store(folder: folder)
            let lmdb = try #require(store.backend as? LMDBStorage)
            let before = try lmdb.pagesByDatabase()
            // Ten reports a commit, as the group-commit writer batches them.
            for batch in 0..<100 {
                try store.write { txn in
                    for n in 0..<10 { _ = try txn.appendLog(Self.report(batch * 10 + n)) }
                }
            }
            let after = try lmdb.pagesByDatabase()
            func perEntry(_ name: String) -> Int {
                (after.pages[name, default: 0] - before.pages[name, default: 0]) * after.pageSize / 1000
            }
            #expect(perEntry("log.entries") <= 100, "log.entries: \(perEntry("log.entries")) bytes an entry")
            #expect(perEntry("log.nodes") <= 100, "log.nodes: \(perEntry("log.nodes")) bytes an entry")
            let entries = try store.read { try $0.logEntries(from: 990, limit: 10) }
            #expect(entries.allSatisfy { $0.bytes.count < 80 && $0.entry.disclosedFields.count == 40 })
            let first = try store.read { try $0.logEntries(from: 0, limit: 1) }
            #expect(first.first?.bytes.count ?? 0 > 1000, "the first report holds the profile")
        }
    }

    @Test("a log begun in the older layout (JSON entries, log.leaves, log.tree) still verifies, reads and grows")
    func olderLayout() async throws {
        try await withTemporaryFolder { folder in
            let old = (0..<5).map { Self.report($0).jsonBytes() }
            let leaves = old.map(Merkle.leafHash)
            do {
                let store = try Store(folder: folder)
                let lmdb = try #require(store.backend as? LMDBStorage)
                func key(_ n: Int) -> [UInt8] { withUnsafeBytes(of: UInt64(n).bigEndian) { Array($0) } }
                try lmdb.rawWrite(in: "log.entries", putting: old.enumerated().map { (key($0.offset), $0.element) })
                try lmdb.rawWrite(in: "log.leaves", putting: leaves.enumerated().map { (key($0.offset), $0.element) })
                var nodes: [(key: [UInt8], value: [UInt8])] = []
                for level in 1...2 {
                    for index in 0..<(leaves.count >> level) {
                        nodes.append(([UInt8(level)] + key(index), Merkle.root(of: leaves[(index << level)..<((index + 1) << level)])))
                    }
                }
                try lmdb.rawWrite(in: "log.tree", putting: nodes)
                try lmdb.rawWrite(in: "meta", putting: [(Array("log.size".utf8), key(5))])
            }
            let store = try Store(folder: folder)
            var all = leaves
            try store.write { txn in
                for n in 5..<11 { all.append(try txn.appendLog(Self.report(n)).leafHash) }
            }
            try store.read { txn in
                #expect(try txn.tree.root(size: 11) == Merkle.root(of: all[...]))
                #expect(try txn.tree.root(size: 5) == Merkle.root(of: leaves[...]))
                var check = try LogTreeCheck(at: 0, in: txn)
                #expect(try check.advance(limit: 100, end: 11, in: txn) == 11)
                let read = try txn.logEntries(from: 0, limit: 11)
                #expect(read.map(\.entry.requestID) == (0..<11).map { "bench-\($0)" })
                #expect(read.allSatisfy { $0.entry.disclosedFields.count == 40 && $0.entry.institution == "91110000100000016D" })
                // The first compact entry holds the parts: the JSON ones before it are never referred to.
                #expect(read[5].bytes.first == LogEntryCodec.version && read[4].bytes.first == UInt8(ascii: "{"))
                #expect(try AccessLogEntry(canonicalBytes: read[6].bytes).references == LogReferences(actor: 5, legalBasis: 5, disclosure: 5))
                for index in [0, 4, 5, 10] as [UInt64] {
                    let proof = try txn.tree.inclusionProof(index: index, size: 11)
                    try Merkle.verifyInclusion(index: index, size: 11, leafHash: all[Int(index)], proof: proof, root: Merkle.root(of: all[...]))
                }
            }
        }
    }
}
