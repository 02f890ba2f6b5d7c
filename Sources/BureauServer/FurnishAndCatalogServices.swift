public import BureauAPI
import BureauCore
import BureauStore
import Crypto
import Foundation
public import GRPCCore
import Logging
import SwiftProtobuf

/// Takes records from licensed furnishers, all or nothing per batch.
public struct FurnishService: Bureau_FurnishService.SimpleServiceProtocol {
    let context: BureauContext

    init(context: BureauContext) {
        self.context = context
    }

    public func submitRecords(
        request: Bureau_SubmitRecordsRequest,
        context: ServerContext
    ) async throws -> Bureau_SubmitRecordsResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.furnisher)
        let time = self.context.now()
        let subjects = try Furnishing.validate(
            batchID: request.batchID,
            subjects: request.subjects.map(SubmittedSubject.init),
            furnisher: caller.institution.code,
            today: CalendarDate(utcDayOf: time)
        )
        var deterministic = BinaryEncodingOptions()
        deterministic.useDeterministicOrdering = true
        let digest = SHA256.hash(data: try request.serializedBytes(options: deterministic) as [UInt8])
        let keyed = subjects.map { (self.context.store.key(for: $0.identifier), $0) }
        let entry = AccessLogEntry(
            time: time,
            action: "furnish.submit",
            requestID: request.batchID,
            institution: caller.institution.code.value,
            certificateFingerprint: caller.certificateFingerprint,
            subjects: keyed.map(\.0.hex),
            outcome: .applied,
            changeDigest: digest.hexString
        )
        let receipt = try await self.context.writer.submit { txn in
            for (key, furnished) in keyed {
                var file = try txn.file(key) ?? CreditFile(subject: furnished.file.subject, accounts: [])
                file.subject = furnished.file.subject
                file.merge(accounts: furnished.file.accounts)
                try txn.putFile(file, for: key)
            }
            return try txn.appendLog(entry)
        }
        self.context.logger.info(
            "records furnished",
            metadata: ["institution": "\(caller.institution.code)", "subjects": "\(subjects.count)", "entry": "\(receipt.index)"]
        )
        var response = Bureau_SubmitRecordsResponse()
        response.batchID = request.batchID
        response.subjectsApplied = UInt32(subjects.count)
        response.accountsApplied = UInt32(subjects.reduce(0) { $0 + $1.file.accounts.count })
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }
}

/// Serves the public catalogue to every registered caller.
public struct CatalogService: Bureau_CatalogService.SimpleServiceProtocol {
    let context: BureauContext

    init(context: BureauContext) {
        self.context = context
    }

    public func listCategories(
        request: Bureau_ListCategoriesRequest,
        context: ServerContext
    ) async throws -> Bureau_ListCategoriesResponse {
        _ = try self.context.callers.caller(of: context)
        let catalogue = self.context.catalogue
        var response = Bureau_ListCategoriesResponse()
        response.version = catalogue.version
        response.categories = catalogue.categories.map { c in
            var category = Bureau_Category()
            category.code = c.code
            category.name = c.name
            category.legalBasis = c.legalBasis
            category.negative = c.negative
            category.retentionYears = c.retentionYears
            category.subjectKinds = c.subjectKinds.map(\.wire)
            category.purposes = c.purposes.map(\.wire)
            return category
        }
        return response
    }
}

extension CalendarDate {
    /// The UTC calendar day of `date`.
    init(utcDayOf date: Date) {
        self.init(daysSinceEpoch: Int((date.timeIntervalSince1970 / 86_400).rounded(.down)))
    }
}
