public import BureauAPI
public import BureauCore
public import GRPCCore

/// Checks the bureau's access log without trusting the server: the checkpoint's signature, one entry's inclusion,
/// every entry against the signed root, and consistency with a checkpoint saved earlier. What `bureau log prove`
/// and `bureau log verify` do, for any tool (a regulator's) that links this module and not the server.
///
/// ```swift
/// let log = LogVerifier(oversight: Bureau_OversightService.Client(wrapping: grpc), verifier: try NoteVerifier(verifierKey: key))
/// let (checkpoint, _) = try await log.checkpoint()
/// try await log.verifyEntries(of: checkpoint)
/// ```
public struct LogVerifier<Client: Bureau_OversightService.ClientProtocol>: Sendable {
    /// The oversight service of the bureau under check.
    public let oversight: Client
    /// The key the bureau signs checkpoints with, as the regulator holds it.
    public let verifier: NoteVerifier
    public let options: CallOptions

    public init(oversight: Client, verifier: NoteVerifier, options: CallOptions = .defaults) {
        self.oversight = oversight
        self.verifier = verifier
        self.options = options
    }

    /// The server's current checkpoint with its signature checked, and the signed note it came as.
    public func checkpoint() async throws -> (checkpoint: Checkpoint, signedNote: String) {
        let note = try await self.oversight.getCheckpoint(request: ClientRequest(message: .init()), options: self.options)
        return (try Checkpoint(body: try self.verifier.verify(note: note.signedNote)), note.signedNote)
    }

    /// Proves that entry `index` with `leafHash` is in the log, against the current signed checkpoint, which it returns.
    ///
    /// - Throws: ``Merkle/ProofError`` when the signature or the proof does not verify.
    public func proveInclusion(index: UInt64, leafHash: [UInt8]) async throws -> Checkpoint {
        let (checkpoint, _) = try await self.checkpoint()
        var request = Bureau_InclusionProofRequest()
        request.entryIndex = index
        request.treeSize = checkpoint.size
        let proof = try await self.oversight.getInclusionProof(request: ClientRequest(message: request), options: self.options)
        try Merkle.verifyInclusion(
            index: index, size: checkpoint.size, leafHash: leafHash, proof: proof.proof.map(Array.init), root: checkpoint.root
        )
        return checkpoint
    }

    /// Reads every entry of the log of `checkpoint`, hashes each here, and checks that they make up its signed root,
    /// that each is a log entry (compact or JSON, docs/LOG-ENTRY.md) and that each reference in it (actor, legal
    /// basis, disclosure profile) resolves to an earlier compact entry of the same log holding that part.
    ///
    /// - Parameter progress: called with the number of entries read so far, after each page.
    /// - Throws: ``Merkle/ProofError`` when the server leaves entries out, sends them out of order, they do not
    ///   hash to the signed root, one cannot be decoded or a reference does not resolve.
    public func verifyEntries(of checkpoint: Checkpoint, progress: (Int) -> Void = { _ in }) async throws {
        // The parts of the compact entries that hold any inline: what later entries may refer to.
        var holders = LogPartHolders()
        var leaves: [[UInt8]] = []
        leaves.reserveCapacity(Int(checkpoint.size))
        while UInt64(leaves.count) < checkpoint.size {
            var request = Bureau_GetEntriesRequest()
            request.start = UInt64(leaves.count)
            request.count = UInt32(min(1000, checkpoint.size - UInt64(leaves.count)))
            let page = try await self.oversight.getEntries(request: ClientRequest(message: request), options: self.options)
            guard !page.entries.isEmpty else { throw Merkle.ProofError("the server returned no entries at \(leaves.count)") }
            for entry in page.entries {
                guard entry.index == UInt64(leaves.count) else { throw Merkle.ProofError("entry \(entry.index) out of order") }
                let bytes = Array(entry.canonical)
                leaves.append(Merkle.leafHash(bytes))
                do {
                    _ = try holders.read(bytes, at: entry.index)
                } catch let error as LogReferenceError {
                    throw Merkle.ProofError(error.message)
                } catch {
                    throw Merkle.ProofError("entry \(entry.index) is not a log entry: \(error)")
                }
            }
            progress(leaves.count)
        }
        guard Merkle.root(of: leaves[...]) == checkpoint.root else {
            throw Merkle.ProofError("the entries do not hash to the signed root")
        }
    }

    /// Proves that the log of `checkpoint` extends the one of `previous` (a signed note saved earlier), which it returns.
    ///
    /// - Throws: ``Merkle/ProofError`` when the earlier note's signature or the consistency proof does not verify.
    public func verifyConsistency(from previous: String, to checkpoint: Checkpoint) async throws -> Checkpoint {
        let old = try Checkpoint(body: try self.verifier.verify(note: previous))
        var request = Bureau_ConsistencyProofRequest()
        request.oldSize = old.size
        request.newSize = checkpoint.size
        let proof = try await self.oversight.getConsistencyProof(request: ClientRequest(message: request), options: self.options)
        try Merkle.verifyConsistency(
            size1: old.size, size2: checkpoint.size, root1: old.root, root2: checkpoint.root, proof: proof.proof.map(Array.init)
        )
        return old
    }
}
