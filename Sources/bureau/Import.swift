import ArgumentParser
import BureauOperations
import BureauServer
import BureauStore
import BureauLMDB
import Foundation

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import subjects and records from a JSON Lines file, all or nothing.",
        discussion: """
            Each line is one furnisher's records about one subject (see README, "Bulk data"). The furnisher \
            must be registered and licensed for every category it files. A bad line stops the import with its \
            line number, field and rule, and leaves the database unchanged. The import holds the database's \
            write lock while it runs. When no other process has the data folder open, it holds the folder \
            alone and writes through LMDB's map (faster for large files; a bureaud started meanwhile refuses \
            to open it until the import ends); beside a running bureaud it shares the folder.
            """
    )

    @OptionGroup var data: DataOptions
    @Argument(help: "The JSON Lines file.") var file: String

    func run() throws {
        let store = try data.open(bulkLoad: true)
        let alone = (store.backend as? LMDBStorage)?.isHeldAlone == true
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        var bar = ProgressBar(total: size, label: "importing")
        let started = ContinuousClock.now
        do {
            let summary = try Importer(store: store).importFile(at: file) { bar.update($0) }
            bar.finish()
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            print(
                "imported \(summary.subjects) subjects and \(summary.records) records from \(summary.lines) lines "
                    + "in \(String(format: "%.1f", seconds)) s (\(summary.logEntries) log entries"
                    + (alone ? "; the data folder held alone)" : ")")
            )
        } catch let error as Importer.LineError {
            bar.finish()
            FileHandle.standardError.write(Data("error: \(error); nothing was imported\n".utf8))
            throw ExitCode(1)
        }
    }
}
