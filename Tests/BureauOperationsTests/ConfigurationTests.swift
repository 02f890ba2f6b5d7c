import BureauOperations
import BureauServer
import BureauStore
import Foundation
import Testing

@Suite("Configuration file")
struct ConfigurationTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ops/bureau.example.toml").path

    @Test("the commented example parses, with every value where it belongs")
    func example() throws {
        let file = try ConfigurationFile(path: Self.example, text: try String(contentsOfFile: Self.example, encoding: .utf8))
        #expect(try file.integer("port", in: 0...65535) == 50051)
        #expect(try file.string("tls.ca") == "/etc/bureau/ca.pem")
        #expect(try file.decimal("anomalies.denial_ratio", in: 0...1) == 0.3)
        #expect(try file.integer("retention.purge_interval_minutes", in: 1...10_080) == 60)
    }

    @Test("bad files are refused naming the line, the key and the rule", arguments: [
        ("port = 99999", "bureau.toml:1: port: must be a whole number from 0 to 65535"),
        ("prot = 1", "bureau.toml:1: prot: unknown key"),
        ("# a comment\n[tls]\nca = \"x", "bureau.toml:3: tls.ca: unterminated string"),
        ("host = localhost", "bureau.toml:1: host: localhost is not a string, number or boolean"),
        ("port = 1\nport = 2", "bureau.toml:2: port: given twice"),
        ("[anomalies]\ndenial_ratio = 2", "bureau.toml:2: anomalies.denial_ratio: must be from 0.0 to 1.0"),
    ])
    func problems(text: String, message: String) {
        do {
            let file = try ConfigurationFile(path: "bureau.toml", text: text)
            _ = try file.integer("port", in: 0...65535)
            _ = try file.decimal("anomalies.denial_ratio", in: 0...1)
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test("the example's [limits] are the defaults, and a limit out of range is refused")
    func limits() throws {
        let file = try ConfigurationFile(path: Self.example, text: try String(contentsOfFile: Self.example, encoding: .utf8))
        #expect(try file.limits() == ServerLimits.defaults)
        let small = try ConfigurationFile(path: "bureau.toml", text: "[limits]\nhandshake_timeout_seconds = 0.5\nmax_connections = 2")
        #expect(try small.limits().handshakeTimeout == .milliseconds(500))
        #expect(try small.limits().maxConnections == 2)
        let bad = try ConfigurationFile(path: "bureau.toml", text: "[limits]\nmax_connections = 0")
        #expect(throws: ConfigurationFile.Problem.self) { try bad.limits() }
    }

    @Test("[keys] names the KEK: a key file, or a PKCS#11 token key with its PIN from a file; an incomplete section is refused by key")
    func keys() throws {
        let example = try ConfigurationFile(path: Self.example, text: try String(contentsOfFile: Self.example, encoding: .utf8))
        #expect(try example.keys()?.description == "key file /etc/bureau/kek/kek.key")
        #expect(try ConfigurationFile(path: "bureau.toml", text: "port = 1").keys() == nil)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bureau-pin-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = FileManager.default.createFile(atPath: folder + "/pin", contents: Data("1234\n".utf8), attributes: [.posixPermissions: 0o600])
        let token = try ConfigurationFile(
            path: "bureau.toml", text: "[keys]\nkek = \"pkcs11\"\npkcs11_token = \"bureau\"\npkcs11_key = \"kek\"\npkcs11_pin_file = \"\(folder)/pin\""
        )
        let description = try #require(try token.keys()).description
        #expect(description.contains("bureau") && description.contains("kek") && !description.contains("1234"))
        for (text, message) in [
            ("[keys]\nfile = \"/k\"", "keys.kek"),
            ("[keys]\nkek = \"file\"", "keys.file"),
            ("[keys]\nkek = \"hsm\"", "keys.kek"),
            ("[keys]\nkek = \"pkcs11\"\npkcs11_token = \"t\"\npkcs11_key = \"k\"", "pkcs11_pin_file"),
        ] {
            let file = try ConfigurationFile(path: "bureau.toml", text: text)
            let error = try #require(throws: ConfigurationFile.Problem.self) { _ = try file.keys() }
            #expect("\(error)".contains(message), "\(text)")
        }
    }
}
