import BureauCore
import Crypto
import Foundation
import Testing

@testable import BureauConsole

/// A log of `leaves` (leaf hashes) with its signed checkpoints and consistency proofs, as a bureau would serve it.
struct TestLog {
    var leaves: [[UInt8]]
    let signer: NoteSigner

    init(_ entries: [String], signer: NoteSigner) {
        self.leaves = entries.map { Merkle.leafHash(Array($0.utf8)) }
        self.signer = signer
    }

    var reader: MerkleTreeReader<Never> {
        let leaves = self.leaves
        return MerkleTreeReader { level, index in
            let start = Int(index) << level
            return Merkle.root(of: leaves[start..<(start + (1 << level))])
        }
    }

    func checkpoint(size: Int) -> (note: String, checkpoint: Checkpoint) {
        let checkpoint = Checkpoint(origin: self.signer.name, size: UInt64(size), root: Merkle.root(of: self.leaves[..<size]))
        return (try! self.signer.sign(checkpoint.body), checkpoint)
    }

    /// The proof between two sizes; a size beyond the log is refused, as bureaud refuses it.
    func proof(_ old: UInt64, _ new: UInt64) throws -> [[UInt8]] {
        guard new <= UInt64(self.leaves.count) else { throw ConsoleError("tree size \(new) is beyond the log") }
        return self.reader.consistencyProof(size1: old, size2: new)
    }
}

struct Unreachable: Error {}

@Suite("The regulator's console")
struct ConsoleTests {
    let signer = NoteSigner(name: "bureau.test/log", key: Curve25519.Signing.PrivateKey())
    var verifier: NoteVerifier { try! NoteVerifier(verifierKey: self.signer.verifierKey) }
    static let start = Date(timeIntervalSince1970: 1_790_000_000)

    func observe(_ memory: inout CheckpointMemory, _ log: TestLog, size: Int) async throws -> [CheckpointMemory.Fork] {
        let (note, checkpoint) = log.checkpoint(size: size)
        return try await memory.observe(
            note: note, checkpoint: checkpoint, verifier: self.verifier, at: Self.start, unreachable: { $0 is Unreachable }
        ) { try log.proof($0, $1) }
    }

    @Test("A log that only grows is consistent with every checkpoint remembered")
    func growingLogHasNoFork() async throws {
        let log = TestLog((0..<40).map { "entry \($0)" }, signer: self.signer)
        var memory = CheckpointMemory(verifierKey: self.signer.verifierKey)
        for size in [3, 17, 16, 40, 1, 40] {
            #expect(try await self.observe(&memory, log, size: size).isEmpty, "size \(size)")
        }
        #expect(memory.forks.isEmpty)
        #expect(memory.seen.map(\.size) == [3, 17, 16, 40, 1])
    }

    @Test("A copy that received other entries is a fork, against the larger and the smaller checkpoints")
    func divergedLogIsAFork() async throws {
        let common = (0..<10).map { "entry \($0)" }
        let original = TestLog(common + (10..<20).map { "original \($0)" }, signer: self.signer)
        let copy = TestLog(common + (10..<14).map { "other \($0)" }, signer: self.signer)
        var memory = CheckpointMemory(verifierKey: self.signer.verifierKey)
        #expect(try await self.observe(&memory, original, size: 10).isEmpty)
        #expect(try await self.observe(&memory, original, size: 20).isEmpty)
        // The copy's 14 entries extend the common 10 but are no prefix of the 20 seen: the copy cannot prove it.
        let forks = try await self.observe(&memory, copy, size: 14)
        #expect(forks.count == 1)
        #expect(forks.first?.later == original.checkpoint(size: 20).note)
        #expect(forks.first?.earlier == copy.checkpoint(size: 14).note)
        #expect(memory.forks == forks, "kept")
        // The same size with another root is a fork without asking anyone.
        let sameSize = TestLog(common + (10..<20).map { "rewritten \($0)" }, signer: self.signer)
        let rewritten = try await memory.observe(
            note: sameSize.checkpoint(size: 20).note, checkpoint: sameSize.checkpoint(size: 20).checkpoint, verifier: self.verifier,
            at: Self.start, unreachable: { _ in false }
        ) { _, _ in Issue.record("no proof is needed for two roots of one size"); return [] }
        #expect(rewritten.count == 1)
        #expect(rewritten.first?.reason == "two different roots for the same size 20")
    }

