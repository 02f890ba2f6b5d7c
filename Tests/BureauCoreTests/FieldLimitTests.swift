import BureauCore
import Foundation
import Testing

/// Every text field has a byte limit, every logged field refuses control characters, and amounts have a bound.
@Suite("Field limits")
struct FieldLimitTests {
    typealias F = FurnishingTests

    static func business(name: String = "示范制造有限公司", repName: String = "王建国", repID: String = "11010519491231002X") -> SubmittedSubject {
        SubmittedSubject(
            kind: .business, identifier: "91110000200000013F", name: name, date: DateFields(year: 2008, month: 5, day: 20), phone: "",
            address: Address(province: "北京市", city: "北京市", detail: "朝阳区"), legalRepresentativeName: repName,
            legalRepresentativeIdentifier: repID, accounts: []
        )
    }

    static func address(province: String = "北京市", city: String = "北京市", detail: String = "东城区") -> SubmittedSubject {
        F.person().with { $0.address = Address(province: province, city: city, detail: detail) }
    }

    static func amount(limit: Int64 = 5_000_000, balance: Int64 = 100) -> SubmittedSubject {
        var account = F.account()
        account.limit = Money(minorUnits: limit, currency: "CNY")
        account.balance = Money(minorUnits: balance, currency: "CNY")
        return F.person(accounts: [account])
    }

    static func judgment(authority: String = "Court", description: String = "", number: String = "(2025)京01执1号") -> SubmittedSubject {
        var subject = F.judgment(authority: authority)
        subject.publicRecords[0].description = description
        subject.publicRecords[0].legalBasis?.documentNumber = number
        return subject
    }

    static func listing(reason: String = "defaulted", list: String = Catalogue.severeUntrustworthinessList) -> SubmittedSubject {
        var subject = F.listing(list: list)
        subject.listEntries[0].reason = reason
        return subject
    }

    static func bytes(_ n: Int, _ unit: String = "a") -> String { String(repeating: unit, count: n) }

    /// (field path, subject, limit named in the error); each subject is one byte (or a lot) over its field's limit.
    static let oversized: [(String, SubmittedSubject, String)] = [
        ("subjects[0].identifier", F.person(id: bytes(65, " ") + "11010519491231002X"), "at most 64 bytes"),
        ("subjects[0].name", F.person(name: bytes(201)), "at most 200 bytes"),
        // One letter with 500,000 combining marks is one Character and half a megabyte.
        ("subjects[0].name", F.person(name: "a" + String(repeating: "\u{301}", count: 500_000)), "at most 200 bytes"),
        ("subjects[0].name", F.person(name: bytes(67, "王")), "at most 200 bytes"),
        ("subjects[0].name", business(name: bytes(301)), "at most 300 bytes"),
        ("subjects[0].phone", F.person(phone: bytes(33, " ") + "13812345678"), "at most 32 bytes"),
        ("subjects[0].address.province", address(province: bytes(65)), "at most 64 bytes"),
        ("subjects[0].address.city", address(city: bytes(65)), "at most 64 bytes"),
        ("subjects[0].address.detail", address(detail: bytes(301)), "at most 300 bytes"),
        ("subjects[0].address.detail", address(detail: bytes(3 << 20)), "at most 300 bytes"),
        ("subjects[0].legal_representative.name", business(repName: bytes(201)), "at most 200 bytes"),
        ("subjects[0].legal_representative.identifier", business(repID: bytes(65)), "at most 64 bytes"),
        ("subjects[0].accounts[0].account_number", F.person(accounts: [F.account(number: bytes(65, "1"))]), "at most 64 bytes"),
        ("subjects[0].accounts[0].payment_history", F.person(accounts: [F.account(history: bytes(25, "0"))]), "24 bytes"),
        ("subjects[0].accounts[0].limit.minor_units", amount(limit: Money.maximumMinorUnits + 1), "at most 1000000000000000 minor units"),
        ("subjects[0].accounts[0].limit.minor_units", amount(limit: .max, balance: .max), "at most 1000000000000000 minor units"),
        ("subjects[0].accounts[0].balance.minor_units", amount(balance: .max), "at most 1000000000000000 minor units"),
        ("subjects[0].accounts[0].balance.minor_units", amount(balance: .min), "cannot be negative"),
    ]

