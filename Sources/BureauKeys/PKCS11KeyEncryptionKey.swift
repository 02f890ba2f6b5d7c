internal import CPKCS11
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a token key is: the PKCS#11 module, the token, the user PIN and the key's label.
public struct PKCS11Configuration: Sendable, CustomStringConvertible {
    /// Debian's SoftHSM2 module (package softhsm2).
    public static let softHSM2ModulePath = "/usr/lib/softhsm/libsofthsm2.so"

    /// The PKCS#11 module (shared library) of the token: SoftHSM2's or an HSM vendor's.
    public var modulePath: String
    /// The token's label (CKA token info label, as set when the token was initialised).
    public var tokenLabel: String
    /// The user PIN. Never written into messages.
    public var pin: String
    /// The label of the AES-256 key that wraps Bureau's keys.
    public var keyLabel: String

    /// A configuration; `modulePath` defaults to SoftHSM2's.
    public init(modulePath: String = Self.softHSM2ModulePath, tokenLabel: String, pin: String, keyLabel: String) {
        self.modulePath = modulePath
        self.tokenLabel = tokenLabel
        self.pin = pin
        self.keyLabel = keyLabel
    }

    /// Module, token and key label; the PIN is left out.
    public var description: String {
        "PKCS11Configuration(module: \(self.modulePath), token: \(self.tokenLabel), key: \(self.keyLabel), pin: <hidden>)"
    }
}

/// A key-encryption key held by a PKCS#11 token (an HSM, or SoftHSM2): an AES-256 secret key that is
/// sensitive and not extractable, so it never leaves the token. Keys are wrapped with CKM_AES_GCM through
/// `C_Encrypt` / `C_Decrypt` (12-byte random nonce, 128-bit tag, the ``WrappedKey`` header as associated
/// data), which gives the same authenticated, context-bound format as a key file KEK.
///
/// The KEK's id is the key's CKA_ID when it is 16 bytes (``generate(_:)`` sets a random one), otherwise a
/// fingerprint of its label and CKA_ID. One session per instance, used by one operation at a time.
///
/// ```swift
/// let config = PKCS11Configuration(tokenLabel: "bureau", pin: pin, keyLabel: "bureau-kek")
/// let kek = try PKCS11KeyEncryptionKey.open(config)
/// let wrapped = try kek.wrap(DataKey.generate())
/// ```
public final class PKCS11KeyEncryptionKey: KeyEncryptionKey, CustomStringConvertible {
    /// The key's CKA_ID (or a fingerprint of label and CKA_ID when that is not 16 bytes).
    public let id: KeyID
    /// The token, key label and module, for messages; never the PIN.
    public let location: String
    /// Whether the token marks the key sensitive (its value never readable).
    public let isSensitive: Bool
    /// Whether the token lets the key be exported (wrapped) at all.
    public let isExtractable: Bool

    private let module: PKCS11Module
    private let session: Mutex<CK_SESSION_HANDLE>
    private let key: CK_OBJECT_HANDLE

    /// Opens the token key named by `configuration`.
    ///
    /// - Parameters:
    ///   - configuration: module, token, PIN and key label.
    ///   - generateIfMissing: make the key (as ``generate(_:)``) when the token has none with that label.
    /// - Throws: ``KeyError`` with ``KeyError/Code/tokenModule`` (module missing or not PKCS#11),
    ///   ``KeyError/Code/tokenNotFound``, ``KeyError/Code/tokenLogin`` (wrong PIN),
    ///   ``KeyError/Code/tokenMechanism`` (no CKM_AES_GCM), ``KeyError/Code/tokenKeyNotFound``,
    ///   ``KeyError/Code/tokenKeyUnsuitable`` (two keys with the label, or not AES-256 for encrypt and
    ///   decrypt), ``KeyError/Code/tokenFailure``.
    public static func open(_ configuration: PKCS11Configuration, generateIfMissing: Bool = false) throws(KeyError) -> PKCS11KeyEncryptionKey {
        try Self.connect(configuration, generate: generateIfMissing ? .ifMissing : .never)
    }

