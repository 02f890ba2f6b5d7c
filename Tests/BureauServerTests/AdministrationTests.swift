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

/// The operator's client of ``InProcessBureau``: administration calls as the demo operations desk.
extension InProcessBureau {
    /// Runs `body` with an AdministrationService client presenting `identity` (the demo operator by default)
    /// and the metadata that names the member of staff `operatorID` (none when empty).
    func administer<T: Sendable>(
        as identity: CertificateAuthority.Issued? = nil, operatorID: String = "staff-0042",
        _ body: (Bureau_AdministrationService.Client<InProcessTransport.Client>, Metadata) async throws -> T
    ) async throws -> T {
        let metadata: Metadata = operatorID.isEmpty ? [:] : [OperatorMetadata.key: "\(operatorID)"]
        return try await self.withClient(as: identity ?? self.clients["operator"]!) { client in
            try await body(Bureau_AdministrationService.Client(wrapping: client), metadata)
        }
    }

    /// The catalogue version the bank sees (any call that needs a caller in good standing).
    func catalogueVersion(as identity: CertificateAuthority.Issued) async throws -> UInt32 {
        try await self.withClient(as: identity) { client in
            try await Bureau_CatalogService.Client(wrapping: client).listCategories(request: ClientRequest(message: .init()), options: fastCall)
        }.version
    }
}

/// A registration as an operator sends it: an agency licensed for `purposes`.
func registration(
    _ code: String, name: String = "Admin Test Lender", roles: [Bureau_Role] = [.agency], purposes: [Bureau_Purpose] = [.loanOrigination],
    tier: UInt32 = 3
) -> Bureau_InstitutionRecord {
    var institution = Bureau_InstitutionRecord()
    institution.code = code
    institution.name = name
    institution.roles = roles
    institution.licence.purposes = purposes
    institution.licence.subjectKinds = [.individual, .business]
    institution.licence.tier = tier
    institution.licence.validFrom = Bureau_CalendarDate(year: 2020, month: 1, day: 1)
    institution.licence.validUntil = Bureau_CalendarDate(year: 2099, month: 12, day: 31)
    return institution
}

@Suite("Administration over the API", .serialized)
struct AdministrationTests {
    static let operations = DemoData.operations.value

