import ArgumentParser
import BureauAPI
import BureauCore
import BureauWire
import Foundation
import GRPCCore

struct CatalogueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalogue",
        abstract: "Show the catalogue in force, or replace it from a file (through bureaud, as an operator).",
        subcommands: [Show.self, Load.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the catalogue in force (--json: a file `load` takes).")
        @OptionGroup var operatorOptions: OperatorOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let listed = try await operatorOptions.client.withClient { client in
                try await Bureau_CatalogService.Client(wrapping: client).listCategories(
                    request: ClientRequest(message: .init(), metadata: operatorOptions.metadata)
                )
            }
            let catalogue = Catalogue(
                version: listed.version,
                categories: try listed.categories.enumerated().map { try CatalogueCategory(wire: $1, field: "categories[\($0)]") }
            )
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(catalogue), as: UTF8.self))
                return
            }
            print("catalogue version \(catalogue.version)")
            for c in catalogue.categories {
                let retention = c.retentionYears == 0 ? "no limit" : "\(c.retentionYears) years after the behaviour ends"
                print("\(c.code)\(c.negative ? "  [negative]" : "")\(c.feedsList ? "  [list]" : "")")
                print("    \(c.name)")
                print("    basis: \(c.legalBasis); retention: \(retention)")
                print("    purposes: \(c.purposes.map(\.rawValue).joined(separator: ", "))")
            }
        }
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace the catalogue from a JSON file (a logged change).")
        @Option(help: "The catalogue JSON (as `catalogue show --json` prints).") var file: String
        @OptionGroup var operatorOptions: OperatorOptions

        func run() async throws {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            let loaded: Catalogue
            do {
                loaded = try JSONDecoder().decode(Catalogue.self, from: bytes).validated()
            } catch let error as BureauError {
                throw ValidationError("\(file): \(error.message)")
            } catch {
                throw ValidationError("\(file): not a catalogue: \(error)")
            }
            var request = Bureau_ReplaceCatalogueRequest()
            request.requestID = operatorOptions.requestID
            request.version = loaded.version
            request.categories = loaded.categories.map(Bureau_Category.init)
            let response = try await operatorOptions.withAdministration { admin in
                try await admin.replaceCatalogue(request: ClientRequest(message: request, metadata: operatorOptions.metadata))
            }
            print("catalogue version \(loaded.version) in force (\(loaded.categories.count) categories, log entry \(response.receipt.entryIndex))")
            // Nothing to rebuild: the purge index holds where retention counts from, the purge applies this catalogue.
            print("retention follows it in reports at once and in the store at the next purge (bureaud: hourly; `bureau purge`: now)")
        }
    }
}
