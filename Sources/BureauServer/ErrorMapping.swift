public import BureauCore
public import GRPCCore

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
