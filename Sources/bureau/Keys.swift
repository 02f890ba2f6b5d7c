import ArgumentParser
import BureauAPI
import BureauCore
import BureauKeys
import BureauLMDB
import BureauOperations
import BureauStore
import Foundation
import GRPCCore

/// `bureau keys`: the key-encryption key file and the key store.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Key-encryption key and key store (README, \"Keys\").",
        subcommands: [CreateFile.self, BackupKeys.self, Rotate.self, EncryptExistingCommand.self]
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

    struct EncryptExistingCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "encrypt-existing",
            abstract: "Convert, in place, an installation made before encryption at rest (stop bureaud and take a backup first); resumable, logged.",
            discussion: """
                Seals every personal value under data keys wrapped by the KEK (from --config's [keys], else \
                BUREAU_KEY_FILE), re-keys records to keyed tokens, keeps the access log byte-identical and appends a \
                keys.encrypt-existing entry, ends with a compacting copy of the database and removes secret.key \
                last. Interrupted, run it again with the same KEK: it goes on where it stopped.
                """
        )
        @Option(help: "Data folder of the installation. (default: --config's data, else data)") var data: String?
        @Option(help: "bureaud's configuration file: its [keys] (the KEK and the key store) and data.") var config: String?
        @Option(help: "The key store's folder. (default: [keys] store, else <data>/keystore)") var keyStore: String?
        @Option(help: "A PostgreSQL store: refused (it was encrypted from its first day).") var store: String?
        @Option(help: "Values converted per transaction.") var batchSize = 1000
        @Option(help: "The LMDB map size in MiB (the conversion needs room for a second copy of the records while it runs). (default: --config's map_size_mib, else 4096)")
        var mapSizeMib: Int?
        @Option(help: .hidden) var stopAfterBatches: Int?

        func run() throws {
            let file = try config.map { try DaemonOptions.configurationFile(at: $0) }
            if let url = try store ?? file?.string("store") {
                throw ValidationError(
                    "encrypt-existing converts an LMDB data folder; \(url) is a PostgreSQL store, which was sealed from its first day (the PostgreSQL backend came with encryption at rest): nothing to convert"
                )
            }
            guard batchSize > 0 else { throw ValidationError("--batch-size: at least 1") }
            let folder = try data ?? file?.string("data") ?? "data"
            var configuration = Store.Configuration(keys: try file?.keys() ?? .environment, keyStore: try keyStore ?? file?.string("keys.store"))
            if let mib = try mapSizeMib ?? file?.integer("map_size_mib", in: 16...(1 << 24)) {
                guard (16...(1 << 24)).contains(mib) else { throw ValidationError("--map-size-mib: 16 to 16777216") }
                configuration.mapSize = mib << 20
            }
            let conversion = EncryptExisting(folder: folder, configuration: configuration, batchSize: batchSize, stopAfterBatches: stopAfterBatches)
            let summary = try conversion.run { FileHandle.standardError.write(Data("encrypt-existing: \($0)\n".utf8)) }
            let counts = summary.converted.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            guard summary.finished else {
                print("stopped after \(summary.batches) batches (\(counts.isEmpty ? "nothing" : counts) converted); run it again to go on")
                throw ExitCode(3)
            }
            print(
                "\(folder) is encrypted at rest under KEK \(summary.keyEncryptionKey): \(counts.isEmpty ? "nothing left" : counts) converted by this run in \(summary.batches) batches"
                    + (summary.logIndex.map { ", logged as entry \($0)" } ?? "")
                    + "; secret.key removed. Take a new backup (bureau backup, bureau keys backup) and destroy the backups taken before: they hold cleartext."
            )
        }
    }
}