    static let oversizedCourt: [(String, SubmittedSubject, String)] = [
        ("subjects[0].public_records[0].authority", judgment(authority: bytes(301)), "at most 300 bytes"),
        ("subjects[0].public_records[0].description", judgment(description: bytes(2001)), "at most 2000 bytes"),
        ("subjects[0].public_records[0].legal_basis.document_number", judgment(number: bytes(201)), "at most 200 bytes"),
        ("subjects[0].list_entries[0].reason", listing(reason: bytes(2001)), "at most 2000 bytes"),
        ("subjects[0].list_entries[0].list", listing(list: bytes(65)), "at most 64 bytes"),
        ("subjects[0].list_entries[0].reason", listing(reason: "paid\u{1B}[2J"), "control characters"),
        ("subjects[0].public_records[0].description", judgment(description: "see 110105 19491231 002X"), "national identifier"),
    ]

    func check(_ field: String, _ subject: SubmittedSubject, _ rule: String, as furnisher: Institution) {
        do {
            _ = try Furnishing(furnisher: furnisher, catalogue: .default, today: F.today).validate(batchID: "b-1", subjects: [subject])
            Issue.record("accepted a batch breaking \(field)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix(field + ": "), "\(error.message)")
            #expect(error.message.contains(rule), "\(error.message)")
        }
    }

    @Test("a furnished field over its byte limit is refused naming the field and the limit", arguments: 0..<oversized.count)
    func furnished(index: Int) {
        let (field, subject, rule) = Self.oversized[index]
        self.check(field, subject, rule, as: F.institution)
    }

    @Test("a court's fields over their limits, with control characters or identifiers, are refused", arguments: 0..<oversizedCourt.count)
    func court(index: Int) {
        let (field, subject, rule) = Self.oversizedCourt[index]
        self.check(field, subject, rule, as: F.court)
    }

    @Test("fields exactly at their limits, and the largest amount, are accepted")
    func atTheLimits() throws {
        let furnishing = Furnishing(furnisher: F.institution, catalogue: .default, today: F.today)
        var subject = F.person(name: Self.bytes(66, "王") + "ab")
        subject.address = Address(province: Self.bytes(64), city: Self.bytes(64), detail: Self.bytes(300))
        subject.accounts[0].limit = Money(minorUnits: Money.maximumMinorUnits, currency: "CNY")
        subject.accounts[0].balance = Money(minorUnits: Money.maximumMinorUnits, currency: "CNY")
        let result = try furnishing.validate(batchID: Self.bytes(128), subjects: [subject])
        #expect(result.count == 1)
        #expect(throws: BureauError.invalid("batch_id", "is at most 128 bytes (UTF-8), got 129")) {
            try furnishing.validate(batchID: Self.bytes(129), subjects: [subject])
        }
    }

    static let controls: [String] = [
        "\u{1B}[31mred", "line\r\nforged entry", "a\nb", "tab\there", "nul\u{0}", "del\u{7F}", "c1\u{85}next-line", "csi\u{9B}2J",
        "bidi\u{202E}gnp.exe", "isolate\u{2066}x", "separator\u{2028}x",
    ]

