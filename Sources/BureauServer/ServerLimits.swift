import BureauCore
import Foundation
import GRPCNIOTransportCore
import GRPCNIOTransportHTTP2
import Logging
import Metrics
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOSSL
import NIOTLS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What bureaud allows one caller to hold: connections, streams, request bytes, followers, and how long a
/// connection may stay in the handshake or idle. Every value is a key under `[limits]` in the configuration
/// file (`ops/bureau.example.toml`); the README's security section lists what a client sees at each.
public struct ServerLimits: Sendable, Equatable {
    /// A connection that has not finished its TLS handshake this long after accept is closed.
    public var handshakeTimeout: Duration
    /// A connection with no RPC open this long is closed gracefully (GOAWAY).
    public var idleTimeout: Duration
    /// After this long without reading from a connection, the server pings the client...
    public var keepaliveInterval: Duration
    /// ...and closes the connection when the ping is not answered within this. Also how long a connection
    /// closing gracefully (idle, or bureaud stopping) may take after its GOAWAY before it is closed outright.
    public var keepaliveTimeout: Duration
    /// Open connections at once; one more is closed at accept, before any TLS work.
    public var maxConnections: Int
    /// Concurrent RPCs on one connection, advertised in SETTINGS_MAX_CONCURRENT_STREAMS; clients queue the rest.
    public var maxConcurrentStreams: Int
    /// The largest request message, in bytes; a larger one is answered RESOURCE_EXHAUSTED naming this limit.
    public var maxRequestBytes: Int
    /// FollowAccessLog streams open at once, over all callers.
    public var maxFollowers: Int
    /// A follower whose stream takes nothing for this long is cut off with RESOURCE_EXHAUSTED; a stream
    /// whose client still takes nothing is reset twice this long after its final status, or four times this
    /// long after it last took anything while its handler still writes.
    public var stallTimeout: Duration

    public init(
        handshakeTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(300),
        keepaliveInterval: Duration = .seconds(120),
        keepaliveTimeout: Duration = .seconds(20),
        maxConnections: Int = 512,
        maxConcurrentStreams: Int = 100,
        maxRequestBytes: Int = 4 << 20,
        maxFollowers: Int = 32,
        stallTimeout: Duration = .seconds(30)
    ) {
        self.handshakeTimeout = handshakeTimeout
        self.idleTimeout = idleTimeout
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
        self.maxConnections = maxConnections
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxRequestBytes = maxRequestBytes
        self.maxFollowers = maxFollowers
        self.stallTimeout = stallTimeout
    }

    /// The limits bureaud runs with when the configuration file names none.
    public static var defaults: ServerLimits { ServerLimits() }

