public import BureauAPI
public import BureauCore
public import GRPCCore

/// Reads access-log entries as a regulator's tool shows them: decoded (compact or JSON, docs/LOG-ENTRY.md) with
/// each part an entry refers to (actor, legal basis, disclosure profile) filled in from its `log.definition`.
///
/// ```swift
/// let reader = LogEntryReader(oversight: Bureau_OversightService.Client(wrapping: grpc))
/// var definitions: [UInt64: AccessLogEntry] = [:]
/// let entries = try await reader.resolve(page.entries, definitions: &definitions)
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
    /// every referenced part filled in from its `log.definition` entry: from `definitions` (indexes to entries
    /// decoded before, which it adds to), else fetched with `GetEntries`. Reading only: ``LogVerifier/verifyEntries(of:progress:)``
    /// is what proves entries against a signed root.
    ///
    /// - Throws: ``LogReferenceError`` when a reference does not resolve; ``LogEntryCodec/Malformed`` (or a JSON
    ///   decoding error) when bytes are not an entry; RPC errors.
    public func resolve(_ entries: [Bureau_LogEntry], definitions: inout [UInt64: AccessLogEntry]) async throws -> [AccessLogEntry] {
        var out: [AccessLogEntry] = []
        for logged in entries {
            var entry = try AccessLogEntry(canonicalBytes: Array(logged.canonical))
            for part in LogSharedPart.allCases {
                guard let target = entry.reference(part), target < logged.index, definitions[target] == nil else { continue }
                var request = Bureau_GetEntriesRequest()
                request.start = target
                request.count = 1
                let page = try await self.oversight.getEntries(request: ClientRequest(message: request), options: self.options)
                if let found = page.entries.first, found.index == target {
                    definitions[target] = try AccessLogEntry(canonicalBytes: Array(found.canonical))
                }
            }
            let known = definitions
            try entry.resolveReferences(at: logged.index) { known[$0] }
            if entry.action == .logDefinition { definitions[logged.index] = entry }
            out.append(entry)
        }
        return out
    }

}
