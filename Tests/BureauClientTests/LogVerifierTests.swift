import BureauAPI
import BureauClient
import BureauCore
import Crypto
import Foundation
import GRPCCore
import GRPCInProcessTransport
import Testing

/// A bureau's oversight service reduced to the log: it serves `served` as the entries and signs checkpoints over
/// `entries` (the two differ when a test makes it lie). Proofs come from the real tree code in BureauCore. A stand-in
/// for the server because the point is a server that lies, which the real one cannot be made to do.
struct LogServer: Bureau_OversightService.SimpleServiceProtocol {
    let entries: [[UInt8]]
    var served: [[UInt8]]
    let signer: NoteSigner

    init(entries: [[UInt8]], signer: NoteSigner) {
        self.entries = entries
        self.served = entries
        self.signer = signer
    }

    var tree: MerkleTreeReader<Never> {
        let leaves = self.entries.map(Merkle.leafHash)
        return MerkleTreeReader { level, index in Merkle.root(of: leaves[Int(index << level)..<Int((index + 1) << level)]) }
    }

    /// The signed note of the first `size` entries, as a regulator saves it.
    func note(size: Int) throws -> String {
        try self.signer.sign(Checkpoint(origin: "test/log", size: UInt64(size), root: Merkle.root(of: self.entries.prefix(size).map(Merkle.leafHash)[...])).body)
    }

    func getCheckpoint(request: Bureau_GetCheckpointRequest, context: ServerContext) async throws -> Bureau_CheckpointResponse {
        var response = Bureau_CheckpointResponse()
        response.signedNote = try self.note(size: self.entries.count)
        return response
    }

    func getInclusionProof(request: Bureau_InclusionProofRequest, context: ServerContext) async throws -> Bureau_InclusionProofResponse {
        var response = Bureau_InclusionProofResponse()
        response.proof = self.tree.inclusionProof(index: request.entryIndex, size: request.treeSize).map { Data($0) }
        return response
    }

    func getConsistencyProof(request: Bureau_ConsistencyProofRequest, context: ServerContext) async throws -> Bureau_ConsistencyProofResponse {
        var response = Bureau_ConsistencyProofResponse()
        response.proof = self.tree.consistencyProof(size1: request.oldSize, size2: request.newSize).map { Data($0) }
        return response
    }

    func getEntries(request: Bureau_GetEntriesRequest, context: ServerContext) async throws -> Bureau_GetEntriesResponse {
        var response = Bureau_GetEntriesResponse()
        // Two entries a page, so that the verifier has to page.
        let end = min(self.served.count, Int(request.start) + min(2, Int(request.count)))
        response.entries = (Int(request.start)..<max(end, Int(request.start))).map { n in
            var entry = Bureau_LogEntry()
            entry.index = UInt64(n)
            entry.canonical = Data(self.served[n])
            return entry
        }
        return response
    }

    func queryAccessLog(request: Bureau_QueryAccessLogRequest, response: RPCWriter<Bureau_QueryAccessLogResponse>, context: ServerContext) async throws {
        throw RPCError(code: .unimplemented, message: "not part of the log")
    }
    func followAccessLog(request: Bureau_FollowAccessLogRequest, response: RPCWriter<Bureau_LogEntry>, context: ServerContext) async throws {
        throw RPCError(code: .unimplemented, message: "not part of the log")
    }
    func listAnomalies(request: Bureau_ListAnomaliesRequest, context: ServerContext) async throws -> Bureau_ListAnomaliesResponse {
        throw RPCError(code: .unimplemented, message: "not part of the log")
    }
    func listOverdueDisputes(request: Bureau_ListOverdueDisputesRequest, context: ServerContext) async throws -> Bureau_ListOverdueDisputesResponse {
        throw RPCError(code: .unimplemented, message: "not part of the log")
    }
    func listRepairs(request: Bureau_ListRepairsRequest, context: ServerContext) async throws -> Bureau_ListRepairsResponse {
        throw RPCError(code: .unimplemented, message: "not part of the log")
    }
    func reviewRepair(request: Bureau_ReviewRepairRequest, context: ServerContext) async throws -> Bureau_LicenceActionResponse {
        throw RPCError(code: .unimplemented, message: "not part of the log")
    }
    func suspendLicence(request: Bureau_LicenceActionRequest, context: ServerContext) async throws -> Bureau_LicenceActionResponse {
        throw RPCError(code: .unimplemented, message: "not part of the log")
    }
    func reinstateLicence(request: Bureau_LicenceActionRequest, context: ServerContext) async throws -> Bureau_LicenceActionResponse {
        throw RPCError(code: .unimplemented, message: "not part of the log")
    }
}

