import ArgumentParser
import BureauAPI
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
                let oversight = Bureau_OversightService.Client(wrapping: grpc)
                let note = try await oversight.getCheckpoint(request: ClientRequest(message: .init()), options: client.callOptions)
                let checkpoint = try Checkpoint(body: try verifier.verify(note: note.signedNote))
                var request = Bureau_InclusionProofRequest()
                request.entryIndex = index
                request.treeSize = checkpoint.size
                let proof = try await oversight.getInclusionProof(request: ClientRequest(message: request), options: client.callOptions)
                try Merkle.verifyInclusion(
                    index: index, size: checkpoint.size, leafHash: leaf, proof: proof.proof.map(Array.init), root: checkpoint.root
                )
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
                let oversight = Bureau_OversightService.Client(wrapping: grpc)
                let note = try await oversight.getCheckpoint(request: ClientRequest(message: .init()), options: client.callOptions)
                let checkpoint = try Checkpoint(body: try verifier.verify(note: note.signedNote))
                print("checkpoint: \(checkpoint.size) entries, root \(checkpoint.root.hexString), signature by \(verifier.name) valid")

                // Every entry, hashed here, must make up the signed root.
                var leaves: [[UInt8]] = []
                leaves.reserveCapacity(Int(checkpoint.size))
                var bar = ProgressBar(total: Int(checkpoint.size), label: "entries")
                while UInt64(leaves.count) < checkpoint.size {
                    var request = Bureau_GetEntriesRequest()
                    request.start = UInt64(leaves.count)
                    request.count = UInt32(min(1000, checkpoint.size - UInt64(leaves.count)))
                    let page = try await oversight.getEntries(request: ClientRequest(message: request), options: client.callOptions)
                    guard !page.entries.isEmpty else { throw ValidationError("the server returned no entries at \(leaves.count)") }
                    for entry in page.entries {
                        guard entry.index == UInt64(leaves.count) else { throw ValidationError("entry \(entry.index) out of order") }
                        leaves.append(Merkle.leafHash(Array(entry.canonical)))
                    }
                    bar.update(leaves.count)
                }
                bar.finish()
                guard Merkle.root(of: leaves[...]) == checkpoint.root else {
                    print("FAILED: the entries do not hash to the signed root")
                    throw ExitCode(1)
                }
                print("entries: all \(leaves.count) hash to the signed root")

                if let previous {
                    let old = try Checkpoint(body: try verifier.verify(note: try String(contentsOfFile: previous, encoding: .utf8)))
                    var request = Bureau_ConsistencyProofRequest()
                    request.oldSize = old.size
                    request.newSize = checkpoint.size
                    let proof = try await oversight.getConsistencyProof(request: ClientRequest(message: request), options: client.callOptions)
                    try Merkle.verifyConsistency(
                        size1: old.size, size2: checkpoint.size, root1: old.root, root2: checkpoint.root, proof: proof.proof.map(Array.init)
                    )
                    print("consistency: the log of \(checkpoint.size) entries extends the earlier one of \(old.size)")
                }
                if let save {
                    try note.signedNote.write(toFile: save, atomically: true, encoding: .utf8)
                    print("saved the checkpoint to \(save)")
                }
            }
        }
    }
}
