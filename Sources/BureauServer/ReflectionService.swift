public import BureauAPI
import Foundation
public import GRPCCore
import SwiftProtobuf

/// What reflection knows: every file of bureaud's protos (with imports), and which file defines each symbol.
struct ReflectionIndex: Sendable {
    let files: [String: Google_Protobuf_FileDescriptorProto]
    let symbols: [String: String]
    let services: [String]

    static let shared = ReflectionIndex()

    private init() {
        let bytes = Data(base64Encoded: BureauDescriptors.fileDescriptorSetBase64, options: .ignoreUnknownCharacters) ?? Data()
        let set = (try? Google_Protobuf_FileDescriptorSet(serializedBytes: bytes)) ?? Google_Protobuf_FileDescriptorSet()
        var files: [String: Google_Protobuf_FileDescriptorProto] = [:]
        var symbols: [String: String] = [:]
        var services: [String] = []
        for file in set.file {
            files[file.name] = file
            let prefix = file.package.isEmpty ? "" : file.package + "."
            func add(_ messages: [Google_Protobuf_DescriptorProto], _ scope: String) {
                for message in messages {
                    let name = scope + message.name
                    symbols[name] = file.name
                    for e in message.enumType { symbols[name + "." + e.name] = file.name }
                    add(message.nestedType, name + ".")
                }
            }
            add(file.messageType, prefix)
            for e in file.enumType { symbols[prefix + e.name] = file.name }
            for service in file.service {
                let name = prefix + service.name
                symbols[name] = file.name
                for method in service.method { symbols[name + "." + method.name] = file.name }
                if !name.hasPrefix("google.") { services.append(name) }
            }
        }
        self.files = files
        self.symbols = symbols
        self.services = services.sorted()
    }

    enum Answer {
        case files([Data])
        case services([String])
        case error(RPCError.Code, String)
    }

    /// The file named `name` and every file it imports, serialized, the file first.
    func fileWithImports(_ name: String) -> [Data] {
        var out: [Data] = []
        var seen: Set<String> = []
        func visit(_ name: String) {
            guard !seen.contains(name), let file = self.files[name] else { return }
            seen.insert(name)
            out.append((try? file.serializedData()) ?? Data())
            for dependency in file.dependency { visit(dependency) }
        }
        visit(name)
        return out
    }

    func answer(fileByFilename name: String?, symbol: String?, listServices: Bool) -> Answer {
        if listServices { return .services(self.services) }
        if let name {
            guard self.files[name] != nil else { return .error(.notFound, "file \(name) is not known") }
            return .files(self.fileWithImports(name))
        }
        if let symbol {
            guard let file = self.symbols[symbol] else { return .error(.notFound, "symbol \(symbol) is not known") }
            return .files(self.fileWithImports(file))
        }
        return .error(.unimplemented, "bureaud defines no extensions")
    }
}

/// Server reflection (grpc.reflection.v1), so that generic gRPC tools can list and call the API.
public struct ReflectionService: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
    public init() {}

    public func serverReflectionInfo(
        request: RPCAsyncSequence<Grpc_Reflection_V1_ServerReflectionRequest, any Error>,
        response: RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse>,
        context: ServerContext
    ) async throws {
        for try await message in request {
            try await response.write(Self.reply(to: message))
        }
    }

    /// The answer to one reflection request.
    static func reply(to message: Grpc_Reflection_V1_ServerReflectionRequest) -> Grpc_Reflection_V1_ServerReflectionResponse {
        var reply = Grpc_Reflection_V1_ServerReflectionResponse()
        reply.validHost = message.host
        reply.originalRequest = message
        let answer: ReflectionIndex.Answer
        switch message.messageRequest {
        case .fileByFilename(let name): answer = ReflectionIndex.shared.answer(fileByFilename: name, symbol: nil, listServices: false)
        case .fileContainingSymbol(let symbol): answer = ReflectionIndex.shared.answer(fileByFilename: nil, symbol: symbol, listServices: false)
        case .listServices: answer = ReflectionIndex.shared.answer(fileByFilename: nil, symbol: nil, listServices: true)
        default: answer = ReflectionIndex.shared.answer(fileByFilename: nil, symbol: nil, listServices: false)
        }
        switch answer {
        case .files(let files): reply.fileDescriptorResponse.fileDescriptorProto = files
        case .services(let names):
            reply.listServicesResponse.service = names.map { name in
                var service = Grpc_Reflection_V1_ServiceResponse()
                service.name = name
                return service
            }
        case .error(let code, let text):
            reply.errorResponse.errorCode = Int32(code.rawValue)
            reply.errorResponse.errorMessage = text
        }
        return reply
    }
}

/// Server reflection under its older name (grpc.reflection.v1alpha), for older tools. Its messages are
/// the v1 messages on the wire, so each request is answered by the v1 service.
public struct ReflectionServiceV1Alpha: Grpc_Reflection_V1alpha_ServerReflection.SimpleServiceProtocol {
    public init() {}

    public func serverReflectionInfo(
        request: RPCAsyncSequence<Grpc_Reflection_V1alpha_ServerReflectionRequest, any Error>,
        response: RPCWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
        context: ServerContext
    ) async throws {
        for try await message in request {
            let v1 = try Grpc_Reflection_V1_ServerReflectionRequest(serializedBytes: try message.serializedBytes() as [UInt8])
            let reply = ReflectionService.reply(to: v1)
            try await response.write(try Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: try reply.serializedBytes() as [UInt8]))
        }
    }
}
