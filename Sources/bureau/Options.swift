import ArgumentParser
import BureauAPI
import BureauClient
import BureauServer
import BureauStore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// The data folder of a local installation.
struct DataOptions: ParsableArguments {
    @Option(help: "Data folder of the installation.") var data = "data"
    @Option(help: "A PostgreSQL store instead of the LMDB one in --data: postgresql://user@host:port/database?sslmode=verify-full&sslrootcert=ca.pem")
    var store: String?

    /// The installation's store: LMDB in the data folder, or the PostgreSQL store of `--store` (the keys stay
    /// in the data folder); `bulkLoad` for an import (``Store/Configuration/bulkLoad``).
    func open(bulkLoad: Bool = false) throws -> Store {
        try StoreLocationOption(store: self.store).open(folder: self.data, bulkLoad: bulkLoad)
    }
}

/// Whose certificate a command presents when none is given on its command line: `certs/NAME.pem`.
protocol DefaultIdentity: Sendable {
    /// The file name, without extension, of the certificate and key in `certs/`.
    static var certificateName: String { get }
}

/// A lender's or other agency's commands (reports): the demo bank.
enum AgencyIdentity: DefaultIdentity { static var certificateName: String { "bank" } }
/// The regulator's commands (the log).
enum RegulatorIdentity: DefaultIdentity { static var certificateName: String { "regulator" } }
/// The bureau's counter, where subjects exercise their rights.
enum ChannelIdentity: DefaultIdentity { static var certificateName: String { "channel" } }

/// How to reach bureaud as an institution: the certificate given with `--cert` is always the one presented;
/// without it, the command's own default (shown in `--help`).
struct ClientOptions<Identity: DefaultIdentity>: ParsableArguments {
    @Option(help: "bureaud's address, host:port.") var server = "127.0.0.1:50051"
    @Option(help: "The client certificate to present (PEM).") var cert = "certs/\(Identity.certificateName).pem"
    @Option(help: "The certificate's private key (PEM). (default: --cert's path, .key for .pem)")
    var key: String?
    @Option(help: "The bureau's CA certificate (PEM).") var ca = "certs/ca.pem"
    @Option(help: "Name the server certificate must carry.") var authority = "localhost"
    @Option(help: "Seconds to wait for an answer.") var timeout = 10

    mutating func validate() throws {
        guard let colon = server.lastIndex(of: ":"), Int(server[server.index(after: colon)...]) != nil else {
            throw ValidationError("--server: expected host:port, got \(server)")
        }
        if key == nil {
            // The key beside the certificate, never another identity's.
            guard cert.hasSuffix(".pem") else { throw ValidationError("--key: give the private key of \(cert)") }
            key = String(cert.dropLast(4)) + ".key"
        }
    }

    /// Runs `body` with a connected client.
    func withClient<T: Sendable>(_ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
        let colon = server.lastIndex(of: ":")!
        let transport = try BureauClientTransport.make(
            host: String(server[..<colon]),
            port: Int(server[server.index(after: colon)...])!,
            certificateChain: [.file(path: cert, format: .pem)],
            privateKey: .file(path: key ?? String(cert.dropLast(4)) + ".key", format: .pem),
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

/// Opens `path` for writing, standard output for `-`: a new or truncated file of mode 0600, since what the
/// CLI writes (log exports, synthetic files) is data.
func openOutput(_ path: String) throws -> FileHandle {
    if path == "-" { return FileHandle.standardOutput }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
    // An existing file keeps its mode on open; make it owner-only too.
    fchmod(fd, 0o600)
    return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
}

/// The bureau's operators' commands (administration): the operations desk.
enum OperatorIdentity: DefaultIdentity { static var certificateName: String { "operator" } }

/// How an operator reaches bureaud's AdministrationService: an operator institution's certificate and the
/// id of the member of staff, which bureaud requires of an operator and logs with every change.
struct OperatorOptions: ParsableArguments {
    @OptionGroup var client: ClientOptions<OperatorIdentity>
    @Option(help: "Your operator id (the member of staff, 1 to 64 bytes): sent as bureau-operator-id, logged with each change.")
    var operatorID: String
    @Option(help: "Your own request id for the change (default: a new UUID).") var requestID = UUID().uuidString

    /// The metadata every operator call carries.
    var metadata: Metadata { [OperatorMetadata.key: "\(self.operatorID)"] }

    /// Runs `body` with a connected AdministrationService client.
    func withAdministration<T: Sendable>(
        _ body: (Bureau_AdministrationService.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        try await self.client.withClient { client in try await body(Bureau_AdministrationService.Client(wrapping: client)) }
    }
}
