import ArgumentParser
import BureauAPI
import BureauClient
import BureauCore
import Foundation
import GRPCCore
import SwiftProtobuf

extension Log {
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Export access-log entries in a time range as JSON Lines or CSV, through OversightService (regulator)."
        )
        @OptionGroup var regulator: RegulatorClientOptions
        @Option(help: "From (ISO 8601, for example 2026-11-01T00:00:00Z).") var from: String?
        @Option(help: "To (ISO 8601).") var to: String?
        @Option(help: "jsonl or csv.") var format = "jsonl"
        @Option(help: "Output file (- for standard output).") var output = "-"

        func run() async throws {
            guard format == "jsonl" || format == "csv" else { throw ValidationError("--format: jsonl or csv") }
            let parser = ISO8601DateFormatter()
            var request = Bureau_QueryAccessLogRequest()
            request.pageSize = 1000
            if let from {
                guard let date = parser.date(from: from) else { throw ValidationError("--from: ISO 8601 date and time") }
                request.from = Google_Protobuf_Timestamp(date: date)
            }
            if let to {
                guard let date = parser.date(from: to) else { throw ValidationError("--to: ISO 8601 date and time") }
                request.to = Google_Protobuf_Timestamp(date: date)
            }
            let handle = try openOutput(output)
            if format == "csv" {
                handle.write(Data((Self.columns.joined(separator: ",") + "\n").utf8))
            }
            let client = regulator.client
            let csv = format == "csv"
            let exported = try await reportCall(client) { grpc -> Int in
                let oversight = Bureau_OversightService.Client(wrapping: grpc)
                let reader = LogEntryReader(oversight: oversight, options: client.callOptions)
                var holders: [UInt64: AccessLogEntry?] = [:]
                let size = try await oversight.getCheckpoint(request: ClientRequest(message: .init()), options: client.callOptions).treeSize
                var bar = ProgressBar(total: Int(size), label: "exporting")
                var count = 0
                var page = request
                while true {
                    let (entries, token) = try await oversight.queryAccessLogPage(page)
                    var text = ""
                    for (logged, entry) in zip(entries, try await reader.resolve(entries, holders: &holders)) {
                        text += csv ? Self.csvLine(logged, entry) : Self.jsonLine(logged, entry)
                    }
                    handle.write(Data(text.utf8))
                    count += entries.count
                    bar.update(Int(token.isEmpty ? size : UInt64(token) ?? size))
                    if token.isEmpty { break }
                    page.pageToken = token
                }
                bar.finish()
                return count
            }
            FileHandle.standardError.write(Data("exported \(exported) entries\n".utf8))
        }

        static let columns = AccessLogExport.columns

        static func jsonLine(_ logged: Bureau_LogEntry, _ e: AccessLogEntry) -> String { AccessLogExport.jsonLine(logged, e) }

        static func csvLine(_ logged: Bureau_LogEntry, _ e: AccessLogEntry) -> String { AccessLogExport.csvLine(logged, e) }
    }
}
