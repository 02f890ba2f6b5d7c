import ArgumentParser
import BureauCore
import BureauKeys
import BureauLMDB
import BureauStore
import Foundation

/// `bureau keys`: the key-encryption key file and the key store.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Key-encryption key and key store (README, \"Keys\").",
        subcommands: [CreateFile.self, BackupKeys.self]
    )

    struct CreateFile: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-file",
            abstract: "Make a new key-encryption key file (mode 0600 in a 0700 folder, outside any data folder); never overwrites one."
        )
        @Argument(help: "Where the key file goes.") var path: String

        func run() throws {
            let kek = try FileKeyEncryptionKey.create(at: path)
            print("key-encryption key \(kek.id) in \(path); set BUREAU_KEY_FILE or [keys] file to it, and keep a copy offline")
        }
    }

    struct BackupKeys: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "backup",
            abstract: "Take a consistent copy of the key store while bureaud serves (kept apart from data backups, for a short time)."
        )
        @OptionGroup var data: DataOptions
        @Option(help: "The key store's folder. (default: <data>/keystore)") var keyStore: String?
        @Argument(help: "A new folder for the copy.") var destination: String

        func run() throws {
            let path = keyStore ?? (data.data as NSString).appendingPathComponent(LMDBKeyStore.defaultFolderName)
            guard FileManager.default.fileExists(atPath: path + "/data.mdb") else {
                throw BureauError.invalid("key_store", "\(path) holds no key store")
            }
            let store = try LMDBKeyStore(path: path)
            try store.copy(to: destination)
            print("key store copied to \(destination): \(try store.count()) data keys, each wrapped by the KEK")
        }
    }
}
