internal import Crypto
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key-encryption key kept in a file outside the data folder.
///
/// The file is 53 bytes (see FORMAT.md):
///
/// | offset | bytes | content |
/// |---|---|---|
/// | 0 | 4 | magic `BKEK` (`42 4B 45 4B`) |
/// | 4 | 1 | format version, `0x01` |
/// | 5 | 16 | key id: the first 16 bytes of SHA-256(`"bureau.kek.file.v1"` ‖ key) |
/// | 21 | 32 | the AES-256 key, random |
///
/// Loading refuses a file that group or others may read or write, a missing, truncated, overlong or
/// foreign file, and one whose key does not match its id; ``create(at:)`` writes it 0600 in a 0700 folder.
///
/// ```swift
/// let kek = try FileKeyEncryptionKey.load(from: "/etc/bureau/kek.key", outside: "/var/lib/bureau")
/// let wrapped = try kek.wrap(DataKey.generate())
/// ```
public struct FileKeyEncryptionKey: KeyEncryptionKey, CustomStringConvertible {
    /// The file's length.
    public static let byteCount = 53
    static let magic: [UInt8] = Array("BKEK".utf8)
    static let version: UInt8 = 1
    static let idLabel = "bureau.kek.file.v1"

    /// The key's id (a fingerprint of the key).
    public let id: KeyID
    /// The file it was loaded from or written to.
    public let path: String
    private let key: SymmetricKey

    public var location: String { "key file \(self.path)" }

    /// The id and the path only.
    public var description: String { "FileKeyEncryptionKey(\(self.id), \(self.path))" }

    private init(key: SymmetricKey, path: String) {
        self.key = key
        self.path = path
        self.id = key.withUnsafeBytes { KeyID.fingerprint(label: Self.idLabel, Array($0)) }
    }

