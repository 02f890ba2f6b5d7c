import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2
import Synchronization
import Testing

/// A way a licence is not in force.
enum LicenceProblem: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case suspended, revoked, expired, notYetValid

    var testDescription: String { self.rawValue }

    /// `licence` with this problem.
    func applied(to licence: Licence) -> Licence {
        var licence = licence
        let today = CalendarDate(utcDayOf: Date())
        switch self {
        case .suspended: licence.status = .suspended
        case .revoked: licence.status = .revoked
        case .expired: licence.validUntil = today.plusDays(-1)
        case .notYetValid: licence.validFrom = today.plusDays(1)
        }
        return licence
    }

    /// What the refusal's message says.
    var mentioning: String {
        switch self {
        case .suspended: "is suspended"
        case .revoked: "is revoked"
        case .expired: "expired on"
        case .notYetValid: "is valid from"
        }
    }
}

extension BureauHarness {
    /// Runs `change` in the writer's transaction, then `calls`, so that the calls read their snapshot before
    /// `change` and commit after it: `change` commits only once `waiting` more requests are queued behind it.
    func between<T: Sendable>(
        waiting: Int, change: @escaping @Sendable (StoreTransaction) throws -> Void, _ calls: () async throws -> T
    ) async throws -> T {
        let writer = self.daemon.writer
        // Whatever the daemon queued at start (the first retention purge) is committed first.
        try await writer.submit { _ in }
        let started = Mutex(false)
        async let held: Void = writer.submit { txn in
            started.withLock { $0 = true }
            // Only a bound against a hang: the loop ends as soon as the calls queue. Generous, because on a
            // loaded machine (the whole test run on two cores) a call can take seconds to reach the writer, and
            // a change committed before it would be read by its snapshot instead.
            let deadline = Date().addingTimeInterval(60)
            while writer.queued < waiting && Date() < deadline { usleep(500) }
            try change(txn)
        }
        while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
        let result = try await calls()
        try await held
        return result
    }

    /// The log entries from `index` on.
    func logEntries(from index: UInt64) throws -> [LoggedEntry] {
        try self.store.read { try $0.logEntries(from: index, limit: 1000) }
    }

    var logSize: UInt64 {
        get throws { try self.store.read { try $0.logSize() } }
    }
}

