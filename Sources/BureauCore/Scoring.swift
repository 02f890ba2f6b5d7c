import struct Foundation.Date

/// A credit score with the reasons that kept it from being higher, in plain words.
public struct CreditScore: Hashable, Codable, Sendable {
    public struct Reason: Hashable, Codable, Sendable {
        public var code: String
        public var text: String
        /// Points this factor took off its best.
        public var points: Int
    }

    /// 300 to 900.
    public var value: Int
    public var modelVersion: String
    /// At most four, the costliest first.
    public var reasons: [Reason]
}

/// The bureau's documented scorecards. A score starts at 600; each factor adds or takes points; the result
/// is clamped to 300...900. Only records whose retention has not ended count, and of a positive account's history
/// only late months whose retention has not ended (``Retention``).
///
/// Individual scorecard (`bureau-individual-2026.1`):
///
/// | factor | points |
/// |---|---|
/// | payment history (24 months of every account) | +1 a month paid on time, up to +60; -15 a month 30 days late, -30 at 60, -45 at 90, -60 at 120+; -120 a charged-off account |
/// | utilisation of revolving credit (credit cards) | below 10% +60, 30% +40, 50% +10, 75% -20, 90% -50, otherwise -80; none 0 |
/// | length of history (oldest account) | 10 years +50, 5 +30, 2 +10, less -10, no account -30 |
/// | recent queries for credit (12 months) | 0-1 +20, 2-3 0, 4-6 -20, more -40 |
/// | credit mix (kinds of account) | 3 or more +20, 2 +10, 1 0 |
/// | public records | -80 each, at most -240 |
/// | severe-untrustworthiness list | -150 |
///
/// Business scorecard (`bureau-business-2026.1`): payment history and public records and the list as above,
/// utilisation of all credit (balance over limits) with the same steps, and years since registration
/// (10 years +50, 5 +30, 2 +10, less -10) in place of the length of history; no query or mix factor.
public enum Scoring {
    public static let individualModel = "bureau-individual-2026.1"
    public static let businessModel = "bureau-business-2026.1"

    private struct Factor {
        var code: String
        var points: Int
        var best: Int
        var text: String
    }

