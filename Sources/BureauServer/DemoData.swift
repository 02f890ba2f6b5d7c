public import BureauCore
public import BureauStore
import Crypto
public import Foundation
import SwiftASN1
import X509

/// Demo institutions, people, businesses and accounts for `bureau demo seed`, the tests and the README.
/// Every identifier is valid (check characters included) and made up.
public enum DemoData {
    /// A demo institution and the certificate file (in the dev certs folder) that identifies it.
    public struct DemoInstitution: Sendable {
        public var institution: Institution
        /// `bank` for `certs/bank.pem`.
        public var certificateName: String
    }

    private static func code(_ text: String) -> UnifiedSocialCreditCode {
        try! UnifiedSocialCreditCode(parsing: text)
    }

    public static let bank = code("91110000100000016D")
    public static let consumerFinance = code("911100001000000248")
    public static let regulator = code("11110000100000032B")
    public static let channel = code("91110000100000040X")
    public static let court = code("111100001000000593")
    /// The bureau's own operations desk: the operator that administers the demo over the API.
    public static let operations = code("91110000100000067M")

    /// The demo institutions, without certificate fingerprints.
    public static let institutions: [DemoInstitution] = [
        DemoInstitution(
            institution: Institution(
                code: bank, name: "Demo Commercial Bank", roles: [.agency, .furnisher],
                purposes: [.loanOrigination, .creditCardOrigination, .postLoanManagement, .guaranteeReview],
                certificateFingerprints: [], categories: [Catalogue.accountCredit, Catalogue.accountDelinquency]
            ),
            certificateName: "bank"
        ),
        DemoInstitution(
            institution: Institution(
                code: consumerFinance, name: "Demo Consumer Finance", roles: [.furnisher],
                purposes: [], certificateFingerprints: [], categories: [Catalogue.accountCredit, Catalogue.accountDelinquency]
            ),
            certificateName: "furnisher"
        ),
        DemoInstitution(
            institution: Institution(
                code: regulator, name: "Demo Credit Regulator", roles: [.regulator],
                purposes: [.regulatorySupervision], certificateFingerprints: []
            ),
            certificateName: "regulator"
        ),
        DemoInstitution(
            institution: Institution(
                code: channel, name: "Bureau Service Counter", roles: [.channel],
                purposes: [.selfAccess], certificateFingerprints: []
            ),
            certificateName: "channel"
        ),
        DemoInstitution(
            institution: Institution(
                code: court, name: "Demo Intermediate People's Court", roles: [.furnisher],
                purposes: [], certificateFingerprints: [],
                categories: [
                    PublicRecordType.courtJudgment.category, PublicRecordType.enforcement.category,
                    Catalogue.severeUntrustworthinessList, Catalogue.redList,
                ]
            ),
            certificateName: "court"
        ),
        DemoInstitution(
            institution: Institution(
                code: operations, name: "Bureau Operations", roles: [.operator], purposes: [], certificateFingerprints: []
            ),
            certificateName: "operator"
        ),
    ]

    /// The first demo person: `11010519491231002X`.
    public static let personIdentifier = "11010519491231002X"
    /// The first demo business: `91110000200000013F`.
    public static let businessIdentifier = "91110000200000013F"

    private static func account(
        _ number: String, _ type: AccountType, opened: (Int, Int, Int), limit: Int64, balance: Int64,
        _ status: AccountStatus, history: String, closed: (Int, Int, Int)? = nil
    ) -> SubmittedAccount {
        SubmittedAccount(
            accountNumber: number, type: type, opened: DateFields(year: opened.0, month: opened.1, day: opened.2),
            limit: Money(minorUnits: limit, currency: "CNY"), balance: Money(minorUnits: balance, currency: "CNY"),
            status: status, paymentHistory: history, closed: closed.map { DateFields(year: $0.0, month: $0.1, day: $0.2) }
        )
    }

    private static func delinquent(_ account: SubmittedAccount, contract: String, ended: (Int, Int, Int)) -> SubmittedAccount {
        var account = account
        account.legalBasis = SubmittedLegalBasis(
            documentNumber: contract, authority: "credit contract with the furnisher",
            date: account.opened
        )
        account.behaviourEnded = DateFields(year: ended.0, month: ended.1, day: ended.2)
        return account
    }

    private static func person(
        _ id: String, _ name: String, born: (Int, Int, Int), phone: String, _ province: String, _ city: String,
        _ detail: String, accounts: [SubmittedAccount]
    ) -> SubmittedSubject {
        SubmittedSubject(
            kind: .individual, identifier: id, name: name, date: DateFields(year: born.0, month: born.1, day: born.2),
            phone: phone, address: Address(province: province, city: city, detail: detail), accounts: accounts
        )
    }

