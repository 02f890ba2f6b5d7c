import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauWire
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing

/// One row of the access matrix: who asks (roles and licence), for what, with which consent, about a
/// file in which state, and what they must get.
struct AccessRow: Sendable, CustomTestStringConvertible {
    enum ConsentState: Sendable { case none, valid, notOnFile, expired, revoked, used, otherAgency }
    enum FileState: Sendable { case open, frozen, frozenWithCode, frozenWrongCode }
    enum Expect: Sendable, Equatable {
        /// Granted; the listed sections are present and the others withheld.
        case granted(visible: Set<String>)
        case refused(RPCError.Code, mentioning: String)
    }

    var name: String
    var roles: Set<Role> = [.agency]
    var licence = Licence(purposes: [.loanOrigination, .postLoanManagement])
    var purpose: Purpose = .loanOrigination
    var consent: ConsentState = .valid
    var file: FileState = .open
    var expect: Expect

    var testDescription: String { self.name }

    static let everything: Set<String> = ["summary", "accounts", "public-records", "list-entries", "query-records"]

    /// A few rows end to end; ``ReportPolicyTests`` decides the whole matrix without a daemon.
    static let rows: [AccessRow] = [
        AccessRow(name: "tier 3 agency with consent sees every section", expect: .granted(visible: everything)),
        AccessRow(
            name: "tier 1 sees the summary only", licence: Licence(purposes: [.loanOrigination], tier: .summary),
            expect: .granted(visible: ["summary"])
        ),
        AccessRow(
            name: "a suspended licence is refused", licence: Licence(purposes: [.loanOrigination], status: .suspended),
            expect: .refused(.permissionDenied, mentioning: "suspended")
        ),
        AccessRow(name: "a consent not on file", consent: .notOnFile, expect: .refused(.permissionDenied, mentioning: "no consent")),
        AccessRow(name: "another agency's consent", consent: .otherAgency, expect: .refused(.permissionDenied, mentioning: "another agency")),
        AccessRow(
            name: "post-loan management needs no consent", purpose: .postLoanManagement, consent: .none,
            expect: .refused(.permissionDenied, mentioning: "post-loan-management needs an account")
        ),
        AccessRow(name: "a frozen file refuses new credit", file: .frozen, expect: .refused(.failedPrecondition, mentioning: "frozen")),
        // 李娜's file holds accounts only.
        AccessRow(
            name: "the subject's one-time code passes the freeze", file: .frozenWithCode,
            expect: .granted(visible: ["summary", "accounts", "query-records"])
        ),
    ]
}

extension CalendarDate {
    func plusDays(_ days: Int) -> CalendarDate { CalendarDate(daysSinceEpoch: self.daysSinceEpoch + days) }
}

@Suite("Access matrix over mutual TLS", .serialized)
struct AccessMatrixTests {
    /// 陈晓 has an account, a public record and a list entry; 李娜's file is frozen for the freeze rows.
    static let openSubject = "440305199207045670"
    static let frozenSubject = "310104198503121235"

    @Test("end to end, a few rows of the matrix get their status and sections, and every answer is logged")
    func matrix() async throws {
        try await TestBureau.run { bureau in
            let today = CalendarDate(utcDayOf: Date())
            let freeze = try await bureau.withClient("channel") { client in
                var request = Bureau_SubjectRequest()
                request.requestID = "freeze-1"
                request.subjectKind = .individual
                request.subjectIdentifier = Self.frozenSubject
                return try await Bureau_SubjectService.Client(wrapping: client).placeFreeze(request: ClientRequest(message: request), options: fastCall)
            }
            #expect(freeze.freezeCode.count == 8)

            for (n, row) in AccessRow.rows.enumerated() {
                let code = try UnifiedSocialCreditCode.make(organisation: "7000" + String(format: "%04d", n))
                let identity = try bureau.register(
                    Institution(code: code, name: "Matrix \(n)", roles: row.roles, licence: row.licence, certificateFingerprints: [])
                )
                let subject = row.file == .open ? Self.openSubject : Self.frozenSubject
                let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: subject)))
                var consent = Consent(
                    reference: "matrix-\(n)", subject: key, agency: code, purpose: row.purpose, validFrom: today.plusDays(-30),
                    validUntil: today.plusDays(30), evidenceDigest: String(repeating: "cd", count: 32), singleUse: false
                )
                switch row.consent {
                case .expired: consent.validUntil = today.plusDays(-1)
                case .revoked: consent.revokedOn = today
                case .used: consent.singleUse = true; consent.used = true
                case .otherAgency: consent.agency = DemoData.bank
                default: break
                }
                if row.consent != .notOnFile { try bureau.store.write { try $0.putConsent(consent) } }

