public import BureauAPI
public import BureauCore
public import GRPCCore

/// Reads access-log entries as a regulator's tool shows them: decoded (compact or JSON, docs/LOG-ENTRY.md) with
/// each part an entry refers to (actor, legal basis, disclosure profile) filled in from the earlier entry holding it.
///
/// ```swift
/// let reader = LogEntryReader(oversight: Bureau_OversightService.Client(wrapping: grpc))
/// var holders: [UInt64: AccessLogEntry?] = [:]
/// let entries = try await reader.resolve(page.entries, holders: &holders)
/// ```
public struct LogEntryReader<Client: Bureau_OversightService.ClientProtocol>: Sendable {
    /// The oversight service the entries come from.
    public let oversight: Client
    public let options: CallOptions

    public init(oversight: Client, options: CallOptions = .defaults) {
        self.oversight = oversight
        self.options = options
    }

    /// Decodes `entries` as the server sent them (from `GetEntries`, `QueryAccessLog` or `FollowAccessLog`) with
    /// every referenced part filled in from the compact entry that holds it: from `holders` (entries decoded
    /// before by index, nil for one that holds nothing; it adds to them), else fetched with `GetEntries`. Reading
    /// only: ``LogVerifier/verifyEntries(of:progress:)`` is what proves entries against a signed root.
    ///
    /// - Throws: ``LogReferenceError`` when a reference does not resolve; ``LogEntryCodec/Malformed`` (or a JSON
    ///   decoding error) when bytes are not an entry; RPC errors.
    public func resolve(_ entries: [Bureau_LogEntry], holders: inout [UInt64: AccessLogEntry?]) async throws -> [AccessLogEntry] {
        var out: [AccessLogEntry] = []
        for logged in entries {
            let bytes = Array(logged.canonical)
            var entry = try AccessLogEntry(canonicalBytes: bytes)
            for part in LogSharedPart.allCases {
                guard let target = entry.reference(part), target < logged.index, holders[target] == nil else { continue }
                var request = Bureau_GetEntriesRequest()
                request.start = target
                request.count = 1
                let page = try await self.oversight.getEntries(request: ClientRequest(message: request), options: self.options)
                let found = page.entries.first.flatMap { $0.index == target ? Array($0.canonical) : nil }
                holders[target] = try found.flatMap { $0.first == LogEntryCodec.version ? try AccessLogEntry(canonicalBytes: $0).heldParts() : nil }
            }
            let known = holders
            try entry.resolveReferences(at: logged.index) { known[$0] ?? nil }
            if bytes.first == LogEntryCodec.version { holders[logged.index] = entry.heldParts() }
            out.append(entry)
        }
        return out
    }
}
