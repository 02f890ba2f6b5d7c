import BureauAPI
import BureauClient
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import Crypto
import Foundation
import GRPCCore
import GRPCInProcessTransport
import GRPCNIOTransportHTTP2
import Testing

@Suite("Verifiable access log over the API", .serialized)
struct OversightTests {
    func oversight<T: Sendable>(_ bureau: InProcessBureau, as who: String = "regulator", _ body: @Sendable (Bureau_OversightService.Client<InProcessTransport.Client>) async throws -> T) async throws -> T {
        try await bureau.withClient(who) { client in try await body(Bureau_OversightService.Client(wrapping: client)) }
    }

    @Test("a report's receipt proves against the signed checkpoints that follow it, knowing only the verifier key")
    func receiptsProve() async throws {
        try await InProcessBureau.run { bureau in
            let verifier = try NoteVerifier(verifierKey: bureau.daemon.checkpoints.signer.verifierKey)
            let response = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest()), options: fastCall
                )
            }
            var notes: [String] = []
            for _ in 0..<3 {
                // More entries arrive between checkpoints.
                _ = await rpcError {
                    _ = try await bureau.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                            request: ClientRequest(message: individualRequest(purpose: .employmentScreening)), options: fastCall
                        )
                    }
                }
                notes.append(try await oversight(bureau) { try await $0.getCheckpoint(request: ClientRequest(message: .init()), options: fastCall) }.signedNote)
            }
            var previous: Checkpoint?
            for note in notes {
                let checkpoint = try Checkpoint(body: try verifier.verify(note: note))
                var request = Bureau_InclusionProofRequest()
                request.entryIndex = response.receipt.entryIndex
                request.treeSize = checkpoint.size
                let proof = try await oversight(bureau) { [request] in try await $0.getInclusionProof(request: ClientRequest(message: request), options: fastCall) }
                try Merkle.verifyInclusion(
                    index: response.receipt.entryIndex, size: checkpoint.size, leafHash: Array(response.receipt.leafHash),
                    proof: proof.proof.map(Array.init), root: checkpoint.root
                )
                if let previous {
                    var consistency = Bureau_ConsistencyProofRequest()
                    consistency.oldSize = previous.size
                    consistency.newSize = checkpoint.size
                    let proof = try await oversight(bureau) { [consistency] in try await $0.getConsistencyProof(request: ClientRequest(message: consistency), options: fastCall) }
                    try Merkle.verifyConsistency(size1: previous.size, size2: checkpoint.size, root1: previous.root, root2: checkpoint.root,
                                                 proof: proof.proof.map(Array.init))
                }
                previous = checkpoint
            }
        }
    }

    @Test("a tampered entry, reordered leaves or a forged signature fail verification")
    func tampering() async throws {
        try await InProcessBureau.run { bureau in
            let verifier = try NoteVerifier(verifierKey: bureau.daemon.checkpoints.signer.verifierKey)
            let note = try await oversight(bureau) { try await $0.getCheckpoint(request: ClientRequest(message: .init()), options: fastCall) }.signedNote
            let checkpoint = try Checkpoint(body: try verifier.verify(note: note))
            var request = Bureau_GetEntriesRequest()
            request.start = 0
            request.count = 1000
            let entries = try await oversight(bureau) { [request] in try await $0.getEntries(request: ClientRequest(message: request), options: fastCall) }.entries
            #expect(UInt64(entries.count) == checkpoint.size)
            let leaves = entries.map { Merkle.leafHash(Array($0.canonical)) }
            #expect(Merkle.root(of: leaves[...]) == checkpoint.root)

            var tampered = leaves
            var bytes = Array(entries[3].canonical)
            bytes[bytes.count / 2] ^= 0x01
            tampered[3] = Merkle.leafHash(bytes)
            #expect(Merkle.root(of: tampered[...]) != checkpoint.root)
            var reordered = leaves
            reordered.swapAt(1, 2)
            #expect(Merkle.root(of: reordered[...]) != checkpoint.root)

            let forged = note.replacingOccurrences(of: "\n\(checkpoint.size)\n", with: "\n\(checkpoint.size + 1)\n")
            #expect(throws: Merkle.ProofError.self) { _ = try verifier.verify(note: forged) }
            let stranger = try NoteVerifier(verifierKey: NoteSigner(name: "bureau.local/access-log", key: .init()).verifierKey)
            #expect(throws: Merkle.ProofError.self) { _ = try stranger.verify(note: note) }
        }
    }

    @Test("only regulators may read the log")
    func regulatorsOnly() async throws {
        try await InProcessBureau.run { bureau in
            let error = await rpcError {
                _ = try await oversight(bureau, as: "bank") { try await $0.getCheckpoint(request: ClientRequest(message: .init()), options: fastCall) }
            }
            #expect(error?.code == .permissionDenied)
        }
    }

    @Test("the access log is queried by subject, institution, purpose and outcome; the subject's identifier is hashed by the server")
    func queryAccessLog() async throws {
        try await InProcessBureau.run { bureau in
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest()), options: fastCall
                )
            }
            _ = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest(purpose: .employmentScreening)), options: fastCall
                    )
                }
            }
            var request = Bureau_QueryAccessLogRequest()
            request.subjectKind = .individual
            request.subjectIdentifier = DemoData.personIdentifier
            request.institution = DemoData.bank.value
            request.pageSize = 1
            let pages = try await bureau.withClient("regulator") { client in
                try await Bureau_OversightService.Client(wrapping: client).queryAccessLog(
                    request: ClientRequest(message: request), options: fastCall
                ) { response in
                    var pages: [Bureau_QueryAccessLogResponse] = []
                    for try await page in response.messages { pages.append(page) }
                    return pages
                }
            }
            // The institution is held by the first entry of its actor, which the filtered pages may leave out.
            let entries = try await bureau.withClient("regulator") { client in
                var holders: [UInt64: AccessLogEntry?] = [:]
                return try await LogEntryReader(oversight: Bureau_OversightService.Client(wrapping: client), options: fastCall)
                    .resolve(pages.flatMap(\.entries), holders: &holders)
            }
            #expect(entries.filter { $0.action.isQuery && !$0.action.isScore }.map(\.outcome) == [.hit, .denied])
            #expect(entries.allSatisfy { $0.institution == DemoData.bank.value })
            #expect(pages.count >= 2, "one entry a page")
            request.outcome = "denied"
            request.pageSize = 100
            let denied = try await bureau.withClient("regulator") { client in
                try await Bureau_OversightService.Client(wrapping: client).queryAccessLog(
                    request: ClientRequest(message: request), options: fastCall
                ) { response in
                    var count = 0
                    for try await page in response.messages { count += page.entries.count }
                    return count
                }
            }
            #expect(denied == 1)
        }
    }

    @Test("followers see new entries as they are committed")
    func follow() async throws {
        try await InProcessBureau.run { bureau in
            let start = try bureau.store.read { try $0.logSize() }
            var follow = Bureau_FollowAccessLogRequest()
            follow.fromIndex = start
            let request = follow
            let seen = try await bureau.withClient("regulator") { client in
                try await withThrowingTaskGroup(of: [UInt64].self) { group in
                    group.addTask {
                        try await Bureau_OversightService.Client(wrapping: client).followAccessLog(
                            request: ClientRequest(message: request), options: fastCall
                        ) { response in
                            var indexes: [UInt64] = []
                            for try await entry in response.messages {
                                indexes.append(entry.index)
                                if indexes.count == 2 { break }
                            }
                            return indexes
                        }
                    }
                    for _ in 0..<2 {
                        _ = try await bureau.withClient("bank") { bank in
                            try await Bureau_ReportService.Client(wrapping: bank).getIndividualReport(
                                request: ClientRequest(message: individualRequest()), options: fastCall
                            )
                        }
                    }
                    return try await group.next() ?? []
                }
            }
            #expect(seen == [start, start + 1])
        }
    }

    @Test("a regulator suspends a licence at once and reinstates it, each step logged")
    func suspendAndReinstate() async throws {
        try await InProcessBureau.run { bureau in
            var action = Bureau_LicenceActionRequest()
            action.requestID = "sup-1"
            action.institution = DemoData.bank.value
            action.reason = "anomalous query volume under review"
            _ = try await bureau.withClient("regulator") { client in
                try await Bureau_OversightService.Client(wrapping: client).suspendLicence(request: ClientRequest(message: action), options: fastCall)
            }
            let error = await rpcError {
                _ = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest()), options: fastCall
                    )
                }
            }
            #expect(error?.code == .permissionDenied)
            #expect(error?.message.contains("suspended") == true)
            _ = try await bureau.withClient("regulator") { client in
                try await Bureau_OversightService.Client(wrapping: client).reinstateLicence(request: ClientRequest(message: action), options: fastCall)
            }
            _ = try await bureau.withClient("bank") { client in
                try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                    request: ClientRequest(message: individualRequest()), options: fastCall
                )
            }
            let actions = try bureau.logEntries().map(\.entry.action)
            #expect(actions.contains(.licenceSuspend) && actions.contains(.licenceReinstate))
        }
    }

    @Test("one consent quoted for two subjects is listed as an anomaly with evidence, and logged once")
    func anomalies() async throws {
        try await InProcessBureau.run { bureau in
            let reference = standingConsent(DemoData.personIdentifier, .loanOrigination)
            for id in [DemoData.personIdentifier, "440305199207045670"] {
                _ = await rpcError {
                    _ = try await bureau.withClient("bank") { client in
                        try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                            request: ClientRequest(message: individualRequest(id, consent: reference)), options: fastCall
                        )
                    }
                }
            }
            for _ in 0..<2 {
                let response = try await bureau.withClient("regulator") { client in
                    try await Bureau_OversightService.Client(wrapping: client).listAnomalies(request: ClientRequest(message: .init()), options: fastCall)
                }
                #expect(response.anomalies.map(\.kind) == ["consent-reuse"])
                #expect(response.anomalies.first?.evidence.contains("2 different subjects") == true)
                #expect(response.anomalies.first?.institution == DemoData.bank.value)
            }
            let logged = try bureau.logEntries().filter { $0.entry.action == .anomalyDetected }
            #expect(logged.count == 1)
        }
    }
}
