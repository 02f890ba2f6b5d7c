import BureauCore
import Testing

@Suite("Retention")
struct RetentionTests {
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let court = try! UnifiedSocialCreditCode(parsing: "111100001000000593")
    static let person = CreditFile.Subject.person(
        PersonIdentity(name: "王建国", identifier: "11010519491231002X", birthDate: CalendarDate(year: 1949, month: 12, day: 31)!,
                       phone: "", address: Address(province: "北京市", city: "北京市", detail: ""))
    )

    /// A settled loan that closed on 2020-03-31, 30 days late in January 2020 and 60 in February 2020.
    static func settled(history: String = "000000000000000000000120") -> Account {
        Account(
            furnisher: bank, accountNumber: "LOAN-1", type: .personalLoan, opened: CalendarDate(year: 2015, month: 1, day: 1)!,
            limit: Money(minorUnits: 1_000_000, currency: "CNY"), balance: Money(minorUnits: 0, currency: "CNY"),
            status: .settled, paymentHistory: history, closed: CalendarDate(year: 2020, month: 3, day: 31)!
        )
    }

    static func judgment(_ id: String = "J-1", ended: CalendarDate) -> PublicRecord {
        PublicRecord(
            furnisher: court, recordID: id, type: .courtJudgment, authority: "Court",
            legalBasis: LegalBasis(documentNumber: "(2019)京01民初1号", authority: "Court", date: CalendarDate(year: 2019, month: 1, day: 1)!),
            amount: nil, filed: CalendarDate(year: 2019, month: 1, day: 1)!, behaviourEnded: ended, description: ""
        )
    }

    @Test("late months inside a settled account stop counting 5 years after the end of their month, in the history and the score")
    func lateMonthsOfASettledAccount() throws {
        let file = CreditFile(subject: Self.person, accounts: [Self.settled()])
        func disclosed(on day: CalendarDate) throws -> String {
            try #require(ReportBuilder.report(of: file, for: .loanOrigination, catalogue: .default, today: day).accounts.first).record.paymentHistory
        }
        // January 2020 ends on the 31st: its retention ends on 2025-01-31; February's on 2025-02-28.
        #expect(try disclosed(on: CalendarDate(year: 2025, month: 1, day: 30)!) == "000000000000000000000120")
        #expect(try disclosed(on: CalendarDate(year: 2025, month: 1, day: 31)!) == "000000000000000000000*20")
        let later = CalendarDate(year: 2025, month: 2, day: 28)!
        #expect(try disclosed(on: later) == "000000000000000000000**0")

        // The score of the file then is the score of a file whose history never held those months.
        let masked = CreditFile(subject: Self.person, accounts: [Self.settled(history: "000000000000000000000**0")])
        let score = Scoring.score(of: file, catalogue: .default, today: later)
        #expect(score == Scoring.score(of: masked, catalogue: .default, today: later))
        #expect(!score.reasons.contains { $0.text.hasPrefix("Late payments") })
        let before = Scoring.score(of: file, catalogue: .default, today: CalendarDate(year: 2025, month: 1, day: 30)!)
        #expect(before.reasons.contains { $0.text.hasPrefix("Late payments") })
    }

    @Test("the late months' retention follows account.delinquency in the catalogue in force")
    func lateMonthsFollowTheCatalogue() throws {
        var catalogue = Catalogue.default
        catalogue.version = 2
        let i = try #require(catalogue.categories.firstIndex { $0.code == Catalogue.accountDelinquency })
        catalogue.categories[i].retentionYears = 3
        let file = CreditFile(subject: Self.person, accounts: [Self.settled()])
        let report = ReportBuilder.report(of: file, for: .loanOrigination, catalogue: catalogue, today: CalendarDate(year: 2023, month: 3, day: 1)!)
        #expect(report.accounts.first?.record.paymentHistory == "000000000000000000000**0")
    }

    @Test("dispute marks and statements about a record whose retention ended are not disclosed; the rest are")
    func attachmentsFollowTheRecord() {
        let expired = Self.judgment("J-OLD", ended: CalendarDate(year: 2020, month: 1, day: 1)!)
        let live = Self.judgment("J-NEW", ended: CalendarDate(year: 2025, month: 1, day: 1)!)
        let file = CreditFile(
            subject: Self.person, publicRecords: [expired, live],
            statements: [
                Statement(id: "S-1", text: "about the old judgment", added: CalendarDate(year: 2021, month: 1, day: 1)!, about: expired.reference),
                Statement(id: "S-2", text: "about the new judgment", added: CalendarDate(year: 2025, month: 2, day: 1)!, about: live.reference),
                Statement(id: "S-3", text: "about the whole file", added: CalendarDate(year: 2025, month: 2, day: 1)!, about: nil),
            ],
            disputes: [
                DisputeMark(id: "D-1", record: expired.reference, filed: CalendarDate(year: 2021, month: 1, day: 1)!, description: "old"),
                DisputeMark(id: "D-2", record: live.reference, filed: CalendarDate(year: 2025, month: 2, day: 1)!, description: "new"),
            ]
        )
        let report = ReportBuilder.report(of: file, for: .loanOrigination, catalogue: .default, today: CalendarDate(year: 2026, month: 11, day: 23)!)
        #expect(report.publicRecords.map(\.record.recordID) == ["J-NEW"])
        #expect(report.disputes.map(\.id) == ["D-2"])
        #expect(report.statements.map(\.id) == ["S-2", "S-3"])
        #expect(!report.disclosedFields.isEmpty)
    }