    /// What each demo furnisher submits.
    public static let batches: [(furnisher: UnifiedSocialCreditCode, subjects: [SubmittedSubject])] = [
        (
            bank,
            [
                person(
                    personIdentifier, "王建国", born: (1949, 12, 31), phone: "13812345678", "北京市", "北京市",
                    "东城区建国门内大街 18 号",
                    accounts: [
                        account("6222020200112233", .creditCard, opened: (2015, 6, 1), limit: 5_000_000, balance: 123_456,
                                .current, history: "000000000000000000000000"),
                        account("110105-ML-000871", .mortgage, opened: (2012, 3, 15), limit: 180_000_000, balance: 64_250_000,
                                .current, history: "000000000000000000000000"),
                    ]
                ),
                person(
                    "310104198503121235", "李娜", born: (1985, 3, 12), phone: "13900001111", "上海市", "上海市",
                    "徐汇区漕溪北路 88 号",
                    accounts: [
                        delinquent(
                            account("6222020200998877", .creditCard, opened: (2019, 9, 9), limit: 3_000_000, balance: 2_870_000,
                                    .late30, history: "000000000000000000000001"),
                            contract: "CC-2019-998877", ended: (2026, 10, 31)
                        ),
                        account("AUTO-2016-5521", .autoLoan, opened: (2016, 4, 1), limit: 15_000_000, balance: 0,
                                .closed, history: "00000000000000000000CCCC", closed: (2021, 4, 1)),
                    ]
                ),
                SubmittedSubject(
                    kind: .business, identifier: businessIdentifier, name: "北京示范制造有限公司",
                    date: DateFields(year: 2008, month: 5, day: 20), phone: "01065550000",
                    address: Address(province: "北京市", city: "北京市", detail: "朝阳区酒仙桥路 10 号"),
                    legalRepresentativeName: "王建国", legalRepresentativeIdentifier: personIdentifier,
                    accounts: [
                        account("BL-2022-0042", .businessLoan, opened: (2022, 1, 10), limit: 500_000_000, balance: 320_000_000,
                                .current, history: "NNNNN0000000000000000000")
                    ]
                ),
            ]
        ),
        (
            consumerFinance,
            [
                person(
                    personIdentifier, "王建国", born: (1949, 12, 31), phone: "13812345678", "北京市", "北京市",
                    "东城区建国门内大街 18 号",
                    accounts: [
                        account("CF00001234", .personalLoan, opened: (2023, 2, 1), limit: 2_000_000, balance: 1_200_000,
                                .current, history: "NNNNNNNNNN00000000000000")
                    ]
                ),
                person(
                    "440305199207045670", "陈晓", born: (1992, 7, 4), phone: "13655556666", "广东省", "深圳市",
                    "南山区科技园路 1 号",
                    accounts: [
                        delinquent(
                            account("CF00009876", .personalLoan, opened: (2021, 11, 1), limit: 5_000_000, balance: 4_100_000,
                                    .late90, history: "000000000000000000012333"),
                            contract: "CF-LOAN-2021-9876", ended: (2026, 10, 31)
                        )
                    ]
                ),
            ]
        ),
        (
            court,
            [
                SubmittedSubject(
                    kind: .individual, identifier: "440305199207045670", name: "陈晓", date: DateFields(year: 1992, month: 7, day: 4),
                    phone: "13655556666", address: Address(province: "广东省", city: "深圳市", detail: "南山区科技园路 1 号"),
                    accounts: [],
                    publicRecords: [
                        SubmittedPublicRecord(
                            recordID: "2025-YUE-0305-ZHI-1234",
                            type: .enforcement, authority: "深圳市南山区人民法院",
                            legalBasis: SubmittedLegalBasis(
                                documentNumber: "(2025)粤0305执1234号", authority: "深圳市南山区人民法院",
                                date: DateFields(year: 2025, month: 3, day: 18)
                            ),
                            amount: Money(minorUnits: 4_100_000, currency: "CNY"), filed: DateFields(year: 2025, month: 3, day: 18),
                            behaviourEnded: DateFields(year: 2026, month: 10, day: 31),
                            description: "Judgment debt of CNY 41,000 unpaid; enforcement ongoing"
                        )
                    ],
                    listEntries: [
                        SubmittedListEntry(
                            recordID: "SUL-2025-0042", list: Catalogue.severeUntrustworthinessList, severity: .general,
                            reason: "Refused to perform a judgment in force while able to",
                            legalBasis: SubmittedLegalBasis(
                                documentNumber: "(2025)粤0305执1234号之一", authority: "深圳市南山区人民法院",
                                date: DateFields(year: 2025, month: 4, day: 2)
                            ),
                            listed: DateFields(year: 2025, month: 4, day: 2), publicityEnds: DateFields(year: 2028, month: 4, day: 1)
                        )
                    ]
                ),
                SubmittedSubject(
                    kind: .business, identifier: businessIdentifier, name: "北京示范制造有限公司",
                    date: DateFields(year: 2008, month: 5, day: 20), phone: "01065550000",
                    address: Address(province: "北京市", city: "北京市", detail: "朝阳区酒仙桥路 10 号"),
                    legalRepresentativeName: "王建国", legalRepresentativeIdentifier: personIdentifier,
                    accounts: [],
                    listEntries: [
                        SubmittedListEntry(
                            recordID: "RED-TAX-A-2025-17", list: Catalogue.redList, severity: nil,
                            reason: "Taxpayer credit grade A for 2025",
                            legalBasis: SubmittedLegalBasis(
                                documentNumber: "京税信〔2025〕17号", authority: "国家税务总局北京市税务局",
                                date: DateFields(year: 2025, month: 6, day: 30)
                            ),
                            listed: DateFields(year: 2025, month: 6, day: 30), publicityEnds: DateFields(year: 2027, month: 6, day: 30)
                        )
                    ]
                ),
            ]
        ),
    ]

