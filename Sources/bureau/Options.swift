import ArgumentParser
import BureauServer
import GRPCCore
import GRPCNIOTransportHTTP2

/// The data folder of a local installation.
struct DataOptions: ParsableArguments {
    @Option(help: "Data folder of the installation.") var data = "data"
}

/// How to reach bureaud as an institution.
struct ClientOptions: ParsableArguments {
    @Option(help: "bureaud's address, host:port.") var server = "127.0.0.1:50051"
    @Option(help: "The institution's client certificate (PEM).") var cert = "certs/bank.pem"
    @Option(help: "The institution's private key (PEM).") var key = "certs/bank.key"
    @Option(help: "The bureau's CA certificate (PEM).") var ca = "certs/ca.pem"
    @Option(help: "Name the server certificate must carry.") var authority = "localhost"
    @Option(help: "Seconds to wait for an answer.") var timeout = 10

    func validate() throws {
        guard let colon = server.lastIndex(of: ":"), Int(server[server.index(after: colon)...]) != nil else {
            throw ValidationError("--server: expected host:port, got \(server)")
        }
    }

    /// Runs `body` with a connected client.
    func withClient<T: Sendable>(_ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
        let colon = server.lastIndex(of: ":")!
        let transport = try BureauClientTransport.make(
            host: String(server[..<colon]),
            port: Int(server[server.index(after: colon)...])!,
            certificateChain: [.file(path: cert, format: .pem)],
            privateKey: .file(path: key, format: .pem),
            ca: [.file(path: ca, format: .pem)],
            authority: authority
        )
        return try await withGRPCClient(transport: transport) { client in try await body(client) }
    }

    var callOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(timeout)
        return options
    }
}