    /// The TLS 1.2 suites offered: ECDHE key exchange (forward secrecy) with an AEAD cipher. TLS 1.3 suites
    /// are all of that kind and are not configurable in BoringSSL.
    static let cipherSuites: [NIOTLSCipher] = [
        .TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        .TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, .TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        .TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, .TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
}

extension ServerLimits {
    /// The transport's configuration for these limits, with the guards bureaud adds to each connection
    /// and stream.
    ///
    /// grpc-swift-nio-transport has knobs for streams, idle time, keepalive and payload size, but none for a
    /// handshake timeout, a connection cap or the peer's identity. Its channel callbacks are the hooks it
    /// offers for the rest: at bind, a gate that counts connections goes on the listener; at accept (before
    /// the channel is active, so before any byte of TLS), a handshake timer and the ``VerifiedPeer``
    /// connection handler go after ``BureauListener``'s TLS handler, and a deadline for graceful closes after
    /// the HTTP/2 handler; on each stream, first the verified peer's stamp, then a guard that refuses
    /// oversized requests with a status and resets streams that take nothing. Nothing is forked: the
    /// transport still builds the pipeline.
    func transportConfig(gate: ConnectionGate, peers: VerifiedPeer) -> HTTP2ServerTransport.Custom<BureauListener>.Config {
        var config = HTTP2ServerTransport.Custom<BureauListener>.Config.defaults
        config.http2.maxConcurrentStreams = self.maxConcurrentStreams
        config.rpc.maxRequestPayloadSize = self.maxRequestBytes
        config.connection.maxIdleTime = self.idleTimeout
        config.connection.keepalive.time = self.keepaliveInterval
        config.connection.keepalive.timeout = self.keepaliveTimeout
        let handshakeTimeout = TimeAmount(self.handshakeTimeout)
        let maxRequestBytes = self.maxRequestBytes
        let stall = TimeAmount(self.stallTimeout)
        let grace = TimeAmount(self.keepaliveTimeout)
        config.channelDebuggingCallbacks.onBindTCPListener = { listener in
            listener.eventLoop.makeCompletedFuture {
                try listener.pipeline.syncOperations.addHandler(ConnectionGate.Handler(gate: gate))
            }
        }
        config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                let tls = try sync.handler(type: NIOSSLServerHandler.self)
                try sync.addHandler(VerifiedPeer.ConnectionHandler(peers: peers), position: .after(tls))
                try sync.addHandler(HandshakeTimeout(timeout: handshakeTimeout), position: .after(tls))
                try sync.addHandler(ClosingDeadline(grace: grace), position: .after(try sync.handler(type: NIOHTTP2Handler.self)))
            }
        }
        config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { stream in
            stream.eventLoop.makeCompletedFuture {
                let sync = stream.pipeline.syncOperations
                try sync.addHandler(StreamGuard(maxRequestBytes: maxRequestBytes, stallTimeout: stall), position: .first)
                try sync.addHandler(VerifiedPeer.streamHandler(for: stream), position: .first)
            }
        }
        return config
    }

    /// The server's TLS context: the transport's settings (TLS 1.2 at least, the bureau's CA as the only
    /// trust root for client certificates, which are required; ALPN h2) with only ``cipherSuites``.
    static func sslContext(_ tls: DaemonConfiguration.TLS) throws -> NIOSSLContext {
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: try tls.certificateChain.certificates().map { .certificate($0) },
            privateKey: .privateKey(try tls.privateKey.privateKey())
        )
        config.minimumTLSVersion = .tlsv12
        config.certificateVerification = .noHostnameVerification
        config.trustRoots = .certificates(try tls.clientCA.certificates())
        config.applicationProtocols = ["grpc-exp", "h2"]
        config.cipherSuiteValues = Self.cipherSuites
        return try NIOSSLContext(configuration: config)
    }

    /// Lowers ``maxConnections`` to what the descriptor limit allows (raising the soft limit first), so that
    /// accept never fails for want of a descriptor: each connection takes one, and the store, the listener
    /// and the metrics endpoint need some more.
    mutating func fitDescriptorLimit(logger: Logger) {
        #if canImport(Glibc)
        let reserve = 64
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return }
        let wanted = rlim_t(self.maxConnections + reserve)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = min(wanted, limit.rlim_max)
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        let allowed = Int(min(limit.rlim_cur, rlim_t(Int32.max))) - reserve
        if allowed < self.maxConnections {
            logger.info(
                "limits.max_connections lowered to the descriptor limit",
                metadata: ["configured": "\(self.maxConnections)", "allowed": "\(max(allowed, 1))", "nofile": "\(limit.rlim_cur)"]
            )
            self.maxConnections = max(allowed, 1)
        }
        #endif
    }
}

extension DaemonConfiguration.TLS.PEM {
    fileprivate func bytes() throws -> [UInt8] {
        switch self {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw BureauError(.failedPrecondition, "cannot read \(path)")
            }
            return Array(data)
        case .bytes(let bytes):
            return bytes
        }
    }

    fileprivate func certificates() throws -> [NIOSSLCertificate] { try NIOSSLCertificate.fromPEMBytes(self.bytes()) }

    fileprivate func privateKey() throws -> NIOSSLPrivateKey { try NIOSSLPrivateKey(bytes: self.bytes(), format: .pem) }
}

/// Counts open connections and closes the one over ``ServerLimits/maxConnections`` as it is accepted.
final class ConnectionGate: Sendable {
    let maximum: Int
    private let open = Atomic<Int>(0)
    private let refusals = Mutex<(count: Int, lastLogged: ContinuousClock.Instant?)>((0, nil))
    private let logger: Logger

    init(maximum: Int, logger: Logger) {
        self.maximum = maximum
        self.logger = logger
    }

    /// Connections open now.
    var openConnections: Int { self.open.load(ordering: .relaxed) }

    /// Admits `channel` and counts it until it closes, or refuses it (false) at the limit.
    func admit(_ channel: any Channel) -> Bool {
        let now = self.open.wrappingAdd(1, ordering: .relaxed).newValue
        guard now <= self.maximum else {
            self.open.wrappingSubtract(1, ordering: .relaxed)
            self.refused()
            return false
        }
        channel.closeFuture.whenComplete { _ in self.open.wrappingSubtract(1, ordering: .relaxed) }
        return true
    }

