/// The shared parts (actor, legal basis, disclosure profile) that compact entries of one log hold inline, by the
/// entry's index: what a reader that reads the log in order keeps so that every later entry's references
/// resolve against entries it has read itself (docs/LOG-ENTRY.md, "References"). Few entries hold parts: one per
/// distinct actor, legal basis and profile.
///
/// ```swift
/// var holders = LogPartHolders()
/// for (index, bytes) in entries { let entry = try holders.read(bytes, at: index) }
/// ```
public struct LogPartHolders: Sendable, Hashable {
    private var held: [UInt64: AccessLogEntry] = [:]

    public init() {}

    /// How many entries hold a part.
    public var count: Int { self.held.count }

    /// The entry `bytes` encode at `index`, with each part it refers to filled in from the entries read before;
    /// it keeps nothing.
    ///
    /// - Throws: ``LogEntryCodec/Malformed`` (or a JSON decoding error) when the bytes are not an entry;
    ///   ``LogReferenceError`` when a reference does not resolve to an entry read before that holds the part.
    public func resolve(_ bytes: [UInt8], at index: UInt64) throws -> AccessLogEntry {
        var entry = try AccessLogEntry(canonicalBytes: bytes)
        try entry.resolveReferences(at: index) { self.held[$0] }
        return entry
    }

    /// Reads the next entry of the log: ``resolve(_:at:)``, then keeps the parts it holds inline (a compact entry's
    /// only) for the entries after it.
    public mutating func read(_ bytes: [UInt8], at index: UInt64) throws -> AccessLogEntry {
        let entry = try self.resolve(bytes, at: index)
        if bytes.first == LogEntryCodec.version, let parts = entry.heldParts() { self.held[index] = parts }
        return entry
    }
}
