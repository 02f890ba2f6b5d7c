import ArgumentParser
import BureauCore
import BureauStore
import BureauLMDB
import Foundation

struct Purge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete every record whose retention has ended, logging each batch (bureaud also does this hourly)."
    )

    @OptionGroup var data: DataOptions

    func run() throws {
        let store = try data.open()
        let now = Date()
        let today = CalendarDate(utcDayOf: now)
        var total = 0
        while true {
            // The catalogue in force in the same transaction: a catalogue loaded a moment ago applies, both ways.
            let removed = try store.write { txn in
                try txn.purgeExpired(onOrBefore: today, catalogue: try txn.storedCatalogue() ?? .default, time: now)
            }
            total += removed
            if removed == 0 { break }
        }
        print("purged \(total) records (deleted, or late months masked) whose retention ended on or before \(today)")
    }
}