    @Test("control characters are refused in logged text, naming the field", arguments: controls)
    func controlCharacters(text: String) {
        #expect(throws: BureauError.self) { try Furnishing.validateLoggedText(text, field: "reason") }
        #expect(throws: BureauError.self) { try Furnishing.validateBatchID("req-" + text, field: "request_id") }
        do {
            try LoggedText.check(text, field: "note", limit: .freeText)
            Issue.record("accepted \(text.debugDescription)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("note: must not contain control characters (found U+"), "\(error.message)")
        }
    }

    @Test("printable text in any script passes")
    func printable() throws {
        for text in ["贷款审批 2026-11-23", "Überprüfung – Zahlung", "احتيال", "👩‍👩‍👧 family", "ok"] {
            try LoggedText.check(text, field: "reason", limit: .freeText)
        }
    }

    /// 11010519491231002X written in the ways a careless or hostile caller might.
    static let hidden: [String] = [
        "11010519491231002X", "id 11010519491231002x.", "110105 19491231 002X", "110105-1949-1231-002X", "1101 0519 4912 3100 2X",
        "１１０１０５１９４９１２３１００２Ｘ", "110105\u{200B}19491231\u{200D}002X", "110105\u{2060}1949\u{FEFF}1231\u{00AD}002X",
        "110105\u{3000}19491231\u{3000}002X", "110105—19491231–002X", "x110105491231002y", "legacy 110105491231002.",
        "٣١٠١٠٤١٩٨٥٠٣١٢١٢٣٥", "11010519491231002X7", "Ref:11010519491231002X/2", "①①⓪①⓪⑤¹⁹⁴⁹¹²³¹⁰⁰²Ⅹ",
    ]

    @Test("a resident identity number is found however it is written", arguments: hidden)
    func found(text: String) {
        #expect(ResidentIdentityNumber.occurs(in: text))
        #expect(throws: BureauError.invalid("reason", "must not contain a national identifier")) {
            try Furnishing.validateLoggedText(text, field: "reason")
        }
    }

    static let innocent: [String] = [
        "acc-1796172120304178739", "1796172120304178739", "req-1764672000123456789", "00000000000000000000000000",
        "99999999999999999999", "12345678901234567890", "11010519491231002Y", "11010519491231003X", "110105194913310025",
        "CONSENT-0123456789abcdef01234567", "batch 2026-11-23 000001", "+8613812345678", "6222020200112233",
        "550e8400-e29b-41d4-a716-446655440000", "1101051949123100", "order 1234567890123456",
        // A legacy number is taken only as written whole: joined across separators it is no number.
        "550e8400-e29b-a110-1054-91231002cafe", "ref 110105 491231 002", "11010549123100212",
    ]

    @Test("long digit runs that are no number pass", arguments: innocent)
    func notFound(text: String) throws {
        #expect(!ResidentIdentityNumber.occurs(in: text))
        try Furnishing.validateBatchID(text, field: "request_id")
    }

    @Test("UUIDs as request ids are never taken for a number")
    func uuids() throws {
        for _ in 0..<20_000 { try Furnishing.validateBatchID(UUID().uuidString.lowercased(), field: "request_id") }
    }

    @Test("nanosecond timestamps as request ids are never taken for a number")
    func timestamps() throws {
        // Every 997th nanosecond over a day of 2026 and one of 2030, as a client's request ids would be.
        for start in [UInt64(1_796_172_120_304_178_739), 1_893_456_000_000_000_000] {
            for i in stride(from: UInt64(0), to: 86_400_000_000_000, by: 86_400_000_000_000 / 5_000) {
                try Furnishing.validateBatchID("acc-\(start + i)", field: "request_id")
            }
        }
    }
}

/// Nothing stored can trap a report: sums are wide, conversions clamp, dates stay in the calendar.
@Suite("Hostile stored values")
struct HostileValueTests {
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let today = CalendarDate(year: 2026, month: 11, day: 23)!

    static func account(_ number: String, limit: Int64, balance: Int64, opened: CalendarDate = CalendarDate(year: 2015, month: 6, day: 1)!) -> Account {
        Account(
            furnisher: bank, accountNumber: number, type: .creditCard, opened: opened,
            limit: Money(minorUnits: limit, currency: "CNY"), balance: Money(minorUnits: balance, currency: "CNY"),
            status: .current, paymentHistory: String(repeating: "7", count: 10_000), closed: nil
        )
    }

    static let person = CreditFile.Subject.person(
        PersonIdentity(
            name: "", identifier: "X", birthDate: CalendarDate.earliest, phone: "1",
            address: Address(province: "", city: "", detail: String(repeating: "街", count: 10_000))
        )
    )

    @Test("two accounts of 2^63-1 sum to 2^64-2 in the summary and the score is still computed")
    func maximalAmounts() throws {
        let file = CreditFile(subject: Self.person, accounts: [
            Self.account("A-1", limit: .max, balance: .max), Self.account("A-2", limit: .max, balance: .max),
        ])
        for purpose in Purpose.allCases {
            let report = ReportBuilder.report(of: file, for: purpose, catalogue: .default, today: Self.today)
            if let summary = report.summary {
                #expect(summary.totalLimit["CNY"] == 2 * Int128(Int64.max))
                #expect(summary.totalBalance["CNY"] == 2 * Int128(Int64.max))
            }
        }
        let score = Scoring.score(of: file, catalogue: .default, today: Self.today)
        #expect((300...900).contains(score.value))
    }

    @Test("a balance far above a tiny limit, or far below zero, gives a score with a bounded share")
    func extremeUtilisation() throws {
        for (limit, balance) in [(Int64(1), Int64.max), (1, .min), (.max, .min), (.min, .max)] {
            let file = CreditFile(subject: Self.person, accounts: [Self.account("A-1", limit: limit, balance: balance)])
            let score = Scoring.score(of: file, catalogue: .default, today: Self.today)
            #expect((300...900).contains(score.value))
            _ = ReportBuilder.report(of: file, for: .selfAccess, catalogue: .default, today: Self.today)
        }
    }

