/// Why a key or a sealed value could not be made, loaded or opened.
///
/// Messages name what is wrong (the file, the key ids expected and given, the field) and never carry key
/// material, a PIN or the sealed plaintext.
public struct KeyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct wrapping a private enum so that codes can be added later.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case malformedCiphertext = "malformed ciphertext"
            case wrongDataKey = "wrong data key"
            case authenticationFailed = "authentication failed"
            case malformedWrappedKey = "malformed wrapped key"
            case wrongKeyKind = "wrong key kind"
            case wrongKeyEncryptionKey = "wrong key-encryption key"
            case wrongMasterKey = "wrong master data key"
            case keyFileMissing = "key file missing"
            case keyFilePermissions = "key file permissions"
            case keyFileTruncated = "key file truncated"
            case keyFileMalformed = "key file malformed"
            case keyFileExists = "key file exists"
            case keyFileIO = "key file I/O"
            case keyFileLocation = "key file location"
            case tokenModule = "PKCS#11 module"
            case tokenNotFound = "token not found"
            case tokenLogin = "token login"
            case tokenKeyNotFound = "token key not found"
            case tokenKeyUnsuitable = "token key unsuitable"
            case tokenMechanism = "token mechanism"
            case tokenFailure = "token failure"
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// A sealed field is too short or of an unknown format version.
        public static let malformedCiphertext = Code(.malformedCiphertext)
        /// A sealed field names another data key than the one given to open it.
        public static let wrongDataKey = Code(.wrongDataKey)
        /// The tag does not verify: the ciphertext or its header was altered, it was moved from another
        /// subject, record or field, or (for a wrapped key) the key-encryption key does not match its id.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// A wrapped key is not the size of the format or of an unknown format version.
        public static let malformedWrappedKey = Code(.malformedWrappedKey)
        /// A wrapped keyed-hash secret was unwrapped as a data key, or the reverse.
        public static let wrongKeyKind = Code(.wrongKeyKind)
        /// A wrapped key was wrapped under another key-encryption key than the one given.
        public static let wrongKeyEncryptionKey = Code(.wrongKeyEncryptionKey)
        /// A data key's salt names another master data key than the key store's (a key store of another installation).
        public static let wrongMasterKey = Code(.wrongMasterKey)
        /// No key file at the configured path.
        public static let keyFileMissing = Code(.keyFileMissing)
        /// The key file (or the folder a new one goes in) is open to group or others, or not a regular file.
        public static let keyFilePermissions = Code(.keyFilePermissions)
        /// The key file is shorter than the format.
        public static let keyFileTruncated = Code(.keyFileTruncated)
        /// The key file is not a Bureau key file, too long, or its key fails its id check.
        public static let keyFileMalformed = Code(.keyFileMalformed)
        /// A key file already exists where a new one was to be made; it is never overwritten.
        public static let keyFileExists = Code(.keyFileExists)
        /// Reading or writing the key file failed (errno in the message).
        public static let keyFileIO = Code(.keyFileIO)
        /// The key file is inside the data folder it protects.
        public static let keyFileLocation = Code(.keyFileLocation)
        /// The PKCS#11 module cannot be loaded or initialised.
        public static let tokenModule = Code(.tokenModule)
        /// No token with the configured label is present.
        public static let tokenNotFound = Code(.tokenNotFound)
        /// Logging in to the token failed (wrong PIN, PIN locked).
        public static let tokenLogin = Code(.tokenLogin)
        /// No key with the configured label is on the token.
        public static let tokenKeyNotFound = Code(.tokenKeyNotFound)
        /// The key with the configured label is not a single AES-256 key usable to encrypt and decrypt.
        public static let tokenKeyUnsuitable = Code(.tokenKeyUnsuitable)
        /// The token does not offer the mechanism Bureau wraps with (CKM_AES_GCM).
        public static let tokenMechanism = Code(.tokenMechanism)
        /// A PKCS#11 call failed; the message names the function and the CKR_ code.
        public static let tokenFailure = Code(.tokenFailure)

        public var description: String { self.wrapped.rawValue }
    }

    /// What failed.
    public var code: Code
    /// What is wrong, for an operator: names the file, key ids, field or PKCS#11 function.
    public var message: String

    /// Makes an error with `code` and `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}