    /// The score of `file` on `today`, with `queries` (from the access log) for the recent-queries factor.
    public static func score(of file: CreditFile, catalogue: Catalogue, today: CalendarDate, queries: [QueryRecord] = []) -> CreditScore {
        func live(_ record: CreditRecord) -> Bool {
            guard let expiry = record.expiry(under: catalogue) else { return true }
            return expiry > today
        }
        // Late months whose retention ended count for nothing (see ``Retention``).
        let accounts = file.accounts.filter { live(.account($0)) }.map { account in
            var counted = account
            counted.paymentHistory = Retention.paymentHistory(of: account, on: today, under: catalogue)
            return counted
        }
        let publicRecords = file.publicRecords.filter { live(.publicRecord($0)) }
        let severe = file.listEntries.contains { $0.list == Catalogue.severeUntrustworthinessList && live(.listEntry($0)) }
        var factors: [Factor] = []

        // Payment history.
        var onTime = 0
        var lateLoss = 0
        var chargedOff = 0
        for account in accounts {
            for month in account.paymentHistory {
                switch month {
                case "0": onTime += 1
                case "1": lateLoss += 15
                case "2": lateLoss += 30
                case "3": lateLoss += 45
                case "4", "5", "6", "7": lateLoss += 60
                default: break
                }
            }
            if account.status == .chargedOff { chargedOff += 1 }
        }
        let payment = min(60, onTime) - lateLoss - 120 * chargedOff
        factors.append(Factor(code: "R01", points: payment, best: 60, text: lateLoss + chargedOff > 0
            ? "Late payments in the last 24 months" + (chargedOff > 0 ? " and \(chargedOff) charged-off account(s)" : "")
            : "Short record of on-time payments"))

        // Utilisation.
        let revolving = file.kind == .individual ? accounts.filter { $0.type == .creditCard && $0.closed == nil } : accounts.filter { $0.closed == nil }
        // In 128 bits: stored amounts are 64-bit and any number of them is summed.
        let limit = revolving.reduce(Int128(0)) { $0 + Int128($1.limit.minorUnits) }
        let balance = revolving.reduce(Int128(0)) { $0 + Int128($1.balance.minorUnits) }
        if limit > 0 {
            let ratio = Self.double(balance) / Self.double(limit)
            let points = ratio < 0.10 ? 60 : ratio < 0.30 ? 40 : ratio < 0.50 ? 10 : ratio < 0.75 ? -20 : ratio < 0.90 ? -50 : -80
            // Clamped before the conversion: a balance far above its limit must not trap.
            let percent = Int((min(max(ratio, 0), 1_000) * 100).rounded())
            factors.append(Factor(code: "R02", points: points, best: 60, text: "High use of available credit (\(percent)%)"))
        }

        // Length of history, or for a business years since registration.
        let since: CalendarDate?
        switch file.subject {
        case .person: since = accounts.map(\.opened).min()
        case .business(let registration): since = registration.registrationDate
        }
        if let since {
            let years = (today.daysSinceEpoch - since.daysSinceEpoch) / 365
            let points = years >= 10 ? 50 : years >= 5 ? 30 : years >= 2 ? 10 : -10
            factors.append(Factor(code: "R03", points: points, best: 50, text: file.kind == .individual
                ? "Short credit history (\(years) year\(years == 1 ? "" : "s"))" : "Recently registered business (\(years) years)"))
        } else {
            factors.append(Factor(code: "R03", points: -30, best: 50, text: "No credit accounts on file"))
        }

        if file.kind == .individual {
            // Recent queries for credit.
            let yearAgo = today.adding(years: -1)
            let recent = queries.filter {
                CalendarDate(utcDayOf: $0.time) > yearAgo && [.loanOrigination, .creditCardOrigination, .guaranteeReview].contains($0.purpose)
            }.count
            let points = recent <= 1 ? 20 : recent <= 3 ? 0 : recent <= 6 ? -20 : -40
            factors.append(Factor(code: "R04", points: points, best: 20, text: "Many recent applications for credit (\(recent) in 12 months)"))
            // Credit mix.
            let kinds = Set(accounts.map(\.type)).count
            factors.append(Factor(code: "R05", points: kinds >= 3 ? 20 : kinds == 2 ? 10 : 0, best: 20, text: "Few kinds of credit account"))
        }

        if !publicRecords.isEmpty {
            factors.append(Factor(code: "R06", points: -min(240, 80 * publicRecords.count), best: 0,
                                  text: "\(publicRecords.count) public record(s) such as judgments or tax arrears"))
        }
        if severe {
            factors.append(Factor(code: "R07", points: -150, best: 0, text: "Listed as severely untrustworthy"))
        }

        let value = min(900, max(300, 600 + factors.reduce(0) { $0 + $1.points }))
        let reasons = factors
            .filter { $0.points < $0.best }
            .sorted { ($0.best - $0.points, $1.code) > ($1.best - $1.points, $0.code) }
            .prefix(4)
            .map { CreditScore.Reason(code: $0.code, text: $0.text, points: $0.best - $0.points) }
        return CreditScore(value: value, modelVersion: file.kind == .individual ? individualModel : businessModel, reasons: Array(reasons))
    }

    /// `Double(value)`, through a 64-bit conversion when the value fits (the same double): the stdlib converts a
    /// 128-bit integer through unspecialised generic code, a microsecond a call on every report.
    static func double(_ value: Int128) -> Double {
        if value >= Int128(Int64.min) && value <= Int128(Int64.max) { return Double(Int64(truncatingIfNeeded: value)) }
        return Double(value)
    }
}
