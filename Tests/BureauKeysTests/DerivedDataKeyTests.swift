import BureauKeys
import Crypto
import Foundation
import Testing

@Suite("Derived data keys")
struct DerivedDataKeyTests {
    let scope = [UInt8](repeating: 0x5C, count: 16)
    let binding = FieldBinding(subject: [UInt8](repeating: 0xA5, count: 32), record: "account/L-001", field: "record")

    @Test("a data key is HKDF-SHA256 expand of the master with the label, key id, scope and salt; its salt is 65 bytes: 02, master id, key id, salt")
    func derivation() throws {
        let raw = SymmetricKey(size: .bits256)
        let master = MasterDataKey(id: .random(), key: raw)
        let (key, salt) = master.newDataKey(scope: self.scope)
        #expect(salt.bytes.count == 65 && DataKeySalt.byteCount == 65)
        #expect(salt.bytes[0] == 0x02)
        #expect(Array(salt.bytes[1..<17]) == master.id.bytes)
        #expect(Array(salt.bytes[17..<33]) == key.id.bytes)
        #expect(salt.masterID == master.id && salt.keyID == key.id)
        // The same derivation by swift-crypto's own HKDF (RFC 5869), with the info FORMAT.md gives.
        let info = Array("bureau.data-key.v2".utf8) + [0] + key.id.bytes + [0, 0, 0, 16] + self.scope + Array(salt.bytes[33...])
        #expect(MasterDataKey.info(key: key.id, scope: self.scope, salt: Array(salt.bytes[33...])) == info)
        let expected = HKDF<SHA256>.expand(pseudoRandomKey: raw, info: info, outputByteCount: 32)
        #expect(key == DataKey(id: key.id, key: expected))
        // Derived again from the stored salt: the same key, so what it sealed opens.
        let sealed = key.seal("6222020200112233", for: self.binding)
        let again = try master.dataKey(try DataKeySalt(bytes: salt.bytes), scope: self.scope)
        #expect(again == key)
        #expect(try again.openString(sealed, for: self.binding) == "6222020200112233")
    }

    @Test("each new key has its own id and salt; a salt given for another scope derives another key, which does not open the field")
    func saltAndScope() throws {
        let master = MasterDataKey.generate()
        let (first, firstSalt) = master.newDataKey(scope: self.scope)
        let (second, secondSalt) = master.newDataKey(scope: self.scope)
        #expect(first.id != second.id && first != second)
        #expect(firstSalt.bytes[33...] != secondSalt.bytes[33...])
        let sealed = first.seal("张三", for: self.binding)
        let moved = try master.dataKey(firstSalt, scope: [UInt8](repeating: 0x5D, count: 16))
        #expect(moved.id == first.id && moved != first)
        let error = #expect(throws: KeyError.self) { try moved.open(sealed, for: self.binding) }
        #expect(error?.code == .authenticationFailed)
    }

    @Test("data key ids are time-ordered: each sorts after the one made before it, within one clock tick too, from several threads, and none repeats")
    func timeOrderedIDs() async throws {
        let master = MasterDataKey.generate()
        var previous = master.newDataKey(scope: self.scope).key.id
        for _ in 0..<20_000 {
            let id = master.newDataKey(scope: self.scope).key.id
            #expect(previous.bytes.lexicographicallyPrecedes(id.bytes))
            previous = id
        }
        // The counter half is shared by every thread of the process: ids made concurrently still differ there.
        let counters = await withTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<4 { group.addTask { (0..<5_000).map { _ in UInt64(bigEndian: KeyID.timeOrdered().bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) } } }
            return await group.reduce(into: [UInt64]()) { $0 += $1 }
        }
        #expect(Set(counters).count == counters.count)
        // The first half is the clock's nanoseconds: an id says roughly when its key was made.
        let made = Double(UInt64(bigEndian: previous.bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })) / 1e9
        #expect(abs(made - Date().timeIntervalSince1970) < 60)
    }

    @Test("a salt of another master is refused naming both masters")
    func otherMaster() throws {
        let master = MasterDataKey.generate()
        let other = MasterDataKey.generate()
        let (_, salt) = other.newDataKey(scope: self.scope)
        let error = #expect(throws: KeyError.self) { try master.dataKey(salt, scope: self.scope) }
        #expect(error?.code == .wrongMasterKey)
        #expect(error?.message.contains(other.id.hex) == true && error?.message.contains(master.id.hex) == true)
    }

    @Test("the master is wrapped by the KEK as kind 3 and unwraps only as a master; a key store value reads in either format")
    func wrappedMasterAndStoredFormats() throws {
        try withTemporaryFolder { root in
            let kek = try FileKeyEncryptionKey.create(at: root + "/kek.key")
            let master = MasterDataKey.generate()
            let wrapped = try kek.wrap(master)
            #expect(wrapped.kind == .masterDataKey && wrapped.bytes[1] == 0x03 && wrapped.keyID == master.id)
            #expect(try WrappedKey(bytes: wrapped.bytes) == wrapped)
            let unwrapped = try kek.unwrapMasterDataKey(wrapped)
            let (key, salt) = master.newDataKey(scope: self.scope)
            #expect(try unwrapped.dataKey(salt, scope: self.scope) == key)
            // A wrapped master is not a data key, nor a data key a master.
            #expect((#expect(throws: KeyError.self) { try kek.unwrapDataKey(wrapped) })?.code == .wrongKeyKind)
            let legacy = try kek.wrap(DataKey.generate())
            #expect((#expect(throws: KeyError.self) { try kek.unwrapMasterDataKey(legacy) })?.code == .wrongKeyKind)

            // Both formats read back from stored bytes, each telling what it is.
            let storedSalt = try StoredDataKey(bytes: salt.bytes)
            #expect(storedSalt.salt == salt && storedSalt.wrapped == nil && storedSalt.keyID == key.id)
            let storedWrapped = try StoredDataKey(bytes: legacy.bytes)
            #expect(storedWrapped.wrapped == legacy && storedWrapped.salt == nil && storedWrapped.keyID == legacy.keyID)
            for bad in [Array(salt.bytes.dropLast()), [0x07] + Array(salt.bytes.dropFirst()), Array(legacy.bytes.dropLast())] {
                #expect((#expect(throws: KeyError.self) { try StoredDataKey(bytes: bad) })?.code == .malformedWrappedKey)
            }
        }
    }
}
