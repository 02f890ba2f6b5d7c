import BureauCore
import Testing

@Suite("Furnishing validation")
struct FurnishingTests {
    static let furnisher = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let today = CalendarDate(year: 2026, month: 11, day: 23)!

    static func account(
        number: String = "6222020200112233", type: AccountType? = .creditCard, status: AccountStatus? = .current,
        history: String = "000000", closed: DateFields? = nil, currency: String = "CNY", balance: Int64 = 100,
        opened: DateFields? = DateFields(year: 2015, month: 6, day: 1)
    ) -> SubmittedAccount {
        SubmittedAccount(
            accountNumber: number, type: type, opened: opened,
            limit: Money(minorUnits: 5_000_000, currency: "CNY"), balance: Money(minorUnits: balance, currency: currency),
            status: status, paymentHistory: history, closed: closed
        )
    }

    static func person(
        id: String = "11010519491231002X", name: String = "王建国", date: DateFields? = DateFields(year: 1949, month: 12, day: 31),
        phone: String = "13812345678", accounts: [SubmittedAccount] = [account()]
    ) -> SubmittedSubject {
        SubmittedSubject(
            kind: .individual, identifier: id, name: name, date: date, phone: phone,
            address: Address(province: "北京市", city: "北京市", detail: "东城区"), accounts: accounts
        )
    }

    static let institution = Institution(
        code: furnisher, name: "Bank", roles: [.furnisher], purposes: [], certificateFingerprints: [],
        categories: [Catalogue.accountCredit, Catalogue.accountDelinquency]
    )
    static let court = Institution(
        code: try! UnifiedSocialCreditCode(parsing: "111100001000000593"), name: "Court", roles: [.furnisher], purposes: [],
        certificateFingerprints: [],
        categories: [PublicRecordType.courtJudgment.category, Catalogue.severeUntrustworthinessList]
    )
    static let basis = SubmittedLegalBasis(documentNumber: "(2025)京01执1号", authority: "Court", date: DateFields(year: 2025, month: 1, day: 2))

    func validate(_ subjects: [SubmittedSubject], batch: String = "b-1", as furnisher: Institution = Self.institution) throws(BureauError) -> [FurnishedSubject] {
        try Furnishing(furnisher: furnisher, catalogue: .default, today: Self.today).validate(batchID: batch, subjects: subjects)
    }

    @Test("a valid batch yields files whose accounts belong to the furnisher")
    func valid() throws {
        let result = try validate([Self.person()])
        #expect(result.count == 1)
        #expect(result[0].records.first?.reference.furnisher == Self.furnisher)
    }

    static let broken: [(String, SubmittedSubject, String)] = [
        ("subjects[0].identifier", person(id: "110101199001011234"), "check character"),
        ("subjects[0].name", person(name: " "), "is required"),
        ("subjects[0].date", person(date: nil), "is required"),
        ("subjects[0].date", person(date: DateFields(year: 1950, month: 1, day: 1)), "birth date encoded"),
        ("subjects[0].phone", person(phone: "12ab"), "7 to 15 digits"),
        ("subjects[0].accounts[0].account_number", person(accounts: [account(number: "")]), "is required"),
        ("subjects[0].accounts[0].account_number", person(accounts: [account(number: "12 34")]), "letters, digits or '-'"),
        ("subjects[0].accounts[0].type", person(accounts: [account(type: nil)]), "account type"),
        ("subjects[0].accounts[0].type", person(accounts: [account(type: .businessLoan)]), "individual"),
        ("subjects[0].accounts[0].opened", person(accounts: [account(opened: DateFields(year: 2030, month: 1, day: 1))]), "future"),
        ("subjects[0].accounts[0].opened", person(accounts: [account(opened: DateFields(year: 2020, month: 2, day: 30))]), "real date"),
        ("subjects[0].accounts[0].balance.currency", person(accounts: [account(currency: "USD")]), "limit's currency"),
        ("subjects[0].accounts[0].balance.currency", person(accounts: [account(currency: "cny")]), "ISO 4217"),
        ("subjects[0].accounts[0].balance.minor_units", person(accounts: [account(balance: -1)]), "negative"),
        ("subjects[0].accounts[0].status", person(accounts: [account(status: nil)]), "account status"),
        ("subjects[0].accounts[0].payment_history", person(accounts: [account(history: String(repeating: "0", count: 25))]), "24 months"),
        ("subjects[0].accounts[0].payment_history", person(accounts: [account(history: "00X")]), "N, 0-7, C"),
        ("subjects[0].accounts[0].payment_history", person(accounts: [account(history: "0\u{FF10}")]), "N, 0-7, C"),
        ("subjects[0].accounts[0].payment_history", person(accounts: [account(history: "0\u{0301}1")]), "N, 0-7, C"),
        ("subjects[0].accounts[0].payment_history", person(accounts: [account(history: "08")]), "N, 0-7, C"),
        ("subjects[0].phone", person(phone: "1381234567\u{0661}"), "7 to 15 digits"),
        ("subjects[0].phone", person(phone: "138123\u{FF14}5678"), "7 to 15 digits"),
        ("subjects[0].accounts[0].closed", person(accounts: [account(status: .closed)]), "required when the status is closed"),
        ("subjects[0].accounts[0].closed", person(accounts: [account(closed: DateFields(year: 2020, month: 1, day: 1))]), "open account"),
        ("subjects[0].accounts[0].closed", person(accounts: [account(status: .settled, closed: DateFields(year: 2010, month: 1, day: 1))]), "before opened"),
        ("subjects[0].accounts[1].account_number", person(accounts: [account(), account()]), "repeats accounts[0]"),
        ("subjects[0].accounts[0].legal_basis", person(accounts: [account(status: .late60)]), "needs a legal basis"),
        ("subjects[0].accounts[0].behaviour_ended", person(accounts: [withBasis(account(status: .late60), ended: nil)]), "end date of the behaviour"),
        ("subjects[0].accounts[0].behaviour_ended", person(accounts: [withBasis(account(status: .late60), ended: DateFields(year: 2010, month: 1, day: 1))]), "before the record began"),
        ("subjects[0].accounts[0].legal_basis.document_number", person(accounts: [withBasis(account(status: .late60), number: "")]), "is required"),
        ("subjects[0].accounts[0].behaviour_ended", person(accounts: [withBasis(account(), ended: DateFields(year: 2024, month: 1, day: 1))]), "only negative records"),
    ]

