import ArgumentParser
import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauLMDB
import BureauWire
import Foundation
import GRPCCore

/// Institutions, their licences and certificates, administered through a running bureaud
/// (AdministrationService) as an operator. Only `add --bootstrap` writes to a data folder: the first
/// operator of an installation bureaud has not started on.
struct Institution: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register, change and list institutions, their certificates and licences (through bureaud, as an operator).",
        subcommands: [Add.self, Update.self, List.self, IssueCert.self, RevokeCert.self, Suspend.self, Reinstate.self]
    )

    /// An institution as the command line describes it.
    struct Registration: ParsableArguments {
        @Option(help: "Unified Social Credit Code.") var code: String
        @Option(help: "Name.") var name: String
        @Option(help: "Role (repeatable): \(BureauCore.Role.allCases.map(\.rawValue).joined(separator: ", ")).")
        var role: [String] = []
        @Option(help: "Licensed purpose (repeatable): \(Purpose.allCases.map(\.rawValue).joined(separator: ", ")).")
        var purpose: [String] = []
        @Option(help: "Catalogue category it may furnish (repeatable), for example account.credit.") var category: [String] = []
        @Option(help: "Licence tier: 1 summary, 2 accounts, 3 full.") var tier = 3
        @Option(help: "Subject kinds the licence covers (repeatable): individual, business.") var subjectKind: [String] = ["individual", "business"]
        @Option(help: "Licence valid from (YYYY-MM-DD).") var validFrom = "2000-01-01"
        @Option(help: "Licence valid until (YYYY-MM-DD).") var validUntil = "2099-12-31"
        @Option(help: "Licence status: active, suspended, revoked.") var status = "active"
        @Option(help: "Queries a day (0: no limit).") var dailyQuota = 0
        @Option(help: "UTC hours queries are expected in, for anomaly monitoring (for example 8-20).") var hours: String?

        /// The wire record: names are checked here, everything else by bureaud (or, bootstrapping, by the
        /// same rules locally), which names the field.
        func record() throws -> Bureau_InstitutionRecord {
            var record = Bureau_InstitutionRecord()
            record.code = code
            record.name = name
            record.roles = try role.map { r in
                guard let role = BureauCore.Role(rawValue: r) else { throw ValidationError("--role: unknown role \(r)") }
                return role.wire
            }
            record.categories = category
            var licence = Bureau_Licence()
            licence.purposes = try purpose.map { p in
                guard let purpose = Purpose(rawValue: p) else { throw ValidationError("--purpose: unknown purpose \(p)") }
                return purpose.wire
            }
            licence.subjectKinds = try subjectKind.map { k in
                guard let kind = SubjectKind(rawValue: k) else { throw ValidationError("--subject-kind: individual or business, got \(k)") }
                return kind.wire
            }
            guard (0...255).contains(tier) else { throw ValidationError("--tier: 1, 2 or 3") }
            licence.tier = UInt32(tier)
            guard let from = CalendarDate(iso: validFrom) else { throw ValidationError("--valid-from: YYYY-MM-DD") }
            guard let until = CalendarDate(iso: validUntil) else { throw ValidationError("--valid-until: YYYY-MM-DD") }
            licence.validFrom = Bureau_CalendarDate(from)
            licence.validUntil = Bureau_CalendarDate(until)
            guard let status = LicenceStatus(rawValue: status) else { throw ValidationError("--status: active, suspended or revoked") }
            licence.status = status.wire
            guard (0...Int(UInt32.max)).contains(dailyQuota) else { throw ValidationError("--daily-quota: 0 or more") }
            licence.dailyQuota = UInt32(dailyQuota)
            if let hours {
                let parts = hours.split(separator: "-").compactMap { UInt32($0) }
                guard parts.count == 2 else { throw ValidationError("--hours: FROM-TO in UTC hours, 0 to 23") }
                licence.hours.from = parts[0]
                licence.hours.to = parts[1]
            }
            record.licence = licence
            return record
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an institution and its licence, binding its client certificates (a logged change).",
            discussion: """
                Through bureaud's AdministrationService, as an operator. With --bootstrap, writes the installation's \
                first operator into the data folder instead (before bureaud's first start, or to recover when no \
                operator can call): nothing else is registered locally.
                """
        )

        @OptionGroup var registration: Registration
        @Option(help: "The institution's client certificate (PEM file) to bind (repeatable), issued by the bureau's CA.") var pem: [String] = []
        @OptionGroup var operatorOptions: OperatorOptions
        @Flag(help: "Write the first operator into --data locally instead of calling bureaud.") var bootstrap = false
        @Option(help: "Data folder, with --bootstrap (default: data).") var data: String?

        func validate() throws {
            if data != nil && !bootstrap {
                throw ValidationError("--data goes with --bootstrap: every other registration goes through bureaud (--server)")
            }
        }

        func run() async throws {
            let record = try registration.record()
            let pems = try pem.map { try String(contentsOfFile: $0, encoding: .utf8) }
            if bootstrap { return try self.bootstrap(record, pems) }
            var request = Bureau_RegisterInstitutionRequest()
            request.requestID = operatorOptions.requestID
            request.institution = record
            request.certificatePem = pems
            let response = try await operatorOptions.withAdministration { admin in
                try await admin.registerInstitution(request: ClientRequest(message: request, metadata: operatorOptions.metadata))
            }
            print("registered \(record.code) \(record.name) (log entry \(response.receipt.entryIndex))")
        }

        /// Registers the first operator in the data folder, by the rules bureaud applies.
        private func bootstrap(_ record: Bureau_InstitutionRecord, _ pems: [String]) throws {
            var institution: BureauCore.Institution
            let folder = data ?? "data"
            let store = try Store(folder: folder)
            do {
                institution = try BureauCore.Institution(wire: record, field: "institution").validated(against: try store.catalogue())
            } catch let error as BureauError {
                throw ValidationError(error.message)
            }
            guard institution.roles.contains(.operator) else {
                throw ValidationError("--bootstrap registers an operator (--role operator); register the others through bureaud")
            }
            institution.certificateFingerprints = Set(try pems.map { try CertificateFile.fingerprint(ofPEM: $0) })
            let receipt = try InstitutionRegistry.register(institution, in: store, operatorID: operatorOptions.operatorID)
            print("bootstrapped operator \(institution.code) \(institution.name) in \(folder) (log entry \(receipt.index))")
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a registered institution's name, roles, categories and licence; its certificates stay bound (a logged change)."
        )

        @OptionGroup var registration: Registration
        @OptionGroup var operatorOptions: OperatorOptions

        func run() async throws {
            var request = Bureau_UpdateInstitutionRequest()
            request.requestID = operatorOptions.requestID
            request.institution = try registration.record()
            let response = try await operatorOptions.withAdministration { admin in
                try await admin.updateInstitution(request: ClientRequest(message: request, metadata: operatorOptions.metadata))
            }
            print("updated \(request.institution.code) (log entry \(response.receipt.entryIndex))")
        }
    }

    struct IssueCert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issue-cert",
            abstract: "Issue a client certificate with the bureau's CA here, and have bureaud bind it (a logged change).",
            discussion: "The CA's key stays on this machine: bureaud only checks that its CA issued the certificate."
        )
        @OptionGroup var ca: CA.Options
        @Option(help: "The institution's Unified Social Credit Code.") var code: String
        @Option(help: "Where to write NAME.pem and NAME.key (default: the code).") var out: String?
        @Option(help: "Days of validity.") var days = 825
        @OptionGroup var operatorOptions: OperatorOptions

        func run() async throws {
            let authority = try ca.load()
            let (base, code) = (out ?? self.code, self.code)
            let response = try await operatorOptions.withAdministration { admin -> Bureau_AdministrationResponse in
                let listed = try await admin.listInstitutions(
                    request: ClientRequest(message: .init(), metadata: operatorOptions.metadata)
                )
                guard let institution = listed.institutions.first(where: { $0.code == code }) else {
                    throw ValidationError("--code: \(code) is not registered (bureau institution add)")
                }
                let issued = try authority.issueClient(name: institution.name, code: code, days: days)
                try write(try issued.certificatePEM, to: base + ".pem", mode: 0o644)
                try write(issued.privateKeyPEM, to: base + ".key", mode: 0o600)
                var request = Bureau_BindCertificateRequest()
                request.requestID = operatorOptions.requestID
                request.institution = code
                request.certificatePem = try issued.certificatePEM
                do {
                    return try await admin.bindCertificate(request: ClientRequest(message: request, metadata: operatorOptions.metadata))
                } catch {
                    // Not bound: no certificate left behind that looks usable.
                    try? FileManager.default.removeItem(atPath: base + ".pem")
                    try? FileManager.default.removeItem(atPath: base + ".key")
                    throw error
                }
            }
            print("issued \(base).pem for \(code) (sha256:\(response.fingerprint)), bound as log entry \(response.receipt.entryIndex)")
        }
    }

    struct RevokeCert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-cert",
            abstract: "Revoke a client certificate: refused from the next call on, without a restart (a logged change)."
        )
        @Option(help: "The certificate to revoke (PEM file).") var pem: String?
        @Option(help: "Or its SHA-256 fingerprint (hex).") var fingerprint: String?
        @OptionGroup var operatorOptions: OperatorOptions

        func run() async throws {
            var request = Bureau_RevokeCertificateRequest()
            request.requestID = operatorOptions.requestID
            if let pem { request.fingerprint = try CertificateFile.fingerprint(ofPEMFile: pem) } else if let fingerprint {
                request.fingerprint = fingerprint
            } else {
                throw ValidationError("give --pem or --fingerprint")
            }
            let response = try await operatorOptions.withAdministration { admin in
                try await admin.revokeCertificate(request: ClientRequest(message: request, metadata: operatorOptions.metadata))
            }
            let owner = response.institution.isEmpty ? "bound to no institution" : "of \(response.institution)"
            print("revoked sha256:\(response.fingerprint) \(owner) (log entry \(response.receipt.entryIndex))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered institutions.")
        @OptionGroup var operatorOptions: OperatorOptions

        func run() async throws {
            let listed = try await operatorOptions.withAdministration { admin in
                try await admin.listInstitutions(request: ClientRequest(message: .init(), metadata: operatorOptions.metadata))
            }
            for record in listed.institutions {
                let i = try BureauCore.Institution(wire: record, field: "institution")
                print("\(i.code)  \(i.name)")
                print("    roles:    \(i.roles.map(\.rawValue).sorted().joined(separator: ", "))")
                print("    purposes: \(i.purposes.map(\.rawValue).sorted().joined(separator: ", "))")
                let l = i.licence
                print("    licence:  \(l.status.rawValue), tier \(l.tier.rawValue), \(l.validFrom) to \(l.validUntil), "
                    + "\(l.subjectKinds.map(\.rawValue).sorted().joined(separator: " and ")) files, "
                    + (l.dailyQuota == 0 ? "no daily quota" : "\(l.dailyQuota) queries a day"))
                print("    furnishes: \(i.categories.sorted().joined(separator: ", "))")
                for f in record.certificateFingerprints { print("    cert:     sha256:\(f)") }
            }
            if listed.institutions.isEmpty { print("no institutions registered") }
        }
    }

    /// What suspension and reinstatement take, and the call that makes either change.
    struct LicenceAction: ParsableArguments {
        @Option(help: "The institution's Unified Social Credit Code.") var code: String
        @Option(help: "Why (logged; 1 to 500 characters).") var reason: String
        @OptionGroup var operatorOptions: OperatorOptions

        /// Suspends (`suspend`) or reinstates the licence and prints its new status.
        func change(suspend: Bool) async throws {
            var request = Bureau_LicenceActionRequest()
            request.requestID = operatorOptions.requestID
            request.institution = code
            request.reason = reason
            let call = ClientRequest(message: request, metadata: operatorOptions.metadata)
            let response = try await operatorOptions.withAdministration { admin in
                suspend ? try await admin.suspendLicence(request: call) : try await admin.reinstateLicence(request: call)
            }
            print("\(code): licence \(response.status) (log entry \(response.receipt.entryIndex))")
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suspend an institution's licence at once: every call it makes is refused (a logged change).")
        @OptionGroup var action: LicenceAction

        func run() async throws { try await action.change(suspend: true) }
    }

    struct Reinstate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reinstate a suspended licence (a logged change).")
        @OptionGroup var action: LicenceAction

        func run() async throws { try await action.change(suspend: false) }
    }
}
