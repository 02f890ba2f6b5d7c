public import BureauCore
import Foundation
import NIOCore
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL store is and how to reach it: a libpq-style connection URL,
/// `postgresql://user[:password]@host[:port]/database[?parameters]`.
///
/// Parameters, as libpq names them: `sslmode` (`verify-full`, the default: TLS with the server's certificate
/// checked against `sslrootcert` and its name against the host; `verify-ca`: the certificate but not the name;
/// `disable`: no TLS, for a loopback or a private link only), `sslrootcert` (the CA file, PEM; else the system's
/// roots), `sslcert` and `sslkey` (a client certificate and its key, PEM), `connect_timeout` (seconds, default 5),
/// and Bureau's own `pool` (connections for reads, default 4) and `query_timeout` (seconds a statement may take
/// before its connection is given up, default 30). Modes that encrypt without checking the server
/// (`allow`, `prefer`, `require`) are refused: a bureau's data does not go to a server it has not verified.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    /// How the connection is protected.
    public enum TLSMode: String, Sendable, Hashable {
        case disable
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var rootCertificate: String?
    public var clientCertificate: String?
    public var clientKey: String?
    public var connectTimeoutSeconds: Int
    public var queryTimeoutSeconds: Int
    public var readConnections: Int
    /// Every server of the URL's host list in order (`host1:5432,host2:5433`), the first being `host`:`port`;
    /// bureaud uses the one that is primary (PrimaryConnector.swift).
    public var servers: [Server]

    /// Whether `text` names a PostgreSQL store (rather than an LMDB data folder).
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgresql://") || text.hasPrefix("postgres://")
    }

    /// Parses a connection URL.
    /// - Throws: ``BureauError`` (invalid argument) naming `field` and what is wrong; the password is never echoed.
    public init(url text: String, field: String = "store") throws {
        guard Self.isURL(text) else {
            throw BureauError.invalid(field, "is a postgresql:// URL (postgresql://user@host:port/database?sslmode=verify-full)")
        }
        let list = try Self.separatingServers(text, field: field)
        guard let components = URLComponents(string: list?.url ?? text), let host = components.host, !host.isEmpty else {
            throw BureauError.invalid(field, "is not a well-formed postgresql:// URL (postgresql://user@host:port/database)")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw BureauError.invalid(field, "has port \(port); a port is 1 to 65535")
        }
        guard let user = components.user, !user.isEmpty else {
            throw BureauError.invalid(field, "names no user (postgresql://user@host/database)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw BureauError.invalid(field, "names no database (postgresql://user@host/database)")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        self.user = user
        self.password = components.password
        self.database = database
        self.tls = .verifyFull
        self.connectTimeoutSeconds = 5
        self.queryTimeoutSeconds = 30
        self.readConnections = 4
        self.servers = list?.servers ?? [Server(host: self.host, port: self.port)]
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                if ["allow", "prefer", "require"].contains(value) {
                    throw BureauError.invalid(
                        field, "has sslmode=\(value), which does not verify the server; use verify-full (or disable on a loopback)"
                    )
                }
                guard let mode = TLSMode(rawValue: value) else {
                    throw BureauError.invalid(field, "has sslmode=\(value); it is verify-full, verify-ca or disable")
                }
                self.tls = mode
            case "sslrootcert": self.rootCertificate = value
            case "sslcert": self.clientCertificate = value
            case "sslkey": self.clientKey = value
            case "connect_timeout":
                guard let seconds = Int(value), (1...600).contains(seconds) else {
                    throw BureauError.invalid(field, "has connect_timeout=\(value); it is 1 to 600 seconds")
                }
                self.connectTimeoutSeconds = seconds
            case "query_timeout":
                guard let seconds = Int(value), (1...3600).contains(seconds) else {
                    throw BureauError.invalid(field, "has query_timeout=\(value); it is 1 to 3600 seconds")
                }
                self.queryTimeoutSeconds = seconds
            case "pool":
                guard let count = Int(value), (1...64).contains(count) else {
                    throw BureauError.invalid(field, "has pool=\(value); it is 1 to 64 connections")
                }
                self.readConnections = count
            case "application_name": break
            default:
                throw BureauError.invalid(field, "has the parameter \(item.name), which Bureau does not know")
            }
        }
        if (self.clientCertificate == nil) != (self.clientKey == nil) {
            throw BureauError.invalid(field, "names sslcert without sslkey or the reverse; a client certificate needs both")
        }
        if self.tls == .disable && (self.rootCertificate != nil || self.clientCertificate != nil) {
            throw BureauError.invalid(field, "has sslmode=disable with certificates; drop them or use verify-full")
        }
    }

    /// The URL without its password, for messages and logs.
    public var description: String {
        "postgresql://\(self.user)@\(self.servers.map(\.description).joined(separator: ","))/\(self.database)?sslmode=\(self.tls.rawValue)"
    }

    /// The URL libpq's tools (pg_dump) take, without the password (given to them in PGPASSWORD).
    var libpqURL: String {
        var query = ["sslmode=\(self.tls.rawValue)"]
        if let root = self.rootCertificate { query.append("sslrootcert=\(root)") }
        if let cert = self.clientCertificate, let key = self.clientKey { query += ["sslcert=\(cert)", "sslkey=\(key)"] }
        var user = URLComponents()
        user.user = self.user
        // libpq takes the same host list, and with read-write picks the primary as bureaud does.
        if self.servers.count > 1 { query.append("target_session_attrs=read-write") }
        return "postgresql://\(user.percentEncodedUser ?? self.user)@\(self.servers.map(\.description).joined(separator: ","))/\(self.database)?"
            + query.joined(separator: "&")
    }

    /// postgres-nio's configuration, with the TLS context built from the certificate files.
    /// - Throws: ``PostgresStoreError`` naming a certificate file that cannot be read.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch self.tls {
        case .disable:
            tls = .disable
        case .verifyCA, .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = self.tls == .verifyFull ? .fullVerification : .noHostnameVerification
            do {
                if let root = self.rootCertificate {
                    configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(root))
                }
                if let cert = self.clientCertificate, let key = self.clientKey {
                    configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                    configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
                tls = .require(try NIOSSLContext(configuration: configuration))
            } catch {
                throw PostgresStoreError(
                    "cannot read the TLS files of \(self) (sslrootcert, sslcert, sslkey): \(error)", kind: .configuration
                )
            }
        }
        var configuration = PostgresConnection.Configuration(
            host: self.host, port: self.port, username: self.user, password: self.password, database: self.database, tls: tls
        )
        configuration.options.connectTimeout = .seconds(Int64(self.connectTimeoutSeconds))
        configuration.options.additionalStartupParameters = [("application_name", "bureaud")]
        return configuration
    }
}
