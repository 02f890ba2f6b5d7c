public import BureauKeys
import BureauCore
import Foundation

/// Where an installation's key-encryption key (KEK) lives: a key file outside the data folder, or a key on a
/// PKCS#11 token. bureaud's configuration file chooses (`[keys]`); tools and tests that open a store
/// directly take it from the environment (``environment``).
public struct KeyConfiguration: Sendable, CustomStringConvertible {
    private enum Source: Sendable {
        case file(String)
        case pkcs11(PKCS11Configuration)
        case environment
    }

    private let source: Source

    /// The environment variable naming the KEK file, for `bureau` and `make run`.
    public static let keyFileVariable = "BUREAU_KEY_FILE"

    /// A key file (``FileKeyEncryptionKey``): refused when group or others may read it or when it is inside
    /// the data folder.
    public static func file(_ path: String) -> KeyConfiguration { KeyConfiguration(source: .file(path)) }
    /// A key on a PKCS#11 token (``PKCS11KeyEncryptionKey``).
    public static func pkcs11(_ configuration: PKCS11Configuration) -> KeyConfiguration { KeyConfiguration(source: .pkcs11(configuration)) }
    /// The key file named by `BUREAU_KEY_FILE`.
    public static var environment: KeyConfiguration { KeyConfiguration(source: .environment) }

    public var description: String {
        switch self.source {
        case .file(let path): "key file \(path)"
        case .pkcs11(let configuration): "\(configuration)"
        case .environment: "the key file named by \(Self.keyFileVariable)"
        }
    }

    /// Opens the KEK for the data folder `dataFolder`.
    ///
    /// - Throws: ``BureauError`` (failed precondition) naming what is wrong: no KEK configured, the key
    ///   file missing, readable by others, truncated, damaged or inside the data folder, the token or its key
    ///   not found, a wrong PIN.
    public func open(dataFolder: String) throws -> any KeyEncryptionKey {
        do {
            switch self.source {
            case .file(let path):
                return try FileKeyEncryptionKey.load(from: path, outside: dataFolder)
            case .pkcs11(let configuration):
                return try PKCS11KeyEncryptionKey.open(configuration)
            case .environment:
                guard let path = ProcessInfo.processInfo.environment[Self.keyFileVariable], !path.isEmpty else {
                    throw BureauError(
                        .failedPrecondition,
                        "no key-encryption key configured: set \(Self.keyFileVariable) to a key file (make one with `bureau keys create-file PATH`) or configure [keys] for bureaud"
                    )
                }
                return try FileKeyEncryptionKey.load(from: path, outside: dataFolder)
            }
        } catch let error as KeyError {
            throw BureauError(.failedPrecondition, "the key-encryption key cannot be used: \(error)")
        }
    }
}
