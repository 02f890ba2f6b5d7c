import ArgumentParser
import BureauOperations
import BureauServer
import Crypto
import Foundation
import SwiftASN1
import X509

struct CA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "The bureau's certificate authority (no openssl needed).",
        subcommands: [Init.self]
    )

    /// Where the CA's files live.
    struct Options: ParsableArguments {
        @Option(help: "Folder of the CA's certificate (ca.pem) and key (ca.key).") var caDir = "ca"

        var certificatePath: String { caDir + "/ca.pem" }
        var keyPath: String { caDir + "/ca.key" }

        func load() throws -> CertificateAuthority {
            guard FileManager.default.fileExists(atPath: keyPath) else {
                throw ValidationError("--ca-dir: \(keyPath) does not exist (make one with `bureau ca init`)")
            }
            let certificate = try Certificate(pemEncoded: try String(contentsOfFile: certificatePath, encoding: .utf8))
            let key = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: keyPath, encoding: .utf8))
            return CertificateAuthority(certificate: certificate, privateKey: key)
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the bureau's CA and a server certificate for the given names."
        )
        @OptionGroup var ca: Options
        @Option(help: "The CA's name.") var name = "Bureau CA"
        @Option(help: "DNS name for the server certificate (repeatable).") var dnsName: [String] = ["localhost"]
        @Flag(help: "Replace an existing CA (every certificate it issued stops working).") var force = false

        func run() throws {
            let fm = FileManager.default
            if fm.fileExists(atPath: ca.keyPath) && !force {
                throw ValidationError("\(ca.keyPath) exists; pass --force to replace the CA")
            }
            try fm.createDirectory(atPath: ca.caDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let authority = try CertificateAuthority.create(name: name)
            try write(try authority.certificatePEM, to: ca.certificatePath, mode: 0o644)
            try write(authority.privateKey.pemRepresentation, to: ca.keyPath, mode: 0o600)
            let server = try authority.issueServer(dnsNames: dnsName)
            try write(try server.certificatePEM, to: ca.caDir + "/server.pem", mode: 0o644)
            try write(server.privateKeyPEM, to: ca.caDir + "/server.key", mode: 0o600)
            print("CA \(name) in \(ca.caDir) (ca.pem, ca.key) with a server certificate for \(dnsName.joined(separator: ", ")) (server.pem, server.key)")
        }
    }
}

/// Writes `text` to `path` with file mode `mode`.
func write(_ text: String, to path: String, mode: Int) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
        throw ValidationError("cannot write \(path)")
    }
}
