import BureauCore
import Crypto
import Foundation
import Testing

@Suite("Anomaly rules")
struct AnomalyTests {
    static let day = CalendarDate(year: 2026, month: 11, day: 23)!

    static func report(_ n: Int, day offset: Int = 0, hour: Int = 10, institution: String = "A", outcome: Outcome = .hit,
                       consent: String = "", subject: String = "s") -> (index: UInt64, entry: AccessLogEntry) {
        let seconds = Double(day.daysSinceEpoch + offset) * 86_400 + Double(hour) * 3600 + Double(n % 3000)
        return (UInt64(n), AccessLogEntry(.report(.individual), by: .bureau(for: institution), time: Date(timeIntervalSince1970: seconds),
                                          requestID: "r\(n)", subjects: [SubjectKey(bytes: Array(SHA256.hash(data: Array(subject.utf8))))],
                                          purpose: .loanOrigination, consentReference: consent, outcome: outcome))
    }

    @Test("a day far above the institution's own baseline is a volume spike")
    func spike() {
        var entries = (0..<70).map { Self.report($0, day: -1 - $0 % 7) }  // 10 a day over 7 days
        entries += (100..<250).map { Self.report($0) }                        // 150 today
        let found = AnomalyDetector.detect(entries, day: Self.day, rules: .defaults)
        #expect(found.map(\.kind) == [.volumeSpike])
        #expect(found.first?.evidence.contains("150 report requests") == true)
        let calm = AnomalyDetector.detect((0..<70).map { Self.report($0, day: -1 - $0 % 7) } + (100..<130).map { Self.report($0) },
                                          day: Self.day, rules: .defaults)
        #expect(calm.isEmpty)
    }

    @Test("many denials are a denial-ratio anomaly")
    func denials() {
        let entries = (0..<30).map { Self.report($0, outcome: $0 < 15 ? .denied : .hit) }
        #expect(AnomalyDetector.detect(entries, day: Self.day, rules: .defaults).map(\.kind) == [.denialRatio])
    }

    @Test("one consent quoted for several subjects is consent reuse")
    func consentReuse() {
        let entries = (0..<3).map { Self.report($0, consent: "C-1", subject: "s\($0)") }
        let found = AnomalyDetector.detect(entries, day: Self.day, rules: .defaults)
        #expect(found.map(\.kind) == [.consentReuse])
        #expect(found.first?.evidence.contains("3 different subjects") == true)
    }

    @Test("queries outside the licensed hours are flagged")
    func hours() {
        let entries = [Self.report(0, hour: 3), Self.report(1, hour: 12)]
        let found = AnomalyDetector.detect(entries, day: Self.day, rules: .defaults, hours: ["A": 8...20])
        #expect(found.map(\.kind) == [.outsideHours])
        #expect(found.first?.entries == [0])
    }
}
