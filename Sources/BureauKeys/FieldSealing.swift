package import Crypto
import Foundation

/// A 256-bit AES key that seals personal fields, with its id.
///
/// Data keys are made at random, kept on disk only wrapped by a ``KeyEncryptionKey`` (``WrappedKey``), and
/// scoped so that destroying one makes what it sealed unreadable everywhere, old backups included.
///
/// ```swift
/// let key = DataKey.generate()
/// let binding = FieldBinding(subject: subjectKey.bytes, record: recordKey, field: "account.number")
/// let sealed = try key.seal(Array("6222020200112233".utf8), for: binding)
/// let number = try key.open(sealed, for: binding)
/// ```
public struct DataKey: Sendable, Equatable, CustomStringConvertible {
    /// The key's id, written in front of every field it seals.
    public let id: KeyID
    /// The AES-256 key.
    let key: SymmetricKey

    /// A new random key with a new random id.
    public static func generate() -> DataKey {
        DataKey(id: .random(), key: SymmetricKey(size: .bits256))
    }

    /// A key from its id and 32 bytes (unwrapping, tests).
    package init(id: KeyID, key: SymmetricKey) {
        precondition(key.bitCount == 256, "a data key is 256 bits")
        self.id = id
        self.key = key
    }

    /// Compares ids and keys (the key in constant time).
    public static func == (lhs: DataKey, rhs: DataKey) -> Bool { lhs.id == rhs.id && lhs.key == rhs.key }

    /// The id only: a key printed by accident leaks nothing.
    public var description: String { "DataKey(\(self.id))" }
}

/// Where a sealed field belongs: its subject, its record and its name. Authenticated with the field (as
/// AES-GCM associated data, never stored), so that a ciphertext copied into another subject, record or field
/// does not open there.
///
/// The canonical encoding (``encoded``) is each part as a 4-byte big-endian length followed by its bytes, in
/// the order subject, record, field (UTF-8): no two different bindings encode alike.
public struct FieldBinding: Hashable, Sendable, CustomStringConvertible {
    /// The subject's keyed hash (`SubjectKey.bytes`); never a cleartext identifier.
    public var subject: [UInt8]
    /// The record's key in the store; empty for the subject's own fields (name, identifier, contacts).
    public var record: [UInt8]
    /// The field's name, a fixed ASCII path such as `subject.name` or `account.number`.
    public var field: String

    /// A binding of `field` in `record` of `subject`.
    public init(subject: [UInt8], record: [UInt8] = [], field: String) {
        self.subject = subject
        self.record = record
        self.field = field
    }

    /// A binding whose record is named by a string (its UTF-8 bytes).
    public init(subject: [UInt8], record: String, field: String) {
        self.init(subject: subject, record: Array(record.utf8), field: field)
    }

    /// The canonical bytes: `u32be(len) subject | u32be(len) record | u32be(len) field`.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        self.append(to: &out)
        return out
    }

    /// Appends ``encoded`` to `out`.
    func append(to out: inout [UInt8]) {
        out.reserveCapacity(out.count + 12 + self.subject.count + self.record.count + self.field.utf8.count)
        out.appendBigEndian(UInt32(self.subject.count))
        out.append(contentsOf: self.subject)
        out.appendBigEndian(UInt32(self.record.count))
        out.append(contentsOf: self.record)
        out.appendBigEndian(UInt32(self.field.utf8.count))
        out.append(contentsOf: self.field.utf8)
    }

    /// Names the field and the subject's keyed hash; the record key is left out (it may carry a
    /// furnisher's record id).
    public var description: String { "field \"\(self.field)\" of subject \(KeyID.hexString(self.subject))" }
}

/// The byte format of a sealed field (see FORMAT.md):
///
/// | offset | bytes | content |
/// |---|---|---|
/// | 0 | 1 | format version, `0x01` |
/// | 1 | 16 | id of the ``DataKey`` that sealed it |
/// | 17 | 12 | AES-GCM nonce, random |
/// | 29 | n | ciphertext, as long as the plaintext |
/// | 29 + n | 16 | AES-GCM tag |
///
/// The associated data is the 17-byte header (version and key id) followed by ``FieldBinding/encoded``.
public enum SealedField {
    /// The format version this library writes and reads.
    public static let version: UInt8 = 1
    /// The length of the header: version and key id.
    public static let headerCount = 1 + KeyID.byteCount
    /// Bytes added to every plaintext: header, nonce and tag (45).
    public static let overhead = headerCount + 12 + 16

