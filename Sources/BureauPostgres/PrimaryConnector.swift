public import BureauCore
import Foundation
import Logging
import NIOCore
import PostgresNIO

extension PostgresLocation {
    /// One server of a location's list: `host:port`.
    public struct Server: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
    }

    /// Takes a libpq host list out of a URL, `postgresql://user@host1:5432,host2:5433/database`: the URL with the
    /// first server alone (for the single-host parser) and every server in order; nil when the URL names one host.
    /// A server without a port takes 5432, as libpq's do.
    /// - Throws: ``BureauError`` (invalid argument) naming `field` when a server of the list is empty or its port
    ///   is not 1 to 65535.
    static func separatingServers(_ text: String, field: String) throws -> (url: String, servers: [Server])? {
        guard let scheme = text.range(of: "://") else { return nil }
        let rest = text[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let hostsStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let list = authority[hostsStart...]
        guard list.contains(",") else { return nil }
        var servers: [Server] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            let host: Substring
            var portText: Substring?
            if item.hasPrefix("[") {
                guard let close = item.firstIndex(of: "]") else { throw BureauError.invalid(field, "has a host list with an unclosed [ in \(item)") }
                host = item[item.index(after: item.startIndex)..<close]
                let after = item[item.index(after: close)...]
                if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                    throw BureauError.invalid(field, "has a host list entry \(item) that is not [address]:port")
                }
            } else if let colon = item.lastIndex(of: ":") {
                host = item[..<colon]
                portText = item[item.index(after: colon)...]
            } else {
                host = item
            }
            guard !host.isEmpty else { throw BureauError.invalid(field, "has an empty host in its host list (host1:port1,host2:port2)") }
            var port = 5432
            if let portText {
                guard let value = Int(portText), (1...65535).contains(value) else {
                    throw BureauError.invalid(field, "has port \(portText) in its host list; a port is 1 to 65535")
                }
                port = value
            }
            servers.append(Server(host: String(host), port: port))
        }
        let first = servers[0]
        let url = String(text[..<list.startIndex]) + first.description + String(text[authorityEnd...])
        return (url, servers)
    }

    /// This location with `server` as its only server.
    func only(_ server: Server) -> PostgresLocation {
        var location = self
        location.host = server.host
        location.port = server.port
        location.servers = [server]
        return location
    }
}

/// Connects to the primary among a location's servers, as libpq's `target_session_attrs=read-write` does: each
/// server in turn, and the first that answers `pg_is_in_recovery()` with false. A standby is never written to
/// (and never read from: a standby's snapshot may lag, and a revocation must hold at once).
///
/// No server is remembered: each new connection asks again, so when the primary goes away a node finds the new
/// one as soon as the cluster manager (Patroni, or the failover test) has promoted it.
enum PrimaryConnector {
    /// A session on the primary.
    /// - Throws: ``PostgresStoreError`` (connection) naming each server and why it was passed over (unreachable,
    ///   a standby), or the login's refusal as the server gave it.
    static func connect(
        to location: PostgresLocation, configuration: PostgresConnection.Configuration, on group: any EventLoopGroup, id: Int,
        logger: Logger
    ) throws -> Session {
        var passedOver: [String] = []
        for server in location.servers {
            let single = location.only(server)
            let connection: PostgresConnection
            do {
                let serverConfiguration = location.servers.count == 1 ? configuration : try single.connectionConfiguration()
                connection = try PostgresConnection.connect(on: group.next(), configuration: serverConfiguration, id: id, logger: logger).wait()
            } catch {
                let failure = PostgresStoreError(error, at: single, connecting: true)
                // A refused login or a bad certificate file is the operator's to fix, not a reason to try the next.
                if location.servers.count == 1 || failure.kind == .login || failure.kind == .configuration { throw failure }
                passedOver.append("\(server): \(failure.message)")
                continue
            }
            let session = Session(connection, timeout: .seconds(Int64(location.queryTimeoutSeconds)))
            do {
                let inRecovery = try session.run("SELECT pg_is_in_recovery()").first?.decode(Bool.self) ?? true
                if !inRecovery { return session }
                if location.servers.count == 1 {
                    try? connection.close().wait()
                    throw PostgresStoreError(
                        "the database at \(location) is read-only (a standby, in recovery); bureaud writes to a primary", kind: .readOnly
                    )
                }
                passedOver.append("\(server): a standby (in recovery)")
            } catch let error as PostgresStoreError where error.kind == .readOnly {
                throw error
            } catch {
                passedOver.append("\(server): \(PostgresStoreError(error, at: single).message)")
            }
            try? connection.close().wait()
        }
        throw PostgresStoreError(
            "no primary among the PostgreSQL servers of \(location) (\(passedOver.joined(separator: "; "))); a standby is never written to",
            kind: .connection
        )
    }
}

extension PostgresStoreError {
    /// Whether the connection that saw this error is no use any more: its server went away, or it now refuses
    /// writes (a primary demoted to standby). The pool closes it, and the next call connects to whichever
    /// server is primary then.
    var isStale: Bool { self.kind == .connection || self.kind == .readOnly }
}
