public import struct Foundation.Date

/// Which shared parts of an entry its stored bytes name by the index of an earlier compact entry holding
/// the same value inline, instead of holding them (docs/LOG-ENTRY.md). Nil: the part is inline.
public struct LogReferences: Hashable, Sendable {
    /// The entry holding the actor: institution, certificate fingerprint, operator id.
    public var actor: UInt64?
    /// The entry holding the legal basis.
    public var legalBasis: UInt64?
    /// The entry holding the disclosure profile: the disclosure table's version and the disclosed fields.
    public var disclosure: UInt64?

    public init(actor: UInt64? = nil, legalBasis: UInt64? = nil, disclosure: UInt64? = nil) {
        self.actor = actor
        self.legalBasis = legalBasis
        self.disclosure = disclosure
    }

    /// No part is referenced.
    public var isEmpty: Bool { self.actor == nil && self.legalBasis == nil && self.disclosure == nil }
}

/// A part of an entry that many entries share: the first compact entry with a value holds it inline, later
/// ones refer to that entry by index.
public enum LogSharedPart: UInt8, Hashable, Sendable, CaseIterable {
    /// Institution, certificate fingerprint and operator id.
    case actor = 1
    /// The legal basis text.
    case legalBasis = 2
    /// The disclosure table's version and the disclosed fields.
    case disclosure = 3

    /// What the part is called in messages.
    public var label: String {
        switch self {
        case .actor: "actor"
        case .legalBasis: "legal basis"
        case .disclosure: "disclosure profile"
        }
    }
}

/// A reference in an entry that does not lead to an earlier entry holding that part: the entry cannot be read in
/// full, and a log holding it does not verify.
public struct LogReferenceError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}

extension AccessLogEntry {
    /// Whether `part` has a value worth sharing (an empty part is never referred to).
    public func hasShareable(_ part: LogSharedPart) -> Bool {
        switch part {
        case .actor: !(self.institution.isEmpty && self.certificateFingerprint.isEmpty && self.operatorID.isEmpty)
        case .legalBasis: !self.legalBasis.isEmpty
        case .disclosure: !self.disclosedFields.isEmpty
        }
    }

    /// Only the shared parts this entry holds inline and not empty (everything else blank), or nil when it
    /// holds none: what a reader keeps of an entry that later entries may refer to.
    public func heldParts() -> AccessLogEntry? {
        var parts = AccessLogEntry(LogAction(name: ""), by: .bureau(), time: self.time, requestID: "", outcome: self.outcome)
        var any = false
        for part in LogSharedPart.allCases where self.reference(part) == nil && self.hasShareable(part) {
            any = true
            switch part {
            case .actor:
                parts.institution = self.institution
                parts.certificateFingerprint = self.certificateFingerprint
                parts.operatorID = self.operatorID
            case .legalBasis:
                parts.legalBasis = self.legalBasis
            case .disclosure:
                parts.disclosedFields = self.disclosedFields
                parts.disclosureVersion = self.disclosureVersion
            }
        }
        return any ? parts : nil
    }

    /// The part's number and its canonical bytes as an entry holds it inline (after its tag byte 0): the key
    /// under which a store finds the entry that first held the same value.
    public func inlineBytes(of part: LogSharedPart) -> [UInt8] {
        var w = LogEntryCodec.Writer()
        w.byte(part.rawValue)
        w.inline(part, of: self)
        return w.bytes
    }

    /// The index of the entry `part` refers to, or nil when inline.
    public func reference(_ part: LogSharedPart) -> UInt64? {
        switch part {
        case .actor: self.references.actor
        case .legalBasis: self.references.legalBasis
        case .disclosure: self.references.disclosure
        }
    }

    /// Sets `part` to refer to the entry at `index` (nil: inline).
    public mutating func setReference(_ part: LogSharedPart, to index: UInt64?) {
        switch part {
        case .actor: self.references.actor = index
        case .legalBasis: self.references.legalBasis = index
        case .disclosure: self.references.disclosure = index
        }
    }

