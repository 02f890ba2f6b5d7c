import BureauCore
import Dispatch
import Foundation
public import Logging
import Synchronization

/// The one writer of a serving store: requests hand it their writes (log entries and changes); it runs
/// every write waiting at that moment in one transaction of the store's backend, commits once (one fsync) and only then
/// releases every waiter. While a commit is in flight new requests queue up and go into the next one,
/// so the batch grows with the load.
///
/// Each request is undone alone when it throws, and gets its error; the others commit. A batch first runs
/// every request straight in the one transaction, which is what a batch costs when nothing fails (a nested
/// LMDB transaction costs megabytes of allocation and a copy of every page it touches); when any request or
/// the commit fails, that attempt is thrown away whole and the batch runs again with each request in a nested
/// transaction of its own. A request's work may therefore run twice, and must change nothing but the
/// transaction it is given.
///
/// ```swift
/// let writer = GroupCommitWriter(store: store, logger: logger)
/// let receipt = try await writer.submit { txn in try txn.appendLog(entry) }
/// ```
public final class GroupCommitWriter: Sendable {
    private struct Pending {
        let work: @Sendable (StoreTransaction) throws -> any Sendable
        let continuation: CheckedContinuation<any Sendable, any Error>
        let submitted: ContinuousClock.Instant
    }

    private struct State {
        var pending: [Pending] = []
        var stopping = false
        var commitDurations = DurationBuckets()
        var waits = DurationBuckets()
    }

    /// Counts of what the writer has done: commits and the requests they carried, and how long they took.
    public struct Statistics: Sendable {
        /// Each commit's time, from taking its batch to the batch being durable (the requests' work, the
        /// backend's commit and its fsync): what a request that arrives during a commit waits before its own.
        public var commitDurations: DurationBuckets
        /// Each request's time in the writer, from ``GroupCommitWriter/submit(_:)`` to its commit being durable:
        /// the commit in flight when it came, then its own.
        public var waits: DurationBuckets
        public init(commitDurations: DurationBuckets, waits: DurationBuckets) {
            (self.commitDurations, self.waits) = (commitDurations, waits)
        }

        /// Commits made: one time counted each.
        public var commits: UInt64 { self.commitDurations.count }
        /// Requests committed (or refused): one wait counted each.
        public var requests: UInt64 { self.waits.count }

        /// What was done since `earlier`, a reading of the same writer.
        public func subtracting(_ earlier: Statistics) -> Statistics {
            Statistics(commitDurations: self.commitDurations.subtracting(earlier.commitDurations), waits: self.waits.subtracting(earlier.waits))
        }

        /// What was done in this period and in `other` together.
        public func adding(_ other: Statistics) -> Statistics {
            Statistics(commitDurations: self.commitDurations.adding(other.commitDurations), waits: self.waits.adding(other.waits))
        }

        /// Mean requests per commit.
        public var meanBatchSize: Double { self.commits == 0 ? 0 : Double(self.requests) / Double(self.commits) }
    }

    private let store: Store
    private let logger: Logger
    private let state = Mutex(State())
    private let doorbell = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    /// Starts the writer's thread over `store`.
    public init(store: Store, logger: Logger) {
        self.store = store
        self.logger = logger
        let thread = Thread { [self] in
            // Named from inside: on Linux, Foundation does not apply a name set before start, and the thread
            // would show in /proc and perf under its creator's name (a Dispatch worker's).
            Thread.current.name = "bureau-writer"
            self.loop()
        }
        thread.start()
    }

    /// Queues `work` for the next commit and returns its result once that commit is durable.
    ///
    /// - Throws: what `work` throws (its changes are undone), or ``BureauError`` when the commit fails
    ///   (resource exhausted for a full map) or the writer is shut down (unavailable).
    public func submit<T: Sendable>(_ work: @escaping @Sendable (StoreTransaction) throws -> T) async throws -> T {
        let result = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
            let accepted = self.state.withLock { state in
                if state.stopping { return false }
                state.pending.append(Pending(work: work, continuation: continuation, submitted: .now))
                return true
            }
            if accepted {
                self.doorbell.signal()
            } else {
                continuation.resume(throwing: BureauError(.unavailable, "the bureau is shutting down"))
            }
        }
        return result as! T
    }

    /// Requests waiting for the next commit (those of the commit in flight are not counted).
    public var queued: Int {
        self.state.withLock { $0.pending.count }
    }

    /// What the writer has done so far.
    public var statistics: Statistics {
        self.state.withLock { Statistics(commitDurations: $0.commitDurations, waits: $0.waits) }
    }

    /// Stops taking requests, commits those already queued, and waits for the thread to end.
    public func shutdown() async {
        let first = self.state.withLock { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        self.doorbell.signal()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.stopped.wait()
                self.stopped.signal()
                continuation.resume()
            }
        }
    }

    private func loop() {
        while true {
            self.doorbell.wait()
            let (batch, stopping) = self.state.withLock { state in
                let batch = state.pending
                state.pending.removeAll(keepingCapacity: true)
                return (batch, state.stopping)
            }
            if !batch.isEmpty {
                self.commit(batch)
            } else if stopping {
                break
            }
        }
        self.stopped.signal()
    }

    private func commit(_ batch: [Pending]) {
        let started = ContinuousClock.now
        let results = self.commitTogether(batch) ?? self.commitEach(batch)
        let durable = ContinuousClock.now
        self.state.withLock { state in
            state.commitDurations.record(durable - started)
            for request in batch { state.waits.record(durable - request.submitted) }
        }
        for (request, result) in zip(batch, results) {
            request.continuation.resume(with: result)
        }
    }

    /// Runs every request of `batch` in one write transaction, none nested, and commits: their results, or nil
    /// when a request or the commit failed and nothing was written. A batch of one request that threw has its
    /// error (a nested run would end the same way), unless the error is a storage failure.
    private func commitTogether(_ batch: [Pending]) -> [Result<any Sendable, any Error>]? {
        var values: [any Sendable] = []
        values.reserveCapacity(batch.count)
        var thrown: (any Error)?
        do {
            try self.store.backend.write { txn in
                for request in batch {
                    do {
                        values.append(try request.work(txn))
                    } catch {
                        thrown = error
                        throw error
                    }
                }
            }
            return values.map { .success($0) }
        } catch {
            if batch.count == 1, let thrown, self.store.backend.storageFailure(thrown) == nil { return [.failure(thrown)] }
            return nil
        }
    }

    /// Runs each request of `batch` in a nested transaction of its own within one write transaction, and
    /// commits: a request that throws is undone alone.
    private func commitEach(_ batch: [Pending]) -> [Result<any Sendable, any Error>] {
        var results: [Result<any Sendable, any Error>] = []
        results.reserveCapacity(batch.count)
        do {
            try self.store.backend.write { txn in
                for request in batch {
                    do {
                        let value = try txn.withNestedTransaction { child in try request.work(child) }
                        results.append(.success(value))
                    } catch {
                        if let failure = self.store.backend.storageFailure(error) {
                            // Only this request's nested transaction is undone; the batch goes on.
                            self.logger.error("write refused by storage", metadata: ["error": "\(failure)"])
                            results.append(.failure(failure))
                        } else {
                            results.append(.failure(error))
                        }
                    }
                }
            }
        } catch {
            let failure = self.store.backend.storageFailure(error) ?? (error as? BureauError) ?? BureauError(.unavailable, "commit failed: \(error)")
            self.logger.error("group commit failed", metadata: ["requests": "\(batch.count)", "error": "\(failure)"])
            results = Array(repeating: .failure(failure), count: batch.count)
        }
        return results
    }
}
