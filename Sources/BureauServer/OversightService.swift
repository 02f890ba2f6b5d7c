public import BureauAPI
public import BureauCore
public import BureauStore
public import Crypto
public import Foundation
public import GRPCCore

/// The key that signs the log's checkpoints: `checkpoint.key` in the data folder (the Ed25519 private
/// key, 32 bytes, mode 0600), made on first start. Its verifier key is what regulators hold.
public enum CheckpointKey {
    public static let fileName = "checkpoint.key"

    /// The signer for `origin`, with the key from `folder` (made when absent).
    public static func loadOrCreate(in folder: String, origin: String) throws -> NoteSigner {
        let path = (folder as NSString).appendingPathComponent(fileName)
        let fm = FileManager.default
        if let data = fm.contents(atPath: path) {
            return NoteSigner(name: origin, key: try Curve25519.Signing.PrivateKey(rawRepresentation: data))
        }
        let key = Curve25519.Signing.PrivateKey()
        guard fm.createFile(atPath: path, contents: key.rawRepresentation, attributes: [.posixPermissions: 0o600]) else {
            throw BureauError(.internal, "cannot write \(path)")
        }
        return NoteSigner(name: origin, key: key)
    }
}

/// Signs checkpoints of the current tree.
public struct CheckpointPublisher: Sendable {
    let store: Store
    public let signer: NoteSigner

    public init(store: Store, signer: NoteSigner) {
        self.store = store
        self.signer = signer
    }

    /// The current checkpoint, signed.
    public func current() throws -> (note: String, checkpoint: Checkpoint) {
        let checkpoint = try self.store.read { txn in
            let size = try txn.logSize()
            return Checkpoint(origin: self.signer.name, size: size, root: try txn.tree.root(size: size))
        }
        return (try self.signer.sign(checkpoint.body), checkpoint)
    }
}

/// The regulators' view of the access log.
public struct OversightService: Bureau_OversightService.SimpleServiceProtocol {
    let context: BureauContext
    let publisher: CheckpointPublisher

    init(context: BureauContext, publisher: CheckpointPublisher) {
        self.context = context
        self.publisher = publisher
    }

    private func regulator(_ context: ServerContext) throws {
        try self.context.callers.caller(of: context).institution.require(.regulator)
    }

    public func getCheckpoint(request: Bureau_GetCheckpointRequest, context: ServerContext) async throws -> Bureau_CheckpointResponse {
        try self.regulator(context)
        let (note, checkpoint) = try self.publisher.current()
        var response = Bureau_CheckpointResponse()
        response.signedNote = note
        response.treeSize = checkpoint.size
        response.rootHash = Data(checkpoint.root)
        return response
    }

    public func getInclusionProof(request: Bureau_InclusionProofRequest, context: ServerContext) async throws -> Bureau_InclusionProofResponse {
        try self.regulator(context)
        return try self.context.store.read { txn in
            let latest = try txn.logSize()
            let size = request.treeSize == 0 ? latest : request.treeSize
            guard size <= latest else { throw BureauError.invalid("tree_size", "is above the log's size \(latest)") }
            guard request.entryIndex < size else { throw BureauError.invalid("entry_index", "must be below tree_size \(size)") }
            var response = Bureau_InclusionProofResponse()
            response.entryIndex = request.entryIndex
            response.treeSize = size
            response.leafHash = Data(try txn.treeNode(level: 0, index: request.entryIndex))
            response.proof = try txn.tree.inclusionProof(index: request.entryIndex, size: size).map { Data($0) }
            return response
        }
    }

    public func getConsistencyProof(request: Bureau_ConsistencyProofRequest, context: ServerContext) async throws -> Bureau_ConsistencyProofResponse {
        try self.regulator(context)
        return try self.context.store.read { txn in
            let latest = try txn.logSize()
            guard request.newSize <= latest else { throw BureauError.invalid("new_size", "is above the log's size \(latest)") }
            guard request.oldSize <= request.newSize else { throw BureauError.invalid("old_size", "must not be above new_size") }
            var response = Bureau_ConsistencyProofResponse()
            response.proof = try txn.tree.consistencyProof(size1: request.oldSize, size2: request.newSize).map { Data($0) }
            return response
        }
    }

    public func getEntries(request: Bureau_GetEntriesRequest, context: ServerContext) async throws -> Bureau_GetEntriesResponse {
        try self.regulator(context)
        guard (1...1000).contains(request.count) else { throw BureauError.invalid("count", "is 1 to 1000") }
        let entries = try self.context.store.read { try $0.logEntries(from: request.start, limit: Int(request.count)) }
        var response = Bureau_GetEntriesResponse()
        response.entries = entries.map { logged in
            var entry = Bureau_LogEntry()
            entry.index = logged.index
            entry.canonical = Data(logged.bytes)
            entry.leafHash = Data(logged.leafHash)
            return entry
        }
        return response
    }
}