@Suite("LogVerifier: the client checks the log without trusting the server")
struct LogVerifierTests {
    static let signer = NoteSigner(name: "test/log", key: Curve25519.Signing.PrivateKey())
    /// A log as bureaud writes it across the change of encoding: a JSON entry from before (0), the first compact
    /// report holding its actor, legal basis and disclosure profile inline (1), reports referring to entry 1 for
    /// them (2, 4, 6), another JSON entry (3) and a refused request referring to entry 1 for its actor and
    /// legal basis (5).
    static let entries: [[UInt8]] = {
        let report = AccessLogEntry(
            .report(.individual), by: LogActor(institution: "91110000100000016D", certificateFingerprint: String(repeating: "ab", count: 32), operatorID: ""),
            time: Date(timeIntervalSince1970: 1_800_000_000), requestID: "r-1", subjects: [SubjectKey(bytes: Array(repeating: 7, count: 32))],
            purpose: .postLoanManagement, legalBasis: Purpose.postLoanManagement.legalBasis, outcome: .hit,
            disclosedFields: ["identity.name:masked", "accounts.balance:shown"], disclosureVersion: 3
        )
        func referring(_ id: String) -> AccessLogEntry {
            var entry = report
            entry.requestID = id
            entry.references = LogReferences(actor: 1, legalBasis: 1, disclosure: 1)
            return entry
        }
        var refused = referring("r-5")
        refused.outcome = .denied
        refused.disclosedFields = []
        refused.disclosureVersion = 0
        refused.references.disclosure = nil
        var old = report
        old.requestID = "r-0"
        return [
            old.jsonBytes(), report.canonicalBytes(), referring("r-2").canonicalBytes(), report.jsonBytes(),
            referring("r-4").canonicalBytes(), refused.canonicalBytes(), referring("r-6").canonicalBytes(),
        ]
    }()

    /// Serves `server` in process and verifies against `signer`'s key.
    func withVerifier(
        _ server: LogServer, key signer: NoteSigner = Self.signer,
        _ body: (LogVerifier<Bureau_OversightService.Client<InProcessTransport.Client>>) async throws -> Void
    ) async throws {
        let transport = InProcessTransport()
        try await withGRPCServer(transport: transport.server, services: [server]) { _ in
            try await withGRPCClient(transport: transport.client) { grpc in
                try await body(LogVerifier(oversight: Bureau_OversightService.Client(wrapping: grpc), verifier: try NoteVerifier(verifierKey: signer.verifierKey)))
            }
        }
    }

    @Test("an honest log verifies: the signature, every entry, one entry's inclusion, consistency with an earlier checkpoint")
    func honest() async throws {
        let server = LogServer(entries: Self.entries, signer: Self.signer)
        try await self.withVerifier(server) { log in
            let (checkpoint, note) = try await log.checkpoint()
            #expect(checkpoint.size == 7)
            #expect(note == (try server.note(size: 7)))
            var seen: [Int] = []
            try await log.verifyEntries(of: checkpoint) { seen.append($0) }
            #expect(seen == [2, 4, 6, 7])
            let proved = try await log.proveInclusion(index: 3, leafHash: Merkle.leafHash(Self.entries[3]))
            #expect(proved == checkpoint)
            let old = try await log.verifyConsistency(from: try server.note(size: 4), to: checkpoint)
            #expect(old.size == 4)
        }
    }

    @Test("an entry altered in transit does not hash to the signed root")
    func alteredEntry() async throws {
        var server = LogServer(entries: Self.entries, signer: Self.signer)
        server.served[5] = Self.entries[0]
        try await self.withVerifier(server) { log in
            let (checkpoint, _) = try await log.checkpoint()
            let error = try await #require(throws: Merkle.ProofError.self) { try await log.verifyEntries(of: checkpoint) }
            #expect(error.reason == "the entries do not hash to the signed root")
        }
    }

