import BureauCore
import Foundation
import Testing

@Suite("Compact log entries (docs/LOG-ENTRY.md)")
struct LogEntryCodecTests {
    /// The report of the document's golden vector, every part inline.
    static let report = AccessLogEntry(
        .report(.individual), by: LogActor(institution: "91110000100000016D", certificateFingerprint: String(repeating: "ab", count: 32), operatorID: ""),
        time: Date(timeIntervalSince1970: 1_800_000_000), requestID: "r-1", subjects: [SubjectKey(bytes: Array(repeating: 7, count: 32))],
        purpose: .postLoanManagement, legalBasis: Purpose.postLoanManagement.legalBasis, outcome: .hit,
        disclosedFields: ["identity.name:masked", "accounts.balance:shown"], disclosureVersion: 3
    )

    /// Golden vector 1 of docs/LOG-ENTRY.md: the report as the first entry with its actor, legal basis and
    /// disclosure profile, every part inline (the legal basis is 127 bytes, its length one varint byte).
    static let goldenInlineHex =
        "01000001a3185c50000103722d31001239313131303030303130303030303031364440616261626162616261626162616261" +
        "6261626162616261626162616261626162616261626162616261626162616261626162616261626162616261626162616200" +
        "0107070707070707070707070707070707070707070707070707070707070707070300007f526567756c6174696f6e206f6e" +
        "207468652041646d696e697374726174696f6e206f6620437265646974205265706f7274696e6720496e6475737472792c20" +
        "6172742e2031383a20706f73742d6c6f616e206d616e6167656d656e74206f6620616e206578697374696e67206372656469" +
        "742072656c6174696f6e736869700000000302146964656e746974792e6e616d653a6d61736b6564166163636f756e74732e" +
        "62616c616e63653a73686f776e00"
    /// Golden vector 2: a later report referring to entry 1 for its actor, 2 for its legal basis and 3 for its
    /// disclosure profile.
    static let goldenReportHex =
        "01000001a3185c50000103722d310101010707070707070707070707070707070707070707070707070707070707070707030001020000010300"

    @Test("a report holding its parts inline encodes to the documented bytes and back")
    func goldenInline() throws {
        let bytes = Self.report.canonicalBytes()
        #expect(bytes.hexString == Self.goldenInlineHex)
        #expect(bytes.count == 314)
        #expect(try AccessLogEntry(canonicalBytes: bytes) == Self.report)
    }

    @Test("a report referring to earlier entries for its parts encodes to the documented bytes and back")
    func goldenReport() throws {
        var entry = Self.report
        entry.references = LogReferences(actor: 1, legalBasis: 2, disclosure: 3)
        let bytes = entry.canonicalBytes()
        #expect(bytes.hexString == Self.goldenReportHex)
        #expect(bytes.count == 58)
        let decoded = try AccessLogEntry(canonicalBytes: bytes)
        #expect(decoded.references == entry.references)
        #expect(decoded.institution.isEmpty && decoded.legalBasis.isEmpty && decoded.disclosedFields.isEmpty, "referenced parts are not in the bytes")
        #expect(decoded.canonicalBytes() == bytes)
    }

    @Test("every field round-trips, inline or by reference, and resolving restores the inline entry's fields")
    func roundTrip() throws {
        var full = Self.report
        full.consentReference = "c-17"
        full.reason = "所有 fields"
        full.changeDigest = String(repeating: "cd", count: 32)
        full.subjects.append(SubjectKey(bytes: Array(repeating: 9, count: 32)))
        full.operatorID = "op-1"
        let inline = full.canonicalBytes()
        #expect(try AccessLogEntry(canonicalBytes: inline) == full)
        let refused = AccessLogEntry(.refusedCall("bureau.v1.SubjectService/PlaceFreeze"), by: .bureau(), time: full.time, requestID: "", outcome: .denied)
        #expect(try AccessLogEntry(canonicalBytes: refused.canonicalBytes()).action.name == "bureau.v1.SubjectService/PlaceFreeze")

        let holder = full.heldParts()
        var referring = full
        referring.references = LogReferences(actor: 1, legalBasis: 2, disclosure: 3)
        var read = try AccessLogEntry(canonicalBytes: referring.canonicalBytes())
        try read.resolveReferences(at: 10) { $0 < 4 ? holder : nil }
        #expect(read == referring)
        #expect(read.canonicalBytes() == referring.canonicalBytes())
        #expect(read.canonicalBytes().count < inline.count - full.legalBasis.utf8.count - full.institution.utf8.count)
    }