/// Checks that `error` is a logged refusal: its receipt names the one entry added since `before`, a denied
/// entry of `institution` whose reason is the error's message.
func expectLoggedRefusal(
    _ error: RPCError?, _ code: RPCError.Code, mentioning: String, institution: String, since before: UInt64, in bureau: some BureauHarness,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> LoggedEntry? {
    #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
    #expect(error?.message.contains(mentioning) == true, "\(error?.message ?? "no error")", sourceLocation: sourceLocation)
    let added = try bureau.logEntries(from: before)
    #expect(added.count == 1, "one entry for the refusal", sourceLocation: sourceLocation)
    guard let entry = added.first else { return nil }
    #expect(entry.entry.outcome == .denied, sourceLocation: sourceLocation)
    #expect(entry.entry.institution == institution, sourceLocation: sourceLocation)
    #expect(entry.entry.reason == error?.message, sourceLocation: sourceLocation)
    #expect(entry.entry.disclosedFields.isEmpty, sourceLocation: sourceLocation)
    #expect(error?.metadata[stringValues: "bureau-receipt-index"].map { $0 } == [String(entry.index)], sourceLocation: sourceLocation)
    return entry
}

@Suite("Licence standing over mutual TLS", .serialized)
struct LicenceStandingTests {
    static let newPerson = "510107197802288918"

    @Test("a licence not in force stops every call of every role, and each refusal is logged", arguments: LicenceProblem.allCases)
    func everyRole(problem: LicenceProblem) async throws {
        try await TestBureau.run { bureau in
            func register(_ n: Int, _ roles: Set<Role>, _ licence: Licence, categories: Set<String> = []) throws -> (String, CertificateAuthority.Issued) {
                let code = try UnifiedSocialCreditCode.make(organisation: "7300" + String(format: "%04d", n))
                let identity = try bureau.register(
                    Institution(
                        code: code, name: "Standing \(n)", roles: roles, licence: problem.applied(to: licence), certificateFingerprints: [],
                        categories: categories
                    )
                )
                return (code.value, identity)
            }
            let (furnisher, furnisherCert) = try register(1, [.furnisher], Licence(purposes: []), categories: [Catalogue.accountCredit])
            let (agency, agencyCert) = try register(2, [.agency], Licence(purposes: [.loanOrigination]))
            let (channel, channelCert) = try register(3, [.channel], Licence(purposes: [.selfAccess]))
            let (regulator, regulatorCert) = try register(4, [.regulator], Licence(purposes: [.regulatorySupervision]))
            let (staff, staffCert) = try register(5, [.operator], Licence(purposes: []))
            let newKey = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.newPerson)))

            var before = try bureau.logSize
            var error = await rpcError {
                var request = Bureau_SubmitRecordsRequest()
                request.batchID = "standing-batch"
                request.subjects = [FurnishServiceTests.record(Self.newPerson, name: "张伟", born: (1978, 2, 28), account: "ST-1")]
                _ = try await bureau.withClient(as: furnisherCert) { client in
                    try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
                }
            }
            _ = try expectLoggedRefusal(error, .permissionDenied, mentioning: problem.mentioning, institution: furnisher, since: before, in: bureau)
            #expect(try bureau.store.read { try $0.file(newKey) } == nil, "nothing furnished")

            before = try bureau.logSize
            error = await rpcError {
                var request = Bureau_RegisterConsentRequest()
                request.requestID = "standing-consent"
                request.subjectKind = .individual
                request.subjectIdentifier = DemoData.personIdentifier
                request.purpose = .loanOrigination
                request.validFrom = Bureau_CalendarDate(year: 2026, month: 1, day: 1)
                request.validUntil = Bureau_CalendarDate(year: 2026, month: 6, day: 1)
                request.evidenceSha256 = Data(repeating: 7, count: 32)
                _ = try await bureau.withClient(as: agencyCert) { client in
                    try await Bureau_ConsentService.Client(wrapping: client).registerConsent(request: ClientRequest(message: request), options: fastCall)
                }
            }
            let consentEntry = try expectLoggedRefusal(error, .permissionDenied, mentioning: problem.mentioning, institution: agency, since: before, in: bureau)
            #expect(consentEntry?.entry.requestID == "standing-consent")
            #expect(consentEntry?.entry.subjects == [bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))])

            before = try bureau.logSize
            error = await rpcError {
                _ = try await bureau.withClient(as: channelCert) { client in
                    try await Bureau_SubjectService.Client(wrapping: client).placeFreeze(
                        request: ClientRequest(message: SubjectRightsTests.subject(request: "standing-freeze")), options: fastCall
                    )
                }
            }
            _ = try expectLoggedRefusal(error, .permissionDenied, mentioning: problem.mentioning, institution: channel, since: before, in: bureau)
            let personKey = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
            #expect(try bureau.store.read { try $0.protection(personKey) }.freeze == nil, "the file is not frozen")

            before = try bureau.logSize
            error = await rpcError {
                _ = try await bureau.withClient(as: regulatorCert) { client in
                    try await Bureau_OversightService.Client(wrapping: client).getCheckpoint(request: ClientRequest(message: .init()), options: fastCall)
                }
            }
            _ = try expectLoggedRefusal(error, .permissionDenied, mentioning: problem.mentioning, institution: regulator, since: before, in: bureau)

            before = try bureau.logSize
            error = await rpcError {
                _ = try await bureau.withClient(as: staffCert) { client in
                    try await Bureau_OversightService.Client(wrapping: client).listRepairs(
                        request: ClientRequest(message: .init(), metadata: ["bureau-operator-id": "staff-7"]), options: fastCall
                    )
                }
            }
            let staffEntry = try expectLoggedRefusal(error, .permissionDenied, mentioning: problem.mentioning, institution: staff, since: before, in: bureau)
            #expect(staffEntry?.entry.operatorID == "staff-7")

            // Even the public catalogue: a licence not in force leaves no standing at all.
            before = try bureau.logSize
            error = await rpcError {
                _ = try await bureau.withClient(as: agencyCert) { client in
                    try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
                }
            }
            _ = try expectLoggedRefusal(error, .permissionDenied, mentioning: problem.mentioning, institution: agency, since: before, in: bureau)
        }
    }

    @Test("a suspended regulator can neither reinstate itself nor act on others; another regulator reinstates it")
    func suspendedRegulator() async throws {
        try await TestBureau.run { bureau in
            let second = try UnifiedSocialCreditCode.make(organisation: "73100001")
            let secondCert = try bureau.register(
                Institution(code: second, name: "Second Regulator", roles: [.regulator], purposes: [.regulatorySupervision], certificateFingerprints: [])
            )
            @Sendable func action(_ institution: UnifiedSocialCreditCode, _ id: String) -> Bureau_LicenceActionRequest {
                var request = Bureau_LicenceActionRequest()
                request.requestID = id
                request.institution = institution.value
                request.reason = "supervisory review"
                return request
            }
            func oversight<T: Sendable>(
                _ identity: CertificateAuthority.Issued, _ body: @Sendable (Bureau_OversightService.Client<HTTP2ClientTransport.Posix>) async throws -> T
            ) async throws -> T {
                try await bureau.withClient(as: identity) { client in try await body(Bureau_OversightService.Client(wrapping: client)) }
            }
            let first = bureau.clients["regulator"]!
            _ = try await oversight(first) { try await $0.suspendLicence(request: ClientRequest(message: action(second, "sus-1")), options: fastCall) }

            var before = try bureau.logSize
            var error = await rpcError {
                _ = try await oversight(secondCert) { try await $0.reinstateLicence(request: ClientRequest(message: action(second, "self-1")), options: fastCall) }
            }
            let selfEntry = try expectLoggedRefusal(error, .permissionDenied, mentioning: "is suspended", institution: second.value, since: before, in: bureau)
            #expect(selfEntry?.entry.action == .refusedCall("bureau.v1.OversightService/ReinstateLicence"))
            #expect(selfEntry?.entry.requestID == "self-1")
            #expect(try bureau.store.read { try $0.institution(code: second) }?.licence.status == .suspended)

            before = try bureau.logSize
            error = await rpcError {
                _ = try await oversight(secondCert) { try await $0.suspendLicence(request: ClientRequest(message: action(DemoData.regulator, "sus-2")), options: fastCall) }
            }
            _ = try expectLoggedRefusal(error, .permissionDenied, mentioning: "is suspended", institution: second.value, since: before, in: bureau)
            #expect(try bureau.store.read { try $0.institution(code: DemoData.regulator) }?.licence.status == .active)

            _ = try await oversight(first) { try await $0.reinstateLicence(request: ClientRequest(message: action(second, "re-1")), options: fastCall) }
            _ = try await oversight(secondCert) { try await $0.getCheckpoint(request: ClientRequest(message: .init()), options: fastCall) }
        }
    }
}

