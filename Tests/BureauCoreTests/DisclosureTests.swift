import BureauCore
import Foundation
import Testing

@Suite("Masking")
struct MaskingTests {
    @Test("each rule of DESIGN.md")
    func rules() {
        #expect(Masking.residentIdentifier("11010519491231002X") == "110105********002X")
        #expect(Masking.name("王建国") == "王**")
        #expect(Masking.name("李娜") == "李*")
        #expect(Masking.phone("13812345678") == "138****5678")
        #expect(Masking.accountNumber("6222020200112233") == "************2233")
        #expect(Masking.accountNumber("123") == "***")
        #expect(Masking.address(Address(province: "北京市", city: "北京市", detail: "东城区 18 号")) == Address(province: "北京市", city: "北京市", detail: ""))
    }

    /// The rules as first written, character by character.
    static func reference(_ text: String, first: Int, last: Int) -> String {
        let chars = Array(text)
        guard chars.count > first + last else { return String(repeating: "*", count: chars.count) }
        return String(chars.prefix(first)) + String(repeating: "*", count: chars.count - first - last) + String(chars.suffix(last))
    }

    @Test("the masks count characters, not bytes: ASCII, CJK, combining marks, CR LF, emoji, every length")
    func charactersNotBytes() {
        let samples = [
            "", "1", "12345", "11010519491231002X", "110105194912310", "13812345678", "+86 138 1234 5678", "6222020200112233",
            "账户一二三四五六", "é1234567890", "e\u{301}1234567890", "12\r\n34567890", "\r\n\r\n\r\n\r\n\r\n", "👩‍👩‍👧1234567", "\t123456789012",
        ]
        for text in samples {
            #expect(Masking.residentIdentifier(text) == Self.reference(text, first: 6, last: 4), "\(text.debugDescription)")
            #expect(Masking.phone(text) == Self.reference(text, first: 3, last: 4), "\(text.debugDescription)")
            #expect(Masking.accountNumber(text) == Self.reference(text, first: 0, last: 4), "\(text.debugDescription)")
        }
        for length in 0...24 {
            let digits = String((0..<length).map { Character(String($0 % 10)) })
            #expect(Masking.residentIdentifier(digits) == Self.reference(digits, first: 6, last: 4))
            #expect(Masking.phone(digits) == Self.reference(digits, first: 3, last: 4))
            #expect(Masking.accountNumber(digits) == Self.reference(digits, first: 0, last: 4))
        }
    }
}

@Suite("Purpose decides disclosure")
struct DisclosureTests {
    static let today = CalendarDate(year: 2026, month: 11, day: 23)!
    static let file = CreditFile(
        subject: .person(
            PersonIdentity(
                name: "王建国", identifier: "11010519491231002X", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!,
                phone: "13812345678", address: Address(province: "北京市", city: "北京市", detail: "东城区 18 号")
            )
        ),
        accounts: [
            Account(
                furnisher: try! UnifiedSocialCreditCode(parsing: "91110000100000016D"), accountNumber: "6222020200112233",
                type: .creditCard, opened: CalendarDate(year: 2015, month: 6, day: 1)!,
                limit: Money(minorUnits: 5_000_000, currency: "CNY"), balance: Money(minorUnits: 100, currency: "CNY"),
                status: .current, paymentHistory: "000000", closed: nil
            )
        ]
    )

    @Test("agencies see a masked identity and masked account numbers")
    func agency() throws {
        let report = ReportBuilder.report(of: Self.file, for: .loanOrigination, catalogue: .default, today: Self.today)
        let person = try #require(report.person)
        #expect(person.name == "王**")
        #expect(person.identifier == "110105********002X")
        #expect(person.birthYear == 1949 && person.birthMonth == 0 && person.birthDay == 0)
        #expect(person.phone == "138****5678")
        #expect(person.address.detail == "")
        #expect(report.accounts.first?.record.accountNumber == "************2233")
        #expect(report.withheld.isEmpty)
        #expect(report.disclosedFields.contains("identity.name:masked"))
        #expect(report.disclosureVersion == DisclosureTable.version)
    }

    @Test("employment screening withholds accounts and says why")
    func employment() {
        let report = ReportBuilder.report(of: Self.file, for: .employmentScreening, catalogue: .default, today: Self.today)
        #expect(report.accounts.isEmpty)
        #expect(report.withheld.map(\.section) == [.summary, .accounts, .queryRecords])
        #expect(report.withheld.first?.reason.contains("employment-screening") == true)
        #expect(!report.disclosedFields.contains { $0.hasPrefix("accounts.") })
    }