    /// The id of the data key that sealed `sealed`, so that the caller can fetch and unwrap it.
    ///
    /// - Throws: ``KeyError/Code/malformedCiphertext`` when `sealed` is too short or of another version.
    public static func keyID(of sealed: [UInt8]) throws(KeyError) -> KeyID {
        guard sealed.count >= overhead else {
            throw KeyError(.malformedCiphertext, "a sealed field is at least \(overhead) bytes; this one is \(sealed.count)")
        }
        guard sealed[0] == version else {
            throw KeyError(.malformedCiphertext, "sealed field format version \(sealed[0]) is unknown; this build reads version \(version)")
        }
        return KeyID(unchecked: Array(sealed[1..<headerCount]))
    }
}

extension DataKey {
    /// Seals `plaintext` as the field `binding` names.
    ///
    /// - Parameters:
    ///   - plaintext: the field's value.
    ///   - binding: its subject, record and field; the same binding must be given to ``open(_:for:)``.
    /// - Returns: the sealed field, ``SealedField/overhead`` bytes longer than `plaintext`.
    public func seal(_ plaintext: [UInt8], for binding: FieldBinding) -> [UInt8] {
        var associated: [UInt8] = [SealedField.version]
        associated.append(contentsOf: self.id.bytes)
        binding.append(to: &associated)
        let box: AES.GCM.SealedBox
        do {
            // The nonce from the pooled generator (AES.GCM.Nonce() makes two system calls).
            box = try AES.GCM.seal(plaintext, using: self.key, nonce: AES.GCM.Nonce(data: SecureRandom.bytes(12)), authenticating: associated)
        } catch {
            preconditionFailure("AES-GCM with a 256-bit key and a 12-byte nonce cannot fail: \(error)")
        }
        // The combined box is nonce || ciphertext || tag: what follows the header.
        var out = [UInt8]()
        out.reserveCapacity(plaintext.count + SealedField.overhead)
        out.append(contentsOf: associated[0..<SealedField.headerCount])
        box.combined!.withUnsafeBytes { out.append(contentsOf: $0) }  // a 12-byte nonce: never nil
        return out
    }

    /// Seals the UTF-8 bytes of `text`.
    public func seal(_ text: String, for binding: FieldBinding) -> [UInt8] {
        self.seal(Array(text.utf8), for: binding)
    }

    /// Opens a field sealed by ``seal(_:for:)``.
    ///
    /// - Parameters:
    ///   - sealed: the sealed field.
    ///   - binding: the subject, record and field it is read from.
    /// - Returns: the plaintext.
    /// - Throws: ``KeyError`` with ``KeyError/Code/malformedCiphertext`` (too short, unknown version),
    ///   ``KeyError/Code/wrongDataKey`` (sealed under another data key: both ids named), or
    ///   ``KeyError/Code/authenticationFailed`` (altered, or moved from another subject, record or field).
    public func open(_ sealed: [UInt8], for binding: FieldBinding) throws(KeyError) -> [UInt8] {
        let sealedUnder = try SealedField.keyID(of: sealed)
        guard sealedUnder == self.id else {
            throw KeyError(.wrongDataKey, "\(binding) was sealed under data key \(sealedUnder); the key given is \(self.id)")
        }
        let h = SealedField.headerCount
        do {
            var associated = Array(sealed[0..<h])
            binding.append(to: &associated)
            return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: sealed[h...]), using: self.key, authenticating: associated))
        } catch {
            throw KeyError(.authenticationFailed, "\(binding) does not open under data key \(self.id): it was altered, or it belongs to another subject, record or field")
        }
    }

    /// Opens a sealed UTF-8 text field.
    ///
    /// - Throws: as ``open(_:for:)``, and ``KeyError/Code/malformedCiphertext`` when the plaintext is not UTF-8.
    public func openString(_ sealed: [UInt8], for binding: FieldBinding) throws(KeyError) -> String {
        let bytes = try self.open(sealed, for: binding)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw KeyError(.malformedCiphertext, "\(binding) opens to bytes that are not UTF-8")
        }
        return text
    }
}

extension [UInt8] {
    /// Overwrites every byte with zero, so that key material does not linger in freed memory (best effort).
    mutating func zeroize() {
        self.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
    }

    mutating func appendBigEndian(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { self.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}

extension KeyID {
    /// Lowercase hex of any bytes.
    static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
