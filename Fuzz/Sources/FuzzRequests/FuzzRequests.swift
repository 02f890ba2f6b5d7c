import BureauAPI
import BureauCore
import BureauStore
import BureauWire
import SwiftProtobuf

/// A furnisher licensed for every category of the built-in catalogue.
let furnisher = Institution(
    code: try! UnifiedSocialCreditCode(parsing: "91110000100000016D"), name: "Fuzz Bank", roles: [.furnisher, .agency],
    purposes: Set(Purpose.allCases), certificateFingerprints: [], categories: Set(Catalogue.default.categories.map(\.code))
)
let furnishing = Furnishing(furnisher: furnisher, catalogue: .default, today: CalendarDate(year: 2026, month: 11, day: 23)!)

/// Request validation as the services run it: the first byte picks the message, the rest is its
/// protobuf encoding. Bytes either fail to decode, or validate, or fail with an error naming a field;
/// validated records survive the store's codec unchanged, and a report over them is built without trapping.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let bytes = Array(input.dropFirst())
    switch input[0] % 4 {
    case 0:
        guard let request = try? Bureau_IndividualReportRequest(serializedBytes: bytes) else { return 0 }
        check { () throws(BureauError) in _ = try ReportQuery(request) }
    case 1:
        guard let request = try? Bureau_BusinessReportRequest(serializedBytes: bytes) else { return 0 }
        check { () throws(BureauError) in _ = try ReportQuery(request) }
    case 2:
        guard let request = try? Bureau_ScoreRequest(serializedBytes: bytes) else { return 0 }
        check { () throws(BureauError) in _ = try ReportQuery(request) }
    default:
        guard let request = try? Bureau_SubmitRecordsRequest(serializedBytes: bytes) else { return 0 }
        check { () throws(BureauError) in
            let subjects = try furnishing.validate(batchID: request.batchID, subjects: request.subjects.map(SubmittedSubject.init))
            for subject in subjects {
                var sources: [IdentitySource] = []
                try IdentityRule.report(subject.subject, by: subject.furnisher, on: subject.reported, into: &sources)
                let encoded = try! RecordCodec.encode(sources)
                let decoded = try! encoded.withUnsafeBytes { try RecordCodec.decodeIdentity($0) }
                precondition(decoded == sources, "identity survives the codec")
                for record in subject.records {
                    let bytes = RecordCodec.encode(record)
                    let back = try! bytes.withUnsafeBytes { try RecordCodec.decodeRecord(record.reference, $0) }
                    precondition(back == record, "record survives the codec")
                }
                // Whatever validation lets in, a report and a score are built over it without trapping.
                var file = CreditFile(subject: subject.subject)
                for record in subject.records { file.upsert(record) }
                for purpose in [Purpose.selfAccess, .loanOrigination] {
                    _ = ReportBuilder.report(of: file, for: purpose, catalogue: .default, today: furnishing.today)
                }
            }
        }
    }
    return 0
}

/// Runs `validate`: success, or an error that names a field (`field: rule`) with a client-side code.
func check(_ validate: () throws(BureauError) -> Void) {
    do throws(BureauError) {
        try validate()
    } catch {
        // FAILED_PRECONDITION: a record whose retention had already ended when furnished.
        precondition(
            error.code == .invalidArgument || error.code == .permissionDenied || error.code == .failedPrecondition, "unexpected code: \(error)"
        )
        precondition(error.message.contains(": "), "an error names its field: \(error)")
    }
}
