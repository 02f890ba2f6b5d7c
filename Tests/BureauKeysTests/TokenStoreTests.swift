import BureauCore
import BureauKeys
import BureauLMDB
import BureauStore
import Foundation
import Testing

@Suite("A store under a token KEK", .serialized)
struct TokenStoreTests {
    @Test("a store configured with a PKCS#11 KEK seals under it, opens again through the token, and a missing token key is refused by name")
    func storeUnderToken() throws {
        let hsm = try SoftHSM.shared()
        let configuration = hsm.configuration(keyLabel: "store-kek-\(UUID().uuidString.prefix(8))")
        let kek = try PKCS11KeyEncryptionKey.generate(configuration)
        try withTemporaryFolder { root in
            let folder = root + "/data"
            let person = SubjectIdentifier.individual(try ResidentIdentityNumber(parsing: "11010519491231002X"))
            let identity = CreditFile.Subject.person(
                PersonIdentity(name: "王建国", identifier: person.value, birthDate: CalendarDate(year: 1949, month: 12, day: 31)!, phone: "13812345678", address: Address(province: "北京市", city: "北京市", detail: "x"))
            )
            func open(_ keys: KeyConfiguration) throws -> Store { try Store(folder: folder, configuration: .init(mapSize: 16 << 20, keys: keys)) }
            do {
                let store = try open(.pkcs11(configuration))
                try store.write { try $0.putSubject(identity, for: store.key(for: person)) }
                // The master data key is wrapped by the token; the data keys are its salts.
                let keyStore = store.backend.protection.keyStore
                let master = try #require(try keyStore.masterKey())
                #expect(master.keyEncryptionKeyID == kek.id)
                let keys = try keyStore.allKeys()
                #expect(!keys.isEmpty && keys.allSatisfy { $0.key.salt?.masterID == master.keyID })
            }
            do {
                let store = try open(.pkcs11(configuration))
                #expect(try store.read { try $0.subject(store.key(for: person)) } == identity)
            }
            let error = try #require(throws: BureauError.self) {
                _ = try open(.pkcs11(hsm.configuration(keyLabel: configuration.keyLabel + "-missing")))
            }
            #expect(error.message.contains("token key not found"))
        }
    }
}
