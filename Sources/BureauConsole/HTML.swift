import BureauCore
import Foundation

/// HTML text with everything from outside escaped: `<`, `>`, `&`, `"` and `'`.
func esc(_ text: some StringProtocol) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for c in text {
        switch c {
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "&": out += "&amp;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}

/// Form or query fields (`application/x-www-form-urlencoded`): `+` is a space, then percent-decoding.
public struct FormFields: Sendable {
    public private(set) var values: [String: String] = [:]

    public init(parsing text: String) {
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            guard let key = parts.first.map(decode), !key.isEmpty else { continue }
            self.values[key] = parts.count > 1 ? decode(parts[1]) : ""
        }
    }

    /// The field, whitespace trimmed; nil when absent or empty.
    public subscript(_ key: String) -> String? {
        guard let value = self.values[key]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }
}

/// Dates as the console prints them: UTC in the page, converted to the viewer's zone by console.js (UTC on hover).
enum Dates {
    static func utcText(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date) + " UTC"
    }

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// A `<time>` element: UTC as text and title (the fallback without script).
    static func element(_ date: Date) -> String {
        "<time datetime=\"\(iso(date))\" title=\"\(utcText(date))\">\(utcText(date))</time>"
    }

    /// Parses a form's time (UTC): `2026-12-02T11:00`, with seconds, or a day alone.
    static func parse(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}

/// The mark beside every entry: a symbol and a word as well as a colour.
func verifiedMark(_ verified: Bool, _ language: Language) -> String {
    verified
        ? "<span class=\"mark ok\" data-verified=\"yes\">✔ \(esc(Text.verified(language)))</span>"
        : "<span class=\"mark bad\" data-verified=\"no\">✘ \(esc(Text.notVerified(language)))</span>"
}

/// The page around every view: navigation, language switch, the fork and connection banners.
struct Layout {
    var language: Language
    var path: String
    var view: LogView
    var serverAddress: String

    func page(title: String, _ body: String) -> String {
        let t = self.language
        let nav: [(String, Text)] = [("/", .dashboard), ("/log", .accessLog), ("/checkpoints", .checkpoints), ("/actions", .actions)]
        var html = """
            <!doctype html>
            <html lang="\(t == .zh ? "zh-CN" : "en")"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(esc(title)) · \(esc(Text.title(t)))</title>
            <link rel="stylesheet" href="/static/console.css"><script src="/static/console.js" defer></script>
            </head><body>
            <a class="skip" href="#main">\(t == .zh ? "跳到正文" : "Skip to content")</a>
            <header><span class="brand">\(esc(Text.title(t)))</span><nav aria-label="main"><ul>
            """
        for (href, label) in nav {
            let current = href == "/" ? self.path == "/" : self.path.hasPrefix(href)
            html += "<li><a href=\"\(href)\"\(current ? " aria-current=\"page\"" : "")>\(esc(label(t)))</a></li>"
        }
        let other: Language = t == .zh ? .en : .zh
        html += "</ul></nav><a class=\"lang\" href=\"?lang=\(other.rawValue)\" hreflang=\"\(other.rawValue)\" lang=\"\(other == .zh ? "zh-CN" : "en")\">\(other == .zh ? "中文" : "English")</a></header>"
        html += self.banners()
        html += "<main id=\"main\"><h1>\(esc(title))</h1>\(body)</main>"
        html += "<footer>\(self.footer())<p>\(esc(Text.utcHover(t)))</p></footer></body></html>"
        return html
    }

    func banners() -> String {
        let t = self.language
        var html = ""
        if !self.view.forks.isEmpty {
            html += "<section class=\"banner fork\" role=\"alert\" id=\"fork-warning\"><h2>⚠ \(esc(Text.forkTitle(t)))</h2><p>\(esc(Text.forkExplain(t)))</p>"
            // The newest first and open; the others one click away, so that the page stays usable.
            for (n, fork) in self.view.forks.reversed().enumerated() {
                html += """
                    <details\(n == 0 ? " open" : "")><summary>\(esc(Text.forkDetected(t))) \(Dates.element(fork.detected)): \(esc(fork.reason))</summary>
                    <div class="evidence"><div><h3>\(esc(Text.earlierCheckpoint(t)))</h3><pre>\(esc(fork.earlier))</pre></div>
                    <div><h3>\(esc(Text.laterCheckpoint(t)))</h3><pre>\(esc(fork.later))</pre></div></div></details>
                    """
            }
            html += "</section>"
        }
        switch self.view.problem {
        case .unreachable(let why)?:
            html += "<section class=\"banner down\" role=\"alert\" id=\"unreachable\"><h2>⚠ \(esc(Text.unreachableTitle(t)))</h2><p>\(esc(self.serverAddress)): \(esc(why))</p></section>"
        case .unverified(let why)?, .signature(let why)?:
            html += "<section class=\"banner fork\" role=\"alert\" id=\"unverified\"><h2>✘ \(esc(Text.unverifiedTitle(t)))</h2><p>\(esc(why))</p></section>"
        case nil:
            break
        }
        return html
    }

    func footer() -> String {
        guard let checkpoint = self.view.checkpoint else { return "<p>\(esc(Text.noEntriesYet(self.language)))</p>" }
        return "<p>\(esc(Text.checkedAgainst(self.language))): \(checkpoint.size) · \(esc(Text.rootHash(self.language))) <code>\(checkpoint.root.hexString)</code></p>"
    }
}

