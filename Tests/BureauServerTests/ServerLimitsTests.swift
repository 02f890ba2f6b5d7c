import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The limits of ``ServerLimits`` met over real sockets on 127.0.0.1, with small values so that nothing
/// waits long. (Concurrent streams, request size, idle and handshake timeouts and cipher suites are met
/// by stock clients in Tests/interop/test_limits.py.)
@Suite("Server limits over real sockets", .serialized)
struct ServerLimitsTests {
    /// A TCP connection to the daemon that sends nothing.
    final class RawConnection {
        private(set) var fd: Int32

        init(port: Int) throws {
            self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw BureauError(.unavailable, "connect failed: \(errno)") }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { self.close() }

        func close() {
            if self.fd >= 0 { _ = Glibc.close(self.fd) }
            self.fd = -1
        }

        /// Waits (at most five seconds) for the server to close: true when it did, false on the timeout.
        func closedByServer() -> Bool {
            var byte: UInt8 = 0
            let n = recv(self.fd, &byte, 1, 0)
            return n == 0 || (n < 0 && errno == ECONNRESET)
        }
    }

    @Test("a connection over limits.max_connections is closed at accept; one frees a place for a good client")
    func connectionCap() async throws {
        let limits = ServerLimits(handshakeTimeout: .seconds(30), maxConnections: 2)
        try await TestBureau.run(limits: limits) { bureau in
            let held = [try RawConnection(port: bureau.port), try RawConnection(port: bureau.port)]
            // The third is closed at once, long before the handshake timeout.
            let start = ContinuousClock.now
            let third = try RawConnection(port: bureau.port)
            #expect(third.closedByServer())
            #expect(ContinuousClock.now - start < .seconds(3))
            // A good client is refused too while both places are taken...
            let refused = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
                }
            }
            #expect(refused?.code == .unavailable)
            // ...and served once one of them goes.
            held[0].close()
            var served = false
            for _ in 0..<40 where !served {
                served = (try? await bureau.withClient("bank") { client in
                    try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
                }) != nil
                if !served { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(served)
            withExtendedLifetime(held) {}
        }
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        var isSet: Bool { self.value.withLock { $0 } }
        func set() { self.value.withLock { $0 = true } }
    }

    /// Appends `count` log entries directly, so that a follower has far more to read than buffers hold.
    static func fillLog(_ store: Store, count: Int) throws {
        try store.write { txn in
            for n in 0..<count {
                _ = try txn.appendLog(
                    AccessLogEntry(
                        .furnishSubmit,
                        by: LogActor(institution: DemoData.bank.value, certificateFingerprint: String(repeating: "ab", count: 32), operatorID: ""),
                        time: Date(), requestID: "fill-\(n)", outcome: .applied, reason: String(repeating: "x", count: 4000)
                    )
                )
            }
        }
    }