    /// Generates a new AES-256 key on the token under `configuration.keyLabel` (token object, private,
    /// sensitive, not extractable, encrypt and decrypt only, a random 16-byte CKA_ID) and opens it.
    ///
    /// - Throws: ``KeyError/Code/tokenKeyUnsuitable`` when a key with that label exists already; otherwise
    ///   as ``open(_:generateIfMissing:)``.
    public static func generate(_ configuration: PKCS11Configuration) throws(KeyError) -> PKCS11KeyEncryptionKey {
        try Self.connect(configuration, generate: .always)
    }

    private enum Generation { case never, ifMissing, always }

    private init(module: PKCS11Module, session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, id: KeyID, location: String, sensitive: Bool, extractable: Bool) {
        self.module = module
        self.session = Mutex(session)
        self.key = key
        self.id = id
        self.location = location
        self.isSensitive = sensitive
        self.isExtractable = extractable
    }

    /// The id and location only.
    public var description: String { "PKCS11KeyEncryptionKey(\(self.id), \(self.location))" }

    deinit {
        let session = self.session.withLock { $0 }
        _ = self.module.functions.pointee.C_CloseSession?(session)
    }

    private static func connect(_ configuration: PKCS11Configuration, generate: Generation) throws(KeyError) -> PKCS11KeyEncryptionKey {
        let module = try PKCS11Module.load(configuration.modulePath)
        let f = module.functions.pointee
        let slot = try module.slot(labelled: configuration.tokenLabel)

        var mechanism = CK_MECHANISM_INFO()
        let rv = f.C_GetMechanismInfo!(slot, CK_MECHANISM_TYPE(CKM_AES_GCM), &mechanism)
        guard rv == CKR_OK, mechanism.flags & CK_FLAGS(CKF_ENCRYPT | CKF_DECRYPT) == CK_FLAGS(CKF_ENCRYPT | CKF_DECRYPT) else {
            throw KeyError(.tokenMechanism, "token \"\(configuration.tokenLabel)\" does not offer CKM_AES_GCM for encrypt and decrypt (\(PKCS11Module.name(rv)))")
        }

        var session = CK_SESSION_HANDLE()
        try module.check(f.C_OpenSession!(slot, CK_FLAGS(CKF_SERIAL_SESSION | CKF_RW_SESSION), nil, nil, &session), "C_OpenSession")
        var opened = true
        defer { if opened { _ = f.C_CloseSession!(session) } }

        var pin = Array(configuration.pin.utf8)
        let login = pin.withUnsafeMutableBufferPointer { f.C_Login!(session, CK_USER_TYPE(CKU_USER), $0.baseAddress, CK_ULONG($0.count)) }
        pin.zeroize()
        guard login == CKR_OK || login == CKR_USER_ALREADY_LOGGED_IN else {
            throw KeyError(.tokenLogin, "login to token \"\(configuration.tokenLabel)\" failed: \(PKCS11Module.name(login))")
        }

        let location = "PKCS#11 token \"\(configuration.tokenLabel)\", key \"\(configuration.keyLabel)\" (\(configuration.modulePath))"
        let label = Array(configuration.keyLabel.utf8)
        var found = try module.findSecretKeys(session: session, label: label)
        if found.count > 1 {
            throw KeyError(.tokenKeyUnsuitable, "token \"\(configuration.tokenLabel)\" holds \(found.count) secret keys labelled \"\(configuration.keyLabel)\"; keep one")
        }
        switch (found.isEmpty, generate) {
        case (true, .never):
            throw KeyError(.tokenKeyNotFound, "token \"\(configuration.tokenLabel)\" holds no secret key labelled \"\(configuration.keyLabel)\"")
        case (false, .always):
            throw KeyError(.tokenKeyUnsuitable, "token \"\(configuration.tokenLabel)\" already holds a key labelled \"\(configuration.keyLabel)\"; a key is never replaced")
        case (true, _):
            found = [try module.generateKey(session: session, label: label, id: KeyID.random().bytes)]
        default:
            break
        }
        let key = found[0]

        let keyType = try module.ulongAttribute(session: session, object: key, CK_ATTRIBUTE_TYPE(CKA_KEY_TYPE))
        let length = try module.ulongAttribute(session: session, object: key, CK_ATTRIBUTE_TYPE(CKA_VALUE_LEN))
        let canEncrypt = try module.boolAttribute(session: session, object: key, CK_ATTRIBUTE_TYPE(CKA_ENCRYPT))
        let canDecrypt = try module.boolAttribute(session: session, object: key, CK_ATTRIBUTE_TYPE(CKA_DECRYPT))
        guard keyType == CK_KEY_TYPE(CKK_AES), length == 32, canEncrypt, canDecrypt else {
            throw KeyError(.tokenKeyUnsuitable, "key \"\(configuration.keyLabel)\" on token \"\(configuration.tokenLabel)\" is not an AES-256 key allowed to encrypt and decrypt")
        }
        let ckaID = try module.bytesAttribute(session: session, object: key, CK_ATTRIBUTE_TYPE(CKA_ID))
        let id = KeyID(bytes: ckaID) ?? KeyID.fingerprint(label: "bureau.kek.pkcs11.v1", label, [0], ckaID)
        let sensitive = try module.boolAttribute(session: session, object: key, CK_ATTRIBUTE_TYPE(CKA_SENSITIVE))
        let extractable = try module.boolAttribute(session: session, object: key, CK_ATTRIBUTE_TYPE(CKA_EXTRACTABLE))
        opened = false
        return PKCS11KeyEncryptionKey(module: module, session: session, key: key, id: id, location: location, sensitive: sensitive, extractable: extractable)
    }

