import BureauAPI
import BureauCore
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2
import Testing

/// Appends `count` entries of about `bytes` bytes each straight into the log, as many large batches would.
func appendLargeEntries(_ count: Int, bytes: Int, to store: Store) throws {
    try store.write { txn in
        for n in 0..<count {
            let subjects = (0..<(bytes / 32)).map { SubjectKey(hex: String(format: "%064x", n * 1_000_000 + $0))! }
            _ = try txn.appendLog(
                AccessLogEntry(
                    .furnishSubmit, by: LogActor(institution: "91110000100000016D", certificateFingerprint: "ab", operatorID: ""),
                    time: Date(), requestID: "batch-\(n)", subjects: subjects, outcome: .applied
                )
            )
        }
    }
}

@Suite("Log pages within the message limit", .serialized)
struct LogPagingTests {
    /// 24 entries of about 200 kB: about 4.8 MB, more than a 4 MiB message.
    static let largeEntries = 24
    static let entryBytes = 200_000

    @Test("GetEntries answers a page of large entries within the message limit, and the pages make up the whole log")
    func getEntriesPagesByBytes() async throws {
        try await InProcessBureau.run(prepare: { try appendLargeEntries(Self.largeEntries, bytes: Self.entryBytes, to: $0) }) { bureau in
            let size = try bureau.store.read { try $0.logSize() }
            try await bureau.withClient("regulator") { client in
                let oversight = Bureau_OversightService.Client(wrapping: client)
                var next: UInt64 = 0
                var pages = 0
                while next < size {
                    var request = Bureau_GetEntriesRequest()
                    request.start = next
                    request.count = 1000
                    let page = try await oversight.getEntries(request: ClientRequest(message: request), options: fastCall)
                    try #require(!page.entries.isEmpty)
                    #expect(page.entries.reduce(0) { $0 + $1.canonical.count } < 4 << 20)
                    for entry in page.entries {
                        #expect(entry.index == next)
                        #expect(Array(entry.leafHash) == Merkle.leafHash(Array(entry.canonical)))
                        next += 1
                    }
                    pages += 1
                }
                #expect(pages > 1)
                #expect(next == size)
            }
        }
    }

    @Test("QueryAccessLog streams large entries in messages within the limit")
    func queryAccessLogPagesByBytes() async throws {
        try await InProcessBureau.run(prepare: { try appendLargeEntries(Self.largeEntries, bytes: Self.entryBytes, to: $0) }) { bureau in
            let size = try bureau.store.read { try $0.logSize() }
            let seen = try await bureau.withClient("regulator") { client in
                var request = Bureau_QueryAccessLogRequest()
                request.pageSize = 1000
                return try await Bureau_OversightService.Client(wrapping: client).queryAccessLog(request: ClientRequest(message: request), options: fastCall) { response in
                    var indexes: [UInt64] = []
                    for try await message in response.messages {
                        #expect(message.entries.reduce(0) { $0 + $1.canonical.count } < 4 << 20)
                        indexes += message.entries.map(\.index)
                    }
                    return indexes
                }
            }
            #expect(seen == Array(0..<size))
        }
    }
}