/// What changes between a request's snapshot and its commit.
enum Interleaved: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case certificateRevoked, licenceSuspended, roleRemoved, consentRevoked, fileFrozen

    var testDescription: String { self.rawValue }

    var expected: (RPCError.Code, String, Outcome) {
        switch self {
        case .certificateRevoked: (.unauthenticated, "was revoked", .denied)
        case .licenceSuspended: (.permissionDenied, "is suspended", .denied)
        case .roleRemoved: (.permissionDenied, "changed during the call", .denied)
        case .consentRevoked: (.permissionDenied, "was revoked on", .denied)
        case .fileFrozen: (.failedPrecondition, "frozen", .frozen)
        }
    }
}

@Suite("Checks repeated where the answer is committed", .serialized)
struct RecheckTests {
    @Test("a report whose grounds change between its snapshot and its commit is refused, and the log says why", arguments: Interleaved.allCases)
    func report(change: Interleaved) async throws {
        try await InProcessBureau.run { bureau in
            let fingerprint = try CallerResolver.fingerprint(of: bureau.clients["bank"]!.certificate).hexString
            let request = individualRequest()
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
            let before = try bureau.logSize
            let error = try await bureau.between(waiting: 1, change: { txn in
                switch change {
                case .certificateRevoked:
                    try txn.revokeCertificate(fingerprint: fingerprint)
                case .licenceSuspended:
                    var bank = try txn.institution(code: DemoData.bank)!
                    bank.licence.status = .suspended
                    try txn.putInstitution(bank)
                case .roleRemoved:
                    var bank = try txn.institution(code: DemoData.bank)!
                    bank.roles = [.furnisher]
                    try txn.putInstitution(bank)
                case .consentRevoked:
                    var consent = try txn.consent(request.consentReference)!
                    consent.revokedOn = CalendarDate(utcDayOf: Date())
                    try txn.putConsent(consent)
                case .fileFrozen:
                    try txn.putProtection(FileProtection(freeze: Freeze(placed: CalendarDate(utcDayOf: Date()), code: "12345678", salt: "s")), for: key)
                }
            }) {
                await rpcError {
                    _ = try await bureau.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                    }
                }
            }
            let (code, mentioning, outcome) = change.expected
            #expect(error?.code == code, "\(String(describing: error))")
            #expect(error?.message.contains(mentioning) == true, "\(error?.message ?? "no error")")
            let logged = try bureau.logEntries(from: before)
            #expect(logged.count == 1)
            let entry = try #require(logged.first)
            #expect(entry.entry.action == .report(.individual))
            #expect(entry.entry.outcome == outcome)
            #expect(entry.entry.reason == error?.message)
            #expect(entry.entry.disclosedFields.isEmpty)
            #expect(entry.entry.institution == DemoData.bank.value)
            #expect(entry.entry.subjects == [key])
            #expect(error?.metadata[stringValues: "bureau-receipt-index"].map { $0 } == [String(entry.index)])
        }
    }

    @Test("a batch whose furnisher is suspended between its validation and its commit is refused, logged, and not applied")
    func furnish() async throws {
        try await InProcessBureau.run { bureau in
            let person = "510107197802288918"
            var request = Bureau_SubmitRecordsRequest()
            request.batchID = "race-batch"
            request.subjects = [FurnishServiceTests.record(person, name: "张伟", born: (1978, 2, 28), account: "RC-1")]
            let before = try bureau.logSize
            let error = try await bureau.between(waiting: 1, change: { txn in
                var furnisher = try txn.institution(code: DemoData.consumerFinance)!
                furnisher.licence.status = .suspended
                try txn.putInstitution(furnisher)
            }) {
                await rpcError {
                    _ = try await bureau.withClient("furnisher") { client in
                        try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
                    }
                }
            }
            let entry = try expectLoggedRefusal(
                error, .permissionDenied, mentioning: "is suspended", institution: DemoData.consumerFinance.value, since: before, in: bureau
            )
            #expect(entry?.entry.requestID == "race-batch")
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: person)))
            #expect(try bureau.store.read { try $0.file(key) } == nil)
            #expect(try bureau.store.read { try $0.batchResult(furnisher: DemoData.consumerFinance, batchID: "race-batch") } == nil)
        }
    }
}

