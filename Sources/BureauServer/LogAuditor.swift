import BureauCore
import BureauStore
import Foundation
import Logging
public import ServiceLifecycle
import Synchronization

/// Watches the access log for changes made behind bureaud's back (someone with the data folder).
///
/// At start, ``checkAtStart()`` holds the stored tree against the last signed checkpoint (`checkpoint.note`)
/// and recomputes the newest entries; bureaud does not start on a mismatch. While bureaud serves, ``run()``
/// recomputes the whole log's tree from its entries at a set pace, pass after pass. A mismatch is logged as
/// critical, turns the health status NOT_SERVING and shows in `bureau_log_audit_failures`. `bureau log
/// verify` remains the check that trusts nothing of the server.
///
/// ```swift
/// let group = ServiceGroup(services: daemon.services, gracefulShutdownSignals: [.sigterm], logger: logger)
/// ```
public final class LogAuditor: Service, Sendable {
    /// How much of the log is checked, and how fast.
    public struct Configuration: Sendable, Hashable {
        /// Entries re-verified a second in the background; 0 turns the background check off.
        public var entriesPerSecond: Int
        /// The pause between two passes over the whole log.
        public var pause: Duration
        /// How many of the newest entries are recomputed at start.
        public var recentAtStart: Int

        public init(entriesPerSecond: Int = 2000, pause: Duration = .seconds(600), recentAtStart: Int = 1000) {
            self.entriesPerSecond = entriesPerSecond
            self.pause = pause
            self.recentAtStart = recentAtStart
        }

        public static var defaults: Configuration { Configuration() }
    }

    /// Where the background check stands.
    public struct Progress: Sendable, Hashable {
        /// Entries verified in the current pass.
        public var verified: UInt64 = 0
        /// The log's size when the current pass began.
        public var size: UInt64 = 0
        /// Passes over the whole log completed since start.
        public var passes: UInt64 = 0
        /// What did not match, once something did; it stays until bureaud restarts.
        public var failure: String?
    }

    let store: Store
    let signer: NoteSigner
    let configuration: Configuration
    let logger: Logger
    let shutdown: ShutdownSignal
    private let state = Mutex(Progress())

    init(store: Store, signer: NoteSigner, configuration: Configuration, logger: Logger, shutdown: ShutdownSignal) {
        self.store = store
        self.signer = signer
        self.configuration = configuration
        self.logger = logger
        self.shutdown = shutdown
    }

    /// Where the background check stands now.
    public var progress: Progress { self.state.withLock { $0 } }

    /// The last signed checkpoint in the data folder, or nil when there is none yet (a new installation) or
    /// it was signed under another origin (the origin was changed), which is logged.
    /// - Throws: ``LogTampering`` when the note does not verify with the installation's checkpoint key.
    func lastSignedCheckpoint() throws -> Checkpoint? {
        let path = (self.store.folder as NSString).appendingPathComponent("checkpoint.note")
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let note = String(decoding: data, as: UTF8.self)
        guard note.split(separator: "\n", maxSplits: 1).first.map(String.init) == self.signer.name else {
            self.logger.warning(
                "the last signed checkpoint names another log origin; the log is not checked against it",
                metadata: ["path": "\(path)", "origin": "\(self.signer.name)"]
            )
            return nil
        }
        do {
            let verifier = try NoteVerifier(verifierKey: self.signer.verifierKey)
            return try Checkpoint(body: try verifier.verify(note: note))
        } catch {
            throw LogTampering("\(path) does not verify with the installation's checkpoint key (\(error))")
        }
    }

    /// Holds the stored tree against the last signed checkpoint and recomputes the newest
    /// ``Configuration/recentAtStart`` entries.
    /// - Throws: ``BureauError`` (failed precondition) saying what does not match: bureaud must not start.
    public func checkAtStart() throws {
        do {
            let checkpoint = try self.lastSignedCheckpoint()
            let (size, checked) = try self.store.read { txn -> (UInt64, Int) in
                if let checkpoint { try txn.checkTree(against: checkpoint) }
                let size = try txn.logSize()
                let start = size - min(size, UInt64(max(0, self.configuration.recentAtStart)))
                var check = try LogTreeCheck(at: start, in: txn)
                return (size, try check.advance(limit: Int(size - start), end: size, in: txn))
            }
            self.logger.info(
                "access log checked",
                metadata: [
                    "entries": "\(size)", "recomputed": "\(checked)",
                    "checkpoint": "\(checkpoint.map { "\($0.size) entries" } ?? "none yet")",
                ]
            )
        } catch let tampering as LogTampering {
            let message = "the access log in \(self.store.folder) was changed outside bureaud: \(tampering.message). "
                + "bureaud will not serve it; restore the data folder from a backup and run `bureau log verify`."
            self.logger.critical("\(message)")
            throw BureauError(.failedPrecondition, message)
        }
    }

    /// Re-verifies the whole log, pass after pass, until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.audit() }
    }

    private func audit() async {
        let rate = self.configuration.entriesPerSecond
        while !Task.isCancelled && !self.shutdown.isShuttingDown {
            // One node at a time of those sharing a database re-reads it (the background-work lease).
            if rate > 0 && self.progress.failure == nil && self.store.holdsBackgroundLease() {
                do {
                    try await self.pass(rate: rate)
                } catch let tampering as LogTampering {
                    self.state.withLock { $0.failure = tampering.message }
                    self.logger.critical(
                        "ACCESS LOG TAMPERED: \(tampering.message); health is NOT_SERVING until bureaud is restarted on an intact log",
                        metadata: ["data": "\(self.store.folder)"]
                    )
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.error("access log audit interrupted", metadata: ["error": "\(error)"])
                }
            }
            if !(await self.sleep(self.configuration.pause)) { return }
        }
    }

    /// One pass over the log as it stands, then against the last signed checkpoint.
    private func pass(rate: Int) async throws {
        let size = try self.store.read { try $0.logSize() }
        self.state.withLock {
            $0.size = size
            $0.verified = 0
        }
        let chunk = max(1, min(1000, rate / 10))
        var check = try self.store.read { try LogTreeCheck(at: 0, in: $0) }
        while check.position < size {
            let checked = try self.store.read { try check.advance(limit: chunk, end: size, in: $0) }
            self.state.withLock { $0.verified = check.position }
            guard await self.sleep(.seconds(Double(checked) / Double(rate))) else { throw CancellationError() }
        }
        if let checkpoint = try self.lastSignedCheckpoint() {
            try self.store.read { try $0.checkTree(against: checkpoint) }
        }
        self.state.withLock { $0.passes += 1 }
        self.logger.debug("access log re-verified", metadata: ["entries": "\(size)"])
    }

    /// Sleeps, in short steps so that the daemon's shutdown is seen; false when it began or the task was cancelled.
    private func sleep(_ duration: Duration) async -> Bool {
        var left = duration
        while left > .zero {
            if self.shutdown.isShuttingDown { return false }
            let step = min(left, .milliseconds(100))
            do { try await Task.sleep(for: step) } catch { return false }
            left -= step
        }
        return !self.shutdown.isShuttingDown
    }
}