                var request = individualRequest(subject, purpose: row.purpose.wire, consent: row.consent == .none ? "" : "matrix-\(n)")
                switch row.file {
                case .frozenWithCode: request.freezeCode = freeze.freezeCode
                case .frozenWrongCode: request.freezeCode = "00000000"
                default: break
                }
                let before = try bureau.store.read { try $0.logSize() }
                var response: Bureau_IndividualReportResponse?
                let error = await rpcError {
                    response = try await bureau.withClient(as: identity) { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                            request: ClientRequest(message: request), options: fastCall
                        )
                    }
                }
                let logged = try bureau.store.read { try $0.logEntries(from: before, limit: 10) }
                #expect(logged.count == 1, "\(row.name): one log entry")
                switch row.expect {
                case .granted(let visible):
                    let report = try #require(response?.report, "\(row.name): \(String(describing: error))")
                    var seen: Set<String> = []
                    if report.hasSummary { seen.insert("summary") }
                    if !report.accounts.isEmpty { seen.insert("accounts") }
                    if !report.publicRecords.isEmpty { seen.insert("public-records") }
                    if !report.listEntries.isEmpty { seen.insert("list-entries") }
                    if !report.header.withheld.contains(where: { $0.section == "query-records" }) { seen.insert("query-records") }
                    #expect(seen == visible, "\(row.name)")
                    #expect(Set(report.header.withheld.map(\.section)).isDisjoint(with: visible), "\(row.name)")
                    #expect(report.identity.identifier == "440305********5670" || report.identity.identifier == "310104********1235")
                    #expect(report.header.tier == UInt32(row.licence.tier.rawValue))
                    #expect(logged.first?.entry.outcome == .hit)
                case .refused(let code, let mentioning):
                    #expect(error?.code == code, "\(row.name): \(String(describing: error))")
                    #expect(error?.message.contains(mentioning) == true, "\(row.name): \(error?.message ?? "no error")")
                    #expect(logged.first?.entry.outcome == (code == .failedPrecondition ? .frozen : .denied), "\(row.name)")
                    #expect(logged.first?.entry.disclosedFields.isEmpty == true)
                    #expect(error?.metadata[stringValues: "bureau-receipt-index"].map { $0 } == [String(before)])
                }
            }
        }
    }

    @Test("a daily quota is RESOURCE_EXHAUSTED once used up, and the refusal is logged")
    func quota() async throws {
        try await TestBureau.run { bureau in
            let code = try UnifiedSocialCreditCode.make(organisation: "71000001")
            let identity = try bureau.register(
                Institution(code: code, name: "Quota Lender", roles: [.agency], licence: Licence(purposes: [.loanOrigination], dailyQuota: 2), certificateFingerprints: [])
            )
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.openSubject)))
            let today = CalendarDate(utcDayOf: Date())
            try bureau.store.write {
                try $0.putConsent(Consent(reference: "q-1", subject: key, agency: code, purpose: .loanOrigination, validFrom: today,
                                          validUntil: today.plusDays(1), evidenceDigest: "", singleUse: false))
            }
            func ask() async -> RPCError? {
                await rpcError {
                    _ = try await bureau.withClient(as: identity) { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                            request: ClientRequest(message: individualRequest(Self.openSubject, consent: "q-1")), options: fastCall
                        )
                    }
                }
            }
            #expect(await ask() == nil)
            #expect(await ask() == nil)
            let third = await ask()
            #expect(third?.code == .resourceExhausted)
            #expect(third?.message.contains("daily quota of 2") == true)
            let last = try bureau.logEntries().last
            #expect(last?.entry.outcome == .denied)
        }
    }

    @Test("a single-use consent covers exactly one report")
    func singleUse() async throws {
        try await TestBureau.run { bureau in
            let reference = try await bureau.withClient("bank") { client in
                var request = Bureau_RegisterConsentRequest()
                request.requestID = "c-1"
                request.subjectKind = .individual
                request.subjectIdentifier = Self.openSubject
                request.purpose = .loanOrigination
                let today = CalendarDate(utcDayOf: Date())
                request.validFrom = Bureau_CalendarDate(year: today.year, month: today.month, day: today.day)
                let until = today.plusDays(30)
                request.validUntil = Bureau_CalendarDate(year: until.year, month: until.month, day: until.day)
                request.evidenceSha256 = Data(repeating: 7, count: 32)
                request.singleUse = true
                return try await Bureau_ConsentService.Client(wrapping: client).registerConsent(request: ClientRequest(message: request), options: fastCall)
            }.consentReference
            #expect(reference.hasPrefix("CONSENT-"))
            let first = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest(Self.openSubject, consent: reference)), options: fastCall
                )
            }
            let entry = try bureau.logEntries().first { $0.index == first.receipt.entryIndex }
            #expect(entry?.entry.consentReference == reference)
            let second = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest(Self.openSubject, consent: reference)), options: fastCall
                    )
                }
            }
            #expect(second?.code == .permissionDenied)
            #expect(second?.message.contains("already used") == true)
        }
    }

    @Test("a revoked certificate is refused at once, without a restart")
    func revokedCertificate() async throws {
        try await TestBureau.run { bureau in
            let bank = bureau.clients["bank"]!
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
            }
            let fingerprint = try CallerResolver.fingerprint(of: bank.certificate).hexString
            try bureau.store.write { _ = try $0.revokeCertificate(fingerprint: fingerprint) }
            let error = await rpcError {
                _ = try await bureau.withClient(as: bank) { client in
                    try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
                }
            }
            #expect(error?.code == .unauthenticated)
            #expect(error?.message.contains("revoked") == true)
            // A second certificate of the same institution (rotation) still works, and the revoked one cannot be bound again.
            var institution = try #require(try bureau.store.read { try $0.institution(code: DemoData.bank) })
            #expect(throws: BureauError.self) {
                var again = institution
                again.certificateFingerprints.insert(fingerprint)
                try bureau.store.write { try $0.putInstitution(again) }
            }
            let rotated = try bureau.ca.issueClient(name: institution.name, code: DemoData.bank.value)
            institution.certificateFingerprints.insert(try CallerResolver.fingerprint(of: rotated.certificate).hexString)
            try InstitutionRegistry.register(institution, in: bureau.store)
            _ = try await bureau.withClient(as: rotated) { client in
                try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
            }
        }
    }

    @Test("an operator's query needs the operator id in metadata and logs it")
    func operatorQueries() async throws {
        try await TestBureau.run { bureau in
            let code = try UnifiedSocialCreditCode.make(organisation: "72000001")
            let staff = try bureau.register(
                Institution(code: code, name: "Bureau Operations", roles: [.operator, .regulator],
                            licence: Licence(purposes: [.regulatorySupervision]), certificateFingerprints: [])
            )
            let request = individualRequest(Self.openSubject, purpose: .regulatorySupervision, consent: "")
            let anonymous = await rpcError {
                _ = try await bureau.withClient(as: staff) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                }
            }
            #expect(anonymous?.code == .invalidArgument)
            #expect(anonymous?.message.hasPrefix("bureau-operator-id:") == true)
            let response = try await bureau.withClient(as: staff) { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: request, metadata: ["bureau-operator-id": "staff-0042"]), options: fastCall
                )
            }
            let entry = try bureau.logEntries().first { $0.index == response.receipt.entryIndex }
            #expect(entry?.entry.operatorID == "staff-0042")
        }
    }

    @Test("a fraud alert shows on every report")
    func fraudAlert() async throws {
        try await TestBureau.run { bureau in
            _ = try await bureau.withClient("channel") { client in
                var request = Bureau_FraudAlertRequest()
                request.subject.requestID = "alert-1"
                request.subject.subjectKind = .individual
                request.subject.subjectIdentifier = DemoData.personIdentifier
                request.note = "Identity documents stolen on 2026-11-01; call the subject before granting credit"
                return try await Bureau_SubjectService.Client(wrapping: client).placeFraudAlert(request: ClientRequest(message: request), options: fastCall)
            }
            let response = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest(DemoData.personIdentifier, purpose: .postLoanManagement, consent: "")), options: fastCall
                )
            }
            #expect(response.report.header.fraudAlert.note.hasPrefix("Identity documents stolen"))
        }
    }
}

