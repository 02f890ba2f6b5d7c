import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauLMDB
import BureauStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// Hostile values over mutual TLS: stored values no validation would let in must not crash a report, and
/// requests over a field's limit or with control characters are refused naming the field.
@Suite("Hostile input over mutual TLS", .serialized)
struct HostileInputTests {
    static let person = "510107197802288918"
    static let bank = DemoData.bank

    /// Accounts whose sums overflow 64 bits, dates at both ends of the calendar, and texts with control characters.
    static func hostileAccounts(_ prefix: String) -> [CreditRecord] {
        func account(_ number: String, _ limit: Int64, _ balance: Int64, currency: String, opened: CalendarDate, furnisher: UnifiedSocialCreditCode = bank) -> CreditRecord {
            .account(
                Account(
                    furnisher: furnisher, accountNumber: number, type: .creditCard, opened: opened,
                    limit: Money(minorUnits: limit, currency: currency), balance: Money(minorUnits: balance, currency: currency),
                    status: .late120Plus, paymentHistory: String(repeating: "7", count: 5_000), closed: .latest,
                    legalBasis: LegalBasis(documentNumber: "\u{1B}[2J", authority: "", date: .latest), behaviourEnded: .latest
                )
            )
        }
        return [
            account(prefix + "MAX-1", .max, .max, currency: "CNY", opened: .earliest),
            account(prefix + "MAX-2", .max, .max, currency: "CNY", opened: .latest),
            account(prefix + "MIN-1", .min, .min, currency: "USD", opened: .earliest),
            account(prefix + "TINY-1", 1, .max, currency: "EUR", opened: .latest),
            account(prefix, .max, .min, currency: "", opened: .earliest, furnisher: try! UnifiedSocialCreditCode(parsing: "91110000200000021A")),
            .publicRecord(
                PublicRecord(
                    furnisher: bank, recordID: prefix + "P-1", type: .taxArrears, authority: "\r\n", legalBasis: LegalBasis(documentNumber: "", authority: "", date: .earliest),
                    amount: Money(minorUnits: .max, currency: "CNY"), filed: .latest, behaviourEnded: .latest, description: "\u{202E}"
                )
            ),
            .listEntry(
                ListEntry(
                    furnisher: bank, recordID: prefix + "L-1", list: Catalogue.severeUntrustworthinessList, severity: .serious, reason: "\u{0}",
                    legalBasis: LegalBasis(documentNumber: "", authority: "", date: .latest), listed: .earliest, publicityEnds: .latest
                )
            ),
        ]
    }

