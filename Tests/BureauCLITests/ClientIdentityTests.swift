import ArgumentParser
import Testing

@testable import bureau

/// The certificate a command presents is the one given on its command line, else the command's documented default.
@Suite("Client identity on the command line")
struct ClientIdentityTests {
    static let person = "11010519491231002X"

    @Test("a certificate given for a counter command is the one presented")
    func channelCommandKeepsTheGivenCertificate() throws {
        let command = try Bureau.parseAsRoot(["subject", "report", "--id", Self.person, "--cert", "certs/bank.pem", "--key", "certs/bank.key"])
        let report = try #require(command as? Subject.OwnReport)
        #expect(report.channel.client.cert == "certs/bank.pem")
        #expect(report.channel.client.key == "certs/bank.key")
    }

    @Test("a certificate given for a regulator command is the one presented")
    func regulatorCommandKeepsTheGivenCertificate() throws {
        let command = try Bureau.parseAsRoot(["log", "verify", "--verifier-key", "k", "--cert", "certs/bank.pem", "--key", "certs/bank.key"])
        let verify = try #require(command as? Log.Verify)
        #expect(verify.regulator.client.cert == "certs/bank.pem")
        #expect(verify.regulator.client.key == "certs/bank.key")
        let export = try #require(try Bureau.parseAsRoot(["log", "export", "--cert", "certs/bank.pem", "--key", "certs/bank.key"]) as? Log.Export)
        #expect(export.regulator.client.cert == "certs/bank.pem")
    }

    @Test("each command presents its own default certificate when none is given")
    func defaultsPerCommand() throws {
        let report = try #require(try Bureau.parseAsRoot(["report", "individual", "--id", Self.person, "--purpose", "loan-origination"]) as? Report.Individual)
        #expect(report.client.cert == "certs/bank.pem")
        #expect(report.client.key == "certs/bank.key")
        let own = try #require(try Bureau.parseAsRoot(["subject", "report", "--id", Self.person]) as? Subject.OwnReport)
        #expect(own.channel.client.cert == "certs/channel.pem")
        #expect(own.channel.client.key == "certs/channel.key")
        let verify = try #require(try Bureau.parseAsRoot(["log", "verify", "--verifier-key", "k"]) as? Log.Verify)
        #expect(verify.regulator.client.cert == "certs/regulator.pem")
        #expect(verify.regulator.client.key == "certs/regulator.key")
    }

    @Test("a certificate given alone takes the key beside it, the .key of the same name")
    func keyFollowsTheCertificate() throws {
        let own = try #require(
            try Bureau.parseAsRoot(["subject", "report", "--id", Self.person, "--cert", "/tmp/other/bank.pem"]) as? Subject.OwnReport
        )
        #expect(own.channel.client.cert == "/tmp/other/bank.pem")
        #expect(own.channel.client.key == "/tmp/other/bank.key")
    }

    @Test("--help names each command's default certificate")
    func helpShowsTheDefault() {
        #expect(Bureau.helpMessage(for: Subject.OwnReport.self).contains("certs/channel.pem"))
        #expect(!Bureau.helpMessage(for: Subject.OwnReport.self).contains("certs/bank.pem"))
        #expect(Bureau.helpMessage(for: Log.Verify.self).contains("certs/regulator.pem"))
        #expect(Bureau.helpMessage(for: Log.Export.self).contains("certs/regulator.pem"))
        #expect(Bureau.helpMessage(for: Report.Individual.self).contains("certs/bank.pem"))
    }
}