@Suite("Scores over the API", .serialized)
struct ScoreServiceTests {
    @Test("GetScore is purpose-checked and logged like a report, and the report carries the same score")
    func score() async throws {
        try await InProcessBureau.run { bureau in
            var request = Bureau_ScoreRequest()
            request.subjectKind = .individual
            request.identifier = "440305199207045670"
            request.purpose = .loanOrigination
            request.consentReference = standingConsent("440305199207045670", .loanOrigination)
            let answer = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getScore(request: ClientRequest(message: request), options: fastCall)
            }
            #expect((300...900).contains(answer.score.value))
            #expect(answer.score.modelVersion == Scoring.individualModel)
            #expect(!answer.score.reasons.isEmpty && answer.score.reasons.count <= 4)
            #expect(answer.score.reasons.contains { $0.code == "R07" }, "陈晓 is on the severe-untrustworthiness list")
            let entry = try bureau.logEntries().first { $0.index == answer.receipt.entryIndex }
            #expect(entry?.entry.action == .score(.individual))
            #expect(entry?.entry.disclosedFields == ["summary.score:shown", "summary.score_reasons:shown"])

            request.purpose = .employmentScreening
            request.consentReference = standingConsent("440305199207045670", .employmentScreening, agency: employerCode)
            let employer = try bureau.register(
                Institution(code: try UnifiedSocialCreditCode(parsing: employerCode), name: "Employer", roles: [.agency],
                            purposes: [.employmentScreening], certificateFingerprints: [])
            )
            let refused = await rpcError {
                _ = try await bureau.withClient(as: employer) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getScore(request: ClientRequest(message: request), options: fastCall)
                }
            }
            #expect(refused?.code == .permissionDenied)
        }
    }
}
