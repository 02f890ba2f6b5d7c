import BureauCore
public import BureauStore
public import GRPCCore
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
public import Prometheus
#if canImport(Glibc)
import Glibc
#endif

/// Per-RPC metrics through swift-metrics (the executable bootstraps the Prometheus backend): requests by
/// method and status, and their latency.
public struct MetricsInterceptor: ServerInterceptor {
    let handles: MetricHandles

    public init() {
        self.handles = MetricHandles()
    }

    init(handles: MetricHandles) {
        self.handles = handles
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.fullyQualifiedMethod
        let start = ContinuousClock.now
        func record(_ status: String) {
            self.handles.counter("bureau_requests_total", [("method", method), ("status", status)]).increment()
            self.handles.timer("bureau_request_duration_seconds", [("method", method)])
                .recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
        }
        do {
            let response = try await next(request, context)
            let accepted = (try? response.accepted.get()) != nil
            record(accepted ? "ok" : "error")
            return response
        } catch {
            record((error as? any RPCErrorConvertible).map { "\($0.rpcErrorCode)" } ?? "unknown")
            throw error
        }
    }
}

/// swift-metrics handles made once for each label set and then reused. Making a handle asks the backend
/// each time (Prometheus: sanitising the name and labels, then a lookup in its registry under a lock), which
/// per request cost more than the increment itself.
///
/// A cache belongs to a daemon (made after the executable bootstraps the metrics backend, so it never keeps
/// handles of the no-op backend). Its label sets are bounded by bureaud's methods, statuses and purposes;
/// past ``limit`` of them a handle is made per call and not kept, so nothing a caller sends can grow it.
final class MetricHandles: Sendable {
    private struct Key: Hashable {
        var label: String
        var dimensions: [String]

        init(_ label: String, _ dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.flatMap { [$0.0, $0.1] }
        }
    }

    /// The most label sets kept, of each kind.
    static let limit = 4096

    private let counters = Mutex<[Key: Metrics.Counter]>([:])
    private let timers = Mutex<[Key: Metrics.Timer]>([:])

    /// The counter `label` with `dimensions`.
    func counter(_ label: String, _ dimensions: [(String, String)]) -> Metrics.Counter {
        let key = Key(label, dimensions)
        if let kept = self.counters.withLock({ $0[key] }) { return kept }
        let made = Metrics.Counter(label: label, dimensions: dimensions)
        self.counters.withLock { if $0.count < Self.limit { $0[key] = made } }
        return made
    }

    /// The timer `label` with `dimensions`.
    func timer(_ label: String, _ dimensions: [(String, String)]) -> Metrics.Timer {
        let key = Key(label, dimensions)
        if let kept = self.timers.withLock({ $0[key] }) { return kept }
        let made = Metrics.Timer(label: label, dimensions: dimensions)
        self.timers.withLock { if $0.count < Self.limit { $0[key] = made } }
        return made
    }

    /// Label sets kept, counters and timers together (for tests).
    var count: Int { self.counters.withLock { $0.count } + self.timers.withLock { $0.count } }
}

