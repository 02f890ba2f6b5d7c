public import Crypto
import Foundation

/// Where the console listens: a host and a port, loopback unless the analyst says otherwise.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (an IPv6 host in brackets: `[::1]:8080`).
    public init(parsing text: String) throws(ConsoleError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConsoleError("--listen: expected host:port, got \(text)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ConsoleError("--listen: expected host:port, got \(text)") }
        self.init(host: host, port: port)
    }

    /// True for an address only this machine reaches: 127.0.0.0/8, ::1 and `localhost`.
    public var isLoopback: Bool {
        if self.host == "localhost" || self.host == "::1" { return true }
        let parts = self.host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }

    /// Refuses an address other machines may reach unless `allowRemote` (the `--allow-remote` flag).
    public func checked(allowRemote: Bool) throws(ConsoleError) -> ListenAddress {
        guard self.isLoopback || allowRemote else {
            throw ConsoleError(
                "--listen: \(self.host) is not a loopback address; the console shows the access log to whoever reaches it. "
                    + "Pass --allow-remote to listen there anyway (the session token still guards it)."
            )
        }
        return self
    }

    public var description: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
}

/// What went wrong starting or running the console, in words for the analyst.
public struct ConsoleError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// The random secret in the URL the console prints; every request must carry it (in the URL once, then in a cookie).
public struct SessionToken: Sendable {
    /// 32 random bytes as 64 hex digits.
    public let value: String

    public init() {
        self.value = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }.map { String(format: "%02x", $0) }.joined()
    }

    public init(value: String) { self.value = value }

    /// Compares in constant time (no early exit on the first differing byte).
    public func matches(_ presented: some StringProtocol) -> Bool {
        let a = Array(self.value.utf8)
        let b = Array(presented.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The value forms carry against cross-site requests: an HMAC of the token, so the token itself is not in pages.
    public var formKey: String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("bureau-console-form".utf8), using: SymmetricKey(data: Array(self.value.utf8)))
        return Array(mac).map { String(format: "%02x", $0) }.joined()
    }
}

/// The languages of the console.
public enum Language: String, Sendable, CaseIterable {
    case en, zh

    /// The best language for an `Accept-Language` header: the first of zh and en by quality, English otherwise.
    public static func preferred(acceptLanguage header: String?) -> Language {
        guard let header else { return .en }
        var best: (Language, Double)?
        for part in header.split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let tag = fields.first?.lowercased() else { continue }
            var quality = 1.0
            for field in fields.dropFirst() where field.hasPrefix("q=") { quality = Double(field.dropFirst(2)) ?? 0 }
            let primary = tag.split(separator: "-").first.map(String.init) ?? tag
            guard let language = Language(rawValue: primary), quality > 0 else { continue }
            if best == nil || quality > best!.1 { best = (language, quality) }
        }
        return best?.0 ?? .en
    }
}
