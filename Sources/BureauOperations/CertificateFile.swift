import BureauCore
import BureauServer
import Foundation
import SwiftASN1
import X509

/// Reading certificates from PEM files.
public enum CertificateFile {
    /// The SHA-256 fingerprint (hex) of the certificate in a PEM file.
    public static func fingerprint(ofPEMFile path: String) throws -> String {
        try self.fingerprint(ofPEM: try String(contentsOfFile: path, encoding: .utf8))
    }

    /// The SHA-256 fingerprint (hex) of a PEM certificate.
    public static func fingerprint(ofPEM pem: String) throws -> String {
        try CallerResolver.fingerprint(of: try Certificate(pemEncoded: pem)).hexString
    }
}
