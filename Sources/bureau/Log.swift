import ArgumentParser
import BureauCore
import BureauStore
import BureauLMDB
import Foundation

struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the access log.",
        subcommands: [Tail.self, VerifierKey.self, Prove.self, Verify.self, Export.self]
    )

    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the most recent access-log entries, oldest first.")
        @OptionGroup var data: DataOptions
        @Option(name: [.customShort("n"), .long], help: "How many entries.") var count = 20
        @Flag(help: "Print each entry's canonical JSON.") var json = false

        func run() throws {
            let store = try data.open()
            let entries = try store.read { txn -> [LoggedEntry] in
                let size = try txn.logSize()
                guard size > 0 else { return [] }
                return try txn.logEntries(from: size - 1, limit: count, reverse: true).reversed()
            }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            for logged in entries {
                if json {
                    print(String(decoding: logged.bytes, as: UTF8.self))
                    continue
                }
                let e = logged.entry
                var line = "#\(logged.index) \(formatter.string(from: e.time)) \(e.action) by \(e.institution.isEmpty ? "-" : e.institution)"
                if let purpose = e.purpose { line += " for \(purpose.rawValue)" }
                line += " -> \(e.outcome.rawValue)"
                if !e.reason.isEmpty { line += " (\(e.reason))" }
                if !e.subjects.isEmpty { line += " subjects \(e.subjects.map { String($0.hex.prefix(12)) }.joined(separator: ","))" }
                if !e.requestID.isEmpty { line += " request \(e.requestID)" }
                line += " leaf \(logged.leafHash.hexString.prefix(16))"
                print(line)
            }
            if entries.isEmpty { print("the access log in \(data.data) is empty") }
        }
    }
}
