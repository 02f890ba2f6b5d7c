public import BureauAPI
public import BureauClient
public import BureauCore
public import Foundation
public import GRPCCore

/// What the console knows of the log at one moment, all of it verified.
public struct LogView: Sendable {
    /// The checkpoint whose signature verified and whose root the entries below hash to (nil before the first).
    public var checkpoint: Checkpoint?
    public var signedNote: String?
    /// When this console first saw that checkpoint.
    public var firstSeen: Date?
    public var statistics = LogStatistics()
    /// Every fork found, the newest last (from the memory file: they stay).
    public var forks: [CheckpointMemory.Fork] = []
    /// Why the last refresh failed, if it did (bureaud gone, a bad signature, entries that do not hash to the root).
    public var problem: Problem?

    /// Why the console could not refresh its view of the log.
    public enum Problem: Sendable, Equatable {
        /// bureaud did not answer (or refused the connection); the text is the transport's.
        case unreachable(String)
        /// The checkpoint or the entries did not verify: the log cannot be trusted.
        case unverified(String)
        /// The checkpoint's signature did not verify with the configured key (the wrong key, or a forged note).
        case signature(String)
    }
}

struct SignatureError: Error {
    var message: String
}

/// The console's verified copy of the log: the leaf hash of every entry (each computed here from the entry's
/// bytes, together hashing to a signed root), the dashboard's counts, and the checkpoint memory.
public actor LogMirror<Transport: ClientTransport> {
    let oversight: Bureau_OversightService.Client<Transport>
    let verifier: NoteVerifier
    let options: CallOptions
    let memoryPath: String
    let now: @Sendable () -> Date

    private var memory: CheckpointMemory
    private var leaves: [[UInt8]] = []
    private var frontier = MerkleFrontier()
    /// The parts held inline by the verified entries, against which references resolve (never the server's word).
    private var holders = LogPartHolders()
    private var view = LogView()
    private var refreshing: Task<LogView, Never>?

    public init(
        oversight: Bureau_OversightService.Client<Transport>, verifier: NoteVerifier, options: CallOptions, memory: CheckpointMemory,
        memoryPath: String, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.oversight = oversight
        self.verifier = verifier
        self.options = options
        self.memory = memory
        self.memoryPath = memoryPath
        self.now = now
        self.view.forks = memory.forks
    }

    /// The verified leaf hash of entry `index`, if the mirror holds it.
    public func leafHash(_ index: UInt64) -> [UInt8]? {
        index < UInt64(self.leaves.count) ? self.leaves[Int(index)] : nil
    }

    /// Entry `logged` as the bureau sent it, if it is the verified entry at its index: its bytes hash to the leaf the
    /// mirror verified there, and each part it refers to (actor, legal basis, disclosure profile) resolves to a
    /// verified earlier entry holding it. Else why not.
    public func check(_ logged: Bureau_LogEntry) -> Result<AccessLogEntry, ConsoleError> {
        guard let leaf = self.leafHash(logged.index) else {
            return .failure(ConsoleError("entry \(logged.index) is not in the verified tree"))
        }
        guard leaf == logged.computedLeafHash else {
            return .failure(ConsoleError("entry \(logged.index) does not hash to the leaf verified at its index"))
        }
        do {
            return .success(try self.holders.resolve(Array(logged.canonical), at: logged.index))
        } catch {
            return .failure(ConsoleError("\(error)"))
        }
    }

    /// The checkpoints remembered and the forks found.
    public var remembered: CheckpointMemory { self.memory }

    /// The view as last refreshed.
    public var current: LogView { self.view }

    /// Fetches the current checkpoint, verifies it and its consistency with every checkpoint seen, then the new
    /// entries against its root. Concurrent callers share one refresh.
    public func refresh() async -> LogView {
        if let running = self.refreshing { return await running.value }
        // Not detached work: every caller awaits it; the task only lets callers arriving meanwhile share it
        // (the actor is reentrant across the refresh's RPCs).
        let task = Task { await self.performRefresh() }
        self.refreshing = task
        let view = await task.value
        self.refreshing = nil
        return view
    }

    private func performRefresh() async -> LogView {
        do {
            try await self.sync()
            self.view.problem = nil
        } catch let error as Merkle.ProofError {
            self.view.problem = .unverified(error.reason)
        } catch let error as SignatureError {
            self.view.problem = .signature(error.message)
        } catch let error as ConsoleError {
            self.view.problem = .unverified(error.message)
        } catch let error as RPCError {
            self.view.problem = .unreachable("\(error.code): \(error.message)")
        } catch {
            self.view.problem = .unreachable("\(error)")
        }
        self.view.forks = self.memory.forks
        return self.view
    }

    private func sync() async throws {
        let response = try await self.oversight.getCheckpoint(request: ClientRequest(message: .init()), options: self.options)
        let note = response.signedNote
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(body: try self.verifier.verify(note: note))
        } catch {
            throw SignatureError(message: "the bureau's checkpoint does not verify with the configured verifier key (\(error))")
        }
        if note == self.view.signedNote { return }

        let before = self.memory
        var memory = self.memory
        _ = try await memory.observe(
            note: note, checkpoint: checkpoint, verifier: self.verifier, at: self.now(), unreachable: Self.isUnreachable
        ) { oldSize, newSize in
            var request = Bureau_ConsistencyProofRequest()
            request.oldSize = oldSize
            request.newSize = newSize
            return try await self.oversight.getConsistencyProof(request: ClientRequest(message: request), options: self.options).proof.map(Array.init)
        }
        self.memory = memory
        if memory != before { try memory.save(path: self.memoryPath) }

        // A smaller tree or one that does not extend ours (a fork, now on record): start over against the new root.
        if checkpoint.size < self.frontier.size { self.reset() }
        do {
            try await self.extend(to: checkpoint)
        } catch let error as Merkle.ProofError where self.frontier.size > 0 {
            _ = error
            self.reset()
            try await self.extend(to: checkpoint)
        }
        self.view.checkpoint = checkpoint
        self.view.signedNote = note
        self.view.firstSeen = self.memory.firstSeen(note)
    }

    private func reset() {
        self.leaves = []
        self.frontier = MerkleFrontier()
        self.holders = LogPartHolders()
        self.view.statistics = LogStatistics()
        self.view.checkpoint = nil
        self.view.signedNote = nil
    }

    /// Reads the entries after ours up to `checkpoint.size`, hashes each here, and keeps them only if the whole
    /// tree then hashes to the signed root.
    private func extend(to checkpoint: Checkpoint) async throws {
        var frontier = self.frontier
        var statistics = self.view.statistics
        var holders = self.holders
        var added: [[UInt8]] = []
        while frontier.size < checkpoint.size {
            var request = Bureau_GetEntriesRequest()
            request.start = frontier.size
            request.count = UInt32(min(1000, checkpoint.size - frontier.size))
            let page = try await self.oversight.getEntries(request: ClientRequest(message: request), options: self.options)
            guard !page.entries.isEmpty else { throw Merkle.ProofError("the bureau returned no entries at \(frontier.size)") }
            for entry in page.entries {
                guard entry.index == frontier.size else { throw Merkle.ProofError("entry \(entry.index) came where \(frontier.size) was due") }
                let leaf = entry.computedLeafHash
                frontier.append(leafHash: leaf)
                added.append(leaf)
                // An entry that does not decode or whose references do not resolve counts as undecodable.
                statistics.count(try? holders.read(Array(entry.canonical), at: entry.index))
                if frontier.size == checkpoint.size { break }
            }
        }
        guard frontier.root == checkpoint.root else {
            throw Merkle.ProofError("the bureau's entries do not hash to the root it signed for \(checkpoint.size) entries")
        }
        self.frontier = frontier
        self.leaves += added
        self.holders = holders
        self.view.statistics = statistics
    }

    /// Transport failures (bureaud gone, a timeout) as opposed to answers.
    static func isUnreachable(_ error: any Error) -> Bool {
        guard let error = error as? RPCError else { return false }
        return [.unavailable, .deadlineExceeded, .cancelled, .unknown].contains(error.code)
    }
}