/// The Prometheus `/metrics` endpoint on its own port: the registry's metrics, plus the log's size, the
/// writer's commits and batch sizes and LMDB's map use, read at each scrape.
public final class MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry
    let store: Store
    let writer: GroupCommitWriter
    let channel: any Channel

    /// Starts serving on `host:port` (0 picks a free port).
    public init(
        registry: PrometheusCollectorRegistry, store: Store, writer: GroupCommitWriter, host: String, port: Int, auditor: LogAuditor? = nil
    ) async throws {
        self.registry = registry
        self.store = store
        self.writer = writer
        let logSize = registry.makeGauge(name: "bureau_log_entries", help: "Entries in the access log")
        let mapUsed = registry.makeGauge(name: "bureau_lmdb_map_used_bytes", help: "Bytes of the LMDB map in use")
        let mapSize = registry.makeGauge(name: "bureau_lmdb_map_size_bytes", help: "Size of the LMDB map")
        let commits = registry.makeGauge(name: "bureau_commits", help: "Write transactions the group-commit writer committed")
        let batch = registry.makeGauge(name: "bureau_commit_batch_size_mean", help: "Mean requests per commit")
        let audited = registry.makeGauge(name: "bureau_log_audit_verified_entries", help: "Entries re-verified in the current pass over the log")
        let passes = registry.makeGauge(name: "bureau_log_audit_passes", help: "Passes over the whole log completed since start")
        let tampered = registry.makeGauge(name: "bureau_log_audit_failures", help: "1 once the log was found changed outside bureaud")
        let scrape: @Sendable () -> [UInt8] = {
            if let progress = auditor?.progress {
                audited.set(to: Double(progress.verified))
                passes.set(to: Double(progress.passes))
                tampered.set(to: progress.failure == nil ? 0 : 1)
            }
            if let statistics = try? StoreStatistics(store) {
                logSize.set(to: Double(statistics.logSize))
                mapUsed.set(to: Double(statistics.usedBytes))
                mapSize.set(to: Double(statistics.mapSize))
            }
            let statistics = writer.statistics
            commits.set(to: Double(statistics.commits))
            batch.set(to: statistics.meanBatchSize)
            return registry.emitToBuffer()
                + Array(statistics.commitDurations.prometheusText(name: "bureau_commit_duration_seconds", help: "Group commits, from taking the batch to its fsync").utf8)
                + Array(statistics.waits.prometheusText(name: "bureau_write_wait_seconds", help: "Writes, from joining the writer's queue to being durable").utf8)
        }
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(scrape: scrape))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// The port it listens on.
    public var port: Int { self.channel.localAddress?.port ?? 0 }

    /// A plain HTTP/1.1 GET of `path` from a metrics endpoint at `host:port` (an IPv4 address): the whole
    /// response, head and body. Blocking; for tests and `bureau bench report`, not for serving.
    public static func get(host: String, port: Int, path: String = "/metrics") throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BureauError(.unavailable, "cannot open a socket") }
        defer { _ = Glibc.close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw BureauError(.invalidArgument, "metrics address: expected an IPv4 address, got \(host)")
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw BureauError(.unavailable, "cannot connect to the metrics port \(host):\(port)") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    public func close() async {
        try? await self.channel.close()
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let scrape: @Sendable () -> [UInt8]

    init(scrape: @escaping @Sendable () -> [UInt8]) {
        self.scrape = scrape
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = self.unwrapInboundIn(data) else { return }
        let found = head.method == .GET && head.uri.split(separator: "?").first == "/metrics"
        let body = found ? self.scrape() : Array("not found: GET /metrics\n".utf8)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}

extension DurationBuckets {
    /// The histogram in Prometheus's text format: `name_bucket` lines with cumulative counts, `le` the upper bound
    /// in seconds (`+Inf` last), then `name_sum` and `name_count`.
    public func prometheusText(name: String, help: String) -> String {
        var text = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative: UInt64 = 0
        for (bucket, count) in self.counts.enumerated() {
            cumulative += count
            let bound = bucket < Self.bounds.count ? "\(Self.bounds[bucket])" : "+Inf"
            text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        text += "\(name)_sum \(self.sum)\n\(name)_count \(cumulative)\n"
        return text
    }

    /// The histogram `name` read back from a scrape of bureaud's `/metrics` (``prometheusText(name:help:)``), or
    /// nil when the scrape has no such histogram or its buckets are not this type's.
    public init?(prometheus scrape: String, name: String) {
        var cumulative: [UInt64] = []
        var sum: Double?
        for line in scrape.split(separator: "\n") {
            if line.hasPrefix("\(name)_bucket{"), let count = line.split(separator: " ").last.flatMap({ UInt64($0) }) {
                cumulative.append(count)
            } else if line.hasPrefix("\(name)_sum ") {
                sum = line.split(separator: " ").last.flatMap { Double($0) }
            }
        }
        guard let sum, !cumulative.isEmpty, zip(cumulative, cumulative.dropFirst()).allSatisfy({ $0 <= $1 }) else { return nil }
        let counts = cumulative.indices.map { $0 == 0 ? cumulative[0] : cumulative[$0] - cumulative[$0 - 1] }
        self.init(counts: counts, sum: sum)
    }
}
