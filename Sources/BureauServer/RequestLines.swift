import Synchronization

/// How many answered report requests, disclosed reports and no-hits, get a line of their own in bureaud's log
/// (`request_lines` in the configuration file, `--request-lines` on the command line).
///
/// Every request is in the access log already, durably and verifiably; a line on stderr for each one
/// repeats it at the cost of a synchronous write per request (stderr is unbuffered). So by default one
/// answer in ``defaults`` (1,000) is logged, which shows that reports flow without costing anything
/// measurable; `every` logs each, `off` none. A no-hit (nobody on file under the identifier) is an answer
/// as common as thin files are, and is sampled the same way. Denials, frozen files and errors are always
/// logged: they are rare and the operator must see them.
public struct RequestLines: Sendable, Equatable, CustomStringConvertible {
    /// One answered report in `oneIn` is logged; 0 logs none, 1 logs each.
    public let oneIn: Int

    /// A line for one answered report in `oneIn` (1 for each, 0 for none).
    public init(oneIn: Int) {
        self.oneIn = max(0, oneIn)
    }

    /// No line for answered reports.
    public static let off = RequestLines(oneIn: 0)
    /// A line for every answered report.
    public static let every = RequestLines(oneIn: 1)
    /// One answered report in 1,000.
    public static let defaults = RequestLines(oneIn: 1000)

    /// Parses `off`, `every` or a whole number N (one in N; 0 is off, 1 is every).
    public init?(_ text: String) {
        switch text {
        case "off": self = .off
        case "every": self = .every
        default:
            guard let n = Int(text), (0...1_000_000_000).contains(n) else { return nil }
            self.init(oneIn: n)
        }
    }

    public var description: String {
        switch self.oneIn {
        case 0: "off"
        case 1: "every"
        default: "1 in \(self.oneIn)"
        }
    }
}

/// Decides, request by request, whether an answered report (disclosed or no-hit) gets its line: one lock-free increment.
final class RequestLineSampler: Sendable {
    let lines: RequestLines
    private let seen = Atomic<Int>(0)

    init(_ lines: RequestLines) {
        self.lines = lines
    }

    /// Whether this request is the one in ``RequestLines/oneIn`` to log (the first request is).
    func sample() -> Bool {
        switch self.lines.oneIn {
        case 0: return false
        case 1: return true
        case let n: return self.seen.add(1, ordering: .relaxed).oldValue % n == 0
        }
    }
}