    static func withBasis(_ a: SubmittedAccount, number: String = "C-1", ended: DateFields? = DateFields(year: 2026, month: 10, day: 31)) -> SubmittedAccount {
        var a = a
        a.legalBasis = SubmittedLegalBasis(documentNumber: number, authority: "Bank", date: DateFields(year: 2015, month: 6, day: 1))
        a.behaviourEnded = ended
        return a
    }

    @Test("every payment-history code, a phone after +, and names and addresses with spaces around them are accepted, trimmed")
    func acceptedShapes() throws {
        let subject = Self.person(name: "\u{3000}王建国 ", phone: "+8613812345678", accounts: [Self.account(history: "N01234567C*")])
        let result = try validate([subject])
        guard case .account(let account) = result[0].records[0] else { Issue.record("not an account"); return }
        #expect(account.paymentHistory == "N01234567C*")
        guard case .person(let person) = result[0].subject else { Issue.record("not a person"); return }
        #expect(person.name == "王建国")
        #expect(person.phone == "+8613812345678")
    }

    @Test("a negative account with its legal basis and behaviour end is accepted")
    func negativeAccount() throws {
        let result = try validate([Self.person(accounts: [Self.withBasis(Self.account(status: .late60))])])
        guard case .account(let account) = result[0].records[0] else { Issue.record("not an account"); return }
        #expect(account.category == Catalogue.accountDelinquency)
        #expect(account.behaviourEnded == CalendarDate(year: 2026, month: 10, day: 31))
    }

