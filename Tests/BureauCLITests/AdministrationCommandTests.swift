import ArgumentParser
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauLMDB
import BureauStoreConformance
import Foundation
import GRPCCore
import Testing

@testable import bureau

@Suite("bureau administers a running bureaud", .serialized)
struct AdministrationCommandTests {
    /// Parses and runs one `bureau` command line.
    static func run(_ arguments: [String]) async throws {
        var command = try #require(try Bureau.parseAsRoot(arguments) as? any AsyncParsableCommand, "\(arguments)")
        try await command.run()
    }

    @Test("institution add, issue-cert, suspend, revoke-cert and catalogue load go through bureaud, logged with the operator id")
    func administerOverTheAPI() async throws {
        try await CLIBureau.run(prepare: { _ in }) { bureau in
            let store = bureau.daemon.store
            let code = try UnifiedSocialCreditCode.make(organisation: "73100001")
            try await Self.run(
                ["institution", "add", "--code", code.value, "--name", "CLI Test Lender", "--role", "agency", "--purpose", "loan-origination",
                 "--tier", "2", "--daily-quota", "500"] + bureau.operatorArguments
            )
            let registered = try #require(try store.read { try $0.institution(code: code) })
            #expect(registered.licence.tier == .accounts && registered.licence.dailyQuota == 500)

            let out = bureau.folder + "/lender"
            try await Self.run(["institution", "issue-cert", "--code", code.value, "--ca-dir", bureau.folder + "/ca", "--out", out] + bureau.operatorArguments)
            let fingerprint = try CertificateFile.fingerprint(ofPEMFile: out + ".pem")
            #expect(try store.read { try $0.institution(code: code) }?.certificateFingerprints == [fingerprint])

            try await Self.run(["institution", "suspend", "--code", code.value, "--reason", "licence review"] + bureau.operatorArguments)
            #expect(try store.read { try $0.institution(code: code) }?.licence.status == .suspended)
            try await Self.run(["institution", "reinstate", "--code", code.value, "--reason", "review passed"] + bureau.operatorArguments)
            try await Self.run(["institution", "revoke-cert", "--pem", out + ".pem"] + bureau.operatorArguments)
            #expect(try store.read { try $0.isRevoked(certificateFingerprint: [UInt8](hex: fingerprint)!) })

            var catalogue = Catalogue.default
            catalogue.version = 2
            let file = bureau.folder + "/catalogue.json"
            try JSONEncoder().encode(catalogue).write(to: URL(fileURLWithPath: file))
            try await Self.run(["catalogue", "load", "--file", file] + bureau.operatorArguments)
            #expect(try store.catalogue().version == 2)

            let changes = try store.read { try $0.logEntries(from: 0, limit: 1000) }.map(\.entry).filter { $0.operatorID == "op-1" }
            #expect(changes.map(\.action.name) == [
                "institution.register", "certificate.bind", "licence.suspend", "licence.reinstate", "certificate.revoke", "catalogue.replace",
            ])
            #expect(changes.allSatisfy { $0.institution == DemoData.operations.value && $0.outcome == .applied })

            // Refused by bureaud, not by the command line: the field named is the server's.
            await #expect(throws: RPCError.self) {
                try await Self.run(["institution", "add", "--code", code.value, "--name", "Again", "--role", "agency"] + bureau.operatorArguments)
            }
            let error = await #expect(throws: RPCError.self) {
                try await Self.run(["institution", "update", "--code", code.value, "--name", "CLI Test Lender", "--role", "agency", "--tier", "4"]
                    + bureau.operatorArguments)
            }
            #expect(error?.code == .invalidArgument && error?.message.hasPrefix("institution.licence.tier:") == true)
        }
    }

    @Test("institution add --bootstrap writes the first operator locally, and nothing but an operator")
    func bootstrap() async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-boot")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let code = try UnifiedSocialCreditCode.make(organisation: "73100002")
        let local = ["institution", "add", "--bootstrap", "--data", folder + "/data", "--code", code.value, "--operator-id", "op-1"]
        await #expect(throws: ValidationError.self) {
            try await Self.run(local + ["--name", "Lender", "--role", "agency", "--purpose", "loan-origination"])
        }
        #expect(throws: (any Error).self, "--data without --bootstrap: registrations go through bureaud") {
            try Bureau.parseAsRoot(["institution", "add", "--data", folder, "--code", code.value, "--name", "Lender", "--role", "agency", "--operator-id", "op-1"])
        }
        let issued = try CertificateAuthority.create(name: "Boot CA").issueClient(name: "Operations", code: code.value)
        try Data(try issued.certificatePEM.utf8).write(to: URL(fileURLWithPath: folder + "/operator.pem"))
        try await Self.run(local + ["--name", "Operations", "--role", "operator", "--pem", folder + "/operator.pem"])

        let store = try Store(folder: folder + "/data")
        let institution = try #require(try store.read { try $0.institution(code: code) })
        #expect(institution.roles == [.operator])
        #expect(institution.certificateFingerprints == [try CallerResolver.fingerprint(of: issued.certificate).hexString])
        let entries = try store.read { try $0.logEntries(from: 0, limit: 10) }
        #expect(entries.map(\.entry.action.name) == ["institution.register"])
        #expect(entries.first?.entry.operatorID == "op-1")
    }
}