    @Test("bytes that are not the one canonical encoding are refused", arguments: [
        ("", "an entry starts with version byte 0x01 or with { (JSON), not nothing"),
        ("02", "an entry starts with version byte 0x01 or with { (JSON), not 2"),
        (LogEntryCodecTests.goldenReportHex + "00", "1 bytes after the last field"),
        (String(LogEntryCodecTests.goldenReportHex.dropLast(2)), "ends before the change digest"),
        (LogEntryCodecTests.goldenReportHex.replacingOccurrences(of: "0103722d31", with: "018300722d31"), "the request id is not in its shortest form"),
        (LogEntryCodecTests.goldenReportHex.replacingOccurrences(of: "722d310101", with: "722d310201"), "actor tag 2 is neither 0 (inline) nor 1 (reference)"),
        (LogEntryCodecTests.goldenReportHex.replacingOccurrences(of: "5000010372", with: "5000ff0372"), "unknown action code 255"),
    ])
    func refusesNonCanonical(_ hex: String, _ message: String) throws {
        let error = #expect(throws: LogEntryCodec.Malformed.self) { try AccessLogEntry(canonicalBytes: [UInt8](hex: hex)!) }
        #expect(error?.message == message)
    }

    @Test("an action written by name that has a code is refused, so that each entry has one encoding")
    func actionByNameWithCode() throws {
        let byName = [UInt8](hex: "01000001a3185c500000") ?? []
        let bytes = byName + [17] + Array("report.individual".utf8) + [UInt8](hex: Self.goldenReportHex)!.dropFirst(10)
        #expect(throws: LogEntryCodec.Malformed.self) { try AccessLogEntry(canonicalBytes: bytes) }
    }

    @Test("JSON entries written before the compact encoding still decode, with nothing referenced")
    func jsonStillReads() throws {
        let json = Self.report.jsonBytes()
        #expect(json.first == UInt8(ascii: "{"))
        let decoded = try AccessLogEntry(canonicalBytes: json)
        #expect(decoded == Self.report)
        #expect(decoded.references.isEmpty)
    }

    @Test("a reference that does not lead to an earlier entry holding its part is named", arguments: [
        (UInt64(3), "entry 4 refers to entry 3 for its actor, which does not resolve: no compact entry there holds a actor of its own"),
        (UInt64(5), "entry 4 refers to entry 5 for its actor, which does not resolve: a reference points back to an earlier entry"),
        (UInt64(2), "entry 4 refers to entry 2 for its actor, which does not resolve: no compact entry there holds a actor of its own"),
    ])
    func unresolved(_ target: UInt64, _ message: String) {
        var referring = Self.report
        referring.references.actor = 0
        let log: [UInt64: AccessLogEntry] = [0: Self.report, 3: referring]
        var entry = Self.report
        entry.references.actor = target
        let error = #expect(throws: LogReferenceError.self) { try entry.resolveReferences(at: 4) { log[$0] } }
        #expect(error?.message == message)
    }

    @Test("action codes are pinned: each named action's code is its place in the list")
    func actionCodes() {
        #expect(LogAction.report(.individual).entryCode == 1)
        #expect(LogAction.certificateRevoke.entryCode == 31)
        #expect(LogAction(entryCode: 31) == .certificateRevoke)
        #expect(LogAction.keysRotate.entryCode == 32)
        #expect(LogAction.keysEncryptExisting.entryCode == 33 && LogAction(entryCode: 33) == .keysEncryptExisting)
        #expect(LogAction(entryCode: 34) == nil && LogAction(entryCode: 0) == nil)
        #expect(LogAction.refusedCall("bureau.v1.X/Y").entryCode == nil)
    }

    @Test("LogPartHolders resolves each reference against the entries read before it, keeping only compact entries' inline parts")
    func holders() throws {
        var referring = Self.report
        referring.references = LogReferences(actor: 1, legalBasis: 1, disclosure: 1)
        var holders = LogPartHolders()
        // Entry 0 is a JSON entry: read, but it holds nothing later entries may refer to.
        #expect(try holders.read(Self.report.jsonBytes(), at: 0) == Self.report)
        #expect(holders.count == 0)
        // Entry 1 holds the parts inline; nothing refers before it is read.
        #expect(throws: LogReferenceError.self) { try holders.resolve(referring.canonicalBytes(), at: 2) }
        _ = try holders.read(Self.report.canonicalBytes(), at: 1)
        #expect(holders.count == 1)
        let resolved = try holders.resolve(referring.canonicalBytes(), at: 2)
        #expect(resolved.institution == "91110000100000016D" && resolved.legalBasis == Self.report.legalBasis)
        #expect(resolved.disclosedFields == Self.report.disclosedFields && resolved.disclosureVersion == 3)
        #expect(resolved.canonicalBytes() == referring.canonicalBytes(), "the references stay: the bytes are the entry's")
        // A referring entry is read but holds nothing of its own; a reference to it does not resolve.
        _ = try holders.read(referring.canonicalBytes(), at: 2)
        #expect(holders.count == 1)
        referring.references = LogReferences(actor: 2)
        let error = #expect(throws: LogReferenceError.self) { try holders.resolve(referring.canonicalBytes(), at: 3) }
        #expect(error?.message.hasPrefix("entry 3 refers to entry 2 for its actor") == true)
    }
}
