import ArgumentParser
import BureauCore
import BureauStore
import BureauLMDB
import Crypto
import Foundation

struct CatalogueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalogue",
        abstract: "Show the catalogue in force, or replace it from a file.",
        subcommands: [Show.self, Load.self]
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the catalogue in force (--json: a file `load` takes).")
        @OptionGroup var data: DataOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let catalogue = try Store(folder: data.data).catalogue()
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

    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace the catalogue from a JSON file (a logged change).")
        @OptionGroup var data: DataOptions
        @Option(help: "The catalogue JSON (as `catalogue show --json` prints).") var file: String

        func run() throws {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            let loaded: Catalogue
            do {
                loaded = try JSONDecoder().decode(Catalogue.self, from: bytes).validated()
            } catch let error as BureauError {
                throw ValidationError("\(file): \(error.message)")
            } catch {
                throw ValidationError("\(file): not a catalogue: \(error)")
            }
            let store = try Store(folder: data.data)
            let current = try store.catalogue()
            guard loaded.version > current.version else {
                throw ValidationError("\(file): version \(loaded.version) must be above the version in force, \(current.version)")
            }
            let receipt = try store.write { txn in
                try txn.putCatalogue(loaded)
                return try txn.appendLog(
                    AccessLogEntry(
                        .catalogueReplace, by: .bureau(), time: Date(), requestID: "catalogue-v\(loaded.version)", outcome: .applied,
                        changeDigest: SHA256.hash(data: bytes).hexString
                    )
                )
            }
            print("catalogue version \(loaded.version) in force (\(loaded.categories.count) categories, log entry \(receipt.index))")
            // Nothing to rebuild: the purge index holds where retention counts from, the purge applies this catalogue.
            print("retention follows it in reports at once and in the store at the next purge (bureaud: hourly; `bureau purge`: now)")
        }
    }
}
