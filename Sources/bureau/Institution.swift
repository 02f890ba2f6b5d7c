import ArgumentParser
import BureauCore
import BureauServer
import BureauStore
import BureauLMDB
import Foundation

struct Institution: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register and list institutions.",
        subcommands: [Add.self, List.self, IssueCert.self, RevokeCert.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register an institution (or replace its registration), binding its client certificate."
        )

        @OptionGroup var data: DataOptions
        @Option(help: "Unified Social Credit Code.") var code: String
        @Option(help: "Name.") var name: String
        @Option(help: "Role (repeatable): \(BureauCore.Role.allCases.map(\.rawValue).joined(separator: ", ")).")
        var role: [String] = []
        @Option(help: "Licensed purpose (repeatable): \(Purpose.allCases.map(\.rawValue).joined(separator: ", ")).")
        var purpose: [String] = []
        @Option(help: "Catalogue category it may furnish (repeatable), for example account.credit.") var category: [String] = []
        @Option(help: "Client certificate PEM to bind (repeatable).") var cert: [String] = []
        @Option(help: "Licence tier: 1 summary, 2 accounts, 3 full.") var tier = 3
        @Option(help: "Subject kinds the licence covers (repeatable): individual, business.") var subjectKind: [String] = ["individual", "business"]
        @Option(help: "Licence valid from (YYYY-MM-DD).") var validFrom = "2000-01-01"
        @Option(help: "Licence valid until (YYYY-MM-DD).") var validUntil = "2099-12-31"
        @Option(help: "Licence status: active, suspended, revoked.") var status = "active"
        @Option(help: "Queries a day (0: no limit).") var dailyQuota = 0
        @Option(help: "UTC hours queries are expected in, for anomaly monitoring (for example 8-20).") var hours: String?
        @Option(help: "Operator id recorded in the log entry.") var operatorID = ""

        func run() throws {
            let code: UnifiedSocialCreditCode
            do { code = try UnifiedSocialCreditCode(parsing: self.code, field: "--code") } catch { throw ValidationError(error.message) }
            let roles = try Set(role.map { r in
                guard let role = BureauCore.Role(rawValue: r) else { throw ValidationError("--role: unknown role \(r)") }
                return role
            })
            guard !roles.isEmpty else { throw ValidationError("--role: at least one role is required") }
            let purposes = try Set(purpose.map { p in
                guard let purpose = Purpose(rawValue: p) else { throw ValidationError("--purpose: unknown purpose \(p)") }
                return purpose
            })
            let fingerprints = try Set(cert.map { try CertificateFile.fingerprint(ofPEMFile: $0) })
            let store = try Store(folder: data.data)
            let catalogue = try store.catalogue()
            for c in category where catalogue.category(c)?.recordKind == nil {
                throw ValidationError("--category: \(c) is not a category of records in the catalogue (version \(catalogue.version))")
            }
            let receipt = try InstitutionRegistry.register(
                BureauCore.Institution(
                    code: code, name: name, roles: roles, licence: try licence(purposes), certificateFingerprints: fingerprints,
                    categories: Set(category)
                ),
                in: store, operatorID: operatorID
            )
            print("registered \(code) \(name) (log entry \(receipt.index))")
        }

        func licence(_ purposes: Set<Purpose>) throws -> Licence {
            guard let tier = Tier(rawValue: tier) else { throw ValidationError("--tier: 1, 2 or 3") }
            let kinds = try Set(subjectKind.map { k in
                guard let kind = SubjectKind(rawValue: k) else { throw ValidationError("--subject-kind: individual or business, got \(k)") }
                return kind
            })
            guard let from = CalendarDate(iso: validFrom) else { throw ValidationError("--valid-from: YYYY-MM-DD") }
            guard let until = CalendarDate(iso: validUntil), until >= from else { throw ValidationError("--valid-until: YYYY-MM-DD, not before --valid-from") }
            guard let status = LicenceStatus(rawValue: status) else { throw ValidationError("--status: active, suspended or revoked") }
            guard dailyQuota >= 0 else { throw ValidationError("--daily-quota: 0 or more") }
            var range: ClosedRange<Int>?
            if let hours {
                let parts = hours.split(separator: "-").compactMap { Int($0) }
                guard parts.count == 2, (0...23).contains(parts[0]), (0...23).contains(parts[1]), parts[0] <= parts[1] else {
                    throw ValidationError("--hours: FROM-TO in UTC hours, 0 to 23")
                }
                range = parts[0]...parts[1]
            }
            return Licence(
                purposes: purposes, subjectKinds: kinds, tier: tier, validFrom: from, validUntil: until, status: status,
                dailyQuota: dailyQuota, hours: range
            )
        }
    }

    struct IssueCert: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "issue-cert",
            abstract: "Issue a client certificate for a registered institution with the bureau's CA and bind it (a logged change)."
        )
        @OptionGroup var data: DataOptions
        @OptionGroup var ca: CA.Options
        @Option(help: "The institution's Unified Social Credit Code.") var code: String
        @Option(help: "Where to write NAME.pem and NAME.key (default: the code).") var out: String?
        @Option(help: "Days of validity.") var days = 825

        func run() throws {
            let code: UnifiedSocialCreditCode
            do { code = try UnifiedSocialCreditCode(parsing: self.code, field: "--code") } catch { throw ValidationError(error.message) }
            let store = try Store(folder: data.data)
            guard var institution = try store.read({ try $0.institution(code: code) }) else {
                throw ValidationError("--code: \(code) is not registered (bureau institution add)")
            }
            let issued = try ca.load().issueClient(name: institution.name, code: code.value, days: days)
            let base = out ?? code.value
            try write(try issued.certificatePEM, to: base + ".pem", mode: 0o644)
            try write(issued.privateKeyPEM, to: base + ".key", mode: 0o600)
            let fingerprint = try CallerResolver.fingerprint(of: issued.certificate).hexString
            institution.certificateFingerprints.insert(fingerprint)
            let receipt = try InstitutionRegistry.register(institution, in: store)
            print("issued \(base).pem for \(code) (sha256:\(fingerprint)), bound as log entry \(receipt.index)")
        }
    }

    struct RevokeCert: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-cert",
            abstract: "Revoke a client certificate: refused from the next call on, without a restart (a logged change)."
        )
        @OptionGroup var data: DataOptions
        @Option(help: "The certificate PEM to revoke.") var cert: String?
        @Option(help: "Or its SHA-256 fingerprint (hex).") var fingerprint: String?

        func run() throws {
            let hex: String
            if let cert { hex = try CertificateFile.fingerprint(ofPEMFile: cert) } else if let fingerprint { hex = fingerprint.lowercased() } else {
                throw ValidationError("give --cert or --fingerprint")
            }
            let store = try Store(folder: data.data)
            let receipt = try store.write { txn -> LogReceipt in
                let owner = try txn.revokeCertificate(fingerprint: hex)
                return try txn.appendLog(
                    // The entry names the certificate revoked and the institution it was bound to.
                    AccessLogEntry(
                        .certificateRevoke, by: LogActor(institution: owner?.code.value ?? "", certificateFingerprint: hex, operatorID: ""),
                        time: Date(), requestID: hex, outcome: .applied
                    )
                )
            }
            print("revoked sha256:\(hex) (log entry \(receipt.index))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered institutions.")
        @OptionGroup var data: DataOptions

        func run() throws {
            let store = try Store(folder: data.data)
            let institutions = try store.read { try $0.institutions() }
            for i in institutions {
                print("\(i.code)  \(i.name)")
                print("    roles:    \(i.roles.map(\.rawValue).sorted().joined(separator: ", "))")
                print("    purposes: \(i.purposes.map(\.rawValue).sorted().joined(separator: ", "))")
                let l = i.licence
                print("    licence:  \(l.status.rawValue), tier \(l.tier.rawValue), \(l.validFrom) to \(l.validUntil), "
                    + "\(l.subjectKinds.map(\.rawValue).sorted().joined(separator: " and ")) files, "
                    + (l.dailyQuota == 0 ? "no daily quota" : "\(l.dailyQuota) queries a day"))
                print("    furnishes: \(i.categories.sorted().joined(separator: ", "))")
                for f in i.certificateFingerprints.sorted() { print("    cert:     sha256:\(f)") }
            }
            if institutions.isEmpty { print("no institutions registered in \(data.data)") }
        }
    }
}
