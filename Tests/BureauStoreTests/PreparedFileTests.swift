import BureauCore
import BureauKeys
import BureauLMDB
import BureauStore
import Foundation
import Testing

@Suite("Files sealed ahead of their write (bulk import)")
struct PreparedFileTests {
    static let bank = try! UnifiedSocialCreditCode(parsing: "91110000100000016D")
    static let number = "11010519491231002X"
    static let identity = CreditFile.Subject.person(
        PersonIdentity(
            name: "王建国", identifier: number, birthDate: CalendarDate(year: 1949, month: 12, day: 31)!, phone: "13812345678",
            address: Address(province: "北京市", city: "北京市", detail: "朝阳区建国路1号")
        )
    )

    static func account(_ number: String, balance: Int64 = 0) -> CreditRecord {
        .account(
            Account(
                furnisher: bank, accountNumber: number, type: .creditCard, opened: CalendarDate(year: 2020, month: 1, day: 1)!,
                limit: Money(minorUnits: 100_000, currency: "CNY"), balance: Money(minorUnits: balance, currency: "CNY"), status: .current,
                paymentHistory: "0", closed: nil
            )
        )
    }

    static func subject(_ records: [CreditRecord]) throws -> FurnishedSubject {
        FurnishedSubject(
            identifier: .individual(try ResidentIdentityNumber(parsing: number)), subject: identity, records: records, furnisher: bank,
            reported: CalendarDate(year: 2026, month: 11, day: 1)!
        )
    }

    static func open(_ root: String) throws -> Store {
        try Store(folder: root + "/data", configuration: .init(mapSize: 64 << 20, keys: .file(root + "/keys/kek.key")))
    }

    /// Prepares `subject` on a thread of its own, as the import's parsing workers do.
    static func prepared(_ store: Store, _ subject: FurnishedSubject, _ key: SubjectKey) async -> PreparedFile? {
        let protection = store.backend.protection
        return await Task.detached { protection.prepare(subject, as: key) }.value
    }

    @Test("a new file's values sealed on another thread are stored as they were sealed: the write makes no key of its own, the prepared keys are in the key store, and everything opens")
    func takenForNewFile() async throws {
        try await withTemporaryFolder { root in
            _ = try FileKeyEncryptionKey.create(at: root + "/keys/kek.key")
            let store = try Self.open(root)
            let subject = try Self.subject([Self.account("6222020200112233"), Self.account("6222020200445566", balance: 5_000)])
            let key = store.key(for: subject.identifier)
            let prepared = try #require(await Self.prepared(store, subject, key))
            #expect(prepared.keyIDs.count == 3)
            let before = Set(try store.backend.protection.keyStore.allKeys().map(\.key.keyID))
            let catalogue = try store.catalogue()
            try store.write { txn in
                txn.offer(prepared)
                defer { txn.offer(nil) }
                try txn.furnish(subject, as: key, catalogue: catalogue)
            }
            let added = Set(try store.backend.protection.keyStore.allKeys().map(\.key.keyID)).subtracting(before)
            #expect(added == Set(prepared.keyIDs))
            let file = try #require(try store.read { try $0.file(key) })
            #expect(file.subject == Self.identity)
            #expect(Set(file.records) == Set(subject.records))
        }
    }

    @Test("the store's subject keys (the secret's key blocks hashed once) are SubjectKey(_:secret:), for individuals and businesses")
    func subjectKeys() async throws {
        try await withTemporaryFolder { root in
            _ = try FileKeyEncryptionKey.create(at: root + "/keys/kek.key")
            let store = try Self.open(root)
            let identifiers: [SubjectIdentifier] = [
                .individual(try ResidentIdentityNumber(parsing: Self.number)), .business(try UnifiedSocialCreditCode(parsing: "91110000100000016D")),
            ]
            for identifier in identifiers {
                #expect(store.key(for: identifier) == SubjectKey(identifier, secret: store.secret))
            }
        }
    }

    @Test("a prepared value is not taken where it does not fit: a file that exists, a record whose content changed since it was prepared, another subject; the write seals on its own and the prepared keys are never stored")
    func notTakenWhereItDoesNotFit() async throws {
        try await withTemporaryFolder { root in
            _ = try FileKeyEncryptionKey.create(at: root + "/keys/kek.key")
            let store = try Self.open(root)
            let catalogue = try store.catalogue()
            let subject = try Self.subject([Self.account("6222020200112233")])
            let key = store.key(for: subject.identifier)

            // The content changed after it was prepared (same record id, another balance).
            let stale = try #require(await Self.prepared(store, subject, key))
            var changed = subject
            changed.records = [Self.account("6222020200112233", balance: 7_700)]
            try store.write { txn in
                txn.offer(stale)
                defer { txn.offer(nil) }
                try txn.furnish(changed, as: key, catalogue: catalogue)
            }
            var stored = Set(try store.backend.protection.keyStore.allKeys().map(\.key.keyID))
            // The identity was the same, so its prepared value was taken; the changed record's was not.
            #expect(stored.contains(stale.keyIDs[0]))
            #expect(!stored.contains(stale.keyIDs[1]))
            #expect(try store.read { try $0.file(key) }?.records == changed.records)

            // The file exists now: nothing prepared for a new file is taken.
            let again = try #require(await Self.prepared(store, subject, key))
            try store.write { txn in
                txn.offer(again)
                defer { txn.offer(nil) }
                try txn.furnish(subject, as: key, catalogue: catalogue)
            }
            stored = Set(try store.backend.protection.keyStore.allKeys().map(\.key.keyID))
            #expect(stored.isDisjoint(with: again.keyIDs))
            #expect(try store.read { try $0.file(key) }?.records == subject.records)

            // Prepared for another subject: not taken for this one.
            let other = try Self.subject([Self.account("6222020200998877")])
            let otherKey = SubjectKey(bytes: [UInt8](repeating: 7, count: 32))
            let elsewhere = try #require(await Self.prepared(store, other, key))
            try store.write { txn in
                txn.offer(elsewhere)
                defer { txn.offer(nil) }
                try txn.furnish(
                    FurnishedSubject(identifier: other.identifier, subject: other.subject, records: other.records, furnisher: Self.bank, reported: other.reported),
                    as: otherKey, catalogue: catalogue
                )
            }
            stored = Set(try store.backend.protection.keyStore.allKeys().map(\.key.keyID))
            #expect(stored.isDisjoint(with: elsewhere.keyIDs))
        }
    }
}
