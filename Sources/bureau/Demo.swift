import ArgumentParser
import BureauServer
import BureauStore

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Demo data for trying Bureau out.",
        subcommands: [Seed.self]
    )

    struct Seed: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register the demo institutions and furnish demo people, businesses and accounts."
        )

        @OptionGroup var data: DataOptions
        @Option(help: "Folder of the dev certificates to bind (bank.pem, furnisher.pem, regulator.pem, channel.pem).")
        var certs = "certs"

        func run() throws {
            let store = try Store(folder: data.data)
            let summary = try DemoData.seed(into: store, certificates: certs)
            print(
                "seeded \(summary.institutions) institutions (\(summary.boundCertificates) certificates bound), "
                    + "\(summary.subjects) subject submissions, \(summary.records) records into \(data.data)"
            )
        }
    }
}
