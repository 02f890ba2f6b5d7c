import BureauCore

/// Stacked bar charts drawn on the server as SVG, each with a legend and a table of the same figures, so that
/// nothing is told by colour alone.
enum Charts {
    /// Distinguishable colours (Okabe-Ito), each paired with a legend name and the table.
    static let palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999"]

    /// Entries per day, stacked by the labels `series` picks from a day's counts (at most 8 labels; the rest "other").
    static func stacked(
        id: String, caption: String, days: [(day: CalendarDate, counts: LogStatistics.Day)],
        series: (LogStatistics.Day) -> [String: Int], language: Language
    ) -> String {
        var totals: [String: Int] = [:]
        for (_, counts) in days { for (label, n) in series(counts) { totals[label, default: 0] += n } }
        var labels = totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
        let other = language == .zh ? "其他" : "other"
        let folded = labels.count > 8
        if folded { labels = Array(labels.prefix(8)) + [other] }
        func value(_ counts: LogStatistics.Day, _ label: String) -> Int {
            let all = series(counts)
            if folded && label == other { return all.filter { !labels.dropLast().contains($0.key) }.values.reduce(0, +) }
            return all[label] ?? 0
        }
        let width = 560, height = 220, left = 40, bottom = 30, top = 10
        let maximum = max(1, days.map { d in labels.reduce(0) { $0 + value(d.counts, $1) } }.max() ?? 1)
        let slot = days.isEmpty ? 0 : (width - left - 10) / days.count
        let bar = max(4, min(40, slot * 2 / 3))
        var svg = "<svg id=\"\(id)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-labelledby=\"\(id)-title\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<title id=\"\(id)-title\">\(esc(caption))</title>"
        let plot = height - bottom - top
        svg += "<line x1=\"\(left)\" y1=\"\(top + plot)\" x2=\"\(width - 5)\" y2=\"\(top + plot)\" stroke=\"#333\"/>"
        svg += "<text x=\"\(left - 4)\" y=\"\(top + 10)\" font-size=\"11\" text-anchor=\"end\">\(maximum)</text>"
        svg += "<text x=\"\(left - 4)\" y=\"\(top + plot)\" font-size=\"11\" text-anchor=\"end\">0</text>"
        for (i, d) in days.enumerated() {
            let x = left + i * slot + (slot - bar) / 2
            var y = top + plot
            for (j, label) in labels.enumerated() {
                let n = value(d.counts, label)
                guard n > 0 else { continue }
                let h = max(1, n * plot / maximum)
                y -= h
                svg += "<rect x=\"\(x)\" y=\(quote(y)) width=\"\(bar)\" height=\"\(h)\" fill=\"\(palette[j % palette.count])\" stroke=\"#fff\">"
                svg += "<title>\(d.day) · \(esc(label)): \(n)</title></rect>"
            }
            if days.count <= 14 || i % 2 == 0 {
                let text = String(d.day.description.dropFirst(5))
                svg += "<text x=\"\(x + bar / 2)\" y=\"\(height - 12)\" font-size=\"11\" text-anchor=\"middle\">\(text)</text>"
            }
        }
        svg += "</svg>"
        var legend = "<ul class=\"legend\">"
        for (j, label) in labels.enumerated() {
            legend += "<li><svg class=\"swatch\" viewBox=\"0 0 10 10\" aria-hidden=\"true\"><rect width=\"10\" height=\"10\" fill=\"\(palette[j % palette.count])\"/></svg>\(esc(label)) (\(days.reduce(0) { $0 + value($1.counts, label) }))</li>"
        }
        legend += "</ul>"
        let rows = days.reversed().map { d in [d.day.description] + labels.map { String(value(d.counts, $0)) } }
        let figures = "<details><summary>\(esc(Text.day(language)))…</summary>" + table([Text.day(language)] + labels, rows) + "</details>"
        return "<figure><figcaption>\(esc(caption))</figcaption>\(svg)\(legend)\(figures)</figure>"
    }

    private static func quote(_ n: Int) -> String { "\"\(n)\"" }
}