    /// The one entry added since `before`: an applied change by the demo operator, logged with its operator id.
    static func expectChange(
        _ action: String, requestID: String, since before: UInt64, in bureau: InProcessBureau, operatorID: String = "staff-0042",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> AccessLogEntry? {
        let added = try bureau.logEntries(from: before)
        #expect(added.count == 1, "one entry for the change", sourceLocation: sourceLocation)
        guard let entry = added.last?.entry else { return nil }
        #expect(entry.action.name == action, sourceLocation: sourceLocation)
        #expect(entry.outcome == .applied, sourceLocation: sourceLocation)
        #expect(entry.requestID == requestID, sourceLocation: sourceLocation)
        #expect(entry.institution == operations, sourceLocation: sourceLocation)
        #expect(entry.operatorID == operatorID, sourceLocation: sourceLocation)
        #expect(entry.certificateFingerprint.count == 64 && !entry.changeDigest.isEmpty, sourceLocation: sourceLocation)
        return entry
    }

    @Test("an institution registered over the API is served at once; its licence, updated, applies from the next call")
    func registerAndUpdate() async throws {
        try await InProcessBureau.run { bureau in
            // The employer code has standing consents on file, so its reports need nothing more.
            let issued = try bureau.ca.issueClient(name: "Admin Test Lender", code: employerCode)
            let refused = await rpcError { _ = try await bureau.catalogueVersion(as: issued) }
            #expect(refused?.code == .unauthenticated, "not yet registered")

            var request = Bureau_RegisterInstitutionRequest()
            request.requestID = "reg-1"
            request.institution = registration(employerCode)
            request.certificatePem = [try issued.certificatePEM]
            var before = try bureau.logSize
            let registered = try await bureau.administer { admin, metadata in
                try await admin.registerInstitution(request: ClientRequest(message: request, metadata: metadata), options: fastCall)
            }
            #expect(registered.institution == employerCode)
            #expect(registered.receipt.entryIndex == before)
            let entry = try Self.expectChange("institution.register", requestID: "reg-1", since: before, in: bureau)
            #expect(entry?.reason == employerCode)

            let report = try await bureau.withClient(as: issued) { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest(agency: employerCode)), options: fastCall
                )
            }
            #expect(report.report.hasSummary, "registered and served without a restart")

            let twice = await rpcError {
                _ = try await bureau.administer { admin, metadata in
                    try await admin.registerInstitution(request: ClientRequest(message: request, metadata: metadata), options: fastCall)
                }
            }
            #expect(twice?.code == .alreadyExists)

            // Update: tenant screening only, tier 1. Loan origination is refused from the next call on.
            var update = Bureau_UpdateInstitutionRequest()
            update.requestID = "upd-1"
            update.institution = registration(employerCode, name: "Admin Test Lender Ltd", purposes: [.tenantScreening], tier: 1)
            before = try bureau.logSize
            _ = try await bureau.administer { admin, metadata in
                try await admin.updateInstitution(request: ClientRequest(message: update, metadata: metadata), options: fastCall)
            }
            _ = try Self.expectChange("institution.update", requestID: "upd-1", since: before, in: bureau)
            let stored = try #require(try bureau.store.read { try $0.institution(code: UnifiedSocialCreditCode(parsing: employerCode)) })
            #expect(stored.name == "Admin Test Lender Ltd")
            #expect(stored.licence.tier == .summary && stored.purposes == [.tenantScreening])
            #expect(stored.certificateFingerprints == [try CallerResolver.fingerprint(of: issued.certificate).hexString], "its certificate stays bound")
            let denied = await rpcError {
                _ = try await bureau.withClient(as: issued) { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest(agency: employerCode)), options: fastCall
                    )
                }
            }
            #expect(denied?.code == .permissionDenied)
            #expect(denied?.message.contains("loan-origination is not licensed") == true, "\(denied?.message ?? "")")

            let listed = try await bureau.administer { admin, metadata in
                try await admin.listInstitutions(request: ClientRequest(message: .init(), metadata: metadata), options: fastCall)
            }
            let record = try #require(listed.institutions.first { $0.code == employerCode })
            #expect(record.licence.purposes == [.tenantScreening] && record.licence.tier == 1)
            #expect(record.certificateFingerprints.count == 1)
            #expect(listed.institutions.count == DemoData.institutions.count + 1)

            update.institution.code = "91110000600037342X"
            let missing = await rpcError {
                _ = try await bureau.administer { admin, metadata in
                    try await admin.updateInstitution(request: ClientRequest(message: update, metadata: metadata), options: fastCall)
                }
            }
            #expect(missing?.code == .invalidArgument && missing?.message.hasPrefix("institution.code:") == true)
            update.institution.code = try UnifiedSocialCreditCode.make(organisation: "73009999").value
            let notFound = await rpcError {
                _ = try await bureau.administer { admin, metadata in
                    try await admin.updateInstitution(request: ClientRequest(message: update, metadata: metadata), options: fastCall)
                }
            }
            #expect(notFound?.code == .notFound)
        }
    }

    @Test("a certificate revoked over the API is refused on the next call; only the bureau's CA's certificates bind")
    func bindAndRevoke() async throws {
        try await InProcessBureau.run { bureau in
            let bank = try #require(bureau.clients["bank"])
            #expect(try await bureau.catalogueVersion(as: bank) == 1)
            let fingerprint = try CallerResolver.fingerprint(of: bank.certificate).hexString

            var revoke = Bureau_RevokeCertificateRequest()
            revoke.requestID = "rev-1"
            revoke.fingerprint = fingerprint.uppercased()
            var before = try bureau.logSize
            let revoked = try await bureau.administer { admin, metadata in
                try await admin.revokeCertificate(request: ClientRequest(message: revoke, metadata: metadata), options: fastCall)
            }
            #expect(revoked.institution == DemoData.bank.value && revoked.fingerprint == fingerprint)
            let entry = try Self.expectChange("certificate.revoke", requestID: "rev-1", since: before, in: bureau)
            #expect(entry?.reason == "\(DemoData.bank.value): sha256:\(fingerprint)")
            let refused = await rpcError { _ = try await bureau.catalogueVersion(as: bank) }
            #expect(refused?.code == .unauthenticated)
            #expect(refused?.message.contains("revoked") == true)
            let again = await rpcError {
                _ = try await bureau.administer { admin, metadata in
                    try await admin.revokeCertificate(request: ClientRequest(message: revoke, metadata: metadata), options: fastCall)
                }
            }
            #expect(again?.code == .alreadyExists)

            // A new certificate, issued where the CA is (here the test), bound by its PEM: the bank is back.
            let renewed = try bureau.ca.issueClient(name: "Demo Commercial Bank", code: DemoData.bank.value)
            var bind = Bureau_BindCertificateRequest()
            bind.requestID = "bind-1"
            bind.institution = DemoData.bank.value
            bind.certificatePem = try renewed.certificatePEM
            before = try bureau.logSize
            let bound = try await bureau.administer { admin, metadata in
                try await admin.bindCertificate(request: ClientRequest(message: bind, metadata: metadata), options: fastCall)
            }
            #expect(bound.fingerprint == (try CallerResolver.fingerprint(of: renewed.certificate).hexString))
            _ = try Self.expectChange("certificate.bind", requestID: "bind-1", since: before, in: bureau)
            #expect(try await bureau.catalogueVersion(as: renewed) == 1)

            // The revoked certificate never binds again; a certificate of another CA, a CA certificate or
            // text that is no certificate do not bind at all.
            let other = try CertificateAuthority.create(name: "Somebody Else's CA")
            let cases: [(String, RPCError.Code, String)] = [
                (try bank.certificatePEM, .failedPrecondition, "revoked"),
                (try other.issueClient(name: "Demo Commercial Bank", code: DemoData.bank.value).certificatePEM, .invalidArgument,
                 "certificate_pem: was not issued by the bureau's CA"),
                (try bureau.ca.certificatePEM, .invalidArgument, "certificate_pem: is a CA certificate"),
                (try bureau.ca.issueServer().certificatePEM, .invalidArgument, "certificate_pem: is not for client authentication"),
                (try bureau.ca.issueClient(name: "Demo Commercial Bank", code: DemoData.bank.value, notAfter: Date().addingTimeInterval(-60)).certificatePEM,
                 .invalidArgument, "certificate_pem: expired on"),
                ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", .invalidArgument, "certificate_pem: is not a PEM certificate"),
                (String(repeating: "A", count: 17_000), .invalidArgument, "certificate_pem: is a PEM certificate of at most 16 KiB"),
                (try renewed.certificatePEM, .alreadyExists, "bound to \(DemoData.bank.value) already"),
                (try bureau.clients["court"]!.certificatePEM, .alreadyExists, "is bound to \(DemoData.court.value)"),
            ]
            for (pem, code, message) in cases {
                bind.certificatePem = pem
                before = try bureau.logSize
                let error = await rpcError {
                    _ = try await bureau.administer { admin, metadata in
                        try await admin.bindCertificate(request: ClientRequest(message: bind, metadata: metadata), options: fastCall)
                    }
                }
                #expect(error?.code == code, "\(message): \(String(describing: error))")
                #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
                #expect(try bureau.logSize == before, "nothing logged, nothing changed")
            }
            revoke.fingerprint = "abc"
            let bad = await rpcError {
                _ = try await bureau.administer { admin, metadata in
                    try await admin.revokeCertificate(request: ClientRequest(message: revoke, metadata: metadata), options: fastCall)
                }
            }
            #expect(bad?.code == .invalidArgument && bad?.message.hasPrefix("fingerprint:") == true)
        }
    }

    @Test("a catalogue replaced over the API is the one served from the next call")
    func replaceCatalogue() async throws {
        try await InProcessBureau.run { bureau in
            let bank = try #require(bureau.clients["bank"])
            var catalogue = Catalogue.default
            catalogue.version = 2
            let index = try #require(catalogue.categories.firstIndex { $0.code == Catalogue.accountDelinquency })
            catalogue.categories[index].retentionYears = 3
            var request = Bureau_ReplaceCatalogueRequest()
            request.requestID = "cat-2"
            request.version = 2
            request.categories = catalogue.categories.map(Bureau_Category.init)
            let before = try bureau.logSize
            _ = try await bureau.administer { admin, metadata in
                try await admin.replaceCatalogue(request: ClientRequest(message: request, metadata: metadata), options: fastCall)
            }
            let entry = try Self.expectChange("catalogue.replace", requestID: "cat-2", since: before, in: bureau)
            #expect(entry?.reason == "version 2")
            #expect(try bureau.store.catalogue() == catalogue, "stored as sent, repairable marks included")
            #expect(try await bureau.catalogueVersion(as: bank) == 2, "served from the next call, not after the cache's lifetime")

            func replaced(_ change: (inout Bureau_ReplaceCatalogueRequest) -> Void) async -> RPCError? {
                var bad = request
                bad.version = 3
                change(&bad)
                return await rpcError {
                    _ = try await bureau.administer { admin, metadata in
                        try await admin.replaceCatalogue(request: ClientRequest(message: bad, metadata: metadata), options: fastCall)
                    }
                }
            }
            let stale = await replaced { $0.version = 2 }
            #expect(stale?.code == .failedPrecondition && stale?.message.hasPrefix("version:") == true)
            let cases: [(String, (inout Bureau_ReplaceCatalogueRequest) -> Void)] = [
                ("categories: account.credit is required", { $0.categories.removeAll { $0.code == Catalogue.accountCredit } }),
                ("categories[2].code: identity.business appears twice", { $0.categories.insert($0.categories[1], at: 0) }),
                ("categories[0]: blood type", { $0.categories[0].name = "Blood type of the subject" }),
                ("categories[1].purposes[0]: is required", { $0.categories[1].purposes = [.unspecified] }),
                ("categories[0].name: is 1 to 500 bytes", { $0.categories[0].name = String(repeating: "x", count: 501) }),
                ("request_id: is required", { $0.requestID = "" }),
            ]
            for (message, change) in cases {
                let error = await replaced(change)
                #expect(error?.code == .invalidArgument, "\(message): \(String(describing: error))")
                #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "")")
            }
            #expect(try bureau.store.catalogue().version == 2, "nothing replaced")
        }
    }

    @Test("an operator suspends and reinstates a licence; a non-operator is refused and logged; an operator must name its staff")
    func suspendReinstateAndRefusals() async throws {
        try await InProcessBureau.run { bureau in
            let bank = try #require(bureau.clients["bank"])
            var action = Bureau_LicenceActionRequest()
            action.requestID = "susp-1"
            action.institution = DemoData.bank.value
            action.reason = "quarterly review overdue"
            var before = try bureau.logSize
            let suspended = try await bureau.administer { admin, metadata in
                try await admin.suspendLicence(request: ClientRequest(message: action, metadata: metadata), options: fastCall)
            }
            #expect(suspended.status == "suspended")
            _ = try Self.expectChange("licence.suspend", requestID: "susp-1", since: before, in: bureau)
            let refused = await rpcError { _ = try await bureau.catalogueVersion(as: bank) }
            #expect(refused?.code == .permissionDenied && refused?.message.contains("suspended") == true)

            action.requestID = "rein-1"
            before = try bureau.logSize
            _ = try await bureau.administer { admin, metadata in
                try await admin.reinstateLicence(request: ClientRequest(message: action, metadata: metadata), options: fastCall)
            }
            _ = try Self.expectChange("licence.reinstate", requestID: "rein-1", since: before, in: bureau)
            #expect(try await bureau.catalogueVersion(as: bank) == 1)

            action.institution = Self.operations
            let own = await rpcError {
                _ = try await bureau.administer { admin, metadata in
                    try await admin.suspendLicence(request: ClientRequest(message: action, metadata: metadata), options: fastCall)
                }
            }
            #expect(own?.code == .failedPrecondition)

            // A regulator is no operator: refused, and the refusal logged with its request id.
            var request = Bureau_RegisterInstitutionRequest()
            request.requestID = "reg-by-regulator"
            request.institution = registration(employerCode)
            before = try bureau.logSize
            let denied = await rpcError {
                _ = try await bureau.administer(as: bureau.clients["regulator"]!) { admin, metadata in
                    try await admin.registerInstitution(request: ClientRequest(message: request, metadata: metadata), options: fastCall)
                }
            }
            let logged = try expectLoggedRefusal(
                denied, .permissionDenied, mentioning: "operator role", institution: DemoData.regulator.value, since: before, in: bureau
            )
            #expect(logged?.entry.requestID == "reg-by-regulator")
            #expect(logged?.entry.action.name == "bureau.v1.AdministrationService/RegisterInstitution")
            #expect(try bureau.store.read { try $0.institution(code: UnifiedSocialCreditCode(parsing: employerCode)) } == nil)
            // And the regulator keeps its own suspension (OversightService), which an operator does not use.
            before = try bureau.logSize
            let notRegulator = await rpcError {
                _ = try await bureau.withClient("operator") { client in
                    try await Bureau_OversightService.Client(wrapping: client).suspendLicence(
                        request: ClientRequest(message: action, metadata: [OperatorMetadata.key: "staff-0042"]), options: fastCall
                    )
                }
            }
            _ = try expectLoggedRefusal(notRegulator, .permissionDenied, mentioning: "regulator role", institution: Self.operations, since: before, in: bureau)

            // An operator's client that names no member of staff is refused before anything is done.
            before = try bureau.logSize
            let anonymous = await rpcError {
                _ = try await bureau.administer(operatorID: "") { admin, metadata in
                    try await admin.listInstitutions(request: ClientRequest(message: .init(), metadata: metadata), options: fastCall)
                }
            }
            #expect(anonymous?.code == .invalidArgument && anonymous?.message.hasPrefix("bureau-operator-id:") == true)
            #expect(try bureau.logSize == before)
        }
    }

    @Test("a registration with a bad field is refused naming it, and changes nothing")
    func badRegistration() async throws {
        let cases: [(String, (inout Bureau_InstitutionRecord) -> Void)] = [
            ("institution.code", { $0.code = "91110000600037341X" }),
            ("institution.name", { $0.name = "  " }),
            ("institution.name", { $0.name = String(repeating: "名", count: 67) }),
            ("institution.name: must not contain a national identifier", { $0.name = "Lender of 11010519491231002X" }),
            ("institution.roles", { $0.roles = [] }),
            ("institution.roles[1]: appears twice", { $0.roles = [.agency, .agency] }),
            ("institution.roles[0]", { $0.roles = [.unspecified] }),
            ("institution.licence: is required", { $0.clearLicence() }),
            ("institution.licence.purposes: regulatory-supervision needs the regulator role", { $0.licence.purposes = [.regulatorySupervision] }),
            ("institution.licence.purposes[0]", { $0.licence.purposes = [.unspecified] }),
            ("institution.licence.subject_kinds", { $0.licence.subjectKinds = [] }),
            ("institution.licence.tier", { $0.licence.tier = 4 }),
            ("institution.licence.valid_from: is required", { $0.licence.clearValidFrom() }),
            ("institution.licence.valid_from: must be a real date", { $0.licence.validFrom = Bureau_CalendarDate(year: 2026, month: 2, day: 30) }),
            ("institution.licence.valid_until: is not before valid_from", { $0.licence.validUntil = Bureau_CalendarDate(year: 2019, month: 1, day: 1) }),
            ("institution.licence.daily_quota", { $0.licence.dailyQuota = 20_000_000 }),
            ("institution.licence.hours", { $0.licence.hours.from = 20; $0.licence.hours.to = 8 }),
            ("institution.categories: only a furnisher", { $0.categories = [Catalogue.accountCredit] }),
            ("institution.categories: statement is not a category of records", { $0.roles = [.furnisher]; $0.licence.purposes = []; $0.categories = ["statement"] }),
            ("institution.categories[0]: is 1 to 64 bytes", { $0.roles = [.furnisher]; $0.categories = [""] }),
        ]
        try await InProcessBureau.run(seed: false) { bureau in
            for (field, change) in cases {
                var request = Bureau_RegisterInstitutionRequest()
                request.requestID = "reg-bad"
                request.institution = registration(employerCode)
                change(&request.institution)
                let before = try bureau.logSize
                let error = await rpcError {
                    _ = try await bureau.administer { admin, metadata in
                        try await admin.registerInstitution(request: ClientRequest(message: request, metadata: metadata), options: fastCall)
                    }
                }
                #expect(error?.code == .invalidArgument, "\(field): \(String(describing: error))")
                #expect(error?.message.hasPrefix(field) == true, "\(field): \(error?.message ?? "")")
                #expect(try bureau.logSize == before)
                #expect(try bureau.store.read { try $0.institution(code: UnifiedSocialCreditCode(parsing: employerCode)) } == nil)
            }
        }
    }
}
