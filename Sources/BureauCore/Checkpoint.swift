public import Crypto
import struct Foundation.Data

/// A checkpoint of the access log in the C2SP tlog-checkpoint format: the origin line, the tree size and
/// the base64 root hash, each ending in a newline.
public struct Checkpoint: Hashable, Sendable {
    public var origin: String
    public var size: UInt64
    public var root: [UInt8]

    public init(origin: String, size: UInt64, root: [UInt8]) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note body that is signed.
    public var body: String { "\(self.origin)\n\(self.size)\n\(Data(self.root).base64EncodedString())\n" }

    /// Parses a checkpoint body (extension lines after the root are allowed and ignored).
    public init(body: String) throws(Merkle.ProofError) {
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        guard body.hasSuffix("\n"), lines.count >= 4, !lines[0].isEmpty, let size = UInt64(lines[1]),
            let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else { throw Merkle.ProofError("not a checkpoint: origin, size and base64 root hash, one a line") }
        self.init(origin: String(lines[0]), size: size, root: Array(root))
    }
}

/// Signs notes (C2SP signed-note) with an Ed25519 key.
public struct NoteSigner: Sendable {
    public let name: String
    private let key: Curve25519.Signing.PrivateKey

    public init(name: String, key: Curve25519.Signing.PrivateKey) {
        self.name = name
        self.key = key
    }

    /// The 4-byte key hash: SHA-256(name || "\n" || 0x01 || public key), first 4 bytes.
    public var keyHash: [UInt8] { NoteVerifier.keyHash(name: self.name, publicKey: Array(self.key.publicKey.rawRepresentation)) }

    /// The verifier key in the standard `name+hash+base64` form.
    public var verifierKey: String {
        "\(self.name)+\(self.keyHash.hexString)+\(Data([0x01] + Array(self.key.publicKey.rawRepresentation)).base64EncodedString())"
    }

    /// The signed note: the body, a blank line, and the signature line.
    public func sign(_ body: String) throws -> String {
        let signature = try self.key.signature(for: Array(body.utf8))
        return body + "\n\u{2014} \(self.name) \(Data(self.keyHash + Array(signature)).base64EncodedString())\n"
    }
}

/// Verifies signed notes with a verifier key, knowing nothing but that key.
public struct NoteVerifier: Sendable {
    public let name: String
    let hash: [UInt8]
    let key: Curve25519.Signing.PublicKey

    /// Parses `name+hash+base64(0x01 || key)`.
    public init(verifierKey: String) throws(Merkle.ProofError) {
        let parts = verifierKey.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let hash = [UInt8](hex: String(parts[1])), hash.count == 4,
            let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == 0x01,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw.dropFirst())
        else { throw Merkle.ProofError("not an Ed25519 verifier key (name+hash+base64)") }
        guard NoteVerifier.keyHash(name: String(parts[0]), publicKey: Array(raw.dropFirst())) == hash else {
            throw Merkle.ProofError("the verifier key's hash does not match its name and key")
        }
        self.name = String(parts[0])
        self.hash = hash
        self.key = key
    }

    static func keyHash(name: String, publicKey: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: Array(name.utf8) + [0x0A, 0x01] + publicKey).prefix(4))
    }

    /// Checks the note's signature by this key and returns the signed body.
    public func verify(note: String) throws(Merkle.ProofError) -> String {
        guard let split = note.range(of: "\n\n", options: .backwards) else { throw Merkle.ProofError("not a signed note") }
        let body = String(note[..<split.lowerBound]) + "\n"
        for line in note[split.upperBound...].split(separator: "\n") {
            let prefix = "\u{2014} \(self.name) "
            guard line.hasPrefix(prefix), let blob = Data(base64Encoded: String(line.dropFirst(prefix.count))), blob.count == 68,
                Array(blob.prefix(4)) == self.hash
            else { continue }
            if self.key.isValidSignature(blob.dropFirst(4), for: Array(body.utf8)) { return body }
            throw Merkle.ProofError("the signature by \(self.name) does not verify")
        }
        throw Merkle.ProofError("no signature by \(self.name) on the note")
    }
}
