import BureauKeys
import Crypto
import Testing

@Suite("Key file KEK")
struct FileKeyEncryptionKeyTests {
    @Test("create writes 53 bytes, mode 0600, in a new folder of mode 0700; load reads the same key")
    func createAndLoad() throws {
        try withTemporaryFolder { root in
            let path = root + "/keys/kek.key"
            let made = try FileKeyEncryptionKey.create(at: path)
            #expect(try mode(of: path) == 0o600)
            #expect(try mode(of: root + "/keys") == 0o700)
            let bytes = try readBytes(path)
            #expect(bytes.count == 53)
            #expect(Array(bytes[0..<5]) == Array("BKEK".utf8) + [0x01])
            #expect(Array(bytes[5..<21]) == made.id.bytes)

            let loaded = try FileKeyEncryptionKey.load(from: path)
            #expect(loaded.id == made.id)
            let dataKey = DataKey.generate()
            let wrapped = try made.wrap(dataKey)
            #expect(wrapped.bytes.count == WrappedKey.byteCount)
            #expect(wrapped.keyEncryptionKeyID == made.id)
            #expect(wrapped.keyID == dataKey.id)
            #expect(wrapped.kind == .dataKey)
            #expect(try loaded.unwrapDataKey(wrapped) == dataKey)
            #expect(try WrappedKey(bytes: wrapped.bytes) == wrapped)
        }
    }

