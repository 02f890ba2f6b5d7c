import ArgumentParser
import BureauCore
import BureauOperations
import BureauServer
import BureauStore
import BureauLMDB
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures.",
        subcommands: [ImportBench.self, ReportBench.self, ScaleBench.self, LogStoreBench.self]
    )

    struct ImportBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import N synthetic people with 3 accounts each into a fresh store; print subjects per second and bytes per subject."
        )

        @Option(help: "How many people.") var subjects = 1_000_000
        @Option(help: "Scratch folder (made fresh; removed afterwards unless --keep).") var folder = "bench-import"
        @Flag(help: "Keep the scratch folder.") var keep = false

        func run() throws {
            let fm = FileManager.default
            try? fm.removeItem(atPath: folder)
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { if !keep { try? fm.removeItem(atPath: folder) } }
            let dataFolder = folder + "/data"
            let file = folder + "/people.jsonl"

            let store = try Store(folder: dataFolder, configuration: .init(mapSize: 64 << 30, bulkLoad: true))
            _ = try DemoData.seed(into: store, certificates: nil)
            let baseline = try store.backend.statistics().usedBytes

            var clock = ContinuousClock.now
            let generator = SyntheticData(furnishers: [DemoData.bank, DemoData.consumerFinance], today: CalendarDate(utcDayOf: Date()))
            try writeLines(count: subjects, to: file, generator)
            let generateSeconds = (ContinuousClock.now - clock) / .seconds(1)
            let fileBytes = (try fm.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            print("generated \(subjects) people (\(fileBytes / max(1, subjects)) bytes of JSON each) in \(String(format: "%.1f", generateSeconds)) s")

            clock = ContinuousClock.now
            let summary = try Importer(store: store).importFile(at: file)
            let seconds = (ContinuousClock.now - clock) / .seconds(1)
            let info = try store.backend.statistics()
            let used = info.usedBytes - baseline
            // Blocks, not the file's length: held alone, LMDB sizes the file to the map (sparse).
            let onDisk = (store.backend as? LMDBStorage)?.fileBytes ?? 0
            print("imported \(summary.subjects) subjects, \(summary.records) accounts, \(summary.logEntries) log entries")
            print(String(format: "import rate:        %.0f subjects/s (%.1f s, one transaction, JSON parsing and validation included)",
                         Double(summary.subjects) / seconds, seconds))
            print("bytes per subject:  \(used / max(1, summary.subjects)) (LMDB pages in use; data.mdb takes \(onDisk / max(1, summary.subjects)) bytes/subject of disk)")
        }

        private func writeLines(count: Int, to path: String, _ generator: SyntheticData) throws {
            let handle = try openOutput(path)
            defer { try? handle.close() }
            try generator.writeLines(count: count, to: handle)
        }
    }
}
