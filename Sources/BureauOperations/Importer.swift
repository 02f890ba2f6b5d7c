import BureauCore
public import BureauStore
import Crypto
public import Foundation
import Dispatch

/// Bulk import of JSON Lines (``SubjectLine``), all or nothing: the whole file is applied in one LMDB
/// write transaction (LMDB spills dirty pages to the map, so its size is bounded by the map, not by
/// memory), and a bad line aborts it, leaving the database as it was. Each line is validated like a
/// furnished batch, under the licence of the furnisher it names. Every 1,000 subjects make one
/// `furnish.import` log entry naming their keys and the digest of their lines.
///
/// The import holds the write lock while it runs: a serving daemon's writes wait for it.
public struct Importer: Sendable {
    /// A line that could not be imported: its number (from 1), and what is wrong with it.
    public struct LineError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(self.line): \(self.message)" }
    }

    /// What an import did.
    public struct Summary: Sendable {
        public var lines = 0
        public var subjects = 0
        public var records = 0
        public var logEntries = 0
    }

    public static let subjectsPerLogEntry = 1000

    let store: Store
    let now: Date

    public init(store: Store, now: Date = Date()) {
        self.store = store
        self.now = now
    }

    /// Lines parsed and validated together, on every core, before they are written in order.
    static let batchSize = 4096
    /// How many batches are read and handed to the parsing before the writer waits for the oldest.
    static let batchesAhead = 3

    /// Imports the JSON Lines file at `path`, calling `progress` with the bytes read so far.
    ///
    /// - Throws: ``LineError`` for the first bad line (nothing is written), or a storage error.
    public func importFile(at path: String, progress: (Int) -> Void = { _ in }) throws -> Summary {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw LineError(line: 0, message: "cannot open \(path)")
        }
        defer { try? handle.close() }
        let catalogue = try self.store.catalogue()
        let today = CalendarDate(utcDayOf: self.now)
        // Institutions are few: resolve every furnisher once, so that workers need no transaction.
        let furnishers = try self.store.read { try $0.institutions() }
            .filter { $0.roles.contains(.furnisher) }
            .reduce(into: [String: Furnishing]()) { $0[$1.code.value] = Furnishing(furnisher: $1, catalogue: catalogue, today: today) }
        var summary = Summary()
        var pendingKeys: [SubjectKey] = []
        var hasher = SHA256()

        try self.store.write { txn in
            func flush() throws {
                guard !pendingKeys.isEmpty else { return }
                _ = try txn.appendLog(
                    AccessLogEntry(
                        .furnishImport, by: .bureau(), time: self.now, requestID: "import-\(summary.logEntries)", subjects: pendingKeys,
                        outcome: .applied,
                        changeDigest: hasher.finalize().hexString
                    )
                )
                summary.logEntries += 1
                pendingKeys.removeAll(keepingCapacity: true)
                hasher = SHA256()
            }
            var bytesRead = 0
            var batch: [(number: Int, line: [UInt8])] = []
            batch.reserveCapacity(Self.batchSize)
            // While this thread writes one batch, the next ones are parsed, validated and sealed ahead on the other
            // cores, one batch at a time (``batchesAhead``), so that the writer finds the next batch ready and the
            // parsing finds lines to work on when either runs faster for a while.
            var parsing: [ParsedBatch] = []
            defer { for batch in parsing { batch.wait() } }
            let parser = DispatchQueue(label: "bureau.import.parse")
            func write(_ parsed: ParsedBatch) throws {
                for (i, result) in parsed.wait().enumerated() {
                    let (key, subject, prepared) = try result.get()
                    txn.offer(prepared)
                    defer { txn.offer(nil) }
                    do {
                        try txn.furnish(subject, as: key, catalogue: catalogue)
                    } catch let error as BureauError {
                        throw LineError(line: parsed.lines[i].number, message: error.message)
                    }
                    parsed.lines[i].line.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                    pendingKeys.append(key)
                    summary.subjects += 1
                    summary.records += subject.records.count
                    if pendingKeys.count == Self.subjectsPerLogEntry { try flush() }
                }
                parsed.releaseResults(on: parser)
                progress(parsed.bytesRead)
            }
            func apply() throws {
                let next = ParsedBatch(lines: batch, bytesRead: bytesRead)
                batch = []
                batch.reserveCapacity(Self.batchSize)
                parser.async { [self] in next.finish(self.parse(next.lines, furnishers: furnishers)) }
                parsing.append(next)
                while parsing.count > Self.batchesAhead { try write(parsing.removeFirst()) }
            }
            try LineReader(handle: handle).forEach { number, line in
                summary.lines = number
                bytesRead += line.count + 1
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
                batch.append((number, Array(line)))
                if batch.count == Self.batchSize { try apply() }
            }
            try apply()
            while !parsing.isEmpty { try write(parsing.removeFirst()) }
            try flush()
        }
        return summary
    }

    /// A batch of lines handed to another thread to parse and validate, and its results once done.
    private final class ParsedBatch: @unchecked Sendable {
        // `results` is written once, by the parsing job, before `done` is signalled, and read only after
        // waiting on `done` (``wait()``): the semaphore orders the two threads' accesses.
        let lines: [(number: Int, line: [UInt8])]
        let bytesRead: Int
        private var results: [Result<Line, LineError>] = []
        private let done = DispatchSemaphore(value: 0)

        init(lines: [(number: Int, line: [UInt8])], bytesRead: Int) {
            self.lines = lines
            self.bytesRead = bytesRead
        }

        func finish(_ results: [Result<Line, LineError>]) {
            self.results = results
            self.done.signal()
        }

        /// The results, in line order, once the parsing job has finished.
        @discardableResult
        func wait() -> [Result<Line, LineError>] {
            self.done.wait()
            self.done.signal()  // later waits return at once
            return self.results
        }

        /// Hands the results over to `queue`, to be freed on its thread: they were made there, and glibc frees a
        /// block from another thread under its arena's lock, which the parsing thread takes at every allocation
        /// (freed by the writer, they kept the two threads waking each other on that lock).
        func releaseResults(on queue: DispatchQueue) {
            let results = self.results
            self.results = []
            queue.async { withExtendedLifetime(results) {} }
        }
    }

    /// A line decoded and validated: its file's key, the subject, and its values sealed ahead for the case
    /// that its file is new (``PreparedFile``).
    private typealias Line = (key: SubjectKey, subject: FurnishedSubject, prepared: PreparedFile?)

    /// Decodes, validates and prepares `batch` on every core but the writer's; the results are in line order.
    private func parse(
        _ batch: [(number: Int, line: [UInt8])], furnishers: [String: Furnishing]
    ) -> [Result<Line, LineError>] {
        var results = [Result<Line, LineError>](
            repeating: .failure(LineError(line: 0, message: "")), count: batch.count
        )
        // One core is the writer's: a worker more would take CPU from the writer, which sets the pace.
        let workers = min(max(1, ProcessInfo.processInfo.activeProcessorCount - 1), max(1, batch.count / 64))
        results.withUnsafeMutableBufferPointer { buffer in
            // Each worker writes only its own stripe of indexes.
            nonisolated(unsafe) let out = buffer
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let decoder = JSONDecoder()
                var i = worker
                while i < batch.count {
                    out[i] = self.parse(batch[i].line, number: batch[i].number, decoder: decoder, furnishers: furnishers)
                    i += workers
                }
            }
        }
        return results
    }

    private func parse(
        _ line: [UInt8], number: Int, decoder: JSONDecoder, furnishers: [String: Furnishing]
    ) -> Result<Line, LineError> {
        let subjectLine: SubjectLine
        if let read = SubjectLineParser.parse(line) {
            subjectLine = read
        } else {
            // Outside the fast reader's subset (or not a subject line at all): JSONDecoder decides, and words the error.
            do {
                subjectLine = try decoder.decode(SubjectLine.self, from: Data(line))
            } catch {
                return .failure(LineError(line: number, message: "not a subject line: \(Self.describe(error))"))
            }
        }
        guard let furnishing = furnishers[subjectLine.furnisher] else {
            return .failure(LineError(line: number, message: "furnisher: \(subjectLine.furnisher) is not a registered furnisher"))
        }
        do throws(BureauError) {
            let subject = try furnishing.validate(subjectLine.submitted, at: "subject")
            let key = self.store.key(for: subject.identifier)
            return .success((key, subject, self.store.backend.protection.prepare(subject, as: key)))
        } catch {
            return .failure(LineError(line: number, message: error.message))
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "\((context.codingPath + [key]).map(\.stringValue).joined(separator: ".")): is required"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return "invalid JSON (\(context.debugDescription))"
        default:
            return "\(error)"
        }
    }
}

/// Reads a file line by line (LF-separated) in large chunks.
struct LineReader {
    let handle: FileHandle

    func forEach(_ body: (_ number: Int, _ line: ArraySlice<UInt8>) throws -> Void) throws {
        var buffer: [UInt8] = []
        var number = 0
        var start = 0
        while true {
            let chunk = try self.handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: chunk)
            while let newline = buffer[start...].firstIndex(of: 0x0A) {
                number += 1
                try body(number, buffer[start..<newline])
                start = newline + 1
            }
        }
        if start < buffer.count {
            number += 1
            try body(number, buffer[start...])
        }
    }
}
