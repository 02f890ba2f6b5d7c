import BureauKeys
import Foundation
import Testing

/// A SoftHSM2 installation for this test process: a softhsm2.conf and a token folder in a scratch folder,
/// SOFTHSM2_CONF pointing at it, and two tokens initialised with softhsm2-util. Made once, before the
/// module is first loaded (SoftHSM reads its configuration in C_Initialize).
struct SoftHSM: Sendable {
    static let pin = "2718-2818"
    static let soPin = "3141-5926"
    /// The token the key tests use.
    static let tokenLabel = "bureau-test"
    /// A token nobody logs in to, for the wrong-PIN test (login state is per token and per process).
    static let lockedTokenLabel = "bureau-pin"
    static let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bureau-softhsm-\(getpid())").path

    /// The installation, or why there is none.
    static func shared() throws -> SoftHSM { try Self.made.get() }

    private static let made: Result<SoftHSM, SoftHSMUnavailable> = Self.make()

    /// A configuration for `keyLabel` on the test token.
    func configuration(keyLabel: String, token: String = SoftHSM.tokenLabel, pin: String = SoftHSM.pin) -> PKCS11Configuration {
        PKCS11Configuration(modulePath: PKCS11Configuration.softHSM2ModulePath, tokenLabel: token, pin: pin, keyLabel: keyLabel)
    }

    private static func make() -> Result<SoftHSM, SoftHSMUnavailable> {
        let install = "SoftHSM2 is needed by the PKCS#11 tests: install softhsm2 (`make test` does: apt-get install softhsm2)"
        guard FileManager.default.fileExists(atPath: PKCS11Configuration.softHSM2ModulePath) else {
            return .failure(SoftHSMUnavailable(message: "no PKCS#11 module at \(PKCS11Configuration.softHSM2ModulePath). \(install)"))
        }
        guard let util = ["/usr/bin/softhsm2-util", "/usr/local/bin/softhsm2-util"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(SoftHSMUnavailable(message: "softhsm2-util not found. \(install)"))
        }
        do {
            let tokens = Self.folder + "/tokens"
            try FileManager.default.createDirectory(atPath: tokens, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let conf = Self.folder + "/softhsm2.conf"
            try "directories.tokendir = \(tokens)\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
                .write(toFile: conf, atomically: true, encoding: .utf8)
            setenv("SOFTHSM2_CONF", conf, 1)
            atexit { try? FileManager.default.removeItem(atPath: SoftHSM.folder) }
            for label in [Self.tokenLabel, Self.lockedTokenLabel] {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: util)
                process.arguments = ["--init-token", "--free", "--label", label, "--pin", Self.pin, "--so-pin", Self.soPin]
                process.environment = ["SOFTHSM2_CONF": conf, "PATH": "/usr/bin:/bin"]
                let output = Pipe()
                process.standardOutput = output
                process.standardError = output
                try process.run()
                let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                guard process.terminationStatus == 0 else {
                    return .failure(SoftHSMUnavailable(message: "softhsm2-util --init-token \(label) failed (\(process.terminationStatus)): \(text)"))
                }
            }
            return .success(SoftHSM())
        } catch {
            return .failure(SoftHSMUnavailable(message: "cannot set up SoftHSM2 in \(Self.folder): \(error)"))
        }
    }
}

struct SoftHSMUnavailable: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}
