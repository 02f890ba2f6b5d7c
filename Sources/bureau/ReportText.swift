import BureauAPI
import Foundation
import SwiftProtobuf

/// Lays a report out for people, like a printed credit report.
enum ReportText {
    static let width = 78
    static var rule: String { String(repeating: "-", count: width) }
    static var doubleRule: String { String(repeating: "=", count: width) }

    static func render(_ response: Bureau_IndividualReportResponse) -> String {
        let report = response.report
        var out = header("PERSONAL CREDIT REPORT", report.header)
        if report.hasIdentity {
            let p = report.identity
            out += ["IDENTITY",
                    row("Name", p.name), row("Identifier", p.identifier), row("Birth", date(p.birthDate)),
                    row("Phone", p.phone.isEmpty ? "-" : p.phone), row("Address", address(p.address)), rule]
        }
        out += sources(report.identitySources)
        if report.hasSummary { out += summary(report.summary, report.hasScore ? report.score : nil) }
        out += accounts(report.accounts, withheld: report.header.withheld.contains { $0.section == "accounts" })
        out += records(report.publicRecords, report.listEntries, report.statements, report.disputes, report.queries, report.header)
        out += footer(report.header, response.receipt)
        return out.joined(separator: "\n")
    }

    static func render(_ response: Bureau_BusinessReportResponse) -> String {
        let report = response.report
        var out = header("BUSINESS CREDIT REPORT", report.header)
        if report.hasRegistration {
            let r = report.registration
            out += ["REGISTRATION",
                    row("Name", r.name), row("Credit code", r.identifier), row("Registered", date(r.registrationDate)),
                    row("Address", address(r.address)),
                    row("Legal rep.", "\(r.legalRepresentative.name)  \(r.legalRepresentative.identifier)"), rule]
        }
        out += sources(report.identitySources)
        if report.hasSummary { out += summary(report.summary, report.hasScore ? report.score : nil) }
        out += accounts(report.accounts, withheld: report.header.withheld.contains { $0.section == "accounts" })
        out += records(report.publicRecords, report.listEntries, report.statements, report.disputes, report.queries, report.header)
        out += footer(report.header, response.receipt)
        return out.joined(separator: "\n")
    }

    /// The sources of the identity (the subject's own report only), best first, each with its dates.
    private static func sources(_ sources: [Bureau_IdentitySource]) -> [String] {
        if sources.isEmpty { return [] }
        var out = ["IDENTITY AS EACH SOURCE REPORTED IT (\(sources.count))"]
        for (i, s) in sources.enumerated() {
            let who = s.furnisherCode.isEmpty ? "on file before sources were recorded" : "\(s.furnisherName) (\(s.furnisherCode))"
            let when = s.hasReported ? "   reported \(date(s.reported)), first \(date(s.firstReported))" : ""
            out.append("  \(i + 1). \(who)\(when)\(s.counted ? "" : "   [NOT COUNTED: holds no record]")")
            switch s.facts {
            case .person(let p):
                out.append("     Name \(p.name)   Born \(date(p.birthDate))   Phone \(p.phone.isEmpty ? "-" : p.phone)")
                out.append("     Address \(address(p.address))")
            case .business(let b):
                out.append("     Name \(b.name)   Registered \(date(b.registrationDate))")
                out.append("     Address \(address(b.address))")
                out.append("     Legal rep. \(b.legalRepresentative.name)  \(b.legalRepresentative.identifier)")
            case nil:
                break
            }
        }
        out.append(rule)
        return out
    }

