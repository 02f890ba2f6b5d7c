import ArgumentParser
import BureauCore
import BureauLMDB
import BureauPostgres
import BureauStore
import Foundation

/// `--store`: a PostgreSQL store instead of the LMDB one in the data folder.
struct StoreLocationOption: ParsableArguments {
    @Option(help: "The PostgreSQL store: postgresql://user@host:port/database?sslmode=verify-full&sslrootcert=ca.pem")
    var store: String?

    init() {}

    init(store: String?) {
        self.store = store
    }

    /// The PostgreSQL store's location, or nil for LMDB.
    func location() throws -> PostgresLocation? {
        guard let store else { return nil }
        do {
            return try PostgresLocation(url: store, field: "--store")
        } catch let error as BureauError {
            throw ValidationError(error.message)
        }
    }

    /// The store of the data folder `folder` (its keys), on PostgreSQL when `--store` is given; `bulkLoad`
    /// for an import (``Store/Configuration/bulkLoad``, LMDB only).
    func open(folder: String, bulkLoad: Bool = false) throws -> Store {
        guard let location = try self.location() else { return try Store(folder: folder, configuration: .init(bulkLoad: bulkLoad)) }
        return try Store(folder: folder, configuration: .init(openBackend: { folder in try PostgresStorage(location: location, dataFolder: folder) }))
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Manage a PostgreSQL store's schema.",
        subcommands: [Migrate.self]
    )

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make or upgrade a PostgreSQL store's schema to the version this build knows (in one transaction)."
        )
        @OptionGroup var store: StoreLocationOption

        func run() throws {
            guard let location = try store.location() else { throw ValidationError("--store: give the PostgreSQL store's postgresql:// URL") }
            let (from, to) = try PostgresStorage.migrate(location)
            print(from == to ? "\(location): schema version \(to), nothing to do" : "\(location): schema version \(from) -> \(to)")
        }
    }
}
