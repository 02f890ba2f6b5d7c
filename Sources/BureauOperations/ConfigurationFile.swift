/// bureaud's configuration file: a small TOML subset (sections, `key = value` with strings, integers,
/// decimals and booleans, `#` comments), enough for `ops/bureau.example.toml`. Every key is known; an
/// unknown key or a bad value is an error naming the line, the key and the reason.
public struct ConfigurationFile: Sendable {
    /// `section.key` (or `key` at the top) to its value.
    public private(set) var values: [String: Value] = [:]
    private var lines: [String: Int] = [:]
    public let path: String

    public enum Value: Sendable, Equatable {
        case string(String)
        case integer(Int)
        case decimal(Double)
        case boolean(Bool)
    }

    /// A bad file: where and why.
    public struct Problem: Error, CustomStringConvertible {
        public var message: String
        public var description: String { self.message }
    }

    static let known: Set<String> = [
        "host", "port", "data", "map_size_mib", "log_origin", "metrics_port", "request_lines",
        "tls.certificate", "tls.key", "tls.ca",
        "retention.purge_interval_minutes",
        "log_audit.entries_per_second", "log_audit.pause_minutes",
        "anomalies.interval_minutes", "anomalies.spike_factor", "anomalies.spike_minimum", "anomalies.baseline_days",
        "anomalies.denial_ratio", "anomalies.denial_minimum", "anomalies.consent_subjects_maximum",
        "limits.handshake_timeout_seconds", "limits.idle_timeout_seconds", "limits.keepalive_interval_seconds",
        "limits.keepalive_timeout_seconds", "limits.max_connections", "limits.max_concurrent_streams",
        "limits.max_request_bytes", "limits.max_followers", "limits.stall_timeout_seconds",
        "keys.kek", "keys.file", "keys.store", "keys.pkcs11_module", "keys.pkcs11_token", "keys.pkcs11_key",
        "keys.pkcs11_pin_file", "keys.pkcs11_pin_env",
    ]

