package import Crypto

/// HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once, for the keyed hashes computed
/// millions of times in a bulk import (scope ids, record tokens, data key derivations): a code costs the
/// hash of the message and one block more, where `HMAC<SHA256>` hashes the outer padded key again every
/// time, and its non-generic updates skip the generic `DataProtocol` walk that `HMAC.update(data:)` does
/// unspecialised in another module (a tenth of the import's parsing thread). Same codes as `HMAC<SHA256>`
/// (tested against it and RFC 4231).
///
/// ```swift
/// let scopes = KeyedHash(key: secret).labelled(Array("bureau.scope.v1".utf8) + [0])
/// let code = scopes.code(of: scopeBytes)   // HMAC(secret, "bureau.scope.v1" || 00 || scopeBytes)
/// ```
package struct KeyedHash: Sendable {
    /// SHA-256 having absorbed key XOR ipad (and any label since).
    private let inner: SHA256
    /// SHA-256 having absorbed key XOR opad.
    private let outer: SHA256

    /// The keyed hash of `key` (a key longer than a block is hashed first, as RFC 2104 says).
    package init(key: SymmetricKey) {
        var block = [UInt8](repeating: 0, count: SHA256.blockByteCount)
        key.withUnsafeBytes { raw in
            if raw.count > block.count {
                SHA256.hash(data: raw).withUnsafeBytes { digest in block.replaceSubrange(0..<digest.count, with: digest) }
            } else {
                block.replaceSubrange(0..<raw.count, with: raw)
            }
        }
        var inner = SHA256()
        var outer = SHA256()
        var padded = block.map { $0 ^ 0x36 }
        padded.withUnsafeBytes { inner.update(bufferPointer: $0) }
        for i in padded.indices { padded[i] = block[i] ^ 0x5C }
        padded.withUnsafeBytes { outer.update(bufferPointer: $0) }
        padded.zeroize()
        block.zeroize()
        self.inner = inner
        self.outer = outer
    }

    private init(inner: SHA256, outer: SHA256) {
        self.inner = inner
        self.outer = outer
    }

    /// The same keyed hash with `prefix` fed ahead of every message.
    package func labelled(_ prefix: [UInt8]) -> KeyedHash {
        var inner = self.inner
        prefix.withUnsafeBytes { inner.update(bufferPointer: $0) }
        return KeyedHash(inner: inner, outer: self.outer)
    }

    /// HMAC-SHA256 of `message` (after the label, if any).
    package func code(of message: UnsafeRawBufferPointer) -> SHA256.Digest {
        var inner = self.inner
        inner.update(bufferPointer: message)
        var outer = self.outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }

    /// HMAC-SHA256 of `message`.
    package func code(of message: [UInt8]) -> SHA256.Digest {
        message.withUnsafeBytes { self.code(of: $0) }
    }
}
