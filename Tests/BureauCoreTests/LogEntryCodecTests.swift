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

    /// Golden vector 1 of docs/LOG-ENTRY.md: the report referring to definitions 1 (actor), 2 (legal basis) and
    /// 3 (disclosure profile).
    static let goldenReportHex =
        "01000001a3185c50000103722d310101010707070707070707070707070707070707070707070707070707070707070707030001020000010300"
    /// Golden vector 2: the disclosure profile's definition.
    static let goldenProfileHex =
        "01000001a3185c50002000000000000000000000040000030214" + "6964656e746974792e6e616d653a6d61736b6564"
        + "16" + "6163636f756e74732e62616c616e63653a73686f776e" + "00"

    @Test("a report referring to its definitions encodes to the documented bytes and back")
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
        #expect(Merkle.leafHash(bytes).hexString == Merkle.leafHash([UInt8](hex: Self.goldenReportHex)!).hexString)
    }

    @Test("a disclosure profile's definition encodes to the documented bytes and back")
    func goldenProfile() throws {
        let definition = AccessLogEntry.definition(of: .disclosure, from: Self.report)
        #expect(definition.canonicalBytes().hexString == Self.goldenProfileHex)
        #expect(try AccessLogEntry(canonicalBytes: definition.canonicalBytes()) == definition)
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

        let definitions = Dictionary(uniqueKeysWithValues: LogSharedPart.allCases.map { (UInt64($0.rawValue), AccessLogEntry.definition(of: $0, from: full)) })
        var referring = full
        referring.references = LogReferences(actor: 1, legalBasis: 2, disclosure: 3)
        var read = try AccessLogEntry(canonicalBytes: referring.canonicalBytes())
        try read.resolveReferences(at: 10) { definitions[$0] }
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

    @Test("a reference that does not lead to a definition of its part is named", arguments: [
        (UInt64(3), "entry 4 refers to entry 3 for its actor, which does not resolve: it defines no actor"),
        (UInt64(5), "entry 4 refers to entry 5 for its actor, which does not resolve: a reference points back to an earlier entry"),
        (UInt64(0), "entry 4 refers to entry 0 for its actor, which does not resolve: it is a report.individual entry, not a log.definition"),
        (UInt64(2), "entry 4 refers to entry 2 for its actor, which does not resolve: there is no log.definition entry there"),
    ])
    func unresolved(_ target: UInt64, _ message: String) {
        let log: [UInt64: AccessLogEntry] = [0: Self.report, 3: AccessLogEntry.definition(of: .disclosure, from: Self.report)]
        var entry = Self.report
        entry.references.actor = target
        let error = #expect(throws: LogReferenceError.self) { try entry.resolveReferences(at: 4) { log[$0] } }
        #expect(error?.message == message)
    }

    @Test("action codes are pinned: each named action's code is its place in the list, log.definition is 32")
    func actionCodes() {
        #expect(LogAction.report(.individual).entryCode == 1)
        #expect(LogAction.certificateRevoke.entryCode == 31)
        #expect(LogAction.logDefinition.entryCode == 32)
        #expect(LogAction(entryCode: 32) == .logDefinition)
        #expect(LogAction(entryCode: 33) == nil && LogAction(entryCode: 0) == nil)
        #expect(LogAction.refusedCall("bureau.v1.X/Y").entryCode == nil)
    }
}