    /// Fills in each referenced part from the entry it refers to, as `holder` returns it: the compact entry at
    /// that index, or nil when there is none (or it is a JSON entry). The references stay set, so the
    /// canonical bytes do not change.
    ///
    /// A reference resolves when it names a compact entry before `index` (this entry's own index) that holds
    /// that part inline and not empty.
    ///
    /// - Throws: ``LogReferenceError`` naming the entry, the part and the index when a reference does not resolve.
    public mutating func resolveReferences(at index: UInt64, holder: (UInt64) throws -> AccessLogEntry?) throws {
        for part in LogSharedPart.allCases {
            guard let target = self.reference(part) else { continue }
            func unresolved(_ why: String) -> LogReferenceError {
                LogReferenceError("entry \(index) refers to entry \(target) for its \(part.label), which does not resolve: \(why)")
            }
            guard target < index else { throw unresolved("a reference points back to an earlier entry") }
            guard let found = try holder(target), found.reference(part) == nil, found.hasShareable(part) else {
                throw unresolved("no compact entry there holds a \(part.label) of its own")
            }
            switch part {
            case .actor:
                self.institution = found.institution
                self.certificateFingerprint = found.certificateFingerprint
                self.operatorID = found.operatorID
            case .legalBasis:
                self.legalBasis = found.legalBasis
            case .disclosure:
                self.disclosedFields = found.disclosedFields
                self.disclosureVersion = found.disclosureVersion
            }
        }
    }
}

/// The compact canonical encoding of log entries, version 1, specified byte by byte in docs/LOG-ENTRY.md.
///
/// Integers are unsigned LEB128 varints in their shortest form; strings are a varint byte count and UTF-8;
/// a shared part is tag 0 and the part inline, or tag 1 and the varint index of the
/// earlier entry that holds it. Every entry
/// has exactly one encoding: the decoder refuses longer varints, unknown tags or codes, and trailing bytes.
public enum LogEntryCodec {
    /// The version byte of the compact encoding (a JSON entry starts with `{`, 0x7B).
    public static let version: UInt8 = 0x01

    /// Bytes that are not a compact entry.
    public struct Malformed: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String

        public init(_ message: String) {
            self.message = message
        }

