import BureauKeys
import Crypto
import Foundation
import Testing

@Suite("Keyed hash (HMAC-SHA256 with its key blocks hashed once)")
struct KeyedHashTests {
    @Test("RFC 4231 test cases 1, 2 and 6 (a key longer than a block)")
    func rfc4231() {
        let cases: [(key: [UInt8], data: [UInt8], code: String)] = [
            ([UInt8](repeating: 0x0B, count: 20), Array("Hi There".utf8), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            (
                [UInt8](repeating: 0xAA, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
            ),
        ]
        for c in cases {
            let code = KeyedHash(key: SymmetricKey(data: c.key)).code(of: c.data)
            #expect(code.map { String(format: "%02x", $0) }.joined() == c.code)
        }
    }

    @Test("the same codes as swift-crypto's HMAC<SHA256> for keys of 1 to 100 bytes, messages of 0 to 200 bytes, with and without a label")
    func sameAsHMAC() {
        var generator = SystemRandomNumberGenerator()
        for keyLength in [1, 16, 32, 63, 64, 65, 100] {
            let key = SymmetricKey(data: (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) })
            let hash = KeyedHash(key: key)
            let label = Array("bureau.scope.v1".utf8) + [0]
            let labelled = hash.labelled(label)
            for length in [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 128, 200] {
                let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                #expect(Array(hash.code(of: message)) == Array(HMAC<SHA256>.authenticationCode(for: message, using: key)))
                #expect(Array(labelled.code(of: message)) == Array(HMAC<SHA256>.authenticationCode(for: label + message, using: key)))
            }
        }
    }
}