    public func encrypt(_ plaintext: [UInt8], authenticating aad: [UInt8]) throws(KeyError) -> (nonce: [UInt8], sealed: [UInt8]) {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<12).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let sealed = try self.gcm(encrypt: true, plaintext, nonce: nonce, aad: aad)
        return (nonce, sealed)
    }

    public func decrypt(_ sealed: [UInt8], nonce: [UInt8], authenticating aad: [UInt8]) throws(KeyError) -> [UInt8] {
        try self.gcm(encrypt: false, sealed, nonce: nonce, aad: aad)
    }

    /// One CKM_AES_GCM operation in the session: init, then a single-part C_Encrypt or C_Decrypt.
    private func gcm(encrypt: Bool, _ input: [UInt8], nonce: [UInt8], aad: [UInt8]) throws(KeyError) -> [UInt8] {
        let f = self.module.functions.pointee
        var input = input
        var nonce = nonce
        var aad = aad
        defer { input.zeroize() }
        let result: Result<[UInt8], KeyError> = self.session.withLock { session in
            var output = [UInt8](repeating: 0, count: input.count + 16)
            var outputCount = CK_ULONG(output.count)
            let (initRV, rv): (CK_RV, CK_RV) = nonce.withUnsafeMutableBufferPointer { iv in
                aad.withUnsafeMutableBufferPointer { aadBuffer in
                    var params = CK_GCM_PARAMS(
                        pIv: iv.baseAddress, ulIvLen: CK_ULONG(iv.count), ulIvBits: CK_ULONG(iv.count * 8),
                        pAAD: aadBuffer.baseAddress, ulAADLen: CK_ULONG(aadBuffer.count), ulTagBits: 128
                    )
                    return withUnsafeMutablePointer(to: &params) { paramsPointer in
                        var mechanism = CK_MECHANISM(
                            mechanism: CK_MECHANISM_TYPE(CKM_AES_GCM),
                            pParameter: UnsafeMutableRawPointer(paramsPointer),
                            ulParameterLen: CK_ULONG(MemoryLayout<CK_GCM_PARAMS>.size)
                        )
                        let initRV = encrypt
                            ? f.C_EncryptInit!(session, &mechanism, self.key)
                            : f.C_DecryptInit!(session, &mechanism, self.key)
                        guard initRV == CKR_OK else { return (initRV, initRV) }
                        let rv = input.withUnsafeMutableBufferPointer { inBuffer in
                            output.withUnsafeMutableBufferPointer { outBuffer in
                                encrypt
                                    ? f.C_Encrypt!(session, inBuffer.baseAddress, CK_ULONG(inBuffer.count), outBuffer.baseAddress, &outputCount)
                                    : f.C_Decrypt!(session, inBuffer.baseAddress, CK_ULONG(inBuffer.count), outBuffer.baseAddress, &outputCount)
                            }
                        }
                        return (initRV, rv)
                    }
                }
            }
            let function = encrypt ? "C_Encrypt" : "C_Decrypt"
            guard initRV == CKR_OK else {
                return .failure(KeyError(.tokenFailure, "\(function)Init with CKM_AES_GCM on \(self.location) failed: \(PKCS11Module.name(initRV))"))
            }
            guard rv == CKR_OK else {
                if rv == CKR_BUFFER_TOO_SMALL {
                    // The operation stays active after CKR_BUFFER_TOO_SMALL; end it before reporting.
                    var scratch = [UInt8](repeating: 0, count: Int(outputCount))
                    var scratchCount = outputCount
                    _ = input.withUnsafeMutableBufferPointer { inBuffer in
                        scratch.withUnsafeMutableBufferPointer { s in
                            encrypt
                                ? f.C_Encrypt!(session, inBuffer.baseAddress, CK_ULONG(inBuffer.count), s.baseAddress, &scratchCount)
                                : f.C_Decrypt!(session, inBuffer.baseAddress, CK_ULONG(inBuffer.count), s.baseAddress, &scratchCount)
                        }
                    }
                    scratch.zeroize()
                }
                // A GCM tag that does not verify: CKR_ENCRYPTED_DATA_INVALID in PKCS#11 2.40,
                // CKR_AEAD_DECRYPT_FAILED (0x35) in 3.0, and CKR_GENERAL_ERROR from SoftHSM2 2.6.1.
                let authentication = !encrypt && [
                    CK_RV(CKR_ENCRYPTED_DATA_INVALID), CK_RV(CKR_ENCRYPTED_DATA_LEN_RANGE), 0x35,
                    CK_RV(CKR_GENERAL_ERROR), CK_RV(CKR_FUNCTION_FAILED),
                ].contains(rv)
                return .failure(KeyError(authentication ? .authenticationFailed : .tokenFailure, "\(function) with CKM_AES_GCM on \(self.location) failed: \(PKCS11Module.name(rv))"))
            }
            let out = Array(output[0..<Int(outputCount)])
            output.zeroize()
            return .success(out)
        }
        return try result.get()
    }
}

