public import BureauCore
public import LMDB
import Foundation

/// Typed reads and writes over one LMDB transaction. Valid only inside the closure that received it.
public struct StoreTransaction {
    let txn: Transaction
    let databases: Databases

    init(_ txn: Transaction, _ databases: Databases) {
        self.txn = txn
        self.databases = databases
    }

    // MARK: Files

    /// The file stored under `key`, or nil.
    public func file(_ key: SubjectKey) throws -> CreditFile? {
        try self.txn.withValue(forKey: key.bytes, in: self.databases.files) { try Codec.decode(CreditFile.self, $0) }
    }

    /// Stores `file` under `key`.
    public func putFile(_ file: CreditFile, for key: SubjectKey) throws {
        try self.txn.put(Codec.encode(file), forKey: key.bytes, in: self.databases.files)
    }

    /// The number of files on record.
    public func fileCount() throws -> Int { try self.txn.count(self.databases.files) }

    // MARK: Institutions

    /// The institution registered under `code`, or nil.
    public func institution(code: UnifiedSocialCreditCode) throws -> Institution? {
        try self.txn.withValue(forKey: Array(code.value.utf8), in: self.databases.institutions) {
            try Codec.decode(Institution.self, $0)
        }
    }

    /// The institution a certificate fingerprint (32 bytes) is bound to, or nil.
    public func institution(certificateFingerprint fingerprint: [UInt8]) throws -> Institution? {
        guard let code = try self.txn.get(fingerprint, in: self.databases.certificates) else { return nil }
        return try self.institution(code: UnifiedSocialCreditCode(parsing: String(decoding: code, as: UTF8.self)))
    }

    /// Every registered institution, in code order.
    public func institutions() throws -> [Institution] {
        var out: [Institution] = []
        try self.txn.scan(self.databases.institutions) { _, value in
            out.append(try Codec.decode(Institution.self, value))
            return true
        }
        return out
    }

    /// Registers or replaces `institution` and rebinds its certificate fingerprints.
    ///
    /// - Throws: ``BureauError`` (already exists) when a fingerprint is bound to another institution.
    public func putInstitution(_ institution: Institution) throws {
        let codeBytes = Array(institution.code.value.utf8)
        for fingerprint in institution.certificateFingerprints {
            guard let bytes = [UInt8](hex: fingerprint), bytes.count == 32 else {
                throw BureauError.invalid("certificate_fingerprint", "is 64 hex characters (SHA-256)")
            }
            if let owner = try self.txn.get(bytes, in: self.databases.certificates), owner != codeBytes {
                throw BureauError(.alreadyExists, "certificate \(fingerprint) is bound to \(String(decoding: owner, as: UTF8.self))")
            }
        }
        if let previous = try self.institution(code: institution.code) {
            for old in previous.certificateFingerprints.subtracting(institution.certificateFingerprints) {
                if let bytes = [UInt8](hex: old) { try self.txn.delete(bytes, in: self.databases.certificates) }
            }
        }
        for fingerprint in institution.certificateFingerprints {
            try self.txn.put(codeBytes, forKey: [UInt8](hex: fingerprint)!, in: self.databases.certificates)
        }
        try self.txn.put(Codec.encode(institution), forKey: codeBytes, in: self.databases.institutions)
    }

    // MARK: Access log

    /// The number of entries in the log.
    public func logSize() throws -> UInt64 {
        try self.txn.withValue(forKey: Self.logSizeKey, in: self.databases.meta) { UInt64(bigEndianBytes: $0) } ?? 0
    }

    /// Appends `entry` to the log and returns its receipt. The entry is durable when the enclosing
    /// write transaction commits.
    public func appendLog(_ entry: AccessLogEntry) throws -> LogReceipt {
        let index = try self.logSize()
        let bytes = entry.canonicalBytes()
        let leaf = Merkle.leafHash(bytes)
        let key = index.bigEndianBytes
        try self.txn.put(bytes, forKey: key, in: self.databases.logEntries)
        try self.txn.put(leaf, forKey: key, in: self.databases.logLeaves)
        try self.txn.put((index + 1).bigEndianBytes, forKey: Self.logSizeKey, in: self.databases.meta)
        return LogReceipt(index: index, leafHash: leaf)
    }

    /// A stored log entry with its index, canonical bytes and leaf hash.
    public struct LoggedEntry: Sendable {
        public var index: UInt64
        public var entry: AccessLogEntry
        public var bytes: [UInt8]
        public var leafHash: [UInt8]
    }

    /// Up to `limit` entries from index `start` on (or, with `reverse`, from `start` back).
    public func logEntries(from start: UInt64, limit: Int, reverse: Bool = false) throws -> [LoggedEntry] {
        var out: [LoggedEntry] = []
        guard limit > 0 else { return out }
        try self.txn.scan(self.databases.logEntries, from: start.bigEndianBytes, reverse: reverse) { key, value in
            let index = UInt64(bigEndianBytes: key)
            let bytes = Array(value)
            let leaf = try self.txn.get(Array(key), in: self.databases.logLeaves) ?? Merkle.leafHash(bytes)
            out.append(LoggedEntry(index: index, entry: try AccessLogEntry(canonicalBytes: bytes), bytes: bytes, leafHash: leaf))
            return out.count < limit
        }
        return out
    }

    static let logSizeKey = Array("log.size".utf8)
}

extension UInt64 {
    var bigEndianBytes: [UInt8] { withUnsafeBytes(of: self.bigEndian) { Array($0) } }

    init(bigEndianBytes bytes: UnsafeRawBufferPointer) {
        var value: UInt64 = 0
        for b in bytes.prefix(8) { value = value << 8 | UInt64(b) }
        self = value
    }
}

/// The JSON codec for stored values.
enum Codec {
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: UnsafeRawBufferPointer) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}