        public var description: String { "malformed log entry: \(self.message)" }
    }

    /// The canonical bytes of `entry`, each part in ``AccessLogEntry/references`` by reference.
    public static func encode(_ entry: AccessLogEntry) -> [UInt8] {
        var w = Writer()
        w.byte(version)
        let millis = Int64((entry.time.timeIntervalSince1970 * 1000).rounded())
        w.fixed64(UInt64(bitPattern: millis))
        if let code = entry.action.entryCode {
            w.byte(code)
        } else {
            w.byte(0)
            w.string(entry.action.name)
        }
        w.string(entry.requestID)
        w.part(.actor, of: entry)
        w.varint(UInt64(entry.subjects.count))
        for subject in entry.subjects { w.bytes += subject.bytes }
        w.byte(entry.purpose.map { $0.indexCode + 1 } ?? 0)
        w.string(entry.consentReference)
        w.part(.legalBasis, of: entry)
        w.byte(entry.outcome.indexCode)
        w.string(entry.reason)
        w.part(.disclosure, of: entry)
        w.string(entry.changeDigest)
        return w.bytes
    }

    /// Decodes a compact entry; referenced parts are left empty, their indexes in ``AccessLogEntry/references``.
    public static func decode(_ bytes: [UInt8]) throws(Malformed) -> AccessLogEntry {
        var r = Reader(bytes)
        guard try r.byte("version") == version else { throw Malformed("version byte is not 0x01") }
        let millis = Int64(bitPattern: try r.fixed64("time"))
        let code = try r.byte("action")
        let action: LogAction
        if code == 0 {
            let name = try r.string("action name")
            guard LogAction(name: name).entryCode == nil else { throw Malformed("action \(name) is written by name but has code") }
            action = LogAction(name: name)
        } else {
            guard let coded = LogAction(entryCode: code) else { throw Malformed("unknown action code \(code)") }
            action = coded
        }
        let requestID = try r.string("request id")
        var entry = AccessLogEntry(
            action, by: .bureau(), time: Date(timeIntervalSince1970: Double(millis) / 1000), requestID: requestID, outcome: .applied
        )
        try r.part(.actor, into: &entry)
        let count = try r.varint("subject count")
        guard count <= UInt64(r.remaining / 32) else { throw Malformed("\(count) subjects do not fit the entry") }
        for _ in 0..<count { entry.subjects.append(SubjectKey(bytes: try r.take(32, "subject"))) }
        let purpose = try r.byte("purpose")
        if purpose != 0 {
            guard let p = Purpose(indexCode: purpose - 1) else { throw Malformed("unknown purpose code \(purpose)") }
            entry.purpose = p
        }
        entry.consentReference = try r.string("consent reference")
        try r.part(.legalBasis, into: &entry)
        let outcome = try r.byte("outcome")
        guard let o = Outcome(indexCode: outcome) else { throw Malformed("unknown outcome code \(outcome)") }
        entry.outcome = o
        entry.reason = try r.string("reason")
        try r.part(.disclosure, into: &entry)
        entry.changeDigest = try r.string("change digest")
        guard r.remaining == 0 else { throw Malformed("\(r.remaining) bytes after the last field") }
        return entry
    }

    struct Writer {
        var bytes: [UInt8] = []

        mutating func byte(_ b: UInt8) { self.bytes.append(b) }

        mutating func fixed64(_ v: UInt64) {
            for shift in stride(from: 56, through: 0, by: -8) { self.bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
        }

        mutating func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 {
                self.bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            self.bytes.append(UInt8(v))
        }

        mutating func string(_ s: String) {
            self.varint(UInt64(s.utf8.count))
            // Native strings hand over their UTF-8 in one copy; others are appended code unit by code unit.
            if s.utf8.withContiguousStorageIfAvailable({ self.bytes.append(contentsOf: $0) }) == nil { self.bytes += s.utf8 }
        }

        /// Tag 1 and the holding entry's index, or tag 0 and the part inline.
        mutating func part(_ part: LogSharedPart, of entry: AccessLogEntry) {
            if let index = entry.reference(part) {
                self.byte(1)
                self.varint(index)
            } else {
                self.byte(0)
                self.inline(part, of: entry)
            }
        }

        mutating func inline(_ part: LogSharedPart, of entry: AccessLogEntry) {
            switch part {
            case .actor:
                self.string(entry.institution)
                self.string(entry.certificateFingerprint)
                self.string(entry.operatorID)
            case .legalBasis:
                self.string(entry.legalBasis)
            case .disclosure:
                self.varint(UInt64(entry.disclosureVersion))
                self.varint(UInt64(entry.disclosedFields.count))
                for field in entry.disclosedFields { self.string(field) }
            }
        }
    }

    struct Reader {
        let bytes: [UInt8]
        var at = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var remaining: Int { self.bytes.count - self.at }

        mutating func byte(_ what: String) throws(Malformed) -> UInt8 {
            guard self.at < self.bytes.count else { throw Malformed("ends before the \(what)") }
            defer { self.at += 1 }
            return self.bytes[self.at]
        }

        mutating func take(_ n: Int, _ what: String) throws(Malformed) -> [UInt8] {
            guard n <= self.remaining else { throw Malformed("ends inside the \(what)") }
            defer { self.at += n }
            return Array(self.bytes[self.at..<self.at + n])
        }

        mutating func fixed64(_ what: String) throws(Malformed) -> UInt64 {
            try self.take(8, what).reduce(0) { $0 << 8 | UInt64($1) }
        }

        /// A varint in its shortest form, at most 64 bits.
        mutating func varint(_ what: String) throws(Malformed) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try self.byte(what)
                guard shift < 64, shift < 63 || b <= 1 else { throw Malformed("the \(what) is longer than 64 bits") }
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 {
                    guard b != 0 || shift == 0 else { throw Malformed("the \(what) is not in its shortest form") }
                    return value
                }
                shift += 7
            }
        }

        mutating func string(_ what: String) throws(Malformed) -> String {
            let count = try self.varint(what)
            guard count <= UInt64(self.remaining) else { throw Malformed("ends inside the \(what)") }
            let raw = try self.take(Int(count), what)
            guard let s = String(validating: raw, as: UTF8.self) else { throw Malformed("the \(what) is not UTF-8") }
            return s
        }

        mutating func part(_ part: LogSharedPart, into entry: inout AccessLogEntry) throws(Malformed) {
            switch try self.byte("\(part.label) tag") {
            case 0:
                switch part {
                case .actor:
                    entry.institution = try self.string("institution")
                    entry.certificateFingerprint = try self.string("certificate fingerprint")
                    entry.operatorID = try self.string("operator id")
                case .legalBasis:
                    entry.legalBasis = try self.string("legal basis")
                case .disclosure:
                    let version = try self.varint("disclosure version")
                    guard version <= UInt64(UInt32.max) else { throw Malformed("the disclosure version is over 32 bits") }
                    entry.disclosureVersion = UInt32(version)
                    let count = try self.varint("field count")
                    guard count <= UInt64(self.remaining) else { throw Malformed("\(count) fields do not fit the entry") }
                    for _ in 0..<count { entry.disclosedFields.append(try self.string("disclosed field")) }
                }
            case 1:
                entry.setReference(part, to: try self.varint("\(part.label) reference"))
            case let tag:
                throw Malformed("\(part.label) tag \(tag) is neither 0 (inline) nor 1 (reference)")
            }
        }
    }
}