    /// Writes a hostile file straight into the store, past every validation.
    static func storeHostileFiles(_ bureau: TestBureau) throws {
        let catalogue = Catalogue.default
        let address = Address(province: "", city: "\u{1B}]0;title\u{7}", detail: String(repeating: "街", count: 20_000))
        var counters: [(database: String, key: [UInt8])] = []
        try bureau.store.write { txn in
            let personKey = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.person)))
            try txn.putSubject(
                .person(PersonIdentity(name: "", identifier: "X", birthDate: .earliest, phone: "", address: address)), for: personKey
            )
            let businessKey = bureau.store.key(for: .business(try UnifiedSocialCreditCode(parsing: DemoData.businessIdentifier)))
            try txn.putSubject(
                .business(
                    BusinessRegistration(
                        name: String(repeating: "\u{301}", count: 10_000), code: "", registrationDate: .latest, address: address,
                        legalRepresentativeName: "", legalRepresentativeIdentifier: "1"
                    )
                ),
                for: businessKey
            )
            for (key, prefix) in [(personKey, "P"), (businessKey, "B")] {
                for record in Self.hostileAccounts(prefix) { try txn.putRecord(record, for: key, catalogue: catalogue) }
                let about = RecordReference(kind: .account, furnisher: Self.bank, recordID: "no-such-record")
                try txn.putStatement(Statement(id: "S-\u{1B}", text: "\u{1B}[31m", added: .latest, about: about), for: key)
                try txn.putDispute(DisputeMark(id: "D-1", record: about, filed: .earliest, description: "\u{9B}"), for: key)
                // Counters at the top of their range: the next count must not overflow.
                let year = CalendarDate(utcDayOf: bureau.clock.now).year
                counters.append(("self-queries", key.bytes + [UInt8(truncatingIfNeeded: year >> 8), UInt8(truncatingIfNeeded: year)]))
            }
            let day = UInt32(CalendarDate(utcDayOf: bureau.clock.now).daysSinceEpoch)
            counters.append(("quotas", Array(Self.bank.value.utf8) + withUnsafeBytes(of: day.bigEndian) { Array($0) }))
        }
        // Written as the LMDB backend stores counters (see its DESIGN.md): no API sets a count.
        let lmdb = try #require(bureau.store.backend as? LMDBStorage)
        for (database, key) in counters {
            try lmdb.rawWrite(in: database, putting: [(key, withUnsafeBytes(of: UInt64.max.bigEndian) { Array($0) })])
        }
    }

    /// Runs `call`; whatever it answers, the request must have a log entry, and the daemon must keep serving.
    static func answeredOrRefused(_ bureau: TestBureau, requestID: String, _ call: () async throws -> Void) async throws -> RPCError? {
        var refusal: RPCError?
        do {
            try await call()
        } catch let error as RPCError {
            refusal = error
        }
        #expect(try bureau.logEntries().contains { $0.entry.requestID == requestID }, "no log entry for \(requestID)")
        return refusal
    }

    @Test("a file of hostile stored values gets every report kind answered or refused with a status, and logged")
    func hostileStoredFile() async throws {
        try await TestBureau.run { bureau in
            try Self.storeHostileFiles(bureau)
            let channel = try #require(bureau.clients["channel"])
            let bankIdentity = try #require(bureau.clients["bank"])

            var individual = individualRequest(Self.person)
            individual.requestID = "hostile-individual"
            var summary: Bureau_ReportSummary?
            let individualError = try await Self.answeredOrRefused(bureau, requestID: individual.requestID) {
                let response = try await bureau.withClient(as: bankIdentity) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: individual), options: fastCall)
                }
                summary = response.report.summary
            }
            #expect(individualError == nil, "\(String(describing: individualError))")
            // 2 x (2^63 - 1) is no int64: the CNY totals are named out of range, the others are given.
            #expect(summary?.totalsOutOfRange == ["CNY"])
            #expect(summary?.totalLimit.contains { $0.currency == "CNY" } == false)
            #expect(summary?.totalBalance.contains { $0.currency == "USD" && $0.minorUnits == .min } == true)

            var business = Bureau_BusinessReportRequest()
            business.identifier = DemoData.businessIdentifier
            business.purpose = .guaranteeReview
            business.consentReference = standingConsent(DemoData.businessIdentifier, .guaranteeReview)
            business.requestID = "hostile-business"
            let businessError = try await Self.answeredOrRefused(bureau, requestID: business.requestID) {
                _ = try await bureau.withClient(as: bankIdentity) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getBusinessReport(request: ClientRequest(message: business), options: fastCall)
                }
            }
            #expect(businessError == nil, "\(String(describing: businessError))")

            for (kind, identifier) in [(Bureau_SubjectKind.individual, Self.person), (.business, DemoData.businessIdentifier)] {
                var score = Bureau_ScoreRequest()
                score.subjectKind = kind
                score.identifier = identifier
                score.purpose = .loanOrigination
                score.consentReference = standingConsent(identifier, .loanOrigination)
                score.requestID = "hostile-score-\(kind)"
                var value: Int32 = 0
                let error = try await Self.answeredOrRefused(bureau, requestID: score.requestID) {
                    value = try await bureau.withClient(as: bankIdentity) { client in
                        try await Bureau_ReportService.Client(wrapping: client).getScore(request: ClientRequest(message: score), options: fastCall)
                    }.score.value
                }
                if error == nil { #expect((300...900).contains(value)) }

                var own = Bureau_SubjectRequest()
                own.subjectKind = kind
                own.subjectIdentifier = identifier
                own.requestID = "hostile-own-\(kind)"
                var ownCount: UInt32 = 0
                let ownError = try await Self.answeredOrRefused(bureau, requestID: own.requestID) {
                    ownCount = try await bureau.withClient(as: channel) { client in
                        try await Bureau_SubjectService.Client(wrapping: client).getOwnReport(request: ClientRequest(message: own), options: fastCall)
                    }.selfQueriesThisYear
                }
                #expect(ownError == nil, "\(String(describing: ownError))")
                #expect(ownCount == UInt32.max)
            }
            // And a second time, as after a restart: the file still does not bring the daemon down.
            let again = try await Self.answeredOrRefused(bureau, requestID: "hostile-individual-2") {
                var request = individual
                request.requestID = "hostile-individual-2"
                _ = try await bureau.withClient(as: bankIdentity) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                }
            }
            #expect(again == nil)
        }
    }

    @Test("a furnished amount above 10^15 minor units is INVALID_ARGUMENT naming the field and the bound, and nothing is stored")
    func amountBound() async throws {
        try await TestBureau.run { bureau in
            var request = Bureau_SubmitRecordsRequest()
            request.batchID = "overflow-1"
            var subject = FurnishServiceTests.record(Self.person, name: "王芳", born: (1978, 2, 28), account: "OVER-1")
            subject.accounts[0].limit.minorUnits = .max
            subject.accounts[0].balance.minorUnits = .max
            request.subjects = [subject]
            let before = try bureau.logEntries().count
            let error = await rpcError { _ = try await StorageFaultTests.submit(bureau, request) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "subjects[0].accounts[0].limit.minor_units: is at most 1000000000000000 minor units (10^15)")
            #expect(try bureau.logEntries().count == before)
        }
    }

    @Test("a masked business report leaves out the street, and the log entry says the address was masked")
    func businessAddressMasked() async throws {
        try await TestBureau.run { bureau in
            var request = Bureau_BusinessReportRequest()
            request.identifier = DemoData.businessIdentifier
            request.purpose = .guaranteeReview
            request.consentReference = standingConsent(DemoData.businessIdentifier, .guaranteeReview)
            request.requestID = "masked-address"
            let response = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getBusinessReport(request: ClientRequest(message: request), options: fastCall)
            }
            #expect(response.report.registration.address.province == "北京市")
            #expect(response.report.registration.address.city == "北京市")
            #expect(response.report.registration.address.detail == "")
            let entry = try #require(try bureau.logEntries().first { $0.entry.requestID == "masked-address" })
            #expect(entry.entry.disclosedFields.contains("registration.address:masked"))
            #expect(!entry.entry.disclosedFields.contains("registration.address:shown"))

            var own = Bureau_SubjectRequest()
            own.subjectKind = .business
            own.subjectIdentifier = DemoData.businessIdentifier
            own.requestID = "own-address"
            let ownReport = try await bureau.withClient("channel") { client in
                try await Bureau_SubjectService.Client(wrapping: client).getOwnReport(request: ClientRequest(message: own), options: fastCall)
            }
            #expect(ownReport.business.registration.address.detail == "朝阳区酒仙桥路 10 号")
        }
    }

    @Test("logged fields with control characters are refused naming the field; a nanosecond request id passes")
    func controlCharactersOverTheWire() async throws {
        try await TestBureau.run { bureau in
            let before = try bureau.logEntries().count
            var request = individualRequest()
            request.requestID = "req\u{1B}[2J"
            var error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                }
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.hasPrefix("request_id: must not contain control characters") == true, "\(error?.message ?? "")")

            var revoke = Bureau_RevokeConsentRequest()
            revoke.requestID = "revoke-1"
            revoke.consentReference = "DEMO-CONSENT-0001"
            revoke.reason = "customer asked\r\n{\"forged\":true}"
            error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ConsentService.Client(wrapping: client).revokeConsent(request: ClientRequest(message: revoke), options: fastCall)
                }
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.hasPrefix("reason: must not contain control characters") == true, "\(error?.message ?? "")")
            #expect(try bureau.logEntries().count == before)

            request.requestID = "acc-1796172120304178739"
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
            }
            #expect(try bureau.logEntries().contains { $0.entry.requestID == "acc-1796172120304178739" })

            request.requestID = "for ١١٠١٠٥١٩٤٩١٢٣١٠٠٢X"
            error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                }
            }
            #expect(error?.message == "request_id: must not contain a national identifier")
        }
    }

    @Test("text fields over their byte limits are INVALID_ARGUMENT naming the field and the limit, and nothing is stored")
    func fieldSizesOverTheWire() async throws {
        try await TestBureau.run { bureau in
            let before = try bureau.logEntries().count
            var request = Bureau_SubmitRecordsRequest()
            request.batchID = "big-address"
            var subject = FurnishServiceTests.record(Self.person, name: "王芳", born: (1978, 2, 28), account: "BIG-1")
            subject.address.detail = String(repeating: "a", count: 3 << 20 - 4096)
            request.subjects = [subject]
            var error = await rpcError { _ = try await StorageFaultTests.submit(bureau, request) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "subjects[0].address.detail: is at most 300 bytes (UTF-8), got \(3 << 20 - 4096)")

            request.batchID = "zalgo-name"
            subject.address.detail = "东城区"
            subject.name = "a" + String(repeating: "\u{301}", count: 500_000)
            request.subjects = [subject]
            error = await rpcError { _ = try await StorageFaultTests.submit(bureau, request) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "subjects[0].name: is at most 200 bytes (UTF-8), got 1000001")

            var statement = Bureau_StatementRequest()
            statement.subject = SubjectRightsTests.subject(request: "statement-1")
            statement.text = String(repeating: "说", count: 667)
            error = await rpcError {
                _ = try await bureau.withClient("channel") { client in
                    try await Bureau_SubjectService.Client(wrapping: client).addStatement(request: ClientRequest(message: statement), options: fastCall)
                }
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "text: is at most 2000 bytes (UTF-8), got 2001")
            #expect(try bureau.logEntries().count == before)
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: Self.person)))
            #expect(try bureau.store.read { try $0.file(key) }?.accounts.contains { $0.accountNumber == "BIG-1" } != true)
        }
    }
}