/// A loaded PKCS#11 module: the `dlopen` handle and its function list, initialised once per process with
/// CKF_OS_LOCKING_OK and kept for the life of the process (C_Finalize would pull the library from under
/// every other user of it).
///
/// `@unchecked Sendable`: `functions` points at the module's static, immutable function table, and the
/// library was initialised with CKF_OS_LOCKING_OK, so calling it from any thread is allowed.
final class PKCS11Module: @unchecked Sendable {
    let path: String
    let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>

    private init(path: String, functions: UnsafeMutablePointer<CK_FUNCTION_LIST>) {
        self.path = path
        self.functions = functions
    }

    private static let loaded = Mutex<[String: PKCS11Module]>([:])

    /// The module at `path`, loaded and initialised on first use.
    static func load(_ path: String) throws(KeyError) -> PKCS11Module {
        let result: Result<PKCS11Module, KeyError> = Self.loaded.withLock { loaded in
            if let module = loaded[path] { return .success(module) }
            guard access(path, F_OK) == 0 else {
                return .failure(KeyError(.tokenModule, "no PKCS#11 module at \(path) (for SoftHSM2: apt-get install softhsm2)"))
            }
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
                return .failure(KeyError(.tokenModule, "cannot load PKCS#11 module \(path): \(reason)"))
            }
            guard let symbol = dlsym(handle, "C_GetFunctionList") else {
                dlclose(handle)
                return .failure(KeyError(.tokenModule, "\(path) is not a PKCS#11 module (no C_GetFunctionList)"))
            }
            let getFunctionList = unsafeBitCast(symbol, to: CK_C_GetFunctionList.self)
            var list: UnsafeMutablePointer<CK_FUNCTION_LIST>?
            let rv = getFunctionList(&list)
            guard rv == CKR_OK, let list else {
                return .failure(KeyError(.tokenModule, "C_GetFunctionList of \(path) failed: \(Self.name(rv))"))
            }
            var arguments = CK_C_INITIALIZE_ARGS()
            arguments.flags = CK_FLAGS(CKF_OS_LOCKING_OK)
            let initRV = list.pointee.C_Initialize!(&arguments)
            guard initRV == CKR_OK || initRV == CKR_CRYPTOKI_ALREADY_INITIALIZED else {
                return .failure(KeyError(.tokenModule, "C_Initialize of \(path) failed: \(Self.name(initRV))"))
            }
            let module = PKCS11Module(path: path, functions: list)
            loaded[path] = module
            return .success(module)
        }
        return try result.get()
    }

    /// Throws ``KeyError/Code/tokenFailure`` naming `function` and the return code unless `rv` is CKR_OK.
    func check(_ rv: CK_RV, _ function: String) throws(KeyError) {
        guard rv == CKR_OK else { throw KeyError(.tokenFailure, "\(function) failed: \(Self.name(rv))") }
    }

    /// The slot of the token labelled `label`.
    func slot(labelled label: String) throws(KeyError) -> CK_SLOT_ID {
        let f = self.functions.pointee
        var count = CK_ULONG(0)
        try self.check(f.C_GetSlotList!(CK_BBOOL(CK_TRUE), nil, &count), "C_GetSlotList")
        var slots = [CK_SLOT_ID](repeating: 0, count: Int(count))
        try self.check(slots.withUnsafeMutableBufferPointer { f.C_GetSlotList!(CK_BBOOL(CK_TRUE), $0.baseAddress, &count) }, "C_GetSlotList")
        var labels: [String] = []
        for slot in slots.prefix(Int(count)) {
            var info = CK_TOKEN_INFO()
            guard f.C_GetTokenInfo!(slot, &info) == CKR_OK else { continue }
            let tokenLabel = withUnsafeBytes(of: info.label) { String(decoding: $0, as: UTF8.self) }
                .trimmingTrailing(" ")
            if tokenLabel == label { return slot }
            if info.flags & CK_FLAGS(CKF_TOKEN_INITIALIZED) != 0 { labels.append("\"\(tokenLabel)\"") }
        }
        let present = labels.isEmpty ? "no initialised token" : "tokens " + labels.joined(separator: ", ")
        throw KeyError(.tokenNotFound, "no token labelled \"\(label)\" in \(self.path) (\(present))")
    }

    /// The secret keys labelled `label` (at most two are looked for: one is right, two is an error).
    func findSecretKeys(session: CK_SESSION_HANDLE, label: [UInt8]) throws(KeyError) -> [CK_OBJECT_HANDLE] {
        let f = self.functions.pointee
        let template = AttributeTemplate([
            (CK_ATTRIBUTE_TYPE(CKA_CLASS), .ulong(CK_ULONG(CKO_SECRET_KEY))),
            (CK_ATTRIBUTE_TYPE(CKA_LABEL), .bytes(label)),
        ])
        try self.check(template.withAttributes { f.C_FindObjectsInit!(session, $0, $1) }, "C_FindObjectsInit")
        var handles = [CK_OBJECT_HANDLE](repeating: 0, count: 2)
        var count = CK_ULONG(0)
        let rv = handles.withUnsafeMutableBufferPointer { f.C_FindObjects!(session, $0.baseAddress, 2, &count) }
        _ = f.C_FindObjectsFinal!(session)
        try self.check(rv, "C_FindObjects")
        return Array(handles.prefix(Int(count)))
    }

    /// Generates a token AES-256 key that never leaves the token.
    func generateKey(session: CK_SESSION_HANDLE, label: [UInt8], id: [UInt8]) throws(KeyError) -> CK_OBJECT_HANDLE {
        let f = self.functions.pointee
        let template = AttributeTemplate([
            (CK_ATTRIBUTE_TYPE(CKA_CLASS), .ulong(CK_ULONG(CKO_SECRET_KEY))),
            (CK_ATTRIBUTE_TYPE(CKA_KEY_TYPE), .ulong(CK_ULONG(CKK_AES))),
            (CK_ATTRIBUTE_TYPE(CKA_VALUE_LEN), .ulong(32)),
            (CK_ATTRIBUTE_TYPE(CKA_TOKEN), .bool(true)),
            (CK_ATTRIBUTE_TYPE(CKA_PRIVATE), .bool(true)),
            (CK_ATTRIBUTE_TYPE(CKA_SENSITIVE), .bool(true)),
            (CK_ATTRIBUTE_TYPE(CKA_EXTRACTABLE), .bool(false)),
            (CK_ATTRIBUTE_TYPE(CKA_ENCRYPT), .bool(true)),
            (CK_ATTRIBUTE_TYPE(CKA_DECRYPT), .bool(true)),
            (CK_ATTRIBUTE_TYPE(CKA_WRAP), .bool(false)),
            (CK_ATTRIBUTE_TYPE(CKA_UNWRAP), .bool(false)),
            (CK_ATTRIBUTE_TYPE(CKA_LABEL), .bytes(label)),
            (CK_ATTRIBUTE_TYPE(CKA_ID), .bytes(id)),
        ])
        var mechanism = CK_MECHANISM(mechanism: CK_MECHANISM_TYPE(CKM_AES_KEY_GEN), pParameter: nil, ulParameterLen: 0)
        var key = CK_OBJECT_HANDLE()
        try self.check(template.withAttributes { f.C_GenerateKey!(session, &mechanism, $0, $1, &key) }, "C_GenerateKey (AES-256)")
        return key
    }

    func bytesAttribute(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, _ type: CK_ATTRIBUTE_TYPE) throws(KeyError) -> [UInt8] {
        let f = self.functions.pointee
        var attribute = CK_ATTRIBUTE(type: type, pValue: nil, ulValueLen: 0)
        try self.check(f.C_GetAttributeValue!(session, object, &attribute, 1), "C_GetAttributeValue")
        guard attribute.ulValueLen != CK_ULONG.max else { return [] }
        var value = [UInt8](repeating: 0, count: Int(attribute.ulValueLen))
        try self.check(value.withUnsafeMutableBytes { raw in
            attribute.pValue = raw.baseAddress
            return f.C_GetAttributeValue!(session, object, &attribute, 1)
        }, "C_GetAttributeValue")
        return Array(value.prefix(Int(attribute.ulValueLen)))
    }

    func ulongAttribute(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, _ type: CK_ATTRIBUTE_TYPE) throws(KeyError) -> CK_ULONG {
        let bytes = try self.bytesAttribute(session: session, object: object, type)
        guard bytes.count == MemoryLayout<CK_ULONG>.size else { return CK_ULONG.max }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: CK_ULONG.self) }
    }

    func boolAttribute(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, _ type: CK_ATTRIBUTE_TYPE) throws(KeyError) -> Bool {
        let bytes = try self.bytesAttribute(session: session, object: object, type)
        return bytes.count == 1 && bytes[0] != 0
    }

    /// The CKR_ name of a return code, for messages.
    static func name(_ rv: CK_RV) -> String {
        let names: [CK_RV: String] = [
            CK_RV(CKR_OK): "CKR_OK",
            CK_RV(CKR_GENERAL_ERROR): "CKR_GENERAL_ERROR",
            CK_RV(CKR_FUNCTION_FAILED): "CKR_FUNCTION_FAILED",
            CK_RV(CKR_ARGUMENTS_BAD): "CKR_ARGUMENTS_BAD",
            CK_RV(CKR_ATTRIBUTE_VALUE_INVALID): "CKR_ATTRIBUTE_VALUE_INVALID",
            CK_RV(CKR_DEVICE_ERROR): "CKR_DEVICE_ERROR",
            CK_RV(CKR_DATA_LEN_RANGE): "CKR_DATA_LEN_RANGE",
            CK_RV(CKR_ENCRYPTED_DATA_INVALID): "CKR_ENCRYPTED_DATA_INVALID",
            CK_RV(CKR_ENCRYPTED_DATA_LEN_RANGE): "CKR_ENCRYPTED_DATA_LEN_RANGE",
            CK_RV(CKR_KEY_FUNCTION_NOT_PERMITTED): "CKR_KEY_FUNCTION_NOT_PERMITTED",
            CK_RV(CKR_KEY_HANDLE_INVALID): "CKR_KEY_HANDLE_INVALID",
            CK_RV(CKR_MECHANISM_INVALID): "CKR_MECHANISM_INVALID",
            CK_RV(CKR_MECHANISM_PARAM_INVALID): "CKR_MECHANISM_PARAM_INVALID",
            CK_RV(CKR_OPERATION_ACTIVE): "CKR_OPERATION_ACTIVE",
            CK_RV(CKR_PIN_INCORRECT): "CKR_PIN_INCORRECT",
            CK_RV(CKR_PIN_LOCKED): "CKR_PIN_LOCKED",
            CK_RV(CKR_SESSION_HANDLE_INVALID): "CKR_SESSION_HANDLE_INVALID",
            CK_RV(CKR_TEMPLATE_INCOMPLETE): "CKR_TEMPLATE_INCOMPLETE",
            CK_RV(CKR_TEMPLATE_INCONSISTENT): "CKR_TEMPLATE_INCONSISTENT",
            CK_RV(CKR_TOKEN_NOT_PRESENT): "CKR_TOKEN_NOT_PRESENT",
            CK_RV(CKR_USER_NOT_LOGGED_IN): "CKR_USER_NOT_LOGGED_IN",
            CK_RV(CKR_USER_PIN_NOT_INITIALIZED): "CKR_USER_PIN_NOT_INITIALIZED",
            CK_RV(CKR_BUFFER_TOO_SMALL): "CKR_BUFFER_TOO_SMALL",
            CK_RV(CKR_CRYPTOKI_NOT_INITIALIZED): "CKR_CRYPTOKI_NOT_INITIALIZED",
            CK_RV(CKR_CRYPTOKI_ALREADY_INITIALIZED): "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        ]
        return names[rv] ?? "CKR 0x" + String(rv, radix: 16)
    }
}