    @Test("a category the furnisher is not licensed for is PERMISSION_DENIED naming it")
    func licence() {
        do {
            _ = try validate([Self.person(accounts: [Self.withBasis(Self.account(status: .late60))])], as: Self.court)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .permissionDenied)
            #expect(error.message.contains("account.delinquency"))
        }
    }

    static func judgment(type: PublicRecordType? = .courtJudgment, basis: SubmittedLegalBasis? = basis, authority: String = "Court",
                         ended: DateFields? = DateFields(year: 2025, month: 6, day: 1)) -> SubmittedSubject {
        person(accounts: []).with {
            $0.publicRecords = [
                SubmittedPublicRecord(
                    recordID: "J-1", type: type, authority: authority, legalBasis: basis, amount: Money(minorUnits: 100, currency: "CNY"),
                    filed: DateFields(year: 2025, month: 1, day: 2), behaviourEnded: ended, description: ""
                )
            ]
        }
    }

    static func listing(list: String = Catalogue.severeUntrustworthinessList, severity: ListSeverity? = .serious,
                        basis: SubmittedLegalBasis? = basis, ends: DateFields? = DateFields(year: 2028, month: 1, day: 1)) -> SubmittedSubject {
        person(accounts: []).with {
            $0.listEntries = [
                SubmittedListEntry(
                    recordID: "L-1", list: list, severity: severity, reason: "defaulted on a judgment", legalBasis: basis,
                    listed: DateFields(year: 2025, month: 1, day: 2), publicityEnds: ends
                )
            ]
        }
    }

    static let courtCases: [(String, SubmittedSubject, String)] = [
        ("subjects[0].public_records[0].type", judgment(type: nil), "public record type"),
        ("subjects[0].public_records[0].legal_basis", judgment(basis: nil), "needs a legal basis"),
        ("subjects[0].public_records[0].authority", judgment(authority: ""), "is required"),
        ("subjects[0].public_records[0].behaviour_ended", judgment(ended: nil), "end date of the behaviour"),
        ("subjects[0].list_entries[0].severity", listing(severity: nil), "minor, general or serious"),
        ("subjects[0].list_entries[0].legal_basis", listing(basis: nil), "needs a legal basis"),
        ("subjects[0].list_entries[0].publicity_ends", listing(ends: DateFields(year: 2024, month: 1, day: 1)), "after listed"),
        ("subjects[0].list_entries[0].list", listing(list: "list.unknown"), "not in the catalogue"),
        ("subjects[0].list_entries[0].publicity_ends", listing(severity: .minor), "published at most 1 year"),
        ("subjects[0].list_entries[0].list", listing(list: "list.religion-watch"), "may not collect"),
    ]

    @Test("public records and list entries follow their rules", arguments: 0..<courtCases.count)
    func courtRules(index: Int) {
        let (field, subject, rule) = Self.courtCases[index]
        do {
            _ = try validate([subject], as: Self.court)
            Issue.record("accepted a batch breaking \(field)")
        } catch {
            #expect(error.message.hasPrefix(field + ": "), "\(error.message)")
            #expect(error.message.contains(rule), "\(error.message)")
        }
    }

    @Test("a court's judgment and listing on a legally binding document are accepted")
    func courtRecords() throws {
        var subject = Self.judgment()
        subject.listEntries = Self.listing().listEntries
        let result = try validate([subject], as: Self.court)
        #expect(result[0].records.map(\.reference.kind) == [.publicRecord, .listEntry])
    }

    @Test("a catalogue naming prohibited information is refused")
    func prohibitedCatalogue() {
        var catalogue = Catalogue.default
        catalogue.categories.append(
            CatalogueCategory(code: "person.blood-type", name: "Blood type", legalBasis: "none", negative: false, retentionYears: 0,
                              subjectKinds: [.individual], purposes: [], recordKind: nil)
        )
        #expect(throws: BureauError.self) { try catalogue.validated() }
        #expect(throws: Never.self) { try Catalogue.default.validated() }
    }

    @Test("every rule names its field", arguments: 0..<broken.count)
    func rules(index: Int) {
        let (field, subject, rule) = Self.broken[index]
        do {
            _ = try validate([subject])
            Issue.record("accepted a batch breaking \(field)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix(field + ": "), "\(error.message)")
            #expect(error.message.contains(rule), "\(error.message)")
        }
    }

    @Test("batch-level rules")
    func batchRules() {
        #expect(throws: BureauError.invalid("batch_id", "is required")) { try validate([Self.person()], batch: "") }
        #expect(throws: BureauError.invalid("subjects", "a batch needs at least one subject")) { try validate([]) }
        #expect(throws: BureauError.self) { try validate([Self.person(), Self.person()]) }
    }

    @Test("a business needs a valid legal representative")
    func business() throws {
        var business = SubmittedSubject(
            kind: .business, identifier: "91110000200000013F", name: "示范制造有限公司",
            date: DateFields(year: 2008, month: 5, day: 20), phone: "", address: Address(province: "北京市", city: "北京市", detail: ""),
            legalRepresentativeName: "王建国", legalRepresentativeIdentifier: "11010519491231002X", accounts: []
        )
        #expect(try validate([business]).count == 1)
        business.legalRepresentativeIdentifier = "110101199001011234"
        #expect(throws: BureauError.self) { try validate([business]) }
        business.legalRepresentativeName = ""
        #expect(throws: BureauError.invalid("subjects[0].legal_representative.name", "is required for a business")) { try validate([business]) }
    }
}

extension SubmittedSubject {
    func with(_ change: (inout SubmittedSubject) -> Void) -> SubmittedSubject {
        var copy = self
        change(&copy)
        return copy
    }
}
