import BureauKeys
import Crypto
import Foundation
import Testing

/// Against a real SoftHSM2 token that the tests initialise themselves (``SoftHSM``). Serialized: one
/// process shares one token, and a session's login is per token.
@Suite("PKCS#11 token KEK (SoftHSM2)", .serialized)
struct PKCS11KeyEncryptionKeyTests {
    let binding = FieldBinding(subject: [UInt8](repeating: 0x42, count: 32), record: "account/91110000100000000X/L-7", field: "account.number")

    @Test("generate makes a sensitive, non-extractable AES-256 key with a 16-byte id; open finds it by label")
    func generateAndFind() throws {
        let hsm = try SoftHSM.shared()
        let config = hsm.configuration(keyLabel: "kek-generate")
        let made = try PKCS11KeyEncryptionKey.generate(config)
        #expect(made.isSensitive)
        #expect(!made.isExtractable)
        #expect(made.location.contains("bureau-test"))
        #expect(!made.location.contains(SoftHSM.pin))
        #expect(!String(describing: config).contains(SoftHSM.pin))
        #expect(!String(reflecting: config).contains(SoftHSM.pin))
        #expect(String(describing: made).contains(made.id.hex))

        let found = try PKCS11KeyEncryptionKey.open(config)
        #expect(found.id == made.id)
        let again = #expect(throws: KeyError.self) { try PKCS11KeyEncryptionKey.generate(config) }
        #expect(again?.code == .tokenKeyUnsuitable)
        #expect(try PKCS11KeyEncryptionKey.open(config, generateIfMissing: true).id == made.id)
    }

    @Test("the token wraps and unwraps data keys and the keyed-hash secret with CKM_AES_GCM")
    func wrapUnwrap() throws {
        let hsm = try SoftHSM.shared()
        let kek = try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "kek-wrap"), generateIfMissing: true)
        let dataKey = DataKey.generate()
        let sealed = dataKey.seal("6222020200112233", for: self.binding)
        let wrapped = try kek.wrap(dataKey)
        #expect(wrapped.bytes.count == 94)
        #expect(wrapped.keyEncryptionKeyID == kek.id)
        let unwrapped = try kek.unwrapDataKey(wrapped)
        #expect(unwrapped == dataKey)
        #expect(try unwrapped.openString(sealed, for: self.binding) == "6222020200112233")

        // A second session on the same key (as after a restart) unwraps it too.
        let reopened = try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "kek-wrap"))
        #expect(try reopened.unwrapDataKey(wrapped) == dataKey)

        let secret = KeyedHashSecret.generate()
        #expect(try kek.unwrapKeyedHashSecret(try kek.wrap(secret)) == secret)
    }

    @Test("a tampered wrapped key fails authentication on the token; another token key is refused by id")
    func tamperedAndWrongKey() throws {
        let hsm = try SoftHSM.shared()
        let kek = try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "kek-tamper"), generateIfMissing: true)
        let other = try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "kek-other"), generateIfMissing: true)
        let wrapped = try kek.wrap(DataKey.generate())
        for offset in [30, 40, 60, 90] {
            var bytes = wrapped.bytes
            bytes[offset] ^= 0x01
            let error = #expect(throws: KeyError.self) { try kek.unwrapDataKey(WrappedKey(bytes: bytes)) }
            #expect(error?.code == .authenticationFailed, "offset \(offset): \(error?.message ?? "")")
        }
        let wrong = #expect(throws: KeyError.self) { try other.unwrapDataKey(wrapped) }
        #expect(wrong?.code == .wrongKeyEncryptionKey)
        #expect(wrong?.message.contains(kek.id.hex) == true)
        #expect(wrong?.message.contains(other.id.hex) == true)
        // The session is still usable after a failed decryption.
        #expect(throws: Never.self) { try kek.unwrapDataKey(wrapped) }
    }

    @Test("one token KEK serves concurrent wraps and unwraps (one session, one operation at a time)")
    func concurrent() async throws {
        let hsm = try SoftHSM.shared()
        let kek = try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "kek-concurrent"), generateIfMissing: true)
        let opened = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var count = 0
                    for _ in 0..<25 {
                        let key = DataKey.generate()
                        if try kek.unwrapDataKey(try kek.wrap(key)) == key { count += 1 }
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(opened == 200)
    }

    @Test("rotation from a key file to the token and back: the same data key, sealed fields keep opening")
    func rotationFileTokenFile() throws {
        let hsm = try SoftHSM.shared()
        try withTemporaryFolder { root in
            let file = try FileKeyEncryptionKey.create(at: root + "/kek.key")
            let token = try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "kek-rotate"), generateIfMissing: true)
            let dataKey = DataKey.generate()
            let secret = KeyedHashSecret.generate()
            let sealed = dataKey.seal("张三", for: self.binding)
            let underFile = try file.wrap(dataKey)
            let secretUnderFile = try file.wrap(secret)

            let underToken = try KeyRotation.rewrap(underFile, from: file, to: token)
            #expect(underToken.keyEncryptionKeyID == token.id)
            #expect(try token.unwrapDataKey(underToken).openString(sealed, for: self.binding) == "张三")
            #expect(try token.unwrapKeyedHashSecret(try KeyRotation.rewrap(secretUnderFile, from: file, to: token)) == secret)
            let retired = #expect(throws: KeyError.self) { try file.unwrapDataKey(underToken) }
            #expect(retired?.code == .wrongKeyEncryptionKey)

            let newFile = try FileKeyEncryptionKey.create(at: root + "/kek-2.key")
            let back = try KeyRotation.rewrap(underToken, from: token, to: newFile)
            #expect(back.keyEncryptionKeyID == newFile.id)
            #expect(try newFile.unwrapDataKey(back).openString(sealed, for: self.binding) == "张三")
            #expect(try KeyRotation.rewrap(back, from: token, to: newFile) == back)
        }
    }

    @Test("wrong PIN, unknown token, missing key and missing module each get a named error")
    func configurationErrors() throws {
        let hsm = try SoftHSM.shared()
        let pin = #expect(throws: KeyError.self) {
            try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "k", token: SoftHSM.lockedTokenLabel, pin: "0000-0000"))
        }
        #expect(pin?.code == .tokenLogin)
        #expect(pin?.message.contains("CKR_PIN_INCORRECT") == true)
        #expect(pin?.message.contains("0000-0000") == false)

        let token = #expect(throws: KeyError.self) { try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "k", token: "no-such-token")) }
        #expect(token?.code == .tokenNotFound)
        #expect(token?.message.contains("\"bureau-test\"") == true)

        let key = #expect(throws: KeyError.self) { try PKCS11KeyEncryptionKey.open(hsm.configuration(keyLabel: "never-made")) }
        #expect(key?.code == .tokenKeyNotFound)

        var missing = hsm.configuration(keyLabel: "k")
        missing.modulePath = "/nonexistent/libpkcs11.so"
        let module = #expect(throws: KeyError.self) { try PKCS11KeyEncryptionKey.open(missing) }
        #expect(module?.code == .tokenModule)
        #expect(module?.message.contains("softhsm2") == true)
    }
}