    @Test("A larger tree that does not extend the one seen is a fork (its proof does not verify)")
    func rewrittenPastIsAFork() async throws {
        let original = TestLog((0..<8).map { "entry \($0)" }, signer: self.signer)
        let rewritten = TestLog(["forged"] + (1..<30).map { "entry \($0)" }, signer: self.signer)
        var memory = CheckpointMemory(verifierKey: self.signer.verifierKey)
        #expect(try await self.observe(&memory, original, size: 8).isEmpty)
        let forks = try await self.observe(&memory, rewritten, size: 30)
        #expect(forks.count == 1)
        #expect(forks.first?.reason.contains("does not extend the tree of 8 entries") == true)
    }

    @Test("bureaud unreachable during the check records nothing")
    func unreachableIsNoEvidence() async throws {
        let log = TestLog((0..<8).map { "entry \($0)" }, signer: self.signer)
        var memory = CheckpointMemory(verifierKey: self.signer.verifierKey)
        _ = try await self.observe(&memory, log, size: 4)
        let (note, checkpoint) = log.checkpoint(size: 8)
        await #expect(throws: Unreachable.self) {
            try await memory.observe(note: note, checkpoint: checkpoint, verifier: self.verifier, at: Self.start, unreachable: { $0 is Unreachable }) { _, _ in
                throw Unreachable()
            }
        }
        #expect(memory.forks.isEmpty && memory.seen.count == 1)
    }

    @Test("The memory file round-trips, owner-only, and belongs to one verifier key")
    func memoryFile() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("console-memory-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("memory.json").path
        let log = TestLog((0..<5).map { "entry \($0)" }, signer: self.signer)
        var memory = try CheckpointMemory.load(path: path, verifierKey: self.signer.verifierKey)
        _ = try await self.observe(&memory, log, size: 5)
        try memory.save(path: path)
        #expect(try CheckpointMemory.load(path: path, verifierKey: self.signer.verifierKey) == memory)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(throws: ConsoleError.self) { try CheckpointMemory.load(path: path, verifierKey: "other+00000000+AAAA") }
        try Data("not json".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ConsoleError.self) { try CheckpointMemory.load(path: path, verifierKey: self.signer.verifierKey) }
    }

    @Test("The frontier's root is the RFC 6962 root at every size")
    func frontier() {
        var frontier = MerkleFrontier()
        var leaves: [[UInt8]] = []
        #expect(frontier.root == Merkle.root(of: leaves[...]))
        for i in 0..<70 {
            let leaf = Merkle.leafHash(Array("entry \(i)".utf8))
            frontier.append(leafHash: leaf)
            leaves.append(leaf)
            #expect(frontier.root == Merkle.root(of: leaves[...]), "size \(i + 1)")
        }
    }

    @Test("Counts per day by purpose, outcome and institution; refusals among queries")
    func statistics() {
        let bank = LogActor(institution: "91110000100000016D", certificateFingerprint: "ab", operatorID: "")
        let day = Date(timeIntervalSince1970: 1_790_000_000)
        var stats = LogStatistics()
        stats.count(AccessLogEntry(.report(.individual), by: bank, time: day, requestID: "r1", purpose: .loanOrigination, outcome: .hit))
        stats.count(AccessLogEntry(.report(.individual), by: bank, time: day, requestID: "r2", purpose: .employmentScreening, outcome: .denied))
        stats.count(AccessLogEntry(.report(.individual), by: bank, time: day.addingTimeInterval(86_400), requestID: "r3", purpose: .loanOrigination, outcome: .frozen))
        stats.count(nil)
        #expect(stats.entries == 4 && stats.undecodable == 1)
        let days = stats.recentDays(14)
        #expect(days.count == 2)
        #expect(days[0].counts.byPurpose == ["loan-origination": 1, "employment-screening": 1])
        #expect(days[0].counts.byOutcome == ["hit": 1, "denied": 1])
        #expect(days[1].counts.byInstitution == ["91110000100000016D": 1])
        #expect(stats.refusals["91110000100000016D"] == LogStatistics.Refusals(queries: 3, refused: 2))
        #expect(stats.latest == day.addingTimeInterval(86_400))
    }

    @Test("Loopback only, unless told explicitly")
    func listenAddress() throws {
        for text in ["127.0.0.1:8080", "127.1.2.3:0", "localhost:8080", "[::1]:8080"] {
            #expect(try ListenAddress(parsing: text).checked(allowRemote: false).isLoopback, "\(text)")
        }
        for text in ["0.0.0.0:8080", "192.168.1.5:8080", "[::]:8080", "example.org:80", "127.0.0.1.evil:80"] {
            #expect(throws: ConsoleError.self, "\(text)") { try ListenAddress(parsing: text).checked(allowRemote: false) }
            #expect(try ListenAddress(parsing: text).checked(allowRemote: true).port > 0)
        }
        for text in ["8080", "host:", ":8080", "host:99999"] {
            #expect(throws: ConsoleError.self, "\(text)") { try ListenAddress(parsing: text) }
        }
    }

    @Test("The session token is random, compared in full")
    func sessionToken() {
        let a = SessionToken(), b = SessionToken()
        #expect(a.value.count == 64 && a.value != b.value)
        #expect(a.matches(a.value))
        #expect(!a.matches(b.value) && !a.matches("") && !a.matches(a.value.dropLast()) && !a.matches(a.value + "0"))
        #expect(a.formKey != a.value && a.formKey.count == 64)
    }

    @Test("The language from Accept-Language: the first of Chinese and English by quality")
    func language() {
        #expect(Language.preferred(acceptLanguage: nil) == .en)
        #expect(Language.preferred(acceptLanguage: "zh-CN,zh;q=0.9,en;q=0.8") == .zh)
        #expect(Language.preferred(acceptLanguage: "en-GB,en;q=0.9,zh;q=0.5") == .en)
        #expect(Language.preferred(acceptLanguage: "fr-FR, zh-TW;q=0.3") == .zh)
        #expect(Language.preferred(acceptLanguage: "fr") == .en)
        #expect(Language.preferred(acceptLanguage: "en;q=0.2, zh;q=0.8") == .zh)
        #expect(Language.preferred(acceptLanguage: "zh;q=0, en;q=0.1") == .en)
    }

    @Test("Every text exists in both languages")
    func texts() {
        for text in Text.allCases {
            #expect(!text(.en).isEmpty && !text(.zh).isEmpty, "\(text)")
            #expect(text(.en) != text(.zh), "\(text)")
        }
    }

    @Test("Form fields: + is a space, percent escapes decode; HTML escapes what comes from outside")
    func formsAndEscaping() {
        let form = FormFields(parsing: "reason=finding+7%3A+%3Cb%3E&empty=&operator_id=%E6%9D%8E&=x")
        #expect(form["reason"] == "finding 7: <b>")
        #expect(form["empty"] == nil)
        #expect(form["operator_id"] == "李")
        #expect(esc("<script>\"'&") == "&lt;script&gt;&quot;&#39;&amp;")
    }

    @Test("CSV cells that a spreadsheet would run are quoted and defused")
    func csv() {
        #expect(CSV.cell("=HYPERLINK(\"x\")") == "\"'=HYPERLINK(\"\"x\"\")\"")
        #expect(CSV.cell("-1+1") == "\"'-1+1\"")
        #expect(CSV.cell("plain") == "plain")
        #expect(CSV.line(["a,b", "c"]) == "\"a,b\",c\n")
    }
}
