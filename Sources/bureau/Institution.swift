import ArgumentParser
import BureauCore
import BureauServer
import BureauStore

struct Institution: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register and list institutions.",
        subcommands: [Add.self, List.self]
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
                    code: code, name: name, roles: roles, purposes: purposes, certificateFingerprints: fingerprints,
                    categories: Set(category)
                ),
                in: store, operatorID: operatorID
            )
            print("registered \(code) \(name) (log entry \(receipt.index))")
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
                print("    furnishes: \(i.categories.sorted().joined(separator: ", "))")
                for f in i.certificateFingerprints.sorted() { print("    cert:     sha256:\(f)") }
            }
            if institutions.isEmpty { print("no institutions registered in \(data.data)") }
        }
    }
}