    private func refused() {
        Counter(label: "bureau_connections_refused_total").increment()
        // One line every ten seconds at most: a flood must not flood the log too.
        let clock = ContinuousClock()
        let report: Int? = self.refusals.withLock { state in
            state.count += 1
            if let last = state.lastLogged, clock.now - last < .seconds(10) { return nil }
            defer { state = (0, clock.now) }
            return state.count
        }
        if let report {
            self.logger.info(
                "connections refused: at the connection limit (limits.max_connections)",
                metadata: ["max_connections": "\(self.maximum)", "refused": "\(report)"]
            )
        }
    }

    /// Sits on the listening channel before NIO's accept handler: an accepted connection over the limit is
    /// closed there, before a TLS handler or any buffer is made for it.
    final class Handler: ChannelInboundHandler {
        typealias InboundIn = any Channel
        typealias InboundOut = any Channel
        let gate: ConnectionGate

        init(gate: ConnectionGate) { self.gate = gate }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let accepted = Self.unwrapInboundIn(data)
            if self.gate.admit(accepted) {
                context.fireChannelRead(data)
            } else {
                accepted.close(promise: nil)
            }
        }
    }
}

/// Closes a connection whose TLS handshake has not completed in time (slow or half-open clients), then
/// leaves the pipeline.
final class HandshakeTimeout: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if case .handshakeCompleted = event as? TLSUserEvent {
            self.timer?.cancel()
            self.timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func start(_ context: ChannelHandlerContext) {
        guard self.timer == nil else { return }
        let channel = context.channel
        self.timer = context.eventLoop.scheduleTask(in: self.timeout) {
            Counter(label: "bureau_connections_closed_total", dimensions: [("reason", "handshake_timeout")]).increment()
            channel.close(promise: nil)
        }
    }
}

/// Closes a connection outright `grace` after the server's first GOAWAY.
///
/// The transport closes gracefully (when idle, or when bureaud stops) with GOAWAY and a PING, and starts
/// its own grace timer only once the client answers that PING; a client that never answers would hold
/// the connection for ever. This handler sits after the HTTP/2 handler and sees the GOAWAY go out.
final class ClosingDeadline: ChannelOutboundHandler {
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame
    private let grace: TimeAmount
    private var timer: Scheduled<Void>?

    init(grace: TimeAmount) { self.grace = grace }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if self.timer == nil, case .goAway = Self.unwrapOutboundIn(data).payload {
            let channel = context.channel
            self.timer = context.eventLoop.scheduleTask(in: self.grace) { channel.close(promise: nil) }
        }
        context.write(data, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }
}