    @Test("create never overwrites a key, and refuses a folder open to group or others")
    func createRefuses() throws {
        try withTemporaryFolder { root in
            let path = root + "/kek.key"
            let first = try FileKeyEncryptionKey.create(at: path)
            let exists = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.create(at: path) }
            #expect(exists?.code == .keyFileExists)
            #expect(try FileKeyEncryptionKey.load(from: path).id == first.id)

            try setMode(0o755, of: root)
            let open = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.create(at: root + "/other.key") }
            #expect(open?.code == .keyFilePermissions)
            #expect(open?.message.contains("0755") == true)
            try setMode(0o700, of: root)
        }
    }

    @Test("load refuses a key file group or others may read or write", arguments: [0o640, 0o604, 0o620, 0o644, 0o666])
    func permissions(mode bits: Int) throws {
        try withTemporaryFolder { root in
            let path = root + "/kek.key"
            _ = try FileKeyEncryptionKey.create(at: path)
            try setMode(bits, of: path)
            let error = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.load(from: path) }
            #expect(error?.code == .keyFilePermissions)
            #expect(error?.message.contains(path) == true)
            #expect(error?.message.contains("0" + String(bits, radix: 8)) == true)
            try setMode(0o400, of: path)
            #expect(throws: Never.self) { try FileKeyEncryptionKey.load(from: path) }
        }
    }

    @Test("load names a missing, truncated, overlong, foreign or damaged key file")
    func badFiles() throws {
        try withTemporaryFolder { root in
            let missing = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.load(from: root + "/none.key") }
            #expect(missing?.code == .keyFileMissing)
            #expect(missing?.message.contains(root + "/none.key") == true)

            let path = root + "/kek.key"
            _ = try FileKeyEncryptionKey.create(at: path)
            let good = try readBytes(path)

            for length in [0, 3, 20, 52] {
                try writeBytes(Array(good.prefix(length)), to: path)
                let truncated = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.load(from: path) }
                #expect(truncated?.code == .keyFileTruncated, "length \(length)")
                #expect(truncated?.message.contains("holds \(length) bytes") == true)
            }

            try writeBytes(good + [0x0A], to: path)
            let long = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.load(from: path) }
            #expect(long?.code == .keyFileMalformed)

            try writeBytes(Array("-----BEGIN PRIVATE KEY-----\nMIIEvQ...".utf8), to: path)
            let foreign = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.load(from: path) }
            #expect(foreign?.code == .keyFileMalformed)
            #expect(foreign?.message.contains("not a Bureau key file") == true)

            var damaged = good
            damaged[40] ^= 0x01
            try writeBytes(damaged, to: path)
            let corrupt = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.load(from: path) }
            #expect(corrupt?.code == .keyFileMalformed)
            #expect(corrupt?.message.contains("damaged") == true)
        }
    }

    @Test("load refuses a key file inside the data folder")
    func insideDataFolder() throws {
        try withTemporaryFolder { root in
            let path = root + "/data/kek.key"
            _ = try FileKeyEncryptionKey.create(at: path)
            let error = #expect(throws: KeyError.self) { try FileKeyEncryptionKey.load(from: path, outside: root + "/data") }
            #expect(error?.code == .keyFileLocation)
            #expect(throws: Never.self) { try FileKeyEncryptionKey.load(from: path, outside: root + "/dat") }
        }
    }

    @Test("a key wrapped under one key file does not unwrap under another: the ids expected and given are named")
    func wrongKey() throws {
        try withTemporaryFolder { root in
            let a = try FileKeyEncryptionKey.create(at: root + "/a.key")
            let b = try FileKeyEncryptionKey.create(at: root + "/b.key")
            let dataKey = DataKey.generate()
            let wrapped = try a.wrap(dataKey)
            let error = #expect(throws: KeyError.self) { try b.unwrapDataKey(wrapped) }
            #expect(error?.code == .wrongKeyEncryptionKey)
            #expect(error?.message.contains("wrapped under KEK \(a.id.hex)") == true)
            #expect(error?.message.contains("is \(b.id.hex)") == true)
            #expect(error?.message.contains(root + "/b.key") == true)

            let secret = try a.wrap(KeyedHashSecret.generate())
            let secretError = #expect(throws: KeyError.self) { try b.unwrapKeyedHashSecret(secret) }
            #expect(secretError?.code == .wrongKeyEncryptionKey)
        }
    }

    @Test("a tampered wrapped key, a forged KEK id, or a secret unwrapped as a data key each fail by name")
    func tamperedWrappedKey() throws {
        try withTemporaryFolder { root in
            let kek = try FileKeyEncryptionKey.create(at: root + "/kek.key")
            let other = try FileKeyEncryptionKey.create(at: root + "/other.key")
            let wrapped = try kek.wrap(DataKey.generate())
            for offset in [20, 34, 50, 80, 93] {
                var bytes = wrapped.bytes
                bytes[offset] ^= 0x01
                let error = #expect(throws: KeyError.self) { try kek.unwrapDataKey(WrappedKey(bytes: bytes)) }
                #expect(error?.code == .authenticationFailed, "offset \(offset): \(error?.message ?? "")")
            }
            // Relabelled as wrapped by another KEK: that KEK cannot open it either.
            var relabelled = wrapped.bytes
            relabelled.replaceSubrange(2..<18, with: other.id.bytes)
            let forged = #expect(throws: KeyError.self) { try other.unwrapDataKey(WrappedKey(bytes: relabelled)) }
            #expect(forged?.code == .authenticationFailed)

            let secret = try kek.wrap(KeyedHashSecret.generate())
            #expect(secret.kind == .keyedHashSecret)
            let kind = #expect(throws: KeyError.self) { try kek.unwrapDataKey(secret) }
            #expect(kind?.code == .wrongKeyKind)
            // The kind byte is authenticated: flipping it does not turn a secret into a data key.
            var flipped = secret.bytes
            flipped[1] = WrappedKey.Kind.dataKey.rawValue
            let flippedError = #expect(throws: KeyError.self) { try kek.unwrapDataKey(WrappedKey(bytes: flipped)) }
            #expect(flippedError?.code == .authenticationFailed)

            let short = #expect(throws: KeyError.self) { try WrappedKey(bytes: Array(wrapped.bytes.prefix(93))) }
            #expect(short?.code == .malformedWrappedKey)
        }
    }

    @Test("the keyed-hash secret wraps and unwraps, and still keys the same HMAC")
    func keyedHashSecret() throws {
        try withTemporaryFolder { root in
            let kek = try FileKeyEncryptionKey.create(at: root + "/kek.key")
            let secret = KeyedHashSecret.generate()
            let unwrapped = try kek.unwrapKeyedHashSecret(try kek.wrap(secret))
            #expect(unwrapped == secret)
            let message = Array("individual\u{1F}11010519491231002X".utf8)
            #expect(Array(HMAC<SHA256>.authenticationCode(for: message, using: unwrapped.key))
                == Array(HMAC<SHA256>.authenticationCode(for: message, using: secret.key)))
        }
    }

    @Test("rotation re-wraps under the new key file: same key, old KEK refused, sealed fields still open, re-running is a no-op")
    func rotation() throws {
        try withTemporaryFolder { root in
            let old = try FileKeyEncryptionKey.create(at: root + "/old.key")
            let new = try FileKeyEncryptionKey.create(at: root + "/new.key")
            let dataKey = DataKey.generate()
            let binding = FieldBinding(subject: [UInt8](repeating: 7, count: 32), record: "r1", field: "subject.phone")
            let sealed = dataKey.seal("13800138000", for: binding)
            let wrapped = try old.wrap(dataKey)

            let rewrapped = try KeyRotation.rewrap(wrapped, from: old, to: new)
            #expect(rewrapped.keyEncryptionKeyID == new.id)
            #expect(rewrapped.keyID == dataKey.id)
            #expect(rewrapped.bytes != wrapped.bytes)
            #expect(try new.unwrapDataKey(rewrapped).openString(sealed, for: binding) == "13800138000")
            let stale = #expect(throws: KeyError.self) { try old.unwrapDataKey(rewrapped) }
            #expect(stale?.code == .wrongKeyEncryptionKey)
            #expect(try KeyRotation.rewrap(rewrapped, from: old, to: new) == rewrapped)

            let third = try FileKeyEncryptionKey.create(at: root + "/third.key")
            let wrong = #expect(throws: KeyError.self) { try KeyRotation.rewrap(wrapped, from: third, to: new) }
            #expect(wrong?.code == .wrongKeyEncryptionKey)
        }
    }
}