    /// Parses the text of the file at `path`.
    public init(path: String, text: String) throws {
        self.path = path
        var section = ""
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = n + 1
            let line = Self.stripComment(String(raw)).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else { throw Problem(message: "\(path):\(number): a section is [name]") }
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { throw Problem(message: "\(path):\(number): expected key = value") }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            let key = section.isEmpty ? name : "\(section).\(name)"
            guard Self.known.contains(key) else { throw Problem(message: "\(path):\(number): \(key): unknown key") }
            guard self.values[key] == nil else { throw Problem(message: "\(path):\(number): \(key): given twice") }
            let text = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            self.values[key] = try Self.value(text, at: "\(path):\(number): \(key)")
            self.lines[key] = number
        }
    }

    private static func stripComment(_ line: String) -> String {
        var inString = false
        for (i, c) in line.enumerated() {
            if c == "\"" { inString.toggle() }
            if c == "#" && !inString { return String(line.prefix(i)) }
        }
        return line
    }

    private static func value(_ text: String, at place: String) throws -> Value {
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else { throw Problem(message: "\(place): unterminated string") }
            return .string(String(text.dropFirst().dropLast()))
        }
        if text == "true" { return .boolean(true) }
        if text == "false" { return .boolean(false) }
        if let integer = Int(text.replacingOccurrences(of: "_", with: "")) { return .integer(integer) }
        if let decimal = Double(text) { return .decimal(decimal) }
        throw Problem(message: "\(place): \(text) is not a string, number or boolean")
    }

    func place(_ key: String) -> String { "\(self.path):\(self.lines[key] ?? 0): \(key)" }

    /// The string under `key`, if given.
    public func string(_ key: String) throws -> String? {
        guard let value = self.values[key] else { return nil }
        guard case .string(let s) = value, !s.isEmpty else { throw Problem(message: "\(self.place(key)): must be a non-empty string") }
        return s
    }

    /// How many disclosed reports get a line in bureaud's log, under `key` if given: `"off"`, `"every"` or a
    /// whole number N (one in N).
    public func requestLines(_ key: String) throws -> RequestLines? {
        guard let value = self.values[key] else { return nil }
        switch value {
        case .string(let text): if let lines = RequestLines(text) { return lines }
        case .integer(let n): if let lines = RequestLines(String(n)) { return lines }
        default: break
        }
        throw Problem(message: "\(self.place(key)): must be \"off\", \"every\" or a whole number N from 0 to 1000000000 (one in N)")
    }

    /// The integer under `key`, if given, checked to lie in `range`.
    public func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = self.values[key] else { return nil }
        guard case .integer(let i) = value, range.contains(i) else {
            throw Problem(message: "\(self.place(key)): must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return i
    }

    /// The number under `key`, if given, checked to lie in `range`.
    public func decimal(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = self.values[key] else { return nil }
        let number: Double
        switch value {
        case .decimal(let d): number = d
        case .integer(let i): number = Double(i)
        default: throw Problem(message: "\(self.place(key)): must be a number")
        }
        guard range.contains(number) else { throw Problem(message: "\(self.place(key)): must be from \(range.lowerBound) to \(range.upperBound)") }
        return number
    }

    /// The key-encryption key under `[keys]`: `kek = "file"` with `file`, or `kek = "pkcs11"` with
    /// `pkcs11_module`, `pkcs11_token`, `pkcs11_key` and the PIN from `pkcs11_pin_file` or the environment
    /// variable `pkcs11_pin_env`. Nil when the file has no `[keys]`: bureaud then takes `BUREAU_KEY_FILE`.
    public func keys() throws -> KeyConfiguration? {
        guard let kek = try self.string("keys.kek") else {
            if self.values.keys.contains(where: { $0.hasPrefix("keys.") && $0 != "keys.store" }) {
                throw Problem(message: "\(self.path): keys.kek: say \"file\" or \"pkcs11\"")
            }
            return nil
        }
        switch kek {
        case "file":
            guard let file = try self.string("keys.file") else { throw Problem(message: "\(self.path): keys.file: the KEK file's path is required with kek = \"file\"") }
            return .file(file)
        case "pkcs11":
            guard let token = try self.string("keys.pkcs11_token"), let key = try self.string("keys.pkcs11_key") else {
                throw Problem(message: "\(self.path): keys.pkcs11_token and keys.pkcs11_key are required with kek = \"pkcs11\"")
            }
            let pin: String
            if let pinFile = try self.string("keys.pkcs11_pin_file") {
                guard let text = try? String(contentsOfFile: pinFile, encoding: .utf8) else {
                    throw Problem(message: "\(self.place("keys.pkcs11_pin_file")): cannot read \(pinFile)")
                }
                pin = text.trimmingCharacters(in: .whitespacesAndNewlines)
            } else if let variable = try self.string("keys.pkcs11_pin_env") {
                guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
                    throw Problem(message: "\(self.place("keys.pkcs11_pin_env")): the environment variable \(variable) is not set")
                }
                pin = value
            } else {
                throw Problem(message: "\(self.path): keys.pkcs11_pin_file or keys.pkcs11_pin_env is required with kek = \"pkcs11\"")
            }
            return .pkcs11(
                PKCS11Configuration(
                    modulePath: try self.string("keys.pkcs11_module") ?? PKCS11Configuration.softHSM2ModulePath, tokenLabel: token, pin: pin,
                    keyLabel: key
                )
            )
        default:
            throw Problem(message: "\(self.place("keys.kek")): must be \"file\" or \"pkcs11\"")
        }
    }

    /// The limits under `[limits]`, each over its default; times are seconds, decimals allowed.
    public func limits() throws -> ServerLimits {
        var limits = ServerLimits.defaults
        func seconds(_ key: String, in range: ClosedRange<Double>) throws -> Duration? {
            try self.decimal("limits.\(key)", in: range).map { .milliseconds(Int(($0 * 1000).rounded())) }
        }
        if let v = try seconds("handshake_timeout_seconds", in: 0.1...300) { limits.handshakeTimeout = v }
        if let v = try seconds("idle_timeout_seconds", in: 0.1...86_400) { limits.idleTimeout = v }
        if let v = try seconds("keepalive_interval_seconds", in: 1...86_400) { limits.keepaliveInterval = v }
        if let v = try seconds("keepalive_timeout_seconds", in: 1...3600) { limits.keepaliveTimeout = v }
        if let v = try seconds("stall_timeout_seconds", in: 0.1...3600) { limits.stallTimeout = v }
        if let v = try self.integer("limits.max_connections", in: 1...1_000_000) { limits.maxConnections = v }
        if let v = try self.integer("limits.max_concurrent_streams", in: 1...10_000) { limits.maxConcurrentStreams = v }
        if let v = try self.integer("limits.max_request_bytes", in: 1024...(64 << 20)) { limits.maxRequestBytes = v }
        if let v = try self.integer("limits.max_followers", in: 1...10_000) { limits.maxFollowers = v }
        return limits
    }
}

import Foundation
public import BureauServer
public import BureauStore
public import BureauKeys