    private static func summary(_ s: Bureau_ReportSummary, _ score: Bureau_Score?) -> [String] {
        var out = ["SUMMARY"]
        if let score {
            out.append(row("Score", "\(score.value) of 900 (\(score.modelVersion))"))
            for reason in score.reasons { out.append(row("", "\(reason.code) \(reason.text)")) }
        }
        out.append(row("Accounts", "\(s.accounts) (\(s.openAccounts) open, \(s.delinquentAccounts) delinquent)"))
        if !s.totalLimit.isEmpty { out.append(row("Total limit", s.totalLimit.map(money).joined(separator: ", "))) }
        if !s.totalBalance.isEmpty { out.append(row("Total balance", s.totalBalance.map(money).joined(separator: ", "))) }
        if !s.totalsOutOfRange.isEmpty { out.append(row("Totals out of range", s.totalsOutOfRange.joined(separator: ", "))) }
        if s.worstStatus != .unspecified { out.append(row("Worst status", enumName(s.worstStatus, prefix: ""))) }
        out.append(row("Public records", String(s.publicRecords)))
        var lists: [String] = []
        if s.onSevereUntrustworthinessList { lists.append("SEVERE-UNTRUSTWORTHINESS LIST") }
        if s.onRedList { lists.append("red list") }
        out.append(row("Lists", lists.isEmpty ? "none" : lists.joined(separator: ", ")))
        out.append(rule)
        return out
    }

    private static func records(
        _ publicRecords: [Bureau_PublicRecordLine], _ lists: [Bureau_ListEntryLine], _ statements: [Bureau_StatementLine],
        _ disputes: [Bureau_DisputeLine], _ queries: [Bureau_QueryLine], _ header: Bureau_ReportHeader
    ) -> [String] {
        func withheld(_ section: String) -> Bool { header.withheld.contains { $0.section == section } }
        var out: [String] = []
        if !withheld("public-records") {
            out.append("PUBLIC RECORDS (\(publicRecords.count))")
            if publicRecords.isEmpty { out.append("  none on file") }
            for (i, p) in publicRecords.enumerated() {
                out.append("  \(i + 1). \(enumName(p.type, prefix: "")) · \(p.authority)\(p.disputed ? "   [DISPUTED]" : "")")
                var line = "     Filed \(date(p.filed))   Behaviour ended \(date(p.behaviourEnded))"
                if p.hasAmount { line += "   Amount \(money(p.amount))" }
                out.append(line)
                out.append("     Document \(p.legalBasis.documentNumber), \(p.legalBasis.authority), \(date(p.legalBasis.date))")
                if !p.description_p.isEmpty { out.append("     \(p.description_p)") }
                if p.hasRetentionEnds { out.append("     Retention ends \(date(p.retentionEnds)): not disclosed from that day") }
            }
            out.append(rule)
        }
        if !withheld("list-entries") {
            out.append("LIST ENTRIES (\(lists.count))")
            if lists.isEmpty { out.append("  none on file") }
            for (i, l) in lists.enumerated() {
                var title = "  \(i + 1). \(l.listName)"
                if l.severity != .unspecified { title += " · \(enumName(l.severity, prefix: ""))" }
                out.append(title + (l.disputed ? "   [DISPUTED]" : ""))
                out.append("     Listed \(date(l.listed))   Published until \(date(l.publicityEnds))   by \(l.furnisherName)")
                out.append("     Document \(l.legalBasis.documentNumber), \(l.legalBasis.authority), \(date(l.legalBasis.date))")
                out.append("     \(l.reason)")
                if l.hasRetentionEnds { out.append("     Retention ends \(date(l.retentionEnds)): not disclosed from that day") }
            }
            out.append(rule)
        }
        if !statements.isEmpty {
            out.append("STATEMENTS BY THE SUBJECT")
            for s in statements { out.append("  \(date(s.added))\(s.about.isEmpty ? "" : " on \(s.about)"): \(s.text)") }
            out.append(rule)
        }
        if !disputes.isEmpty {
            out.append("OPEN DISPUTES")
            for d in disputes {
                out.append("  \(date(d.filed)) \(enumName(d.kind, prefix: "")) \(d.recordID) of \(d.furnisherName): \(d.description_p)")
            }
            out.append(rule)
        }
        if !withheld("query-records") {
            out.append("QUERY RECORDS, LAST 2 YEARS (\(queries.count))")
            if queries.isEmpty { out.append("  none") }
            for q in queries.prefix(20) {
                out.append("  \(timestamp(q.time))  \(q.institutionName)  \(purposeName(q.purpose))")
            }
            if queries.count > 20 { out.append("  ... and \(queries.count - 20) more") }
            out.append(rule)
        }
        return out
    }