/// A table from rows of already-escaped cells.
func table(_ headers: [String], _ rows: [[String]], id: String? = nil, caption: String? = nil) -> String {
    var html = "<table\(id.map { " id=\"\($0)\"" } ?? "")>"
    if let caption { html += "<caption>\(esc(caption))</caption>" }
    if headers.contains(where: { !$0.isEmpty }) {
        html += "<thead><tr>" + headers.map { "<th scope=\"col\">\(esc($0))</th>" }.joined() + "</tr></thead>"
    }
    html += "<tbody>"
    for row in rows { html += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>" }
    return html + "</tbody></table>"
}

enum StaticFiles {
    static let css = """
        :root { --ok: #1b6e2a; --bad: #b00020; --ink: #1a1a1a; --muted: #555; --line: #ccc; --bg: #fafafa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, "Noto Sans CJK SC", "PingFang SC", sans-serif; color: var(--ink); background: var(--bg); }
        header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.5rem; background: #14324f; color: #fff; flex-wrap: wrap; }
        header a { color: #fff; } .brand { font-weight: 700; }
        nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; }
        nav a[aria-current] { font-weight: 700; text-decoration: underline; text-underline-offset: 4px; }
        .lang { margin-left: auto; }
        main, footer { max-width: 1200px; margin: 0 auto; padding: 1rem 1.5rem; }
        footer { color: var(--muted); font-size: .85rem; border-top: 1px solid var(--line); }
        a:focus, button:focus, input:focus, select:focus, summary:focus { outline: 3px solid #f2a900; outline-offset: 2px; }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: #fff; color: #000; padding: .4rem; z-index: 9; }
        table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.25rem; background: #fff; }
        th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
        td code, pre { word-break: break-all; white-space: pre-wrap; }
        caption { text-align: left; font-weight: 600; padding: .3rem 0; }
        .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 1rem; margin-bottom: 1rem; }
        .card { background: #fff; border: 1px solid var(--line); padding: .75rem 1rem; }
        .card .big { font-size: 1.6rem; font-weight: 700; }
        .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(540px, 1fr)); gap: 1rem; }
        figure { margin: 0; background: #fff; border: 1px solid var(--line); padding: .5rem; }
        figcaption { font-weight: 600; } svg { max-width: 100%; height: auto; }
        .legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .85rem; }
        .swatch { display: inline-block; width: .9em; height: .9em; border: 1px solid #333; vertical-align: middle; margin-right: .25rem; }
        .mark { font-weight: 700; white-space: nowrap; } .mark.ok { color: var(--ok); } .mark.bad { color: var(--bad); }
        .banner { margin: 0; padding: .75rem 1.5rem; border-bottom: 3px solid; }
        .banner.fork { background: #fde7e9; color: var(--bad); border-color: var(--bad); }
        .banner.down { background: #fff4d6; color: #6b4a00; border-color: #b07d00; }
        .banner h2 { margin: 0 0 .25rem; font-size: 1.1rem; }
        .evidence { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; color: var(--ink); }
        .evidence pre { background: #fff; padding: .5rem; border: 1px solid var(--line); }
        form.search { display: grid; grid-template-columns: repeat(4, 1fr); gap: .5rem 1rem; align-items: end; }
        label { display: block; font-size: .85rem; color: var(--muted); } input, select, textarea { width: 100%; padding: .3rem; font: inherit; }
        button, .button { padding: .4rem .9rem; font: inherit; cursor: pointer; }
        .error { color: var(--bad); font-weight: 600; } .hint { color: var(--muted); font-size: .85rem; }
        .actions form { background: #fff; border: 1px solid var(--line); padding: .75rem 1rem; margin-bottom: 1rem; max-width: 720px; }
        """

    /// Converts each `<time>` to the viewer's time zone (UTC stays in the title, shown on hover).
    static let javascript = """
        document.addEventListener("DOMContentLoaded", function () {
          var locale = document.documentElement.lang || undefined;
          document.querySelectorAll("time[datetime]").forEach(function (el) {
            var d = new Date(el.getAttribute("datetime"));
            if (isNaN(d)) return;
            el.textContent = d.toLocaleString(locale, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
          });
        });
        """
}
