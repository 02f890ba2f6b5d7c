import ArgumentParser
import BureauCore
import BureauStore
import BureauLMDB
import BureauPostgres
import Foundation

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Take a consistent hot copy of an installation (compacted) while bureaud serves, with its keys."
    )
    @OptionGroup var data: DataOptions
    @Argument(help: "A new folder for the backup.") var destination: String

    func run() throws {
        let store = try data.open()
        if let postgres = store.backend as? PostgresStorage {
            // PostgreSQL's own tools copy its data: pg_dump here, pg_basebackup for the whole cluster.
            FileHandle.standardError.write(Data("dumping \(postgres.location) with pg_dump, and the keys of \(data.data), to \(destination)...\n".utf8))
            try Backup.take(of: store, to: destination)
            let (size, root) = try Backup.verifyLog(of: store)
            print(
                """
                backup in \(destination): postgresql.dump (pg_dump, custom format, one snapshot) with the keys; restore it with \
                pg_restore into a new database (RESTORE.txt). The live log holds \(size) entries, root \(root.hexString) verified. \
                For a physical copy of the whole cluster and point-in-time recovery, use pg_basebackup and WAL archiving.
                """
            )
            return
        }
        FileHandle.standardError.write(Data("copying \(data.data) to \(destination)...\n".utf8))
        try Backup.take(of: store, to: destination)
        let copy = try Store(folder: destination)
        var bar: ProgressBar?
        let (size, root) = try Backup.verifyLog(of: copy) { done, total in
            if bar == nil { bar = ProgressBar(total: Int(total), label: "verifying") }
            bar?.update(Int(done))
        }
        bar?.finish()
        print("backup in \(destination): \(size) log entries, root \(root.hexString) verified; keep it with secret.key private")
    }
}

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put a backup in place as a data folder (stop bureaud first); the log is verified."
    )
    @Argument(help: "The backup folder.") var source: String
    @OptionGroup var data: DataOptions

    func run() throws {
        try Backup.restore(from: source, to: data.data)
        let (size, root) = try Backup.verifyLog(of: try Store(folder: data.data))
        print("restored \(source) into \(data.data): \(size) log entries, root \(root.hexString) verified")
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Sizes and counts of an installation.")
    @OptionGroup var data: DataOptions

    func run() throws {
        let store = try data.open()
        let stats = try StoreStatistics(store)
        print("files:         \(stats.files)")
        print("institutions:  \(stats.institutions)")
        print("log entries:   \(stats.logSize)")
        if let postgres = store.backend as? PostgresStorage {
            print("database size: \(stats.usedBytes / 1_048_576) MiB (\(postgres.location); its disk is the server's)")
        } else {
            print("map in use:    \(stats.usedBytes / 1_048_576) MiB of \(stats.mapSize / 1_048_576) MiB (\(stats.usedBytes * 100 / max(1, stats.mapSize))%)")
        }
    }
}
