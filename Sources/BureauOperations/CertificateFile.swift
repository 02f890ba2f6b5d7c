import BureauCore
import BureauServer
import Foundation
import SwiftASN1
import X509

/// Reading certificates from PEM files.
public enum CertificateFile {
    /// The SHA-256 fingerprint (hex) of the certificate in a PEM file.
    public static func fingerprint(ofPEMFile path: String) throws -> String {
        let pem = try String(contentsOfFile: path, encoding: .utf8)
        let certificate = try Certificate(pemEncoded: pem)
        return try CallerResolver.fingerprint(of: certificate).hexString
    }
}
