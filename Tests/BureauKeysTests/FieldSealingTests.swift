import BureauKeys
import Crypto
import Testing

@Suite("Sealed fields")
struct FieldSealingTests {
    let subject = [UInt8](repeating: 0xA5, count: 32)
    var name: FieldBinding { FieldBinding(subject: self.subject, field: "subject.name") }
    var account: FieldBinding { FieldBinding(subject: self.subject, record: "account/91110000100000000X/L-001", field: "account.number") }

    @Test("no nonce repeats: 20,000 seals of one value under one key, from four threads, each draw a nonce of their own from the pooled system randomness, and none is zero")
    func noncesNeverRepeat() async {
        let key = DataKey.generate()
        let binding = FieldBinding(subject: [UInt8](repeating: 1, count: 32), field: "subject.name")
        let nonces = await withTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<4 { group.addTask { (0..<5_000).map { _ in Array(key.seal("张三", for: binding)[17..<29]) } } }
            return await group.reduce(into: [[UInt8]]()) { $0 += $1 }
        }
        #expect(Set(nonces).count == 20_000)
        #expect(!nonces.contains([UInt8](repeating: 0, count: 12)))
    }

    @Test("a sealed field opens under its key and binding, and is version, key id, nonce, ciphertext, tag")
    func roundTrip() throws {
        let key = DataKey.generate()
        let plaintext = "张三"
        let sealed = key.seal(plaintext, for: self.name)
        #expect(sealed.count == Array(plaintext.utf8).count + SealedField.overhead)
        #expect(SealedField.overhead == 45)
        #expect(sealed[0] == 0x01)
        #expect(Array(sealed[1..<17]) == key.id.bytes)
        #expect(try SealedField.keyID(of: sealed) == key.id)
        #expect(String(describing: key) == "DataKey(\(key.id.hex))")
        #expect(try key.openString(sealed, for: self.name) == plaintext)
        // Nothing of the plaintext shows in the sealed bytes.
        #expect(!sealed.containsSubsequence(Array(plaintext.utf8)))

        let empty = key.seal([], for: self.account)
        #expect(empty.count == SealedField.overhead)
        #expect(try key.open(empty, for: self.account) == [])
    }

    @Test("sealing twice gives different bytes (fresh nonce), both open")
    func freshNonce() throws {
        let key = DataKey.generate()
        let a = key.seal("6222020200112233", for: self.account)
        let b = key.seal("6222020200112233", for: self.account)
        #expect(a != b)
        #expect(try key.openString(a, for: self.account) == "6222020200112233")
        #expect(try key.openString(b, for: self.account) == "6222020200112233")
    }

    @Test("a changed byte anywhere in nonce, ciphertext or tag fails authentication", arguments: [17, 28, 29, 31, 32, 44, 45, 48])
    func tampered(at offset: Int) throws {
        let key = DataKey.generate()
        var sealed = key.seal("6222", for: self.account)
        #expect(sealed.count == 49)
        sealed[offset] ^= 0x01
        let error = #expect(throws: KeyError.self) { try key.open(sealed, for: self.account) }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.message.contains("account.number") == true)
        #expect(error?.message.contains("altered") == true)
    }

    @Test("a changed key id names the key it asks for and the key given")
    func tamperedKeyID() throws {
        let key = DataKey.generate()
        var sealed = key.seal("6222", for: self.account)
        sealed[5] ^= 0x80
        let error = #expect(throws: KeyError.self) { try key.open(sealed, for: self.account) }
        #expect(error?.code == .wrongDataKey)
        #expect(error?.message.contains(key.id.hex) == true)
    }

    @Test("an unknown version or a short field is malformed")
    func malformed() throws {
        let key = DataKey.generate()
        var sealed = key.seal("6222", for: self.account)
        sealed[0] = 0x02
        let version = #expect(throws: KeyError.self) { try key.open(sealed, for: self.account) }
        #expect(version?.code == .malformedCiphertext)
        #expect(version?.message.contains("version 2") == true)
        let short = #expect(throws: KeyError.self) { try key.open(Array(key.seal("x", for: self.account).prefix(44)), for: self.account) }
        #expect(short?.code == .malformedCiphertext)
    }

    @Test("ciphertext moved to another record, field or subject does not open there")
    func swapped() throws {
        let key = DataKey.generate()
        let sealed = key.seal("6222020200112233", for: self.account)
        let elsewhere = [
            FieldBinding(subject: self.subject, record: "account/91110000100000000X/L-002", field: "account.number"),
            FieldBinding(subject: self.subject, record: "account/91110000100000000X/L-001", field: "account.holder"),
            FieldBinding(subject: [UInt8](repeating: 0x5A, count: 32), record: "account/91110000100000000X/L-001", field: "account.number"),
            FieldBinding(subject: self.subject, field: "account.number"),
        ]
        for binding in elsewhere {
            let error = #expect(throws: KeyError.self) { try key.open(sealed, for: binding) }
            #expect(error?.code == .authenticationFailed)
            #expect(error?.message.contains(binding.field) == true)
        }
        // Two fields of one record swapped with each other: neither opens.
        let phone = FieldBinding(subject: self.subject, field: "subject.phone")
        let sealedName = key.seal("张三", for: self.name)
        let sealedPhone = key.seal("13800138000", for: phone)
        #expect(throws: KeyError.self) { try key.open(sealedName, for: phone) }
        #expect(throws: KeyError.self) { try key.open(sealedPhone, for: self.name) }
    }

    @Test("another data key is refused by id, naming both; a key with the right id but other bytes fails authentication")
    func wrongDataKey() throws {
        let key = DataKey.generate()
        let other = DataKey.generate()
        let sealed = key.seal("张三", for: self.name)
        let error = #expect(throws: KeyError.self) { try other.open(sealed, for: self.name) }
        #expect(error?.code == .wrongDataKey)
        #expect(error?.message.contains(key.id.hex) == true)
        #expect(error?.message.contains(other.id.hex) == true)

        let impostor = DataKey(id: key.id, key: SymmetricKey(size: .bits256))
        let forged = #expect(throws: KeyError.self) { try impostor.open(sealed, for: self.name) }
        #expect(forged?.code == .authenticationFailed)
    }

    @Test("the binding encoding is length-prefixed, so parts cannot slide into each other")
    func canonicalBinding() {
        let binding = FieldBinding(subject: [0x01, 0x02], record: [0x03], field: "ab")
        #expect(binding.encoded == [0, 0, 0, 2, 0x01, 0x02, 0, 0, 0, 1, 0x03, 0, 0, 0, 2, 0x61, 0x62])
        let a = FieldBinding(subject: [1], record: "ab", field: "c")
        let b = FieldBinding(subject: [1], record: "a", field: "bc")
        #expect(a.encoded != b.encoded)
        #expect(FieldBinding(subject: [1], field: "x").encoded == FieldBinding(subject: [1], record: [UInt8](), field: "x").encoded)
        // The description names the field and subject hash but never the record key.
        #expect(!FieldBinding(subject: [1], record: "L-SECRET-001", field: "x").description.contains("L-SECRET"))
    }
}

extension Array where Element: Equatable {
    func containsSubsequence(_ needle: [Element]) -> Bool {
        guard !needle.isEmpty, needle.count <= self.count else { return needle.isEmpty }
        return (0...(self.count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
