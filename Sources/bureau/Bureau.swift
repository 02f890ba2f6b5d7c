import ArgumentParser

/// bureau: the command line for operators, agencies and regulators.
@main
struct Bureau: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bureau",
        abstract: "Administer a Bureau installation and query it.",
        subcommands: [Demo.self, Institution.self, Report.self, Log.self, Import.self, Purge.self, CatalogueCommand.self, Bench.self, CA.self, Subject.self, BackupCommand.self, RestoreCommand.self, StatsCommand.self, StoreCommand.self]
    )
}
