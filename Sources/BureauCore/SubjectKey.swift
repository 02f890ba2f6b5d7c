public import Crypto

/// The keyed hash under which a subject's file is stored and logged: HMAC-SHA256, with the
/// installation's secret, of the kind and the normalised identifier. Without the secret the key
/// reveals nothing about the identifier; with it, the same identifier always maps to the same key.
public struct SubjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// 32 bytes.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a subject key is 32 bytes")
        self.bytes = bytes
    }

    /// Derives the key of `identifier` with the installation's `secret`.
    public init(_ identifier: SubjectIdentifier, secret: SymmetricKey) {
        self.bytes = Array(HMAC<SHA256>.authenticationCode(for: Self.message(identifier), using: secret))
    }

    /// What the secret keys the hash of: the identifier's kind, 0x1F, the identifier.
    public static func message(_ identifier: SubjectIdentifier) -> [UInt8] {
        var message = Array(identifier.kind.rawValue.utf8)
        message.reserveCapacity(message.count + 1 + identifier.value.utf8.count)
        message.append(0x1F)
        message.append(contentsOf: identifier.value.utf8)
        return message
    }

    /// Lowercase hex, as written in log entries.
    public var hex: String { self.bytes.hexString }

    /// Parses 64 hex characters.
    public init?(hex: String) {
        guard let bytes = [UInt8](hex: hex), bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    public var description: String { self.hex }

    public static func < (lhs: SubjectKey, rhs: SubjectKey) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }
}

extension SubjectKey: Codable {
    /// Decodes the key from its ``hex``, as log entries and stored values hold it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let key = SubjectKey(hex: try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a subject key is 64 hex characters")
        }
        self = key
    }

    /// Encodes the key as its lowercase ``hex``.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.hex)
    }
}

extension Sequence<UInt8> {
    /// Lowercase hex.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(2 * self.underestimatedCount)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension [UInt8] {
    /// Bytes from hex (either case); nil when not hex.
    public init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self = out
    }
}
