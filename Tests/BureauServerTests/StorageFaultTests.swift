import BureauAPI
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauStoreConformance
import Foundation
import GRPCCore
import Testing

/// A full LMDB map, met over the wire: the refused write is RESOURCE_EXHAUSTED and leaves no trace,
/// the daemon keeps serving, the log still verifies, and with a larger map the same write succeeds.
/// (A full disk is tested with a real bureaud in Tests/interop/test_faults.py.)
@Suite("Storage faults over mutual TLS", .serialized)
struct StorageFaultTests {
    /// A batch of `size` people born on successive days, each with one account.
    static func batch(_ n: Int, size: Int) -> Bureau_SubmitRecordsRequest {
        var request = Bureau_SubmitRecordsRequest()
        request.batchID = "fill-\(n)"
        let base = CalendarDate(year: 1970, month: 1, day: 1)!.daysSinceEpoch
        request.subjects = (0..<size).map { i in
            let born = CalendarDate(daysSinceEpoch: base + n * size + i)
            let id = try! ResidentIdentityNumber.make(region: "510107", birthDate: born, sequence: 100 + i % 800)
            return FurnishServiceTests.record(
                id.value, name: "王芳", born: (Int32(born.year), Int32(born.month), Int32(born.day)), account: "FILL-\(n)-\(i)"
            )
        }
        return request
    }

    static func submit(_ bureau: TestBureau, _ request: Bureau_SubmitRecordsRequest) async throws -> Bureau_SubmitRecordsResponse {
        try await bureau.withClient("furnisher") { client in
            try await Bureau_FurnishService.Client(wrapping: client).submitRecords(request: ClientRequest(message: request), options: fastCall)
        }
    }

    /// Checks that every stored leaf hashes its entry and that the signed checkpoint's root is theirs.
    static func verifyLog(_ bureau: TestBureau) async throws -> [LoggedEntry] {
        let entries = try bureau.logEntries()
        for entry in entries { #expect(Merkle.leafHash(entry.bytes) == entry.leafHash) }
        let verifier = try NoteVerifier(verifierKey: bureau.daemon.checkpoints.signer.verifierKey)
        let note = try await bureau.withClient("regulator") { client in
            try await Bureau_OversightService.Client(wrapping: client).getCheckpoint(request: ClientRequest(message: .init()), options: fastCall)
        }.signedNote
        let checkpoint = try Checkpoint(body: try verifier.verify(note: note))
        #expect(checkpoint.size == UInt64(entries.count))
        #expect(checkpoint.root == Merkle.root(of: entries.map(\.leafHash)[...]))
        return entries
    }

    @Test("a full map refuses the write with RESOURCE_EXHAUSTED, keeps nothing of it, and a larger map takes it")
    func mapFull() async throws {
        let folder = TestKeyFile.temporaryFolder("bureau-mapfull")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var receipts: [Bureau_LogReceipt] = []
        var refused: Bureau_SubmitRecordsRequest?

        try await TestBureau.run(folder: folder, mapSize: 2 << 20) { bureau in
            for n in 0..<200 {
                let request = Self.batch(n, size: 50)
                do {
                    receipts.append(try await Self.submit(bureau, request).receipt)
                } catch let error as RPCError {
                    #expect(error.code == .resourceExhausted)
                    #expect(error.message.contains("storage is full"))
                    refused = request
                    break
                }
            }
            let request = try #require(refused, "a 2 MiB map should fill up")
            #expect(receipts.count > 0)

            // Nothing of the refused batch is on file, and the log has no entry for it.
            for subject in request.subjects {
                let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: subject.identifier)))
                #expect(try bureau.store.read { try $0.subject(key) } == nil)
            }
            let entries = try await Self.verifyLog(bureau)
            #expect(entries.filter { $0.entry.action == .furnishSubmit }.count == receipts.count)
            #expect(!entries.contains { $0.entry.requestID == request.batchID })

            // The daemon keeps serving: a report is answered with its receipt, or refused the same way.
            do {
                let report = try await bureau.withClient("bank") { client in
                    try await Bureau_ReportService.Client(wrapping: client).getIndividualReport(
                        request: ClientRequest(message: individualRequest(DemoData.personIdentifier)), options: fastCall
                    )
                }
                #expect(try bureau.store.read { try $0.logEntry(report.receipt.entryIndex) }?.leafHash == Array(report.receipt.leafHash))
            } catch let error as RPCError {
                #expect(error.code == .resourceExhausted)
            }
        }

        // Space returns: the operator restarts the daemon with a larger map, and the same batch applies.
        try await TestBureau.run(folder: folder, seed: false, mapSize: 64 << 20) { bureau in
            let request = try #require(refused)
            let response = try await Self.submit(bureau, request)
            #expect(response.subjectsApplied == UInt32(request.subjects.count))
            let key = bureau.store.key(for: .individual(try ResidentIdentityNumber(parsing: request.subjects[0].identifier)))
            #expect(try bureau.store.read { try $0.subject(key) } != nil)
            let entries = try await Self.verifyLog(bureau)
            for receipt in receipts + [response.receipt] {
                #expect(entries.first { $0.index == receipt.entryIndex }?.leafHash == Array(receipt.leafHash))
            }
        }
    }
}
