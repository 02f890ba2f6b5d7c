import ArgumentParser
import BureauClient
import BureauConsole
import BureauCore
import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftASN1
import X509

/// `bureau console`: the regulator's web console on this machine.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Serve the regulator's web console: the access log, verified against signed checkpoints, in a browser on this machine."
    )
    @OptionGroup var regulator: RegulatorClientOptions
    @Option(help: "The verifier key (name+hash+base64) the bureau signs checkpoints with (`bureau log verifier-key`).")
    var verifierKey: String?
    @Option(help: "Where the console listens, host:port (loopback; port 0 picks a free one).") var listen = "127.0.0.1:8080"
    @Flag(help: "Allow --listen on an address other machines reach (the session token still guards it).") var allowRemote = false
    @Option(help: "The file that remembers every checkpoint seen and any fork found.") var memory = "bureau-console-checkpoints.json"

    func run() async throws {
        let client = self.regulator.client
        let (verifier, listen) = try self.checked()
        let memory: CheckpointMemory
        do { memory = try CheckpointMemory.load(path: self.memory, verifierKey: verifier.verifierKey) } catch { throw ValidationError(error.message) }
        try await client.withClient { grpc in
            let console = RegulatorConsole(
                client: grpc, verifier: verifier.note, memory: memory, memoryPath: self.memory, serverAddress: client.server,
                timeout: .seconds(client.timeout)
            )
            let first = await console.refresh()
            if case .signature(let why)? = first.problem {
                throw ValidationError("--verifier-key: \(why). Is it the key of the bureau at \(client.server)?")
            }
            if case .unreachable(let why)? = first.problem {
                FileHandle.standardError.write(Data("warning: bureaud at \(client.server) did not answer (\(why)); the console starts and retries on each page\n".utf8))
            }
            try await console.serve(on: listen) { url in
                // Written straight to the descriptor: a test or a wrapper reading a pipe sees it at once.
                FileHandle.standardOutput.write(Data("the regulator's console for \(client.server) (log \(verifier.note.name)) is at:\n  \(url)\n".utf8))
            }
        }
    }

    /// The verifier key, the listen address and the certificate files, checked before anything starts, each
    /// failure saying what is missing.
    func checked() throws -> (verifier: (note: NoteVerifier, verifierKey: String), listen: ListenAddress) {
        guard let key = self.verifierKey, !key.isEmpty else {
            throw ValidationError("--verifier-key: missing. The console verifies every checkpoint with the bureau's verifier key; ask the bureau for it (`bureau log verifier-key`).")
        }
        let verifier: NoteVerifier
        do { verifier = try NoteVerifier(verifierKey: key) } catch {
            throw ValidationError("--verifier-key: not a verifier key (name+hash+base64 of an Ed25519 key): \(error)")
        }
        let listen: ListenAddress
        do { listen = try ListenAddress(parsing: self.listen).checked(allowRemote: self.allowRemote) } catch { throw ValidationError(error.message) }
        let client = self.regulator.client
        let certificate = try Self.certificate(client.cert, option: "--cert")
        _ = try Self.certificate(client.ca, option: "--ca")
        let keyPath = client.key!
        let privateKey: Certificate.PrivateKey
        do { privateKey = try Certificate.PrivateKey(pemEncoded: try Self.read(keyPath, option: "--key")) } catch let error as ValidationError { throw error } catch {
            throw ValidationError("--key: \(keyPath) holds no PEM private key: \(error)")
        }
        guard privateKey.publicKey == certificate.publicKey else {
            throw ValidationError("--key: \(keyPath) is not the private key of the certificate \(client.cert)")
        }
        return ((verifier, key), listen)
    }

    static func read(_ path: String, option: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(option): cannot read \(path): give the regulator's PEM file")
        }
        return text
    }

    static func certificate(_ path: String, option: String) throws -> Certificate {
        let text = try read(path, option: option)
        do { return try Certificate(pemEncoded: text) } catch { throw ValidationError("\(option): \(path) holds no PEM certificate: \(error)") }
    }
}
