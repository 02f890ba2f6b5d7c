/// An error of the bureau's domain: a code that decides the gRPC status, and a message for the caller.
///
/// Messages name the field and the rule ("identifier: check character is 3, expected X") and never
/// contain a national identifier in clear.
public struct BureauError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct wrapping a private enum so that codes can be added later.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidArgument = "invalid argument"
            case permissionDenied = "permission denied"
            case unauthenticated
            case notFound = "not found"
            case failedPrecondition = "failed precondition"
            case resourceExhausted = "resource exhausted"
            case alreadyExists = "already exists"
            case unavailable
            case `internal`
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The request breaks a rule of the contract: the message names the field and the rule.
        public static let invalidArgument = Code(.invalidArgument)
        /// The caller lacks a licence, role or consent for what it asked.
        public static let permissionDenied = Code(.permissionDenied)
        /// The caller is not a registered institution.
        public static let unauthenticated = Code(.unauthenticated)
        /// No file or thing under that key.
        public static let notFound = Code(.notFound)
        /// The file's state forbids the request (a freeze, for example).
        public static let failedPrecondition = Code(.failedPrecondition)
        /// A quota or the storage map is exhausted.
        public static let resourceExhausted = Code(.resourceExhausted)
        /// The thing to create exists already.
        public static let alreadyExists = Code(.alreadyExists)
        /// The bureau cannot serve now (storage failing, shutting down); the request may be retried.
        public static let unavailable = Code(.unavailable)
        /// A bug or an invariant broken on the server.
        public static let `internal` = Code(.internal)

        public var description: String { self.wrapped.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// An invalid field: `field: rule`.
    public static func invalid(_ field: String, _ rule: String) -> BureauError {
        BureauError(.invalidArgument, "\(field): \(rule)")
    }

    public var description: String { "\(self.code): \(self.message)" }
}
