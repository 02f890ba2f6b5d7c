import ArgumentParser
import BureauCore
import BureauStore
import Foundation

struct Purge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete every record whose retention has ended, logging each batch (bureaud also does this hourly)."
    )

    @OptionGroup var data: DataOptions

    func run() throws {
        let store = try Store(folder: data.data)
        let catalogue = try store.catalogue()
        let now = Date()
        let today = CalendarDate(utcDayOf: now)
        var total = 0
        while true {
            let removed = try store.write { txn in try txn.purgeExpired(onOrBefore: today, catalogue: catalogue, time: now) }
            total += removed
            if removed == 0 { break }
        }
        print("purged \(total) records whose retention ended on or before \(today)")
    }
}