    @Test("a disclosure profile changed after the fact where it is held breaks verification, though the entries referring to it are untouched")
    func tamperedProfile() async throws {
        var server = LogServer(entries: Self.entries, signer: Self.signer)
        var profile = try AccessLogEntry(canonicalBytes: Self.entries[1])
        profile.disclosedFields = ["identity.name:shown"]
        server.served[1] = profile.canonicalBytes()
        try await self.withVerifier(server) { log in
            let (checkpoint, _) = try await log.checkpoint()
            let error = try await #require(throws: Merkle.ProofError.self) { try await log.verifyEntries(of: checkpoint) }
            #expect(error.reason == "the entries do not hash to the signed root")
        }
    }

    @Test("a reference that does not lead to an entry holding the part is reported, even in a log the bureau signed", arguments: [
        (UInt64(0), "no compact entry there holds a disclosure profile of its own"),
        (UInt64(2), "no compact entry there holds a disclosure profile of its own"),
        (UInt64(4), "a reference points back to an earlier entry"),
    ])
    func unresolvedProfile(_ target: UInt64, _ why: String) async throws {
        var entries = Self.entries
        var report = try AccessLogEntry(canonicalBytes: entries[4])
        report.references.disclosure = target
        entries[4] = report.canonicalBytes()
        try await self.withVerifier(LogServer(entries: entries, signer: Self.signer)) { log in
            let (checkpoint, _) = try await log.checkpoint()
            let error = try await #require(throws: Merkle.ProofError.self) { try await log.verifyEntries(of: checkpoint) }
            #expect(error.reason == "entry 4 refers to entry \(target) for its disclosure profile, which does not resolve: \(why)")
        }
    }

    @Test("LogEntryReader fills in referenced parts, fetching the entries holding them that it has not seen")
    func readerResolves() async throws {
        let transport = InProcessTransport()
        try await withGRPCServer(transport: transport.server, services: [LogServer(entries: Self.entries, signer: Self.signer)]) { _ in
            try await withGRPCClient(transport: transport.client) { grpc in
                let reader = LogEntryReader(oversight: Bureau_OversightService.Client(wrapping: grpc))
                var wire = Bureau_LogEntry()
                wire.index = 6
                wire.canonical = Data(Self.entries[6])
                var holders: [UInt64: AccessLogEntry?] = [:]
                let entry = try #require(try await reader.resolve([wire], holders: &holders).first)
                let old = try AccessLogEntry(canonicalBytes: Self.entries[3])
                #expect(entry.institution == old.institution && entry.certificateFingerprint == old.certificateFingerprint)
                #expect(entry.legalBasis == old.legalBasis)
                #expect(entry.disclosedFields == old.disclosedFields && entry.disclosureVersion == 3)
                #expect(entry.canonicalBytes() == Self.entries[6])
                #expect(entry.requestID == "r-6")
                #expect(Set(holders.keys) == [1, 6])
            }
        }
    }

    @Test("entries the server leaves out are refused")
    func missingEntries() async throws {
        var short = LogServer(entries: Self.entries, signer: Self.signer)
        short.served.removeLast(3)
        try await self.withVerifier(short) { log in
            let (checkpoint, _) = try await log.checkpoint()
            let error = try await #require(throws: Merkle.ProofError.self) { try await log.verifyEntries(of: checkpoint) }
            #expect(error.reason == "the server returned no entries at 4")
        }
    }

    @Test("a receipt that is not in the log, and a checkpoint signed by another key, are refused")
    func wrongReceiptOrKey() async throws {
        let server = LogServer(entries: Self.entries, signer: Self.signer)
        try await self.withVerifier(server) { log in
            await #expect(throws: Merkle.ProofError.self) {
                _ = try await log.proveInclusion(index: 3, leafHash: Merkle.leafHash(Self.entries[4]))
            }
        }
        let other = NoteSigner(name: "test/log", key: Curve25519.Signing.PrivateKey())
        try await self.withVerifier(server, key: other) { log in
            await #expect(throws: Merkle.ProofError.self) { _ = try await log.checkpoint() }
        }
    }

    @Test("a log that rewrote its history is not consistent with the checkpoint saved before")
    func forkedHistory() async throws {
        var rewritten = Self.entries
        rewritten[1] = Self.entries[0]
        let before = try LogServer(entries: Self.entries, signer: Self.signer).note(size: 4)
        try await self.withVerifier(LogServer(entries: rewritten, signer: Self.signer)) { log in
            let (checkpoint, _) = try await log.checkpoint()
            await #expect(throws: Merkle.ProofError.self) { _ = try await log.verifyConsistency(from: before, to: checkpoint) }
        }
    }
}