    @Test("dates at the ends of the calendar neither trap nor wrap")
    func calendarEnds() {
        #expect(CalendarDate.latest.adding(years: 5) == .latest)
        #expect(CalendarDate.earliest.adding(years: -5) == .earliest)
        #expect(CalendarDate(year: 9998, month: 6, day: 1)!.adding(years: 5) == .latest)
        #expect(Self.today.adding(years: .max) == .latest)
        #expect(Self.today.adding(years: .min) == .earliest)
        #expect(CalendarDate(utcDayOf: .distantFuture) <= .latest)
        #expect(CalendarDate(utcDayOf: Date(timeIntervalSince1970: 1e300)) == .latest)
        #expect(CalendarDate(utcDayOf: Date(timeIntervalSince1970: -1e300)) == .earliest)
        let file = CreditFile(subject: Self.person, accounts: [
            Self.account("A-1", limit: 1, balance: 1, opened: .latest), Self.account("A-2", limit: 1, balance: 1, opened: .earliest),
        ])
        for today in [CalendarDate.earliest, .latest] {
            let report = ReportBuilder.report(of: file, for: .selfAccess, catalogue: .default, today: today)
            #expect(report.score != nil)
        }
    }

    @Test("a business's street address is masked with its legal representative, and the log says so")
    func businessAddressMasked() throws {
        let file = CreditFile(subject: .business(
            BusinessRegistration(
                name: "示范制造有限公司", code: "91110000200000013F", registrationDate: CalendarDate(year: 2008, month: 5, day: 20)!,
                address: Address(province: "北京市", city: "北京市", detail: "朝阳区建国路 1 号"),
                legalRepresentativeName: "王建国", legalRepresentativeIdentifier: "11010519491231002X"
            )
        ))
        let masked = ReportBuilder.report(of: file, for: .guaranteeReview, catalogue: .default, today: Self.today)
        #expect(try #require(masked.business).address == Address(province: "北京市", city: "北京市", detail: ""))
        #expect(masked.disclosedFields.contains("registration.address:masked"))
        #expect(!masked.disclosedFields.contains("registration.address:shown"))
        let own = ReportBuilder.report(of: file, for: .selfAccess, catalogue: .default, today: Self.today)
        #expect(try #require(own.business).address.detail == "朝阳区建国路 1 号")
        #expect(own.disclosedFields.contains("registration.address:shown"))
    }
}

/// The contract states every limit: each string field a request can carry says its byte limit in its comment.
@Suite("Field limits in the proto comments")
struct ProtoLimitCommentTests {
    struct Field {
        var type: String
        var name: String
        var comment: String
    }

    /// Messages of `proto/bureau/v1` by name, each with its fields and the comment lines just above each.
    static func messages() throws -> [String: [Field]] {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../proto/bureau/v1")
        var messages: [String: [Field]] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".proto") {
            var current: String?
            var comment: [String] = []
            for raw in try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("message "), line.hasSuffix("{") {
                    current = String(line.dropFirst("message ".count).dropLast().trimmingCharacters(in: .whitespaces))
                    messages[current!] = []
                } else if line == "}" {
                    current = nil
                } else if line.hasPrefix("//") {
                    comment.append(line)
                    continue
                } else if let message = current, line.hasSuffix(";"), line.contains(" = ") {
                    let words = line.split(separator: " ").map(String.init).filter { $0 != "repeated" && $0 != "optional" }
                    if words.count >= 2 { messages[message]?.append(Field(type: words[0], name: words[1], comment: comment.joined(separator: " "))) }
                }
                comment = []
            }
        }
        return messages
    }

    @Test("every string field reachable from a request message names its limit")
    func everyStringFieldHasALimit() throws {
        let messages = try Self.messages()
        var queue = messages.keys.filter { $0.hasSuffix("Request") }
        #expect(queue.count >= 20)
        var seen = Set(queue)
        var missing: [String] = []
        var checked = 0
        while let message = queue.popLast() {
            for field in messages[message] ?? [] {
                if field.type == "string" {
                    checked += 1
                    if !(field.comment.contains("At most") || field.comment.contains("Three capital letters")) {
                        missing.append("\(message).\(field.name)")
                    }
                } else if messages[field.type] != nil, seen.insert(field.type).inserted {
                    queue.append(field.type)
                }
            }
        }
        #expect(checked >= 50)
        #expect(missing.isEmpty, "string fields without a stated limit: \(missing.sorted())")
    }
}
