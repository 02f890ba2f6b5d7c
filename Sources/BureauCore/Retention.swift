/// When negative information stops existing: the bureau's retention rules, as pure functions of a record,
/// the catalogue in force and the day.
///
/// - A negative account or public record is kept for its category's `retention_years` in the catalogue in
///   force, counted from the day its behaviour ended (``CreditRecord/expiry(under:)``); a catalogue change
///   moves the end of every record of the category at once, both ways.
/// - A list entry is kept until its publicity ends.
/// - Late months (`1`-`7`) in the payment history of a positive account (settled or closed in good standing)
///   are negative information too: each is kept for the retention of `account.delinquency`, counted from the
///   last day of its month (CRC: 5 years from the end of the behaviour). The last month of a closed account's
///   history is the month it closed, so a late month is never kept longer than the law allows; an open
///   account's history ends with the current month, so none of it is older than 24 months. A month whose
///   retention ended reads `*` (no information) in reports, counts for nothing in the score, and the purge
///   rewrites it so in the store. (A negative account goes whole, history and all, when its own retention ends.)
public enum Retention {
    /// What an expired late month becomes: `*`, "no information".
    public static let expiredMonth: Character = "*"
    /// The history characters that say a month was paid late.
    public static let lateMonths: Set<Character> = ["1", "2", "3", "4", "5", "6", "7"]

    /// The last day of each late month in `account`'s history, by position (oldest first). Empty for an open
    /// or negative account, whose late months expire with the record.
    public static func lateMonthEnds(of account: Account) -> [(offset: Int, ended: CalendarDate)] {
        guard !account.status.isNegative, let closed = account.closed else { return [] }
        let history = Array(account.paymentHistory)
        var out: [(offset: Int, ended: CalendarDate)] = []
        for (i, month) in history.enumerated() where lateMonths.contains(month) {
            // Months counted back from the closing month: the last character is that month.
            let back = history.count - 1 - i
            let index = closed.year * 12 + (closed.month - 1) - back
            let year = index / 12
            let monthOfYear = index % 12 + 1
            let lastDay = CalendarDate.daysIn(month: monthOfYear, year: year)
            if let ended = CalendarDate(year: year, month: monthOfYear, day: lastDay) { out.append((i, ended)) }
        }
        return out
    }

    /// The day a late month whose month ended on `ended` stops being disclosed under `catalogue`, or nil
    /// when the catalogue gives `account.delinquency` no retention.
    public static func lateMonthExpiry(ended: CalendarDate, under catalogue: Catalogue) -> CalendarDate? {
        guard let category = catalogue.category(Catalogue.accountDelinquency), category.negative, category.retentionYears > 0 else {
            return nil
        }
        return ended.adding(years: Int(category.retentionYears))
    }

    /// `account`'s payment history as it may be disclosed on `today`: late months whose retention ended are `*`.
    public static func paymentHistory(of account: Account, on today: CalendarDate, under catalogue: Catalogue) -> String {
        let expired = lateMonthEnds(of: account).filter { month in
            lateMonthExpiry(ended: month.ended, under: catalogue).map { $0 <= today } ?? false
        }
        guard !expired.isEmpty else { return account.paymentHistory }
        var history = Array(account.paymentHistory)
        for month in expired { history[month.offset] = expiredMonth }
        return String(history)
    }

    /// Whether `record` still exists on `today`: its retention has not ended.
    public static func isRetained(_ record: CreditRecord, on today: CalendarDate, under catalogue: Catalogue) -> Bool {
        guard let expiry = record.expiry(under: catalogue) else { return true }
        return expiry > today
    }

    /// What the purge does to a record on `today`.
    public enum Action: Hashable, Sendable {
        /// Nothing is due.
        case keep
        /// The record's retention ended: it is deleted, with what points at it.
        case delete
        /// Late months of a positive account expired: the record is stored again with them masked.
        case rewrite(CreditRecord)
    }

    /// What the purge does to `record` on `today` under `catalogue`.
    public static func action(for record: CreditRecord, on today: CalendarDate, under catalogue: Catalogue) -> Action {
        guard isRetained(record, on: today, under: catalogue) else { return .delete }
        if case .account(var account) = record {
            let history = paymentHistory(of: account, on: today, under: catalogue)
            if history != account.paymentHistory {
                account.paymentHistory = history
                return .rewrite(.account(account))
            }
        }
        return .keep
    }

    /// Where a record's retention counts from, independent of any catalogue, for the purge's index: the
    /// catalogue in force turns it into an end day when the purge runs, so a catalogue change needs no rebuild.
    public enum Anchor: Hashable, Sendable {
        /// The record ends on this day whatever the catalogue says (a list entry's end of publicity).
        case fixedEnd(CalendarDate)
        /// The record (or its earliest late month) ends `retention_years` of `category` after this day.
        case behaviourEnded(category: String, day: CalendarDate)
    }

    /// The anchor of `record`'s next retention end, or nil when nothing in it ever expires.
    public static func anchor(of record: CreditRecord) -> Anchor? {
        switch record {
        case .listEntry(let entry):
            return .fixedEnd(entry.publicityEnds)
        case .publicRecord(let record):
            return .behaviourEnded(category: record.category, day: record.behaviourEnded)
        case .account(let account):
            if account.status.isNegative {
                return account.behaviourEnded.map { .behaviourEnded(category: account.category, day: $0) }
            }
            return lateMonthEnds(of: account).map(\.ended).min().map { .behaviourEnded(category: Catalogue.accountDelinquency, day: $0) }
        }
    }

    /// The latest anchor day whose retention of `years` years has ended on or before `today`: every anchor on
    /// or before it has expired, none after it.
    public static func latestExpiredAnchor(years: Int, on today: CalendarDate) -> CalendarDate {
        // `adding(years:)` maps 29 February to 28 February, so step back from just past the naive answer.
        var day = CalendarDate(daysSinceEpoch: today.adding(years: -years).daysSinceEpoch + 2)
        while day.adding(years: years) > today { day = CalendarDate(daysSinceEpoch: day.daysSinceEpoch - 1) }
        return day
    }
}

extension Furnishing {
    /// `record` as it may be filed today: refused when its retention already ended, with the late months of a
    /// positive account whose retention ended already masked.
    ///
    /// A record past its retention is refused rather than dropped, so that the furnisher learns at once; the
    /// batch it came in is refused whole.
    ///
    /// - Throws: ``BureauError`` (failed precondition) naming the field and the day the retention ended.
    func retained(_ record: CreditRecord, at path: @autoclosure () -> String) throws(BureauError) -> CreditRecord {
        if let expiry = record.expiry(under: self.catalogue), expiry <= self.today {
            let rule: String
            switch record {
            case .listEntry:
                rule = "publicity_ends: the entry's publicity ended on \(expiry)"
            case .account(let account):
                rule = "behaviour_ended: retention ended on \(expiry) (\(account.category) is kept "
                    + "\(self.catalogue.category(account.category)?.retentionYears ?? 0) years after the behaviour ended)"
            case .publicRecord(let publicRecord):
                rule = "behaviour_ended: retention ended on \(expiry) (\(publicRecord.category) is kept "
                    + "\(self.catalogue.category(publicRecord.category)?.retentionYears ?? 0) years after the behaviour ended)"
            }
            throw BureauError(.failedPrecondition, "\(path()).\(rule); information past its retention is not furnished")
        }
        if case .account(var account) = record {
            account.paymentHistory = Retention.paymentHistory(of: account, on: self.today, under: self.catalogue)
            return .account(account)
        }
        return record
    }
}
