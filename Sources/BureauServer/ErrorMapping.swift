public import BureauCore
import Foundation
public import GRPCCore
public import Logging

/// The one place where domain errors become gRPC statuses.
extension BureauError: RPCErrorConvertible {
    public var rpcErrorCode: RPCError.Code {
        switch self.code {
        case .invalidArgument: .invalidArgument
        case .permissionDenied: .permissionDenied
        case .unauthenticated: .unauthenticated
        case .notFound: .notFound
        case .failedPrecondition: .failedPrecondition
        case .resourceExhausted: .resourceExhausted
        case .alreadyExists: .alreadyExists
        case .unavailable: .unavailable
        default: .internalError
        }
    }

    public var rpcErrorMessage: String { self.message }
}

/// A domain error together with the receipt of the log entry that recorded the refusal.
///
/// The receipt travels in the status's metadata (`bureau-receipt-index`, `bureau-receipt-leaf-hash-bin`)
/// so that a refused caller, too, can prove what the bureau logged.
struct LoggedRefusal: Error, RPCErrorConvertible {
    var error: BureauError
    var receipt: LogReceipt

    var rpcErrorCode: RPCError.Code { self.error.rpcErrorCode }
    var rpcErrorMessage: String { self.error.message }
    var rpcErrorMetadata: Metadata {
        var metadata = Metadata()
        metadata.addString(String(self.receipt.index), forKey: "bureau-receipt-index")
        metadata.addBinary(self.receipt.leafHash, forKey: "bureau-receipt-leaf-hash-bin")
        return metadata
    }
    var rpcErrorCause: (any Error)? { self.error }
}

extension BureauError {
    /// The error `body` throws, or nil.
    static func of(_ body: () throws(BureauError) -> Void) -> BureauError? {
        do {
            try body()
            return nil
        } catch {
            return error
        }
    }
}

/// The last line of the one place errors become statuses: whatever a handler throws that is neither an
/// `RPCError` nor ``BureauError`` (a codec, JSON or crypto error, a bug) reaches the client as INTERNAL with
/// an error id, never as UNKNOWN, and the same id goes into bureaud's log with what happened, so that an
/// operator can find it from the id a caller quotes.
///
/// It wraps the handler's call and, for streaming responses, the producer that runs after interceptors
/// return. bureaud puts it right after the metrics interceptor, so that metrics count the status the
/// client sees.
public struct UnexpectedErrorInterceptor: ServerInterceptor {
    private let logger: Logger

    /// - Parameter logger: where each unexpected error is logged with its id.
    public init(logger: Logger) {
        self.logger = logger
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.fullyQualifiedMethod
        let status = StatusOfError(logger: self.logger, method: method)
        let response: StreamingServerResponse<Output>
        do {
            response = try await next(request, context)
        } catch {
            throw status.mapped(error)
        }
        return response.mappingProducerErrors { status.mapped($0) }
    }
}

extension StreamingServerResponse {
    /// This response with `transform` applied to any error its producer throws: a streaming handler's body
    /// runs in the producer, after the interceptors have returned, so an interceptor that maps or logs
    /// errors wraps it too.
    func mappingProducerErrors(_ transform: @escaping @Sendable (any Error) async -> any Error) -> Self {
        guard case .success(var contents) = self.accepted else { return self }
        let producer = contents.producer
        contents.producer = { writer in
            do {
                return try await producer(writer)
            } catch {
                throw await transform(error)
            }
        }
        var response = self
        response.accepted = .success(contents)
        return response
    }
}

/// Maps one error for ``UnexpectedErrorInterceptor``, and logs unexpected ones under an error id.
struct StatusOfError: Sendable {
    let logger: Logger
    let method: String

    /// `error` itself when it already decides its status; INTERNAL with a logged error id otherwise.
    func mapped(_ error: any Error) -> any Error {
        switch error {
        case is RPCError, is any RPCErrorConvertible:
            return error
        case is CancellationError:
            return RPCError(code: .cancelled, message: "the call was cancelled")
        default:
            let id = self.log(error)
            return RPCError(code: .internalError, message: "internal error \(id): the bureau logged it; quote this id to the bureau")
        }
    }

    /// Logs `error` under a new error id (digit runs redacted) and returns the id.
    func log(_ error: any Error, _ message: Logger.Message = "unexpected error") -> String {
        let id = Self.newErrorID()
        self.logger.error(
            message,
            metadata: [
                "error-id": "\(id)", "method": "\(self.method)", "type": "\(type(of: error))",
                "error": "\(Self.redactingDigitRuns(String(describing: error)))",
            ]
        )
        return id
    }

    /// `text` with every run of 15 or more digits (an identity number could hide in one) replaced by
    /// `[digits]`: an error's description may quote stored bytes, and bureaud's log must not.
    static func redactingDigitRuns(_ text: String) -> String {
        var result = ""
        var run = ""
        func flush() {
            result += run.count >= 15 ? "[digits]" : run
            run = ""
        }
        for character in text {
            if character.isNumber || character == "X" || character == "x" {
                run.append(character)
            } else {
                flush()
                result.append(character)
            }
        }
        flush()
        return result
    }

    /// 12 random hex digits: enough to find one line in a day's log.
    static func newErrorID() -> String {
        (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