    @Test("the disclosed fields name each section a report shows, with its treatment, and none it withholds", arguments: Tier.allCases)
    func disclosedFieldsFollowWithholding(tier: Tier) throws {
        let business = CreditFile(
            subject: .business(
                BusinessRegistration(
                    name: "北京示例科技有限公司", code: "91110000100000016D", registrationDate: CalendarDate(year: 2010, month: 1, day: 1)!,
                    address: Address(province: "北京市", city: "北京市", detail: "海淀区 1 号"), legalRepresentativeName: "王建国",
                    legalRepresentativeIdentifier: "11010519491231002X"
                )
            )
        )
        for purpose in Purpose.allCases {
            for file in [Self.file, business] {
                let report = ReportBuilder.report(of: file, for: purpose, catalogue: .default, today: Self.today, tier: tier)
                #expect(report.disclosedFields == ReportBuilder.disclosedFields(for: purpose, tier: tier, kind: file.kind))
                // Withheld for the purpose or the tier (the report says so); a section whose records the
                // catalogue does not disclose for the purpose is still named: the report shows it without them.
                let withheld = Set(ReportSection.allCases.filter {
                    DisclosureTable.treatment(of: $0, for: purpose) == .withheld || tier < Tier.minimum(for: $0)
                }.map(\.rawValue))
                #expect(withheld.isSubset(of: report.withheld.map(\.section.rawValue)))
                let named = Set(report.disclosedFields.map { String($0.prefix { $0 != "." }) })
                #expect(named.isDisjoint(with: withheld), "\(purpose) \(tier) \(file.kind)")
                // Every section neither withholds is named, with the table's treatment.
                for section in ReportSection.allCases where !withheld.contains(section.rawValue) {
                    let kindless = (section == .identity && file.kind == .business) || (section == .registration && file.kind == .individual)
                    guard !kindless else { continue }
                    let treatment = DisclosureTable.treatment(of: section, for: purpose)
                    #expect(report.disclosedFields.contains { $0.hasPrefix(section.rawValue + ".") && $0.hasSuffix(":" + treatment.rawValue) },
                            "\(section) for \(purpose) \(tier) \(file.kind)")
                }
            }
        }
        let agency = ReportBuilder.disclosedFields(for: .postLoanManagement, tier: .full, kind: .individual)
        #expect(agency.first == "identity.name:masked")
        #expect(agency.contains("accounts.account_number:masked") && agency.contains("accounts.balance:shown"))
    }

    @Test("the subject's own report is unmasked")
    func selfAccess() throws {
        let report = ReportBuilder.report(of: Self.file, for: .selfAccess, catalogue: .default, today: Self.today)
        let person = try #require(report.person)
        #expect(person.name == "王建国")
        #expect(person.identifier == "11010519491231002X")
        #expect(person.birthMonth == 12)
        #expect(report.accounts.first?.record.accountNumber == "6222020200112233")
    }

    @Test("a business's code is shown whole and its legal representative masked as a person")
    func business() throws {
        let file = CreditFile(
            subject: .business(
                BusinessRegistration(
                    name: "示范制造有限公司", code: "91110000200000013F", registrationDate: CalendarDate(year: 2008, month: 5, day: 20)!,
                    address: Address(province: "北京市", city: "北京市", detail: "朝阳区"),
                    legalRepresentativeName: "王建国", legalRepresentativeIdentifier: "11010519491231002X"
                )
            ),
            accounts: []
        )
        let report = ReportBuilder.report(of: file, for: .guaranteeReview, catalogue: .default, today: Self.today)
        let business = try #require(report.business)
        #expect(business.code == "91110000200000013F")
        #expect(business.legalRepresentativeName == "王**")
        #expect(business.legalRepresentativeIdentifier == "110105********002X")
    }

    static let court = try! UnifiedSocialCreditCode(parsing: "111100001000000593")
    static func judgment(ended: CalendarDate) -> PublicRecord {
        PublicRecord(
            furnisher: court, recordID: "J-1", type: .courtJudgment, authority: "Court",
            legalBasis: LegalBasis(documentNumber: "(2019)京01民初1号", authority: "Court", date: CalendarDate(year: 2019, month: 1, day: 1)!),
            amount: nil, filed: CalendarDate(year: 2019, month: 1, day: 1)!, behaviourEnded: ended, description: ""
        )
    }

    @Test("a negative record is disclosed until its retention ends, and never after")
    func retentionCutOff() {
        var file = Self.file
        file.publicRecords = [Self.judgment(ended: CalendarDate(year: 2021, month: 11, day: 24)!)]
        // Retention of court judgments: 5 years after the behaviour ended, so it expires on 2026-11-24.
        let before = ReportBuilder.report(of: file, for: .loanOrigination, catalogue: .default, today: Self.today)
        #expect(before.publicRecords.count == 1)
        let on = ReportBuilder.report(
            of: file, for: .loanOrigination, catalogue: .default, today: CalendarDate(year: 2026, month: 11, day: 24)!
        )
        #expect(on.publicRecords.isEmpty)
        #expect(on.withheld.isEmpty, "an expired record is not mentioned")
        #expect(CreditRecord.publicRecord(Self.judgment(ended: CalendarDate(year: 2021, month: 11, day: 24)!)).expiry(under: .default)
            == CalendarDate(year: 2026, month: 11, day: 24))
    }

    @Test("a category the catalogue does not disclose for the purpose is left out and the report says so")
    func cataloguePurposes() {
        var file = Self.file
        file.publicRecords = [
            PublicRecord(
                furnisher: Self.court, recordID: "T-1", type: .taxArrears, authority: "Tax bureau",
                legalBasis: LegalBasis(documentNumber: "TAX-1", authority: "Tax bureau", date: CalendarDate(year: 2025, month: 1, day: 1)!),
                amount: nil, filed: CalendarDate(year: 2025, month: 1, day: 1)!, behaviourEnded: CalendarDate(year: 2025, month: 6, day: 1)!,
                description: ""
            )
        ]
        let report = ReportBuilder.report(of: file, for: .employmentScreening, catalogue: .default, today: Self.today)
        #expect(report.publicRecords.isEmpty)
        #expect(report.withheld.contains { $0.section == .publicRecords && $0.reason.contains("public-record.tax-arrears") })
    }

    @Test("disputed records carry their mark on the report")
    func disputeMarks() {
        var file = Self.file
        let account = file.accounts[0]
        file.disputes = [DisputeMark(id: "D-1", record: account.reference, filed: Self.today, description: "never late")]
        let report = ReportBuilder.report(of: file, for: .loanOrigination, catalogue: .default, today: Self.today)
        #expect(report.accounts.first?.disputed == true)
        #expect(report.disputes.count == 1)
    }

    @Test("query records older than 2 years are left out")
    func queryHistory() {
        let recent = QueryRecord(time: Date(timeIntervalSince1970: 1_790_000_000), institution: "X", institutionName: "Bank", purpose: .loanOrigination)
        let old = QueryRecord(time: Date(timeIntervalSince1970: 1_600_000_000), institution: "X", institutionName: "Bank", purpose: .loanOrigination)
        let report = ReportBuilder.report(of: Self.file, for: .loanOrigination, catalogue: .default, today: Self.today, queries: [recent, old])
        #expect(report.queries == [recent])
    }

    @Test("purposes need the right role and a licence")
    func authorization() throws {
        let bank = Institution(
            code: try UnifiedSocialCreditCode(parsing: "91110000100000016D"), name: "Bank", roles: [.agency],
            purposes: [.loanOrigination], certificateFingerprints: []
        )
        try bank.authorize(.loanOrigination)
        #expect(throws: BureauError.self) { try bank.authorize(.creditCardOrigination) }
        #expect(throws: BureauError.self) { try bank.authorize(.regulatorySupervision) }
        #expect(throws: BureauError.self) { try bank.authorize(.selfAccess) }
        #expect(Purpose.loanOrigination.requiresConsent)
        #expect(!Purpose.postLoanManagement.requiresConsent)
        #expect(!Purpose.courtOrder.requiresConsent)
    }
}

