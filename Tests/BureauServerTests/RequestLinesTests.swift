import BureauAPI
@testable import BureauServer
import GRPCCore
import InMemoryLogging
import Logging
import Testing

@Suite("bureaud's line per disclosed report: sampled by default, every or off by configuration")
struct RequestLinesTests {
    /// `reports` audited reports served by bureaud's services with `lines`, and the lines bureaud logged.
    static func disclosureLines(_ reports: Int, _ lines: RequestLines?) async throws -> [InMemoryLogHandler.Entry] {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "test-bureaud") { _ in handler }
        logger.logLevel = .trace
        try await InProcessBureau.run(logger: logger, requestLines: lines) { bureau in
            try await bureau.withClient("bank") { client in
                let service = Bureau_ReportService.Client(wrapping: client)
                for _ in 0..<reports {
                    _ = try await service.getIndividualReport(request: ClientRequest(message: individualRequest()), options: fastCall)
                }
            }
        }
        return handler.entries.filter { $0.message.description == "report disclosed" }
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