    private static func header(_ title: String, _ h: Bureau_ReportHeader) -> [String] {
        let pad = max(0, (width - title.count) / 2)
        var out = [doubleRule, String(repeating: " ", count: pad) + title, doubleRule,
                   row("Report number", h.reportNumber), row("Generated", timestamp(h.generatedAt)),
                   row("Requested by", h.requestedBy), row("Purpose", purposeName(h.purpose)),
                   row("Disclosure", "table v\(h.disclosureVersion), licence tier \(h.tier)"), rule]
        if h.hasFraudAlert {
            out += ["*** FRAUD ALERT placed \(date(h.fraudAlert.placed)): \(h.fraudAlert.note)", rule]
        }
        return out
    }

    private static func accounts(_ accounts: [Bureau_AccountLine], withheld: Bool) -> [String] {
        if withheld { return [] }
        var out = ["CREDIT ACCOUNTS (\(accounts.count))"]
        if accounts.isEmpty { out.append("  none on file") }
        for (i, a) in accounts.enumerated() {
            out.append("  \(i + 1). \(enumName(a.type, prefix: "")) · \(a.furnisherName) · \(a.accountNumber)\(a.disputed ? "   [DISPUTED]" : "")")
            var line = "     Opened \(date(a.opened))   Limit \(money(a.limit))   Balance \(money(a.balance))"
            if a.hasClosed { line += "   Closed \(date(a.closed))" }
            out.append(line)
            out.append("     Status \(enumName(a.status, prefix: ""))   24 months: \(a.paymentHistory.isEmpty ? "-" : a.paymentHistory)")
            if a.hasLegalBasis {
                out.append("     Negative until retention ends: behaviour ended \(date(a.behaviourEnded)); basis \(a.legalBasis.documentNumber)")
            }
            if a.hasRetentionEnds { out.append("     Retention ends \(date(a.retentionEnds)): not disclosed from that day") }
        }
        out.append(rule)
        return out
    }

    private static func footer(_ h: Bureau_ReportHeader, _ receipt: Bureau_LogReceipt) -> [String] {
        var out: [String] = []
        for w in h.withheld { out.append("WITHHELD \(w.section): \(w.reason)") }
        if !h.withheld.isEmpty { out.append(rule) }
        out.append("This query is recorded in the bureau's access log as entry \(receipt.entryIndex)")
        out.append("(leaf hash \(receipt.leafHash.map { String(format: "%02x", $0) }.joined())).")
        out.append(doubleRule)
        return out
    }

    private static func row(_ label: String, _ value: String) -> String {
        "  " + label.padding(toLength: 15, withPad: " ", startingAt: 0) + value
    }

    private static func date(_ d: Bureau_CalendarDate) -> String {
        if d.year == 0 { return "-" }
        if d.month == 0 { return String(d.year) }
        return String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
    }

    private static func address(_ a: Bureau_Address) -> String {
        [a.province, a.city, a.detail].filter { !$0.isEmpty }.joined(separator: " ")
    }

    private static func money(_ m: Bureau_Money) -> String {
        let sign = m.minorUnits < 0 ? "-" : ""
        // The magnitude, not abs: abs(Int64.min) traps, and a report must print whatever the bureau holds.
        let units = m.minorUnits.magnitude
        let whole = String(units / 100)
        var grouped = ""
        for (i, c) in whole.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { grouped.append(",") }
            grouped.append(c)
        }
        return "\(m.currency) \(sign)\(String(grouped.reversed())).\(String(format: "%02d", units % 100))"
    }

    private static func timestamp(_ t: Google_Protobuf_Timestamp) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: t.date)
    }

    private static func purposeName(_ p: Bureau_Purpose) -> String { enumName(p, prefix: "PURPOSE_") }

    /// `late30` -> `late 30`, `creditCard` -> `credit card`.
    private static func enumName(_ value: some Any, prefix: String) -> String {
        var out = ""
        for c in String(describing: value) {
            if c.isUppercase || (c.isNumber && !(out.last?.isNumber ?? true)) { out.append(" ") }
            out.append(contentsOf: c.lowercased())
        }
        return out
    }
}
