import BureauCore
import BureauStore
import Crypto

/// The verifier of a fixed key (32 bytes of 0x2A), so that seeds can carry notes it signed.
let signer = NoteSigner(name: "bureau.fuzz", key: try! Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: 0x2A, count: 32)))
let verifier = try! NoteVerifier(verifierKey: signer.verifierKey)
let furnisher = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")

/// Decoding what the bureau reads back: the first byte picks the decoder, the rest is its input.
/// Access log entries (compact, docs/LOG-ENTRY.md, and JSON), stored identities (both formats), records, statements and dispute marks (the
/// binary codec), and checkpoints and signed notes. Each input is refused with an error or decoded;
/// a decoded log entry re-encodes to bytes that decode to the same entry.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntries(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let rest = UnsafeRawBufferPointer(rebasing: input[1...])
    switch input[0] % 8 {
    case 0:
        guard let entry = try? AccessLogEntry(canonicalBytes: Array(rest)) else { return 0 }
        let again = try! AccessLogEntry(canonicalBytes: entry.canonicalBytes())
        precondition(again == entry, "a log entry's canonical bytes decode to the same entry")
        precondition(again.canonicalBytes() == entry.canonicalBytes(), "canonical bytes are stable")
        if rest.first == LogEntryCodec.version {
            precondition(entry.canonicalBytes() == Array(rest), "a compact entry has one encoding: the one it was read from")
        }
    case 1:
        if let sources = try? RecordCodec.decodeIdentity(rest) {
            let again = try! RecordCodec.encode(sources).withUnsafeBytes { try RecordCodec.decodeIdentity($0) }
            precondition(again == sources, "decoded identity sources re-encode to themselves")
        }
    case 2, 3, 4:
        let kind: RecordKind = [.account, .publicRecord, .listEntry][Int(input[0] % 8) - 2]
        let reference = RecordReference(kind: kind, furnisher: furnisher, recordID: "R1")
        if let record = try? RecordCodec.decodeRecord(reference, rest) {
            let again = try! RecordCodec.encode(record).withUnsafeBytes { try RecordCodec.decodeRecord(reference, $0) }
            precondition(again == record, "a decoded record re-encodes to itself")
        }
    case 5:
        _ = try? RecordCodec.decodeStatement(id: "S1", rest)
        _ = try? RecordCodec.decodeDispute(id: "D1", rest)
    case 6:
        let text = String(decoding: rest, as: UTF8.self)
        if let checkpoint = try? Checkpoint(body: text) {
            precondition((try? Checkpoint(body: checkpoint.body)) == checkpoint, "a checkpoint's body parses to itself")
        }
    default:
        _ = try? verifier.verify(note: String(decoding: rest, as: UTF8.self))
    }
    return 0
}
