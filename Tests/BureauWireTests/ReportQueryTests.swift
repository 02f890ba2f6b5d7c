import BureauAPI
import BureauCore
import BureauWire
import Testing

/// The field rules of report and score requests, checked without a server.
@Suite struct ReportQueryTests {
    static let person = "11010519491231002X"

    static func request(_ change: (inout Bureau_IndividualReportRequest) -> Void) -> Bureau_IndividualReportRequest {
        var request = Bureau_IndividualReportRequest()
        request.identifier = person
        request.purpose = .loanOrigination
        request.consentReference = "CONSENT-1"
        request.requestID = "loan-42"
        change(&request)
        return request
    }

    static func error(_ request: Bureau_IndividualReportRequest) -> BureauError? {
        do throws(BureauError) {
            _ = try ReportQuery(request)
            return nil
        } catch {
            return error
        }
    }

    @Test func aValidRequestKeepsItsFields() throws {
        let query = try ReportQuery(Self.request { _ in })
        #expect(query.identifier == .individual(try ResidentIdentityNumber(parsing: Self.person)))
        #expect(query.purpose == .loanOrigination)
        #expect(query.consentReference == "CONSENT-1")
        #expect(query.requestID == "loan-42")
    }

    @Test(arguments: [
        (request { r in r.purpose = .unspecified }, "purpose: is required"),
        (request { r in r.purpose = .UNRECOGNIZED(99) }, "purpose: unknown value 99"),
        (request { r in r.identifier = "" }, "identifier:"),
        (request { r in r.identifier = "110105194912310021" }, "identifier:"),
        (request { r in r.requestID = String(repeating: "x", count: 129) }, "request_id: is at most 128 bytes"),
        (request { r in r.consentReference = String(repeating: "c", count: 129) }, "consent_reference: is at most 128 bytes"),
        (request { r in r.freezeCode = String(repeating: "9", count: 65) }, "freeze_code: is at most 64 bytes"),
        (request { r in r.requestID = "for " + person }, "request_id: must not contain a national identifier"),
        (request { r in r.consentReference = person }, "consent_reference: must not contain a national identifier"),
    ])
    func eachRuleNamesItsField(request: Bureau_IndividualReportRequest, message: String) {
        let error = Self.error(request)
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test func scoreRequestsNeedASubjectKind() {
        var request = Bureau_ScoreRequest()
        request.identifier = Self.person
        request.purpose = .loanOrigination
        #expect(throws: BureauError.invalid("subject_kind", "must be individual or business")) { try ReportQuery(request) }
        request.subjectKind = .individual
        #expect(throws: Never.self) { try ReportQuery(request) }
    }
}
