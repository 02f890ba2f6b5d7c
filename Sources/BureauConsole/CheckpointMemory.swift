public import BureauCore
public import Foundation

/// Every checkpoint the console has seen, kept in a small local file, and the forks it found between them.
///
/// A new checkpoint is checked against its neighbours by size: the largest remembered one no larger must be a
/// prefix of it, and it must be a prefix of the smallest remembered one larger (consistency proofs, RFC 6962).
/// Since each checkpoint remembered was checked so on arrival, the two checks cover them all. A failure is a
/// ``Fork``: both signed notes and the reason, kept in the file for good.
public struct CheckpointMemory: Codable, Hashable, Sendable {
    /// One checkpoint as seen: its signed note and when this console first saw it.
    public struct Seen: Codable, Hashable, Sendable {
        public var note: String
        public var size: UInt64
        public var firstSeen: Date

        enum CodingKeys: String, CodingKey {
            case note, size
            case firstSeen = "first_seen"
        }
    }

    /// Two signed checkpoints of the same log that cannot both be true.
    public struct Fork: Codable, Hashable, Sendable {
        public var detected: Date
        /// Why: the proof that failed.
        public var reason: String
        /// The smaller (or equal-size) checkpoint's signed note.
        public var earlier: String
        /// The other one's signed note.
        public var later: String
    }

    /// The verifier key the checkpoints were checked with: a memory belongs to one log.
    public var verifierKey: String
    public private(set) var seen: [Seen] = []
    public private(set) var forks: [Fork] = []

    /// The most checkpoints kept; the oldest go first (a fork's evidence stays in ``forks``).
    public static let limit = 500

    enum CodingKeys: String, CodingKey {
        case seen, forks
        case verifierKey = "verifier_key"
    }

    public init(verifierKey: String) {
        self.verifierKey = verifierKey
    }

    /// When this console first saw the checkpoint of `note`.
    public func firstSeen(_ note: String) -> Date? { self.seen.first { $0.note == note }?.firstSeen }

    /// Checks `checkpoint` (signed `note`, its signature verified) against the remembered ones and remembers it.
    ///
    /// - Parameter proof: the server's consistency proof between two sizes (a throw from it for a size the server
    ///   claims it lacks counts as evidence, as does a proof that does not verify).
    /// - Returns: the forks found now (also added to ``forks``).
    /// - Throws: what `unreachable` says is a transport failure rather than evidence (then nothing changes).
    public mutating func observe(
        note: String, checkpoint: Checkpoint, verifier: NoteVerifier, at time: Date,
        unreachable: @Sendable (any Error) -> Bool,
        proof: @Sendable (_ oldSize: UInt64, _ newSize: UInt64) async throws -> [[UInt8]]
    ) async throws -> [Fork] {
        if self.seen.contains(where: { $0.note == note }) { return [] }
        let remembered = self.seen.compactMap { seen in
            (try? verifier.verify(note: seen.note)).flatMap { try? Checkpoint(body: $0) }.map { (seen, $0) }
        }
        var found: [Fork] = []
        func check(_ old: Checkpoint, _ oldNote: String, _ new: Checkpoint, _ newNote: String) async throws {
            if old.size == new.size {
                if old.root != new.root {
                    found.append(Fork(detected: time, reason: "two different roots for the same size \(old.size)", earlier: oldNote, later: newNote))
                }
                return
            }
            do {
                let path = try await proof(old.size, new.size)
                try Merkle.verifyConsistency(size1: old.size, size2: new.size, root1: old.root, root2: new.root, proof: path)
            } catch let error as Merkle.ProofError {
                found.append(Fork(
                    detected: time, reason: "the tree of \(new.size) entries does not extend the tree of \(old.size) entries: \(error)",
                    earlier: oldNote, later: newNote
                ))
            } catch where !unreachable(error) {
                found.append(Fork(
                    detected: time,
                    reason: "the bureau could not prove that the tree of \(new.size) entries extends the tree of \(old.size) entries it signed: \(error)",
                    earlier: oldNote, later: newNote
                ))
            }
        }
        if let (seen, old) = remembered.filter({ $0.1.size <= checkpoint.size }).max(by: { $0.1.size < $1.1.size }) {
            try await check(old, seen.note, checkpoint, note)
        }
        if let (seen, later) = remembered.filter({ $0.1.size > checkpoint.size }).min(by: { $0.1.size < $1.1.size }) {
            try await check(checkpoint, note, later, seen.note)
        }
        self.seen.append(Seen(note: note, size: checkpoint.size, firstSeen: time))
        if self.seen.count > Self.limit { self.seen.removeFirst(self.seen.count - Self.limit) }
        self.forks += found
        return found
    }

    // MARK: The file

    /// The memory in `path`, or a new one when there is no file yet.
    ///
    /// - Throws: ``ConsoleError`` when the file is unreadable or belongs to a log with another verifier key.
    public static func load(path: String, verifierKey: String) throws(ConsoleError) -> CheckpointMemory {
        guard FileManager.default.fileExists(atPath: path) else { return CheckpointMemory(verifierKey: verifierKey) }
        let memory: CheckpointMemory
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            memory = try decoder.decode(CheckpointMemory.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ConsoleError("--memory: \(path) is not a checkpoint memory this console wrote (\(error)); move it away or name another file")
        }
        guard memory.verifierKey == verifierKey else {
            throw ConsoleError("--memory: \(path) remembers the log of another verifier key (\(memory.verifierKey)); name another file for this log")
        }
        return memory
    }

    /// Writes the memory to `path` (owner-only, replaced atomically).
    public func save(path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(self)
        let temporary = path + ".new"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ConsoleError("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else { throw ConsoleError("cannot replace \(path): \(String(cString: strerror(errno)))") }
    }
}