    /// Consents on file for the README's first queries: the demo person's consent to the bank for loan
    /// origination, and the demo business's for guarantee review.
    public static let demoConsents: [(reference: String, kind: SubjectKind, identifier: String, purpose: Purpose)] = [
        ("DEMO-CONSENT-0001", .individual, personIdentifier, .loanOrigination),
        ("DEMO-CONSENT-0002", .business, businessIdentifier, .guaranteeReview),
    ]

    /// What ``seed(into:certificates:now:)`` did.
    public struct Summary: Sendable {
        public var institutions: Int
        public var boundCertificates: Int
        public var subjects: Int
        public var records: Int
    }

    /// Registers the demo institutions (binding `<certificates>/<name>.pem` where present) and furnishes
    /// the demo files, each change with its log entry.
    public static func seed(into store: Store, certificates folder: String?, now: Date = Date()) throws -> Summary {
        var summary = Summary(institutions: 0, boundCertificates: 0, subjects: 0, records: 0)
        var registered: [Institution] = []
        for demo in institutions {
            var institution = demo.institution
            if let folder {
                let path = (folder as NSString).appendingPathComponent("\(demo.certificateName).pem")
                if FileManager.default.fileExists(atPath: path) {
                    institution.certificateFingerprints = [try CertificateFile.fingerprint(ofPEMFile: path)]
                    summary.boundCertificates += 1
                }
            }
            registered.append(institution)
        }
        for institution in registered {
            try InstitutionRegistry.register(institution, in: store, now: now)
            summary.institutions += 1
        }
        let today = CalendarDate(utcDayOf: now)
        let catalogue = try store.catalogue()
        for batch in batches {
            let furnisher = registered.first { $0.code == batch.furnisher }!
            let furnished = try Furnishing(furnisher: furnisher, catalogue: catalogue, today: today)
                .validate(batchID: "demo-seed", subjects: batch.subjects)
            try store.write { txn in
                var keys: [SubjectKey] = []
                for subject in furnished {
                    let key = store.key(for: subject.identifier)
                    try txn.furnish(subject, as: key, catalogue: catalogue)
                    keys.append(key)
                }
                _ = try txn.appendLog(
                    AccessLogEntry(
                        .furnishSeed, by: .bureau(for: batch.furnisher.value), time: now, requestID: "demo-seed", subjects: keys,
                        outcome: .applied, changeDigest: SHA256.hash(data: Array(keys.map(\.hex).joined().utf8)).hexString
                    )
                )
            }
            summary.subjects += furnished.count
            summary.records += furnished.reduce(0) { $0 + $1.records.count }
        }
        try store.write { txn in
            for demo in demoConsents {
                let key = store.key(for: try SubjectIdentifier(kind: demo.kind, parsing: demo.identifier))
                let consent = Consent(
                    reference: demo.reference, subject: key, agency: bank, purpose: demo.purpose,
                    validFrom: today.adding(years: -1), validUntil: today.adding(years: 1),
                    evidenceDigest: SHA256.hash(data: Array("demo consent \(demo.reference)".utf8)).hexString, singleUse: false
                )
                try txn.putConsent(consent)
                _ = try txn.appendLog(
                    AccessLogEntry(
                        .consentRegister, by: .bureau(for: bank.value), time: now, requestID: "demo-seed", subjects: [key], purpose: demo.purpose, consentReference: demo.reference,
                        outcome: .applied, changeDigest: consent.evidenceDigest
                    )
                )
            }
        }
        return summary
    }
}

/// Registering institutions: each registration is a logged change.
public enum InstitutionRegistry {
    /// Registers or replaces `institution`, with a log entry carrying the digest of the new record.
    @discardableResult
    public static func register(_ institution: Institution, in store: Store, operatorID: String = "", now: Date = Date()) throws -> LogReceipt {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let digest = SHA256.hash(data: try encoder.encode(institution)).hexString
        return try store.write { txn in
            try txn.putInstitution(institution)
            return try txn.appendLog(
                AccessLogEntry(
                    .institutionRegister, by: .bureau(for: institution.code.value, operatorID: operatorID), time: now,
                    requestID: institution.code.value, outcome: .applied, changeDigest: digest
                )
            )
        }
    }
}

/// Reading certificates from PEM files.
public enum CertificateFile {
    /// The SHA-256 fingerprint (hex) of the certificate in a PEM file.
    public static func fingerprint(ofPEMFile path: String) throws -> String {
        try self.fingerprint(ofPEM: try String(contentsOfFile: path, encoding: .utf8))
    }

    /// The SHA-256 fingerprint (hex) of a PEM certificate.
    public static func fingerprint(ofPEM pem: String) throws -> String {
        try CallerResolver.fingerprint(of: try Certificate(pemEncoded: pem)).hexString
    }
}
