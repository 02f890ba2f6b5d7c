import ArgumentParser
import BureauAPI
import BureauClient
import BureauCore
import BureauServer
import Foundation
import GRPCCore

/// Client options for a regulator's commands (the regulator's certificate by default).
struct RegulatorClientOptions: ParsableArguments {
    @OptionGroup var client: ClientOptions<RegulatorIdentity>
}

extension Log {
    struct VerifierKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verifier-key",
            abstract: "Print the checkpoint verifier key (name+hash+base64) of an installation, to hand to regulators."
        )
        @OptionGroup var data: DataOptions
        @Option(help: "The log's origin (bureaud's --log-origin).") var origin = "bureau.local/access-log"

        func run() throws {
            let path = (data.data as NSString).appendingPathComponent(CheckpointKey.fileName)
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("\(path) does not exist: bureaud makes it on first start")
            }
            print(try CheckpointKey.loadOrCreate(in: data.data, origin: origin).verifierKey)
        }
    }

    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove that a receipt (entry index and leaf hash) is in the log, against a signed checkpoint."
        )
        @OptionGroup var regulator: RegulatorClientOptions
        @Option(help: "The verifier key (name+hash+base64).") var verifierKey: String
        @Option(help: "The receipt: INDEX:LEAFHASH (hex), as a report gives it.") var receipt: String

        func run() async throws {
            let parts = receipt.split(separator: ":")
            guard parts.count == 2, let index = UInt64(parts[0]), let leaf = [UInt8](hex: String(parts[1])), leaf.count == 32 else {
                throw ValidationError("--receipt: INDEX:LEAFHASH with a 64-character hex hash")
            }
            let verifier: NoteVerifier
            do { verifier = try NoteVerifier(verifierKey: verifierKey) } catch { throw ValidationError("--verifier-key: \(error)") }
            let client = regulator.client
            try await reportCall(client) { grpc in
                let log = LogVerifier(oversight: Bureau_OversightService.Client(wrapping: grpc), verifier: verifier, options: client.callOptions)
                let checkpoint = try await log.proveInclusion(index: index, leafHash: leaf)
                print("entry \(index) with leaf hash \(leaf.hexString) is in the log of \(checkpoint.size) entries")
                print("checkpoint signed by \(verifier.name), root \(checkpoint.root.hexString)")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the log without trusting the server: the checkpoint's signature, every entry against the root, and consistency with an earlier checkpoint."
        )
        @OptionGroup var regulator: RegulatorClientOptions
        @Option(help: "The verifier key (name+hash+base64).") var verifierKey: String
        @Option(help: "A checkpoint saved earlier (signed note file), to prove the log only grew since.") var previous: String?
        @Option(help: "Save the verified checkpoint to this file.") var save: String?

        func run() async throws {
            let verifier: NoteVerifier
            do { verifier = try NoteVerifier(verifierKey: verifierKey) } catch { throw ValidationError("--verifier-key: \(error)") }
            let client = regulator.client
            try await reportCall(client) { grpc in
                let log = LogVerifier(oversight: Bureau_OversightService.Client(wrapping: grpc), verifier: verifier, options: client.callOptions)
                let (checkpoint, signedNote) = try await log.checkpoint()
                print("checkpoint: \(checkpoint.size) entries, root \(checkpoint.root.hexString), signature by \(verifier.name) valid")

                // Every entry, hashed here, must make up the signed root.
                var bar = ProgressBar(total: Int(checkpoint.size), label: "entries")
                do {
                    try await log.verifyEntries(of: checkpoint) { bar.update($0) }
                } catch let error as Merkle.ProofError {
                    bar.finish()
                    print("FAILED: \(error)")
                    throw ExitCode(1)
                }
                bar.finish()
                print("entries: all \(checkpoint.size) hash to the signed root")

                if let previous {
                    let old = try await log.verifyConsistency(from: try String(contentsOfFile: previous, encoding: .utf8), to: checkpoint)
                    print("consistency: the log of \(checkpoint.size) entries extends the earlier one of \(old.size)")
                }
                if let save {
                    try signedNote.write(toFile: save, atomically: true, encoding: .utf8)
                    print("saved the checkpoint to \(save)")
                }
            }
        }
    }
}