    @Test("followers are capped, and one that reads nothing is cut off and frees its place")
    func followers() async throws {
        // 1.5 s: long enough that a second client's TLS handshake on a loaded machine comes in while the first
        // follower still holds its place (at 0.5 s it failed now and then under load).
        let limits = ServerLimits(maxFollowers: 1, stallTimeout: .milliseconds(1500))
        // About 24 MB of entries (4 KB each, compact): more than the client's 8 MiB window and every buffer between.
        try await TestBureau.run(prepare: { try Self.fillLog($0, count: 6000) }, limits: limits) { bureau in
            let firstRead = Flag()
            try await bureau.withClient("regulator") { regulator in
                try await bureau.withClient("regulator") { warm in
                    // The second connection is up (handshake done) before the first follower starts.
                    _ = try await Grpc_Health_V1_Health.Client(wrapping: warm).check(request: ClientRequest(message: .init()), options: fastCall)
                    try await withThrowingTaskGroup(of: RPCError?.self) { group in
                        // A follower that takes one entry, reads nothing for six seconds, then reads to the end.
                        group.addTask {
                            // A deadline, so that a follower the server fails to cut off ends the test with a failure
                            // instead of following forever.
                            var options = CallOptions.defaults
                            options.timeout = .seconds(30)
                            return await rpcError {
                                try await Bureau_OversightService.Client(wrapping: regulator).followAccessLog(request: ClientRequest(message: .init()), options: options) { response in
                                    for try await _ in response.messages {
                                        if firstRead.isSet { continue }
                                        firstRead.set()
                                        try await Task.sleep(for: .seconds(6))
                                    }
                                }
                            }
                        }
                        let waiting = ContinuousClock.now
                        while !firstRead.isSet && ContinuousClock.now - waiting < .seconds(30) { try await Task.sleep(for: .milliseconds(20)) }
                        try #require(firstRead.isSet, "the first follower never received an entry")

                        // While it holds the only place, a second follower is refused naming the limit. Over a connection
                        // made before the first follower began (the second client's TLS handshake on a loaded machine
                        // could otherwise outlast the stall time).
                        let second = await rpcError {
                            try await Bureau_OversightService.Client(wrapping: warm).followAccessLog(request: ClientRequest(message: .init())) { response in
                                for try await _ in response.messages { break }
                            }
                        }
                        #expect(second?.code == .resourceExhausted)
                        #expect(second?.message.contains("limits.max_followers") == true)

                        // Once it has stalled for the stall time, it is cut off and a new follower gets in.
                        let start = ContinuousClock.now
                        var admitted = false
                        while !admitted && ContinuousClock.now - start < .seconds(5) {
                            try await Task.sleep(for: .milliseconds(100))
                            admitted = try await bureau.withClient("regulator") { other in
                                await rpcError {
                                    try await Bureau_OversightService.Client(wrapping: other).followAccessLog(request: ClientRequest(message: .init())) { response in
                                        for try await _ in response.messages { break }
                                    }
                                } == nil
                            }
                        }
                        #expect(admitted, "the stalled follower still holds its place")

                        // The stalled one, asleep past twice the stall time after its status, had its stream reset with
                        // ENHANCE_YOUR_CALM (grpcio reports RESOURCE_EXHAUSTED, grpc-swift UNAVAILABLE naming the
                        // frame); had it read again sooner it would have had RESOURCE_EXHAUSTED naming the limit.
                        let stalled = try #require(try await group.next() ?? nil)
                        #expect(
                            stalled.code == .resourceExhausted || stalled.message.contains("enhance your calm"), "\(stalled)"
                        )
                    }
                }
            }
        }
    }

    @Test("a slow follower that reads again after the stall time gets RESOURCE_EXHAUSTED naming the limit")
    func slowFollower() async throws {
        let limits = ServerLimits(maxFollowers: 1, stallTimeout: .seconds(2))
        // About 54 MB of entries: grpc-swift's client takes some 20 MB before the server's writes wait.
        try await TestBureau.run(mapSize: 512 << 20, prepare: { try Self.fillLog($0, count: 12000) }, limits: limits) { bureau in
            let firstRead = Flag()
            let resume = Flag()
            let options = { var options = CallOptions.defaults; options.timeout = .seconds(20); return options }()
            try await bureau.withClient("regulator") { regulator in
                try await withThrowingTaskGroup(of: RPCError?.self) { group in
                    group.addTask {
                        await rpcError {
                            try await Bureau_OversightService.Client(wrapping: regulator).followAccessLog(
                                request: ClientRequest(message: .init()), options: options
                            ) { response in
                                for try await _ in response.messages where !firstRead.isSet {
                                    firstRead.set()
                                    while !resume.isSet { try await Task.sleep(for: .milliseconds(20)) }
                                }
                            }
                        }
                    }
                    let waiting = ContinuousClock.now
                    while !firstRead.isSet && ContinuousClock.now - waiting < .seconds(30) { try await Task.sleep(for: .milliseconds(20)) }
                    try #require(firstRead.isSet, "the follower never received an entry")
                    // Its place frees when the server cuts it off (after 2 to 2.5 s of stall); it then reads
                    // again, well before the stream would be reset (4 s after the status).
                    let start = ContinuousClock.now
                    var admitted = false
                    while !admitted && ContinuousClock.now - start < .seconds(8) {
                        try await Task.sleep(for: .milliseconds(100))
                        admitted = try await bureau.withClient("regulator") { other in
                            await rpcError {
                                try await Bureau_OversightService.Client(wrapping: other).followAccessLog(
                                    request: ClientRequest(message: .init()), options: options
                                ) { response in
                                    for try await _ in response.messages { break }
                                }
                            } == nil
                        }
                    }
                    resume.set()
                    #expect(admitted, "the slow follower was never cut off")
                    let error = try #require(try await group.next() ?? nil)
                    #expect(error.code == .resourceExhausted)
                    #expect(error.message.contains("limits.stall_timeout_seconds"), "\(error)")
                }
            }
        }
    }
}
