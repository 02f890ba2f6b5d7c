public import BureauAPI
public import BureauCore
public import GRPCCore
import Foundation

extension Bureau_LogEntry {
    /// The leaf hash of the entry's bytes, computed here (never the server's word for it).
    public var computedLeafHash: [UInt8] { Merkle.leafHash(Array(self.canonical)) }
}

/// Access-log entries as exported by `bureau log export` and the regulator's console: CSV (escaped against
/// formula injection) or JSON Lines.
public enum AccessLogExport {
    /// The CSV header's columns.
    public static let columns = [
        "index", "time", "action", "institution", "operator_id", "subjects", "purpose", "consent_reference",
        "outcome", "reason", "disclosed_fields", "disclosure_version", "change_sha256", "leaf_hash",
    ]

    /// The CSV header line.
    public static var csvHeader: String { CSV.line(columns) }

    /// One entry as a CSV line (with its LF), from the entry with its references resolved
    /// (``LogEntryReader``).
    public static func csvLine(_ logged: Bureau_LogEntry, _ e: AccessLogEntry) -> String {
        let time = ISO8601DateFormatter().string(from: e.time)
        return CSV.line([
            String(logged.index), time, e.action.name, e.institution, e.operatorID, e.subjects.map(\.hex).joined(separator: " "),
            e.purpose?.rawValue ?? "", e.consentReference, e.outcome.rawValue, e.reason, e.disclosedFields.joined(separator: " "),
            String(e.disclosureVersion), e.changeDigest, Array(logged.leafHash).hexString,
        ])
    }

    /// One entry as a JSON Lines line (with its LF), from the entry with its references resolved: its JSON form
    /// (version 0, every part filled in) with its index and leaf hash first.
    public static func jsonLine(_ logged: Bureau_LogEntry, _ e: AccessLogEntry) -> String {
        let json = String(decoding: e.jsonBytes(), as: UTF8.self)
        return "{\"index\":\(logged.index),\"leaf_hash\":\"\(Array(logged.leafHash).hexString)\"," + json.dropFirst() + "\n"
    }
}

extension Bureau_OversightService.Client {
    /// One page of `QueryAccessLog`: the entries of every part the server streamed, in order, and the token of
    /// the next page ("" when this one is the last).
    public func queryAccessLogPage(
        _ request: Bureau_QueryAccessLogRequest, options: CallOptions = .defaults
    ) async throws -> (entries: [Bureau_LogEntry], next: String) {
        try await self.queryAccessLog(request: ClientRequest(message: request), options: options) { response in
            var entries: [Bureau_LogEntry] = []
            var token = ""
            for try await part in response.messages {
                entries += part.entries
                if !part.nextPageToken.isEmpty { token = part.nextPageToken }
            }
            return (entries, token)
        }
    }
}