/// One per HTTP/2 stream, in front of the transport's stream handler.
///
/// - Reads the 5-byte gRPC message prefixes as DATA arrives: a request message longer than the limit is
///   answered at once with RESOURCE_EXHAUSTED naming the limit (trailers, then RST_STREAM NO_ERROR), and
///   none of it is buffered. (The transport itself would reset the stream, which clients see as CANCELLED.)
/// - A stream whose client takes nothing (the stream stays unwritable) is reset with ENHANCE_YOUR_CALM,
///   which grpcio reports as RESOURCE_EXHAUSTED, so that its buffers are released: twice the stall time
///   after its final status was queued, four times the stall time while its handler still writes.
final class StreamGuard: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let maxRequestBytes: Int
    private let stallTimeout: TimeAmount
    /// The bytes of the current message's prefix seen so far (at most 5).
    private var prefix: [UInt8] = []
    /// The bytes of the current message still to come after its prefix.
    private var remaining = 0
    private var refused = false
    private var responseHeadersSent = false
    private var statusWritten = false
    private var stallTimer: Scheduled<Void>?

    init(maxRequestBytes: Int, stallTimeout: TimeAmount) {
        self.maxRequestBytes = maxRequestBytes
        self.stallTimeout = stallTimeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.refused else { return }
        if case .data(let frame) = Self.unwrapInboundIn(data), case .byteBuffer(var buffer) = frame.data {
            while buffer.readableBytes > 0 {
                if self.remaining > 0 {
                    let skip = min(self.remaining, buffer.readableBytes)
                    buffer.moveReaderIndex(forwardBy: skip)
                    self.remaining -= skip
                    continue
                }
                let take = min(5 - self.prefix.count, buffer.readableBytes)
                self.prefix += buffer.readBytes(length: take) ?? []
                guard self.prefix.count == 5 else { break }
                let length = self.prefix[1...4].reduce(0) { $0 << 8 | Int($1) }
                self.prefix.removeAll(keepingCapacity: true)
                if length > self.maxRequestBytes {
                    self.refuse(context, length: length)
                    return
                }
                self.remaining = length
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !self.refused else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if case .headers(let headers) = Self.unwrapOutboundIn(data) {
            if self.responseHeadersSent && headers.endStream && !self.statusWritten {
                // The final status is queued: from now on a stall is timed on the shorter clock.
                self.statusWritten = true
                if !context.channel.isWritable { self.startStallTimer(context) }
            }
            self.responseHeadersSent = true
        }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.stallTimer?.cancel()
            self.stallTimer = nil
        } else {
            self.startStallTimer(context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Resets the stream when it stays unwritable: twice the stall time once its final status is queued
    /// (the service gave up; the status cannot get past data the client does not take), four times
    /// otherwise (a handler still writing to a client that reads nothing).
    private func startStallTimer(_ context: ChannelHandlerContext) {
        self.stallTimer?.cancel()
        // Written from here, not the channel's tail: the transport's stream handler above takes only its own parts.
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.stallTimer = context.eventLoop.scheduleTask(in: self.stallTimeout * (self.statusWritten ? 2 : 4)) {
            Counter(label: "bureau_streams_reset_total", dimensions: [("reason", "stalled")]).increment()
            let context = bound.value
            context.writeAndFlush(Self.wrapOutboundOut(.rstStream(.enhanceYourCalm)), promise: nil)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stallTimer?.cancel()
        self.stallTimer = nil
        context.fireChannelInactive()
    }

    private func refuse(_ context: ChannelHandlerContext, length: Int) {
        self.refused = true
        Counter(label: "bureau_requests_refused_total", dimensions: [("reason", "too_large")]).increment()
        var headers = HPACKHeaders()
        if !self.responseHeadersSent {
            headers.add(name: ":status", value: "200")
            headers.add(name: "content-type", value: "application/grpc")
        }
        headers.add(name: "grpc-status", value: "8")
        headers.add(
            name: "grpc-message",
            // Printable ASCII without "%" needs no percent-encoding.
            value: "request message of \(length) bytes is over the limit of \(self.maxRequestBytes) bytes (limits.max_request_bytes)"
        )
        let channel = context.channel
        context.write(Self.wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
        // The client may still be sending: NO_ERROR tells it to stop without undoing the status it has.
        context.writeAndFlush(Self.wrapOutboundOut(.rstStream(.noError))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Admits FollowAccessLog streams up to ``ServerLimits/maxFollowers`` and cuts off one that stalls.
final class FollowerGate: Sendable {
    let maximum: Int
    let stallTimeout: Duration
    private let open = Mutex(0)

    init(limits: ServerLimits) {
        self.maximum = limits.maxFollowers
        self.stallTimeout = limits.stallTimeout
    }

    /// Runs `loop` as one follower: refused with RESOURCE_EXHAUSTED at the limit, and ended with
    /// RESOURCE_EXHAUSTED when one of its writes (through ``Watch/write(_:)``) waits longer than the stall
    /// time, which cancels that write and so frees what the follower holds.
    func follow(_ loop: @escaping @Sendable (Watch) async throws -> Void) async throws {
        let admitted = self.open.withLock { open in
            guard open < self.maximum else { return false }
            open += 1
            return true
        }
        guard admitted else {
            throw BureauError(.resourceExhausted, "at most \(self.maximum) followers at once (limits.max_followers); try again later")
        }
        defer { self.open.withLock { $0 -= 1 } }
        let watch = Watch()
        let stall = self.stallTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await loop(watch) }
            group.addTask {
                while true {
                    try await Task.sleep(for: stall / 4)
                    if watch.isStalled(longerThan: stall) {
                        throw BureauError(
                            .resourceExhausted,
                            "follower cut off: it took no entry for \(stall) (limits.stall_timeout_seconds); follow again from the next index"
                        )
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// When the follower's pending write began, if one is pending.
    final class Watch: Sendable {
        private let pendingSince = Mutex<ContinuousClock.Instant?>(nil)

        /// Runs one write, timed.
        func write(_ body: () async throws -> Void) async throws {
            self.pendingSince.withLock { $0 = .now }
            defer { self.pendingSince.withLock { $0 = nil } }
            try await body()
        }

        func isStalled(longerThan limit: Duration) -> Bool {
            self.pendingSince.withLock { since in since.map { ContinuousClock.now - $0 > limit } ?? false }
        }
    }
}
