import ArgumentParser
import BureauAPI
import BureauWire
import BureauCore
import Crypto
import Foundation
import BureauServer
import GRPCCore
import SwiftProtobuf

/// Client options for the bureau's counter (the channel's certificate by default).
struct ChannelClientOptions: ParsableArguments {
    @OptionGroup var client: ClientOptions<ChannelIdentity>
}

/// The person or business at the counter.
struct SubjectOptions: ParsableArguments {
    @Option(help: "The subject's identifier (resident identity number or unified social credit code).") var id: String
    @Flag(help: "The subject is a business.") var business = false
    @Option(help: "Request id (default: a new UUID).") var requestID = UUID().uuidString

    var request: Bureau_SubjectRequest {
        var request = Bureau_SubjectRequest()
        request.requestID = requestID
        request.subjectKind = business ? .business : .individual
        request.subjectIdentifier = id
        return request
    }
}

/// Names a record: KIND:FURNISHER:ID, for example account:91110000100000016D:6222020200112233.
func recordRef(_ text: String) throws -> Bureau_SubjectRecordRef {
    let parts = text.split(separator: ":", maxSplits: 2).map(String.init)
    guard parts.count == 3, let kind = RecordKind(rawValue: parts[0]) else {
        throw ValidationError("--record: KIND:FURNISHER:ID with KIND account, public-record or list-entry")
    }
    var ref = Bureau_SubjectRecordRef()
    ref.kind = kind.wire
    ref.furnisher = parts[1]
    ref.recordID = parts[2]
    return ref
}

struct Subject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The subject's rights at the bureau's counter (the channel's certificate).",
        subcommands: [OwnReport.self, History.self, Dispute.self, StatementCommand.self, Freeze.self, Unfreeze.self, Repair.self]
    )

    struct OwnReport: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "report", abstract: "The subject's own, unmasked report.")
        @OptionGroup var subject: SubjectOptions
        @OptionGroup var channel: ChannelClientOptions

        func run() async throws {
            let client = channel.client
            let answer = try await reportCall(client) { grpc in
                try await Bureau_SubjectService.Client(wrapping: grpc).getOwnReport(request: ClientRequest(message: subject.request), options: client.callOptions)
            }
            switch answer.report {
            case .individual(let report):
                var response = Bureau_IndividualReportResponse()
                response.report = report
                response.receipt = answer.receipt
                print(ReportText.render(response))
            case .business(let report):
                var response = Bureau_BusinessReportResponse()
                response.report = report
                response.receipt = answer.receipt
                print(ReportText.render(response))
            case nil:
                break
            }
            print("Self-query \(answer.selfQueriesThisYear) this year: \(answer.chargeable ? "chargeable" : "free")")
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Who asked about the file in the last 2 years, with log receipts.")
        @OptionGroup var subject: SubjectOptions
        @OptionGroup var channel: ChannelClientOptions

        func run() async throws {
            let client = channel.client
            let history = try await reportCall(client) { grpc in
                try await Bureau_SubjectService.Client(wrapping: grpc).getAccessHistory(request: ClientRequest(message: subject.request), options: client.callOptions)
            }
            let formatter = ISO8601DateFormatter()
            for item in history.items {
                let purpose = Purpose(item.purpose)?.rawValue ?? "-"
                print("\(formatter.string(from: item.time.date))  \(item.institutionName)  \(purpose)  \(item.outcome)  receipt \(item.receipt.entryIndex):\(Array(item.receipt.leafHash).hexString)")
            }
            if history.items.isEmpty { print("nobody asked about this file in the last 2 years") }
        }
    }

    struct Dispute: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dispute a record; the furnisher has 20 days to answer.")
        @OptionGroup var subject: SubjectOptions
        @OptionGroup var channel: ChannelClientOptions
        @Option(help: "KIND:FURNISHER:ID of the record.") var record: String
        @Option(help: "What is wrong with it.") var description: String

        func run() async throws {
            var request = Bureau_DisputeRequest()
            request.subject = subject.request
            request.record = try recordRef(record)
            request.description_p = description
            let client = channel.client
            let answer = try await reportCall(client) { grpc in
                try await Bureau_SubjectService.Client(wrapping: grpc).fileDispute(request: ClientRequest(message: request), options: client.callOptions)
            }
            print("dispute \(answer.disputeID) filed; the furnisher must answer by \(answer.deadline.year)-\(answer.deadline.month)-\(answer.deadline.day)")
        }
    }

    struct StatementCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "statement", abstract: "Attach the subject's statement to the file or a record.")
        @OptionGroup var subject: SubjectOptions
        @OptionGroup var channel: ChannelClientOptions
        @Option(help: "The statement.") var text: String
        @Option(help: "KIND:FURNISHER:ID of the record it is about (default: the whole file).") var record: String?

        func run() async throws {
            var request = Bureau_StatementRequest()
            request.subject = subject.request
            request.text = text
            if let record { request.about = try recordRef(record) }
            let client = channel.client
            let answer = try await reportCall(client) { grpc in
                try await Bureau_SubjectService.Client(wrapping: grpc).addStatement(request: ClientRequest(message: request), options: client.callOptions)
            }
            print("statement attached (log entry \(answer.receipt.entryIndex))")
        }
    }

    struct Freeze: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Freeze the file; prints the one-time code for the subject.")
        @OptionGroup var subject: SubjectOptions
        @OptionGroup var channel: ChannelClientOptions

        func run() async throws {
            let client = channel.client
            let answer = try await reportCall(client) { grpc in
                try await Bureau_SubjectService.Client(wrapping: grpc).placeFreeze(request: ClientRequest(message: subject.request), options: client.callOptions)
            }
            print("file frozen; one-time code for the subject (shown once): \(answer.freezeCode)")
        }
    }

    struct Unfreeze: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift the freeze with the subject's code.")
        @OptionGroup var subject: SubjectOptions
        @OptionGroup var channel: ChannelClientOptions
        @Option(help: "The code given when freezing.") var code: String

        func run() async throws {
            var request = Bureau_LiftFreezeRequest()
            request.subject = subject.request
            request.freezeCode = code
            let client = channel.client
            _ = try await reportCall(client) { grpc in
                try await Bureau_SubjectService.Client(wrapping: grpc).liftFreeze(request: ClientRequest(message: request), options: client.callOptions)
            }
            print("freeze lifted")
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask for a list entry or negative record to be repaired after rectification.")
        @OptionGroup var subject: SubjectOptions
        @OptionGroup var channel: ChannelClientOptions
        @Option(help: "KIND:FURNISHER:ID of the record.") var record: String
        @Option(help: "What the subject did to put things right.") var rectification: String
        @Option(help: "A file of evidence (its SHA-256 is filed).") var evidence: String

        func run() async throws {
            var request = Bureau_RepairRequest()
            request.subject = subject.request
            request.record = try recordRef(record)
            request.rectification = rectification
            request.evidenceSha256 = Data(SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: evidence))))
            let client = channel.client
            let answer = try await reportCall(client) { grpc in
                try await Bureau_SubjectService.Client(wrapping: grpc).requestRepair(request: ClientRequest(message: request), options: client.callOptions)
            }
            print("repair request \(answer.repairID) filed for an operator's review")
        }
    }
}
