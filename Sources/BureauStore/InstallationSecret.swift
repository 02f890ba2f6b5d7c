public import Crypto
import Foundation

/// The cleartext `secret.key` of installations made before encryption at rest (issue 15): the secret that
/// keys subject hashes, 32 bytes beside the data. A store no longer opens a folder holding one (see
/// ``DataProtection``, which keeps the secret wrapped by the KEK in `secret.wrapped`); kept for the tools
/// that convert such a folder.
public enum InstallationSecret {
    /// The file name inside the data folder.
    public static let fileName = "secret.key"

    /// Reads the secret from `folder`, creating the folder and the secret when absent.
    ///
    /// - Throws: ``BureauError``-free I/O errors when the folder cannot be read or written, or when the
    ///   file exists with the wrong size.
    public static func loadOrCreate(in folder: String) throws -> SymmetricKey {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = (folder as NSString).appendingPathComponent(fileName)
        if let data = fm.contents(atPath: path) {
            guard data.count == 32 else {
                throw SecretError(message: "\(path) holds \(data.count) bytes; a secret is exactly 32")
            }
            return SymmetricKey(data: data)
        }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        guard fm.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw SecretError(message: "cannot write \(path)")
        }
        return key
    }

    /// The secret file could not be read or made.
    public struct SecretError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { self.message }
    }
}