    @Test("a disclosed negative record carries the day its retention ends; a positive account none")
    func retentionEndsInTheReport() {
        let judgment = Self.judgment(ended: CalendarDate(year: 2025, month: 1, day: 1)!)
        let current = Account(
            furnisher: Self.bank, accountNumber: "CARD-1", type: .creditCard, opened: CalendarDate(year: 2015, month: 1, day: 1)!,
            limit: Money(minorUnits: 1_000_000, currency: "CNY"), balance: Money(minorUnits: 0, currency: "CNY"),
            status: .current, paymentHistory: "000000", closed: nil
        )
        var late = current
        late.accountNumber = "CARD-2"
        late.status = .late60
        late.legalBasis = LegalBasis(documentNumber: "C-1", authority: "Bank", date: CalendarDate(year: 2015, month: 1, day: 1)!)
        late.behaviourEnded = CalendarDate(year: 2026, month: 2, day: 28)!
        let listing = ListEntry(
            furnisher: Self.court, recordID: "L-1", list: Catalogue.severeUntrustworthinessList, severity: .general, reason: "defaulted",
            legalBasis: judgment.legalBasis, listed: CalendarDate(year: 2025, month: 4, day: 2)!, publicityEnds: CalendarDate(year: 2028, month: 4, day: 1)!
        )
        let file = CreditFile(subject: Self.person, accounts: [current, late], publicRecords: [judgment], listEntries: [listing])
        let report = ReportBuilder.report(of: file, for: .loanOrigination, catalogue: .default, today: CalendarDate(year: 2026, month: 11, day: 23)!)
        #expect(report.accounts.map(\.retentionEnds) == [nil, CalendarDate(year: 2031, month: 2, day: 28)])
        #expect(report.publicRecords.map(\.retentionEnds) == [CalendarDate(year: 2030, month: 1, day: 1)])
        #expect(report.listEntries.map(\.retentionEnds) == [CalendarDate(year: 2028, month: 4, day: 1)])
    }
}

@Suite("Retention at furnishing")
struct RetentionAtFurnishingTests {
    func validate(_ subjects: [SubmittedSubject], as furnisher: Institution = FurnishingTests.court) throws(BureauError) -> [FurnishedSubject] {
        try Furnishing(furnisher: furnisher, catalogue: .default, today: FurnishingTests.today).validate(batchID: "b-1", subjects: subjects)
    }

    /// A judgment filed in 2019 whose behaviour ended on `ended`.
    static func judgment(ended: DateFields) -> SubmittedSubject {
        FurnishingTests.judgment(ended: ended).with { $0.publicRecords[0].filed = DateFields(year: 2019, month: 1, day: 2) }
    }

    static let expired: [(String, SubmittedSubject, Institution, String)] = [
        // Ended 2020-06-01: a judgment is kept 5 years, so its retention ended on 2025-06-01.
        ("subjects[0].public_records[0].behaviour_ended", judgment(ended: DateFields(year: 2020, month: 6, day: 1)),
         FurnishingTests.court, "2025-06-01"),
        ("subjects[0].accounts[0].behaviour_ended",
         FurnishingTests.person(accounts: [FurnishingTests.withBasis(FurnishingTests.account(status: .late60), ended: DateFields(year: 2021, month: 1, day: 1))]),
         FurnishingTests.institution, "2026-01-01"),
        ("subjects[0].list_entries[0].publicity_ends", FurnishingTests.listing(ends: DateFields(year: 2026, month: 1, day: 1)),
         FurnishingTests.court, "2026-01-01"),
    ]

    @Test("a record whose retention already ended is refused with FAILED_PRECONDITION naming the field and the day", arguments: 0..<3)
    func expiredRecordIsRefused(_ n: Int) {
        let (path, subject, furnisher, day) = Self.expired[n]
        do {
            _ = try validate([subject], as: furnisher)
            Issue.record("accepted an expired record at \(path)")
        } catch {
            #expect(error.code == .failedPrecondition)
            #expect(error.message.hasPrefix(path), "\(error.message)")
            #expect(error.message.contains(day), "\(error.message)")
        }
    }

    @Test("one expired record refuses the whole batch")
    func wholeBatch() {
        let fresh = Self.judgment(ended: DateFields(year: 2025, month: 6, day: 1))
        var old = Self.judgment(ended: DateFields(year: 2020, month: 6, day: 1))
        old.identifier = "110108199001010036"
        old.date = DateFields(year: 1990, month: 1, day: 1)
        #expect((try? validate([fresh])) != nil)
        #expect((try? validate([old.with { $0.publicRecords[0].behaviourEnded = DateFields(year: 2025, month: 6, day: 1) }])) != nil)
        do {
            _ = try validate([fresh, old])
            Issue.record("accepted a batch with an expired record")
        } catch {
            #expect(error.code == .failedPrecondition)
            #expect(error.message.hasPrefix("subjects[1].public_records[0]"), "\(error.message)")
        }
    }

    @Test("a closed account is accepted with its expired late months already masked")
    func expiredLateMonthsAreMaskedAtFurnishing() throws {
        var account = FurnishingTests.account(status: .closed, history: "000000000000000000000120", closed: DateFields(year: 2020, month: 3, day: 31))
        account.opened = DateFields(year: 2015, month: 6, day: 1)
        let result = try validate([FurnishingTests.person(accounts: [account])], as: FurnishingTests.institution)
        guard case .account(let stored) = result[0].records[0] else { Issue.record("not an account"); return }
        #expect(stored.paymentHistory == "000000000000000000000**0")
    }
}
