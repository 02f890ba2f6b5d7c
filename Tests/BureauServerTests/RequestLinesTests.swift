import BureauAPI
import BureauCore
@testable import BureauServer
import GRPCCore
import GRPCInProcessTransport
import InMemoryLogging
import Logging
import Testing

@Suite("bureaud's line per answered report: sampled by default, every or off by configuration")
struct RequestLinesTests {
    /// The lines with `message` that bureaud, with `lines`, logged while the bank's `calls` were served.
    static func logged(
        _ message: String, _ lines: RequestLines?,
        _ calls: (Bureau_ReportService.Client<InProcessTransport.Client>) async throws -> Void
    ) async throws -> [InMemoryLogHandler.Entry] {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "test-bureaud") { _ in handler }
        logger.logLevel = .trace
        try await InProcessBureau.run(logger: logger, requestLines: lines) { bureau in
            try await bureau.withClient("bank") { client in try await calls(Bureau_ReportService.Client(wrapping: client)) }
        }
        return handler.entries.filter { $0.message.description == message }
    }

    /// `reports` audited reports served by bureaud's services with `lines`, and the lines bureaud logged.
    static func disclosureLines(_ reports: Int, _ lines: RequestLines?) async throws -> [InMemoryLogHandler.Entry] {
        try await Self.logged("report disclosed", lines) { service in
            for _ in 0..<reports {
                _ = try await service.getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
            }
        }
    }

    @Test("by default one disclosed report in 1,000 gets a line (the first), saying it is sampled")
    func sampledByDefault() async throws {
        #expect(RequestLines.defaults.oneIn == 1000)
        let lines = try await Self.disclosureLines(5, nil)
        #expect(lines.count == 1)
        #expect(lines.first?.metadata["sampled"] == "1 in 1000")
    }

    @Test("every: each disclosed report gets its line; off: none does")
    func everyOrOff() async throws {
        #expect(try await Self.disclosureLines(3, .every).count == 3)
        #expect(try await Self.disclosureLines(3, .off).isEmpty)
    }

    @Test("a no-hit is an answer: its line is sampled as a disclosed report's is; every denial gets its line")
    func noHitsSampled() async throws {
        // Nobody on file under this identifier: post-loan management asks no consent, so each is a logged no-hit.
        let nobody = try ResidentIdentityNumber.make(region: "110105", birthDate: CalendarDate(year: 1980, month: 5, day: 17)!, sequence: 321)
        let absent = individualRequest(nobody.value, purpose: .postLoanManagement)
        // The bank holds no court's role: each is denied.
        let denied = individualRequest(purpose: .courtOrder)
        func refusals(_ lines: RequestLines?) async throws -> [InMemoryLogHandler.Entry] {
            try await Self.logged("report refused", lines) { service in
                for request in [absent, absent, denied, absent, denied] {
                    let error = await rpcError { _ = try await service.getIndividualReport(request: ClientRequest(message: request), options: fastCall) }
                    #expect(error?.code == (request.purpose == .courtOrder ? .permissionDenied : .notFound))
                }
            }
        }
        let sampled = try await refusals(nil)
        #expect(sampled.map { $0.metadata["outcome"] } == ["no-hit", "denied", "denied"])
        #expect(sampled.first?.metadata["sampled"] == "1 in 1000")
        #expect(sampled.dropFirst().allSatisfy { $0.metadata["sampled"] == nil })
        #expect(try await refusals(.every).map { $0.metadata["outcome"] } == ["no-hit", "no-hit", "denied", "no-hit", "denied"])
        #expect(try await refusals(.off).map { $0.metadata["outcome"] } == ["denied", "denied"])
    }

    @Test("the setting reads off, every or a whole number N (one in N), and nothing else")
    func parsing() {
        #expect(RequestLines("off") == .off)
        #expect(RequestLines("every") == .every)
        #expect(RequestLines("250")?.oneIn == 250)
        #expect(RequestLines("0") == .off)
        #expect(RequestLines("1") == .every)
        for bad in ["", "-1", "sometimes", "1e3", "1000000001"] {
            #expect(RequestLines(bad) == nil, "accepted \(bad)")
        }
    }
}

@Suite("Metric handles are made once per label set")
struct MetricHandlesTests {
    @Test("the same label set gives the same handle; another set another; past the limit nothing more is kept")
    func reused() {
        let handles = MetricHandles()
        let a = handles.counter("bureau_requests_total", [("method", "a"), ("status", "ok")])
        #expect(handles.counter("bureau_requests_total", [("method", "a"), ("status", "ok")]) === a)
        #expect(handles.counter("bureau_requests_total", [("method", "a"), ("status", "error")]) !== a)
        let timer = handles.timer("bureau_request_duration_seconds", [("method", "a")])
        #expect(handles.timer("bureau_request_duration_seconds", [("method", "a")]) === timer)
        #expect(handles.count == 3)
        for n in 0..<(MetricHandles.limit + 10) { _ = handles.counter("bureau_requests_total", [("method", "\(n)")]) }
        #expect(handles.count == MetricHandles.limit + 1)
    }
}