@Suite("Every refusal is logged", .serialized)
struct RefusalLogTests {
    @Test("a revoked certificate's calls are logged with its fingerprint and the institution it was bound to")
    func revokedCertificate() async throws {
        try await InProcessBureau.run { bureau in
            let bank = bureau.clients["bank"]!
            let fingerprint = try CallerResolver.fingerprint(of: bank.certificate).hexString
            try bureau.store.write { _ = try $0.revokeCertificate(fingerprint: fingerprint) }
            let before = try bureau.logSize
            let error = await rpcError {
                _ = try await bureau.withClient(as: bank) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest()), options: fastCall
                    )
                }
            }
            let entry = try expectLoggedRefusal(error, .unauthenticated, mentioning: "was revoked", institution: DemoData.bank.value, since: before, in: bureau)
            #expect(entry?.entry.certificateFingerprint == fingerprint)
            #expect(entry?.entry.action == .report(.individual))
            #expect(entry?.entry.purpose == .loanOrigination)
            // The subject's access history shows the attempt.
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
            #expect(entry?.entry.subjects == [key])
        }
    }

    @Test("a certificate of the bureau's CA bound to no institution is logged when it calls")
    func unknownCertificate() async throws {
        try await InProcessBureau.run { bureau in
            let stranger = try bureau.ca.issueClient(name: "Unregistered", code: "91110000600037341L")
            let before = try bureau.logSize
            let error = await rpcError {
                _ = try await bureau.withClient(as: stranger) { client in
                    try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
                }
            }
            let entry = try expectLoggedRefusal(error, .unauthenticated, mentioning: "not bound", institution: "", since: before, in: bureau)
            #expect(entry?.entry.certificateFingerprint == (try CallerResolver.fingerprint(of: stranger.certificate).hexString))
            #expect(entry?.entry.action == .refusedCall("bureau.v1.CatalogService/ListCategories"))
        }
    }

    @Test("PERMISSION_DENIED on the subject's calls is logged with the subject it named")
    func subjectCalls() async throws {
        try await InProcessBureau.run { bureau in
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
            typealias Call = @Sendable (Bureau_SubjectService.Client<InProcessTransport.Client>) async throws -> Void
            var statement = Bureau_StatementRequest()
            statement.subject = SubjectRightsTests.subject(request: "deny-statement")
            statement.text = "not mine"
            var dispute = Bureau_DisputeRequest()
            dispute.subject = SubjectRightsTests.subject(request: "deny-dispute")
            dispute.record.kind = .account
            dispute.record.furnisher = DemoData.bank.value
            dispute.record.recordID = "6222020200112233"
            dispute.description_p = "never late"
            var alert = Bureau_FraudAlertRequest()
            alert.subject = SubjectRightsTests.subject(request: "deny-alert")
            alert.note = "stolen documents"
            let calls: [(String, Call)] = [
                ("deny-history", { _ = try await $0.getAccessHistory(request: ClientRequest(message: SubjectRightsTests.subject(request: "deny-history")), options: fastCall) }),
                ("deny-own", { _ = try await $0.getOwnReport(request: ClientRequest(message: SubjectRightsTests.subject(request: "deny-own")), options: fastCall) }),
                ("deny-freeze", { _ = try await $0.placeFreeze(request: ClientRequest(message: SubjectRightsTests.subject(request: "deny-freeze")), options: fastCall) }),
                ("deny-alert", { [alert] in _ = try await $0.placeFraudAlert(request: ClientRequest(message: alert), options: fastCall) }),
                ("deny-statement", { [statement] in _ = try await $0.addStatement(request: ClientRequest(message: statement), options: fastCall) }),
                ("deny-dispute", { [dispute] in _ = try await $0.fileDispute(request: ClientRequest(message: dispute), options: fastCall) }),
            ]
            for (id, call) in calls {
                let before = try bureau.logSize
                let error = await rpcError {
                    try await bureau.withClient("bank") { client in try await call(Bureau_SubjectService.Client(wrapping: client)) }
                }
                let entry = try expectLoggedRefusal(error, .permissionDenied, mentioning: "channel role", institution: DemoData.bank.value, since: before, in: bureau)
                #expect(entry?.entry.subjects == [key], "\(id)")
                #expect(entry?.entry.requestID == id)
            }
        }
    }

    @Test("a wrong code to lift a freeze is logged")
    func wrongFreezeCode() async throws {
        try await InProcessBureau.run { bureau in
            _ = try await bureau.withClient("channel") { client in
                try await Bureau_SubjectService.Client(wrapping: client).placeFreeze(
                    request: ClientRequest(message: SubjectRightsTests.subject(request: "f-1")), options: fastCall
                )
            }
            var lift = Bureau_LiftFreezeRequest()
            lift.subject = SubjectRightsTests.subject(request: "lift-1")
            lift.freezeCode = "00000000"
            let before = try bureau.logSize
            let error = await rpcError {
                _ = try await bureau.withClient("channel") { client in
                    try await Bureau_SubjectService.Client(wrapping: client).liftFreeze(request: ClientRequest(message: lift), options: fastCall)
                }
            }
            let entry = try expectLoggedRefusal(error, .permissionDenied, mentioning: "freeze_code", institution: DemoData.channel.value, since: before, in: bureau)
            #expect(entry?.entry.action == .refusedCall("bureau.v1.SubjectService/LiftFreeze"))
        }
    }

    @Test("PERMISSION_DENIED on oversight calls is logged, streamed calls included")
    func oversightCalls() async throws {
        try await InProcessBureau.run { bureau in
            var before = try bureau.logSize
            var error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_OversightService.Client(wrapping: client).getCheckpoint(request: ClientRequest(message: .init()), options: fastCall)
                }
            }
            _ = try expectLoggedRefusal(error, .permissionDenied, mentioning: "regulator role", institution: DemoData.bank.value, since: before, in: bureau)

            before = try bureau.logSize
            error = await rpcError {
                var query = Bureau_QueryAccessLogRequest()
                query.subjectKind = .individual
                query.subjectIdentifier = DemoData.personIdentifier
                try await bureau.withClient("bank") { client in
                    try await Bureau_OversightService.Client(wrapping: client).queryAccessLog(request: ClientRequest(message: query), options: fastCall) { response in
                        for try await _ in response.messages {}
                    }
                }
            }
            let entry = try expectLoggedRefusal(error, .permissionDenied, mentioning: "regulator role", institution: DemoData.bank.value, since: before, in: bureau)
            #expect(entry?.entry.action == .refusedCall("bureau.v1.OversightService/QueryAccessLog"))
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: DemoData.personIdentifier)))
            #expect(entry?.entry.subjects == [key])
        }
    }
}