    /// Makes a new random key and writes it to `path`, mode 0600, creating its folder with mode 0700.
    ///
    /// - Throws: ``KeyError/Code/keyFileExists`` when `path` exists (a key is never overwritten),
    ///   ``KeyError/Code/keyFilePermissions`` when the folder exists and group or others may use it,
    ///   ``KeyError/Code/keyFileIO`` when writing fails.
    public static func create(at path: String) throws(KeyError) -> FileKeyEncryptionKey {
        let folder = Self.folder(of: path)
        try Self.makeFolder(folder)
        var st = stat()
        guard stat(folder, &st) == 0 else { throw Self.ioError("cannot stat folder \(folder)") }
        guard st.st_mode & 0o077 == 0 else {
            throw KeyError(.keyFilePermissions, "folder \(folder) is open to group or others (mode \(Self.octal(st.st_mode))); a key file goes in a folder of mode 0700")
        }
        let kek = FileKeyEncryptionKey(key: SymmetricKey(size: .bits256), path: path)
        var bytes = Self.magic + [Self.version] + kek.id.bytes
        kek.key.withUnsafeBytes { bytes.append(contentsOf: $0) }
        defer { bytes.zeroize() }

        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw KeyError(.keyFileExists, "\(path) exists; a key file is never overwritten (move it away first)") }
            throw Self.ioError("cannot create \(path)")
        }
        var ok = fchmod(fd, 0o600) == 0
        if ok {
            ok = bytes.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = write(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 { if errno == EINTR { continue }; return false }
                    done += n
                }
                return true
            }
        }
        if ok { ok = fsync(fd) == 0 }
        let failure = ok ? nil : Self.ioError("cannot write \(path)")
        close(fd)
        if let failure {
            unlink(path)
            throw failure
        }
        let dir = open(folder, O_RDONLY | O_CLOEXEC)
        if dir >= 0 { _ = fsync(dir); close(dir) }
        return kek
    }

    /// Loads the key file at `path`.
    ///
    /// - Parameters:
    ///   - path: the key file.
    ///   - dataFolder: when given, a key file inside this folder is refused (a copy of the data folder must
    ///     not carry its key).
    /// - Throws: ``KeyError`` with ``KeyError/Code/keyFileMissing``, ``KeyError/Code/keyFilePermissions``
    ///   (group or others may read or write it, or not a regular file), ``KeyError/Code/keyFileTruncated``,
    ///   ``KeyError/Code/keyFileMalformed`` (foreign, overlong, or key and id disagree),
    ///   ``KeyError/Code/keyFileLocation`` (inside `dataFolder`), ``KeyError/Code/keyFileIO``.
    public static func load(from path: String, outside dataFolder: String? = nil) throws(KeyError) -> FileKeyEncryptionKey {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw KeyError(.keyFileMissing, "no key file at \(path)") }
            throw Self.ioError("cannot open key file \(path)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Self.ioError("cannot stat key file \(path)") }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw KeyError(.keyFilePermissions, "\(path) is not a regular file")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw KeyError(.keyFilePermissions, "\(path) may be read or written by group or others (mode \(Self.octal(st.st_mode))); run chmod 600 \(path)")
        }
        if let dataFolder, let inside = Self.isInside(path, dataFolder), inside {
            throw KeyError(.keyFileLocation, "\(path) is inside the data folder \(dataFolder); keep the key file apart from the data it protects")
        }
        var bytes = [UInt8](repeating: 0, count: Self.byteCount + 1)
        defer { bytes.zeroize() }
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 { if errno == EINTR { continue }; throw Self.ioError("cannot read key file \(path)") }
            if n == 0 { break }
            count += n
        }
        guard count >= Self.magic.count + 1, Array(bytes[0..<4]) == Self.magic else {
            if count < Self.byteCount, Array(bytes[0..<min(count, 4)]) == Array(Self.magic.prefix(count)) {
                throw KeyError(.keyFileTruncated, "\(path) holds \(count) bytes; a key file is \(Self.byteCount)")
            }
            throw KeyError(.keyFileMalformed, "\(path) is not a Bureau key file (no BKEK magic)")
        }
        guard bytes[4] == Self.version else {
            throw KeyError(.keyFileMalformed, "\(path) is key file format version \(bytes[4]); this build reads version \(Self.version)")
        }
        guard count >= Self.byteCount else {
            throw KeyError(.keyFileTruncated, "\(path) holds \(count) bytes; a key file is \(Self.byteCount)")
        }
        guard count == Self.byteCount else {
            throw KeyError(.keyFileMalformed, "\(path) is longer than a key file (\(Self.byteCount) bytes)")
        }
        let kek = FileKeyEncryptionKey(key: SymmetricKey(data: bytes[21..<53]), path: path)
        let stored = KeyID(unchecked: Array(bytes[5..<21]))
        guard kek.id == stored else {
            throw KeyError(.keyFileMalformed, "\(path): the key does not match its id \(stored); the file is damaged")
        }
        return kek
    }

    public func encrypt(_ plaintext: [UInt8], authenticating aad: [UInt8]) throws(KeyError) -> (nonce: [UInt8], sealed: [UInt8]) {
        let nonce = AES.GCM.Nonce()
        do {
            let box = try AES.GCM.seal(plaintext, using: self.key, nonce: nonce, authenticating: aad)
            return (Array(nonce), Array(box.ciphertext) + Array(box.tag))
        } catch {
            preconditionFailure("AES-GCM with a 256-bit key and a 12-byte nonce cannot fail: \(error)")
        }
    }

    public func decrypt(_ sealed: [UInt8], nonce: [UInt8], authenticating aad: [UInt8]) throws(KeyError) -> [UInt8] {
        guard sealed.count >= 16 else { throw KeyError(.authenticationFailed, "sealed key shorter than its tag") }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: nonce),
                ciphertext: sealed.dropLast(16),
                tag: sealed.suffix(16)
            )
            return Array(try AES.GCM.open(box, using: self.key, authenticating: aad))
        } catch {
            throw KeyError(.authenticationFailed, "AES-GCM tag does not verify under \(self.location)")
        }
    }

    // MARK: Files

    private static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Creates `folder` and any missing parents with mode 0700.
    private static func makeFolder(_ folder: String) throws(KeyError) {
        var st = stat()
        if stat(folder, &st) == 0 { return }
        let parent = Self.folder(of: folder)
        if parent != folder { try Self.makeFolder(parent) }
        guard mkdir(folder, 0o700) == 0 || errno == EEXIST else { throw Self.ioError("cannot create folder \(folder)") }
    }

    /// Whether `path` resolves to a place inside `folder`; nil when either cannot be resolved.
    private static func isInside(_ path: String, _ folder: String) -> Bool? {
        guard let file = Self.realPath(path), let dir = Self.realPath(folder) else { return nil }
        return file.hasPrefix(dir.hasSuffix("/") ? dir : dir + "/")
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func octal(_ mode: mode_t) -> String {
        "0" + String(mode & 0o777, radix: 8)
    }

    private static func ioError(_ what: String) -> KeyError {
        KeyError(.keyFileIO, "\(what): \(String(cString: strerror(errno)))")
    }
}
