import ArgumentParser
import BureauOperations
import BureauServer
import BureauCore
import BureauStore
import BureauLMDB
import Foundation

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Demo data for trying Bureau out.",
        subcommands: [Seed.self, Generate.self]
    )

    struct Seed: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register the demo institutions and furnish demo people, businesses and accounts."
        )

        @OptionGroup var data: DataOptions
        @Option(help: "Folder of the dev certificates to bind (bank.pem, furnisher.pem, regulator.pem, channel.pem, court.pem, operator.pem).")
        var certs = "certs"

        func run() throws {
            let store = try data.open()
            let summary = try DemoData.seed(into: store, certificates: certs)
            print(
                "seeded \(summary.institutions) institutions (\(summary.boundCertificates) certificates bound), "
                    + "\(summary.subjects) subject submissions, \(summary.records) records into \(data.data)"
            )
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write synthetic people (valid identifiers, plausible histories) as JSON Lines for `bureau import`."
        )

        @Option(help: "How many people.") var subjects = 1000
        @Option(help: "Accounts per person (at least 1: a furnisher reports a person's identity only with a record).") var accounts = 3
        @Option(help: "Seed for the generator.") var seed: UInt64 = 42
        @Option(help: "Output file (- for standard output).") var output = "-"

        func run() throws {
            guard subjects > 0 else { throw ValidationError("--subjects: must be positive") }
            guard accounts > 0 else { throw ValidationError("--accounts: must be positive (a person without a record cannot be imported)") }
            let generator = SyntheticData(
                furnishers: BenchSubjects.demoFurnishers, seed: seed, today: CalendarDate(utcDayOf: Date())
            )
            let handle = try openOutput(output)
            try generator.writeLines(count: subjects, accounts: accounts, to: handle)
        }
    }
}
