public import BureauCore
public import BureauStore
import Crypto
public import Foundation

/// Registering institutions: each registration is a logged change.
public enum InstitutionRegistry {
    /// Registers or replaces `institution`, with a log entry carrying the digest of the new record.
    @discardableResult
    public static func register(_ institution: Institution, in store: Store, operatorID: String = "", now: Date = Date()) throws -> LogReceipt {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let digest = SHA256.hash(data: try encoder.encode(institution)).hexString
        return try store.write { txn in
            try txn.putInstitution(institution)
            return try txn.appendLog(
                AccessLogEntry(
                    .institutionRegister, by: .bureau(for: institution.code.value, operatorID: operatorID), time: now,
                    requestID: institution.code.value, outcome: .applied, changeDigest: digest
                )
            )
        }
    }
}