/// Bytes no codec would write, stored under a subject's key: the report is refused with a status, and logged.
@Suite("Unreadable stored file over mutual TLS", .serialized)
struct UnreadableFileTests {
    @Test("a file whose stored bytes are malformed is refused with INTERNAL and the refusal is logged")
    func malformedFile() async throws {
        try await TestBureau.run { bureau in
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: HostileInputTests.person)))
            // Format 1, a person, then a name whose length varint runs past the end.
            let lmdb = try #require(bureau.store.backend as? LMDBStorage)
            try lmdb.rawWrite(in: "subjects", putting: [(key.bytes, [0x01, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])])
            var request = individualRequest(HostileInputTests.person)
            request.requestID = "unreadable-1"
            let error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: request), options: fastCall)
                }
            }
            #expect(error?.code == .internalError)
            #expect(error?.metadata[stringValues: "bureau-receipt-index"].first(where: { _ in true }) != nil)
            let entry = try #require(try bureau.logEntries().first { $0.entry.requestID == "unreadable-1" })
            #expect(entry.entry.outcome == .denied)
            #expect(entry.entry.reason.contains("cannot be read"))
            try await BadInputTests().stillServes(bureau)
        }
    }
}

/// Fields the services check (not the furnishing rules): one byte over the limit is INVALID_ARGUMENT naming
/// the field and the limit, and nothing is logged.
@Suite("Service field limits over mutual TLS", .serialized)
struct ServiceFieldLimitTests {
    typealias Call = @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Void

