public import BureauKeys
import BureauStore
import Foundation
import Synchronization

/// The one place tests get a key-encryption key: a key file made once per test process in a private
/// temporary folder (outside every data folder), named by `BUREAU_KEY_FILE` so that every store a test
/// opens with the default configuration, and every bureaud it starts, uses it.
public enum TestKeyFile {
    private static let made = Mutex<String?>(nil)

    /// Makes the key file (once) and points `BUREAU_KEY_FILE` at it; returns its path.
    @discardableResult
    public static func install() -> String {
        made.withLock { path in
            if let path { return path }
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bureau-test-kek-\(UUID().uuidString)").path
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                let file = folder + "/kek.key"
                _ = try FileKeyEncryptionKey.create(at: file)
                setenv(KeyConfiguration.keyFileVariable, file, 1)
                path = file
                return file
            } catch {
                fatalError("cannot make the test key file: \(error)")
            }
        }
    }

    /// A new temporary data folder's path (not created) named `prefix`-UUID, with the test key file installed.
    public static func temporaryFolder(_ prefix: String) -> String {
        install()
        return FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    }
}
