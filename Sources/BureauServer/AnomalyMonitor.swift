public import BureauCore
public import BureauStore
public import Foundation

/// Watches query behaviour: runs ``AnomalyDetector`` over a day of the access log and its baseline, and
/// logs each anomaly the first time it is found (so that the log itself shows what the bureau saw).
public struct AnomalyMonitor: Sendable {
    let store: Store
    let writer: GroupCommitWriter
    let rules: AnomalyRules
    let now: @Sendable () -> Date

    public init(store: Store, writer: GroupCommitWriter, rules: AnomalyRules, now: @escaping @Sendable () -> Date) {
        self.store = store
        self.writer = writer
        self.rules = rules
        self.now = now
    }

    /// The anomalies of `day`, each recorded in the log once.
    public func anomalies(on day: CalendarDate) async throws -> [RecordedAnomaly] {
        let start = Date(timeIntervalSince1970: Double(day.daysSinceEpoch - self.rules.baselineDays) * 86_400)
        let end = Date(timeIntervalSince1970: Double(day.daysSinceEpoch + 1) * 86_400)
        let (entries, hours) = try self.store.read { txn -> ([(index: UInt64, entry: AccessLogEntry)], [String: ClosedRange<Int>]) in
            var entries: [(index: UInt64, entry: AccessLogEntry)] = []
            var next = try txn.firstLogIndex(atOrAfter: start)
            scan: while true {
                let batch = try txn.logEntries(from: next, limit: 1000)
                if batch.isEmpty { break }
                for logged in batch {
                    if logged.entry.time >= end { break scan }
                    entries.append((logged.index, logged.entry))
                    next = logged.index + 1
                }
            }
            var hours: [String: ClosedRange<Int>] = [:]
            for institution in try txn.institutions() {
                if let range = institution.licence.hours { hours[institution.code.value] = range }
            }
            return (entries, hours)
        }
        let found = AnomalyDetector.detect(entries, day: day, rules: self.rules, hours: hours)
        var recorded: [RecordedAnomaly] = []
        let time = self.now()
        for anomaly in found {
            let entry = AccessLogEntry(
                .anomalyDetected, by: .bureau(for: anomaly.institution), time: time, requestID: anomaly.id, outcome: .applied,
                reason: anomaly.evidence
            )
            recorded.append(
                try await self.writer.submit { txn in
                    if let existing = try txn.recordedAnomaly(anomaly.id) { return existing }
                    let record = RecordedAnomaly(anomaly: anomaly, receipt: try txn.appendLog(entry))
                    try txn.putAnomaly(record)
                    return record
                }
            )
        }
        return recorded
    }
}