    static func over(_ limit: Int, _ unit: String = "a") -> String { String(repeating: unit, count: limit + 1) }

    static func subject(_ id: String = DemoData.personIdentifier) -> Bureau_SubjectRequest {
        SubjectRightsTests.subject(id, request: "limit-subject")
    }

    static func recordRef() -> Bureau_SubjectRecordRef {
        var ref = Bureau_SubjectRecordRef()
        ref.kind = .account
        ref.furnisher = DemoData.bank.value
        ref.recordID = "6222020200112233"
        return ref
    }

    static let cases: [(String, String, String, Call)] = [
        ("bank", "consent_reference", "is at most 128 bytes (UTF-8), got 129", { client in
            var r = Bureau_RevokeConsentRequest()
            r.requestID = "limit-1"
            r.consentReference = over(128)
            _ = try await Bureau_ConsentService.Client(wrapping: client).revokeConsent(request: ClientRequest(message: r), options: fastCall)
        }),
        ("bank", "reason", "is at most 2000 bytes (UTF-8), got 2001", { client in
            var r = Bureau_RevokeConsentRequest()
            r.requestID = "limit-2"
            r.consentReference = "DEMO-CONSENT-0001"
            r.reason = over(2000)
            _ = try await Bureau_ConsentService.Client(wrapping: client).revokeConsent(request: ClientRequest(message: r), options: fastCall)
        }),
        ("bank", "freeze_code", "is at most 64 bytes (UTF-8), got 65", { client in
            var r = individualRequest()
            r.freezeCode = over(64)
            _ = try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: r), options: fastCall)
        }),
        ("bank", "identifier", "is at most 64 bytes (UTF-8), got 65", { client in
            var r = individualRequest()
            r.identifier = over(64, " ")
            _ = try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(request: ClientRequest(message: r), options: fastCall)
        }),
        ("furnisher", "ref.record_id", "is at most 64 bytes (UTF-8), got 65", { client in
            var r = Bureau_DeleteRecordRequest()
            r.requestID = "limit-3"
            r.ref.subjectKind = .individual
            r.ref.subjectIdentifier = DemoData.personIdentifier
            r.ref.kind = .account
            r.ref.recordID = over(64)
            r.reason = "wrong"
            _ = try await Bureau_FurnishService.Client(wrapping: client).deleteRecord(request: ClientRequest(message: r), options: fastCall)
        }),
        ("furnisher", "dispute_id", "is at most 64 bytes (UTF-8), got 65", { client in
            var r = Bureau_AnswerDisputeRequest()
            r.requestID = "limit-4"
            r.disputeID = over(64)
            r.outcome = .confirmed
            _ = try await Bureau_FurnishService.Client(wrapping: client).answerDispute(request: ClientRequest(message: r), options: fastCall)
        }),
        ("channel", "subject.subject_identifier", "is at most 64 bytes (UTF-8), got 65", { client in
            var s = subject()
            s.subjectIdentifier = over(64)
            _ = try await Bureau_SubjectService.Client(wrapping: client).placeFreeze(request: ClientRequest(message: s), options: fastCall)
        }),
        ("channel", "description", "is at most 2000 bytes (UTF-8), got 2001", { client in
            var r = Bureau_DisputeRequest()
            r.subject = subject()
            r.record = recordRef()
            r.description_p = over(2000)
            _ = try await Bureau_SubjectService.Client(wrapping: client).fileDispute(request: ClientRequest(message: r), options: fastCall)
        }),
        ("channel", "rectification", "is at most 2000 bytes (UTF-8), got 2001", { client in
            var r = Bureau_RepairRequest()
            r.subject = subject()
            r.record = recordRef()
            r.rectification = over(2000)
            _ = try await Bureau_SubjectService.Client(wrapping: client).requestRepair(request: ClientRequest(message: r), options: fastCall)
        }),
        ("channel", "note", "is at most 2000 bytes (UTF-8), got 2001", { client in
            var r = Bureau_FraudAlertRequest()
            r.subject = subject()
            r.note = over(2000)
            _ = try await Bureau_SubjectService.Client(wrapping: client).placeFraudAlert(request: ClientRequest(message: r), options: fastCall)
        }),
        ("channel", "record.record_id", "must not contain control characters (found U+001B)", { client in
            var r = Bureau_DisputeRequest()
            r.subject = subject()
            r.record = recordRef()
            r.record.recordID = "6222\u{1B}[2J"
            r.description_p = "not mine"
            _ = try await Bureau_SubjectService.Client(wrapping: client).fileDispute(request: ClientRequest(message: r), options: fastCall)
        }),
        ("regulator", "reason", "is at most 2000 bytes (UTF-8), got 2001", { client in
            var r = Bureau_LicenceActionRequest()
            r.requestID = "limit-5"
            r.institution = DemoData.bank.value
            r.reason = over(2000)
            _ = try await Bureau_OversightService.Client(wrapping: client).suspendLicence(request: ClientRequest(message: r), options: fastCall)
        }),
        ("regulator", "page_token", "is at most 32 bytes (UTF-8), got 33", { client in
            var r = Bureau_QueryAccessLogRequest()
            r.pageToken = over(32, "1")
            try await Bureau_OversightService.Client(wrapping: client).queryAccessLog(request: ClientRequest(message: r), options: fastCall) { response in
                for try await _ in response.messages {}
            }
        }),
    ]

    @Test("a service field over its limit is refused naming it, and nothing is logged", arguments: 0..<cases.count)
    func overTheLimit(index: Int) async throws {
        let (identity, field, rule, call) = Self.cases[index]
        try await TestBureau.run { bureau in
            let before = try bureau.logEntries().count
            let error = await rpcError { try await bureau.withClient(identity, call) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "\(field): \(rule)")
            #expect(try bureau.logEntries().count == before)
        }
    }
}