@Suite("The freeze's one-time code", .serialized)
struct FreezeCodeTests {
    /// 李娜's file: accounts only.
    static let subject = "310104198503121235"

    static func freeze(_ bureau: InProcessBureau) async throws -> String {
        try await bureau.withClient("channel") { client in
            try await Bureau_SubjectService.Client(wrapping: client).placeFreeze(
                request: ClientRequest(message: SubjectRightsTests.subject(Self.subject, request: "freeze-once")), options: fastCall
            )
        }.freezeCode
    }

    static func ask(_ bureau: InProcessBureau, code: String) async -> RPCError? {
        await rpcError {
            var request = individualRequest(Self.subject)
            request.freezeCode = code
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
            }
        }
    }

    @Test("the code lets one query through; the next with the same code is refused as frozen, and logged")
    func once() async throws {
        try await InProcessBureau.run { bureau in
            let code = try await Self.freeze(bureau)
            #expect(await Self.ask(bureau, code: code) == nil)
            let before = try bureau.logSize
            let second = await Self.ask(bureau, code: code)
            #expect(second?.code == .failedPrecondition)
            #expect(second?.message.contains("already let a query through") == true, "\(second?.message ?? "granted")")
            let logged = try bureau.logEntries(from: before)
            #expect(logged.map(\.entry.outcome) == [.frozen])
            // The subject still lifts the freeze with it.
            var lift = Bureau_LiftFreezeRequest()
            lift.subject = SubjectRightsTests.subject(Self.subject, request: "lift-once")
            lift.freezeCode = code
            _ = try await bureau.withClient("channel") { client in
                try await Bureau_SubjectService.Client(wrapping: client).liftFreeze(request: ClientRequest(message: lift), options: fastCall)
            }
        }
    }

    @Test("two queries committed together with one code: exactly one passes")
    func concurrent() async throws {
        try await InProcessBureau.run { bureau in
            let code = try await Self.freeze(bureau)
            let results = try await bureau.between(waiting: 2, change: { _ in }) {
                async let first = Self.ask(bureau, code: code)
                async let second = Self.ask(bureau, code: code)
                return await [first, second]
            }
            #expect(results.filter { $0 == nil }.count == 1)
            #expect(results.compactMap { $0?.code } == [.failedPrecondition])
        }
    }
}
