import ArgumentParser
import BureauAPI
import BureauCore
import BureauKeys
import BureauLMDB
import BureauStore
import Foundation
import GRPCCore

/// `bureau keys`: the key-encryption key file and the key store.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Key-encryption key and key store (README, \"Keys\").",
        subcommands: [CreateFile.self, BackupKeys.self, Rotate.self]
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
            print("key store copied to \(destination): \(try store.count()) data keys and the master data key, wrapped by the KEK")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-wrap every data key under a new key-encryption key while bureaud serves (a logged change); then point the configuration at it."
        )
        @Option(help: "The new KEK's key file, on bureaud's machine (absolute path; bureau keys create-file makes one).") var keyFile: String
        @OptionGroup var operatorOptions: OperatorOptions

        func run() async throws {
            var request = Bureau_RotateKeysRequest()
            request.requestID = operatorOptions.requestID
            request.keyFile = keyFile
            let response = try await operatorOptions.withAdministration { admin in
                try await admin.rotateKeys(request: ClientRequest(message: request, metadata: operatorOptions.metadata))
            }
            print(
                "KEK \(response.previousKeyID) retired; the master data key and \(response.rewrapped) wrapped data keys re-wrapped under \(response.keyID), \(response.keys) in the key store (log entry \(response.receipt.entryIndex)). Set [keys] file (or BUREAU_KEY_FILE) to \(keyFile) before the next start."
            )
        }
    }
}
