import ArgumentParser
import BureauAPI
import BureauWire
import BureauCore
import BureauServer
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask bureaud for a credit report, as the institution whose certificate you present.",
        subcommands: [Individual.self, Business.self]
    )

    /// What both report kinds take.
    struct Query: ParsableArguments {
        @Option(help: "The subject's identifier.") var id: String
        @Option(help: "Purpose: loan-origination, credit-card-origination, post-loan-management, ...")
        var purpose: String
        @Option(help: "Reference of the subject's consent on file.") var consent = ""
        @Option(help: "Your own request id (default: a new UUID).") var requestID = UUID().uuidString
        @Option(help: "The subject's one-time code, to query a frozen file.") var freezeCode = ""
        @Flag(help: "Print the answer as JSON (protobuf JSON mapping).") var json = false

        var wirePurpose: Bureau_Purpose {
            get throws {
                guard let value = Purpose(rawValue: purpose) else {
                    throw ValidationError(
                        "--purpose: unknown purpose \(purpose); one of \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                return value.wire
            }
        }
    }

    struct Individual: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A person's credit report.")
        @OptionGroup var query: Query
        @OptionGroup var client: ClientOptions<AgencyIdentity>

        func run() async throws {
            var request = Bureau_IndividualReportRequest()
            request.identifier = query.id
            request.purpose = try query.wirePurpose
            request.consentReference = query.consent
            request.requestID = query.requestID
            request.freezeCode = query.freezeCode
            let response = try await reportCall(client) { grpc in
                try await Bureau_ReportService.Client(wrapping: grpc).getIndividualReport(
                    request: ClientRequest(message: request), options: client.callOptions
                )
            }
            print(query.json ? try response.jsonString(options: .pretty) : ReportText.render(response))
        }
    }

    struct Business: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A business's credit report.")
        @OptionGroup var query: Query
        @OptionGroup var client: ClientOptions<AgencyIdentity>

        func run() async throws {
            var request = Bureau_BusinessReportRequest()
            request.identifier = query.id
            request.purpose = try query.wirePurpose
            request.consentReference = query.consent
            request.requestID = query.requestID
            request.freezeCode = query.freezeCode
            let response = try await reportCall(client) { grpc in
                try await Bureau_ReportService.Client(wrapping: grpc).getBusinessReport(
                    request: ClientRequest(message: request), options: client.callOptions
                )
            }
            print(query.json ? try response.jsonString(options: .pretty) : ReportText.render(response))
        }
    }
}

/// Runs a call and turns a gRPC error into a one-line message and exit status 1.
func reportCall<T: Sendable, Identity>(
    _ client: ClientOptions<Identity>,
    _ body: (GRPCClient<GRPCNIOTransportHTTP2.HTTP2ClientTransport.Posix>) async throws -> T
) async throws -> T {
    do {
        return try await client.withClient(body)
    } catch let error as RPCError {
        var line = "error: \(error.code): \(error.message)"
        if let index = error.metadata[stringValues: "bureau-receipt-index"].first(where: { _ in true }) {
            line += " (logged as entry \(index))"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
        throw ExitCode(1)
    }
}

extension JSONEncodingOptions {
    static var pretty: JSONEncodingOptions {
        var options = JSONEncodingOptions()
        options.alwaysPrintEnumsAsInts = false
        return options
    }
}