/// A PKCS#11 attribute template whose values live as long as one call.
private struct AttributeTemplate {
    enum Value {
        case ulong(CK_ULONG)
        case bool(Bool)
        case bytes([UInt8])

        var bytes: [UInt8] {
            switch self {
            case .ulong(let value): withUnsafeBytes(of: value) { Array($0) }
            case .bool(let value): [value ? 1 : 0]
            case .bytes(let bytes): bytes
            }
        }
    }

    let entries: [(CK_ATTRIBUTE_TYPE, Value)]
    init(_ entries: [(CK_ATTRIBUTE_TYPE, Value)]) { self.entries = entries }

    /// Calls `body` with the attributes and their count.
    func withAttributes(_ body: (UnsafeMutablePointer<CK_ATTRIBUTE>, CK_ULONG) -> CK_RV) -> CK_RV {
        let values = self.entries.map { $0.1.bytes }
        // Each value starts on an 8-byte boundary: modules read CK_ULONG values in place.
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(8, values.reduce(0) { $0 + ($1.count + 7) / 8 * 8 }), alignment: 16)
        let attributes = UnsafeMutablePointer<CK_ATTRIBUTE>.allocate(capacity: values.count)
        defer {
            storage.deallocate()
            attributes.deallocate()
        }
        var offset = 0
        for (index, value) in values.enumerated() {
            let pointer = storage + offset
            value.withUnsafeBytes { raw in
                if let base = raw.baseAddress { pointer.copyMemory(from: base, byteCount: raw.count) }
            }
            (attributes + index).initialize(to: CK_ATTRIBUTE(type: self.entries[index].0, pValue: pointer, ulValueLen: CK_ULONG(value.count)))
            offset += (value.count + 7) / 8 * 8
        }
        return body(attributes, CK_ULONG(values.count))
    }
}

extension String {
    fileprivate func trimmingTrailing(_ character: Character) -> String {
        var s = Substring(self)
        while s.last == character || s.last == "\0" { s.removeLast() }
        return String(s)
    }
}
