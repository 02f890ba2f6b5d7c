public import Crypto
public import Foundation
import SwiftASN1
public import X509

/// A small certificate authority on swift-certificates (no openssl): the bureau's CA, which issues the
/// server's certificate and the institutions' client certificates. Keys are P-256.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let privateKey: P256.Signing.PrivateKey

    /// A CA from its certificate and key (as `bureau ca init` wrote them).
    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Makes a new self-signed CA certificate valid for `years`.
    public static func create(name: String, organisation: String = "Bureau", years: Int = 10, now: Date = Date()) throws -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName(organisation)
            CommonName(name)
        }
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(Double(years) * 365 * 86_400),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key)
        )
        return CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// The CA certificate in PEM, for trust roots.
    public var certificatePEM: String { get throws { try self.certificate.serializeAsPEM().pemString } }
    /// The CA's private key in PEM (PKCS#8), for the CA folder (`ca.key`).
    public var privateKeyPEM: String { self.privateKey.pemRepresentation }

    /// A certificate and its private key.
    public struct Issued: Sendable {
        public var certificate: Certificate
        public var privateKey: P256.Signing.PrivateKey

        public var certificatePEM: String { get throws { try self.certificate.serializeAsPEM().pemString } }
        public var privateKeyPEM: String { self.privateKey.pemRepresentation }
    }

    /// Issues a TLS server certificate for `dnsNames` and IPv4 `addresses`.
    public func issueServer(
        commonName: String = "localhost", dnsNames: [String] = ["localhost"], addresses: [[UInt8]] = [[127, 0, 0, 1]],
        days: Int = 825, now: Date = Date()
    ) throws -> Issued {
        var names: [GeneralName] = dnsNames.map { .dnsName($0) }
        names += addresses.map { .ipAddress(ASN1OctetString(contentBytes: $0[...])) }
        return try self.issue(
            subject: try DistinguishedName { CommonName(commonName) },
            notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(Double(days) * 86_400),
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            }
        )
    }

    /// Issues a client certificate for an institution.
    public func issueClient(
        name: String, code: String, notBefore: Date? = nil, notAfter: Date? = nil, days: Int = 825, now: Date = Date()
    ) throws -> Issued {
        try self.issue(
            subject: try DistinguishedName {
                OrganizationName(name)
                OrganizationalUnitName(code)
                CommonName(name)
            },
            notBefore: notBefore ?? now.addingTimeInterval(-300),
            notAfter: notAfter ?? now.addingTimeInterval(Double(days) * 86_400),
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
            }
        )
    }

    private func issue(subject: DistinguishedName, notBefore: Date, notAfter: Date, extensions: Certificate.Extensions) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        var extensions = extensions
        try extensions.append(
            AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: .init(self.privateKey.publicKey)).keyIdentifier)
                .makeCertificateExtension()
        )
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: .init(key.publicKey),
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: self.certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions,
            issuerPrivateKey: .init(self.privateKey)
        )
        return Issued(certificate: certificate, privateKey: key)
    }
}