@Suite("Access log entries")
struct AccessLogEntryTests {
    @Test("canonical bytes round-trip and hash as an RFC 6962 leaf")
    func canonical() throws {
        let entry = AccessLogEntry(
            .report(.individual), by: LogActor(institution: "91110000100000016D", certificateFingerprint: "ab", operatorID: ""),
            time: .init(timeIntervalSince1970: 1_700_000_000.1234), requestID: "r-1", subjects: [SubjectKey(bytes: Array(repeating: 0xab, count: 32))],
            purpose: .loanOrigination, outcome: .hit, disclosedFields: ["identity.name:masked"], disclosureVersion: 1
        )
        let bytes = entry.canonicalBytes()
        #expect(try AccessLogEntry(canonicalBytes: bytes) == entry)
        #expect(try AccessLogEntry(canonicalBytes: bytes).canonicalBytes() == bytes)
        #expect(bytes.first == LogEntryCodec.version)
        #expect(String(decoding: entry.jsonBytes(), as: UTF8.self).contains("\"time\":1700000000123"))
        #expect(try AccessLogEntry(canonicalBytes: entry.jsonBytes()) == entry)
        #expect(Merkle.leafHash(bytes) != Merkle.leafHash(bytes + [0x20]))
        #expect(Merkle.leafHash([]).hexString == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    }

    @Test("the RFC 6962 root of two leaves is the node hash of both")
    func root() {
        let a = Merkle.leafHash([1]), b = Merkle.leafHash([2]), c = Merkle.leafHash([3])
        #expect(Merkle.root(of: [a, b][...]) == Merkle.nodeHash(a, b))
        #expect(Merkle.root(of: [a, b, c][...]) == Merkle.nodeHash(Merkle.nodeHash(a, b), c))
        #expect(Merkle.root(of: [][...]).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}

@Suite("Freezes, consents and licences")
struct ProtectionTests {
    static let today = CalendarDate(year: 2026, month: 11, day: 23)!
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")

    @Test("a freeze blocks purposes that open new credit; account review and court orders pass")
    func freeze() throws {
        let protection = FileProtection(freeze: Freeze(placed: Self.today, code: "12345678", salt: "s"))
        for purpose in [Purpose.loanOrigination, .creditCardOrigination, .guaranteeReview] {
            #expect(throws: BureauError.self) { try protection.check(purpose, code: "") }
            #expect(throws: BureauError.self) { try protection.check(purpose, code: "87654321") }
            try protection.check(purpose, code: "12345678")
        }
        try protection.check(.postLoanManagement, code: "")
        try protection.check(.courtOrder, code: "")
        #expect(!protection.freeze!.codeDigest.contains("12345678"))
    }

    @Test("a consent names what is wrong with it")
    func consent() {
        let consent = Consent(
            reference: "C-1", subject: SubjectKey(bytes: Array(repeating: 0xaa, count: 32)), agency: Self.bank, purpose: .loanOrigination,
            validFrom: Self.today, validUntil: Self.today.adding(years: 1), evidenceDigest: "", singleUse: true
        )
        func failure(_ c: Consent, subject: SubjectKey = SubjectKey(bytes: Array(repeating: 0xaa, count: 32)), purpose: Purpose = .loanOrigination, on day: CalendarDate = ProtectionTests.today) -> String {
            do {
                try c.check(subject: subject, agency: Self.bank, purpose: purpose, on: day)
                return "accepted"
            } catch {
                return error.message
            }
        }
        #expect(failure(consent) == "accepted")
        #expect(failure(consent, subject: SubjectKey(bytes: Array(repeating: 0xbb, count: 32))).contains("another subject"))
        #expect(failure(consent, purpose: .creditCardOrigination).contains("not credit-card-origination"))
        #expect(failure(consent, on: Self.today.adding(years: 2)).contains("expired on"))
        var used = consent
        used.used = true
        #expect(failure(used).contains("already used"))
        var revoked = consent
        revoked.revokedOn = Self.today
        #expect(failure(revoked).contains("revoked"))
    }

    @Test("a licence is checked for status, validity, purpose and subject kind")
    func licence() {
        func failure(_ licence: Licence, kind: SubjectKind = .individual) -> String {
            let institution = Institution(code: Self.bank, name: "Bank", roles: [.agency], licence: licence, certificateFingerprints: [])
            do {
                try institution.authorize(.loanOrigination, kind: kind, on: Self.today)
                return "accepted"
            } catch {
                return error.message
            }
        }
        #expect(failure(Licence(purposes: [.loanOrigination])) == "accepted")
        #expect(failure(Licence(purposes: [.loanOrigination], status: .suspended)).contains("suspended"))
        #expect(failure(Licence(purposes: [.loanOrigination], validUntil: CalendarDate(year: 2026, month: 11, day: 22)!)).contains("expired"))
        #expect(failure(Licence(purposes: [.loanOrigination], subjectKinds: [.business])).contains("individual files"))
        #expect(failure(Licence(purposes: [.courtOrder])).contains("not licensed"))
    }

    @Test("free text that carries a resident identity number is caught")
    func identifiersInText() {
        #expect(ResidentIdentityNumber.occurs(in: "loan for 11010519491231002X"))
        #expect(ResidentIdentityNumber.occurs(in: "x110105491231002y"))
        #expect(!ResidentIdentityNumber.occurs(in: "loan-app-42-2026-11-23"))
        #expect(!ResidentIdentityNumber.occurs(in: "CONSENT-0123456789abcdef01234567"))
    }
}
