public import BureauAPI
import BureauWire
public import BureauCore
public import BureauStore
import Crypto
import Foundation
public import GRPCCore
import SwiftProtobuf

/// The key that signs the log's checkpoints: `checkpoint.key` in the data folder (the Ed25519 private
/// key, 32 bytes, mode 0600), made on first start. Its verifier key is what regulators hold.
public enum CheckpointKey {
    public static let fileName = "checkpoint.key"

    /// The signer for `origin`, with the key from `folder` (made when absent).
    public static func loadOrCreate(in folder: String, origin: String) throws -> NoteSigner {
        let path = (folder as NSString).appendingPathComponent(fileName)
        let fm = FileManager.default
        if let data = fm.contents(atPath: path) {
            return NoteSigner(name: origin, key: try Curve25519.Signing.PrivateKey(rawRepresentation: data))
        }
        let key = Curve25519.Signing.PrivateKey()
        guard fm.createFile(atPath: path, contents: key.rawRepresentation, attributes: [.posixPermissions: 0o600]) else {
            throw BureauError(.internal, "cannot write \(path)")
        }
        return NoteSigner(name: origin, key: key)
    }
}

/// Signs checkpoints of the current tree.
public struct CheckpointPublisher: Sendable {
    let store: Store
    public let signer: NoteSigner

    public init(store: Store, signer: NoteSigner) {
        self.store = store
        self.signer = signer
    }

    /// The current checkpoint, signed.
    public func current() throws -> (note: String, checkpoint: Checkpoint) {
        let checkpoint = try self.store.read { txn in
            let size = try txn.logSize()
            return Checkpoint(origin: self.signer.name, size: size, root: try txn.tree.root(size: size))
        }
        return (try self.signer.sign(checkpoint.body), checkpoint)
    }
}

/// The regulators' view of the access log.
public struct OversightService: Bureau_OversightService.SimpleServiceProtocol {
    let context: BureauContext
    let publisher: CheckpointPublisher
    let monitor: AnomalyMonitor

    init(context: BureauContext, publisher: CheckpointPublisher, monitor: AnomalyMonitor) {
        self.context = context
        self.publisher = publisher
        self.monitor = monitor
    }

    public func listOverdueDisputes(request: Bureau_ListOverdueDisputesRequest, context: ServerContext) async throws -> Bureau_ListOverdueDisputesResponse {
        let caller = try self.context.callers.caller(of: context)
        guard caller.institution.roles.contains(.regulator) || caller.institution.roles.contains(.operator) else {
            throw BureauError(.permissionDenied, "this call needs the regulator or operator role")
        }
        let today = CalendarDate(utcDayOf: self.context.now())
        let catalogue = try self.context.catalogue.current()
        var response = Bureau_ListOverdueDisputesResponse()
        // A dispute follows its record: once the record's retention ended, it is not listed (the purge deletes it).
        response.disputes = try self.context.store.read { txn in
            try txn.overdueDisputes(on: today).filter { !(try txn.hasExpired($0.record, ofSubject: $0.subject, on: today, under: catalogue)) }
        }.map { dispute in
            var line = Bureau_OverdueDispute()
            line.disputeID = dispute.id
            line.furnisher = dispute.record.furnisher.value
            line.kind = dispute.record.kind.wire
            line.recordID = dispute.record.recordID
            line.filed = Bureau_CalendarDate(dispute.filed)
            line.deadline = Bureau_CalendarDate(dispute.deadline)
            return line
        }
        return response
    }

    public func listRepairs(request: Bureau_ListRepairsRequest, context: ServerContext) async throws -> Bureau_ListRepairsResponse {
        let caller = try self.context.callers.caller(of: context)
        guard caller.institution.roles.contains(.operator) || caller.institution.roles.contains(.regulator) else {
            throw BureauError(.permissionDenied, "this call needs the operator or regulator role")
        }
        var response = Bureau_ListRepairsResponse()
        response.repairs = try self.context.store.read { try $0.pendingRepairs() }.map { repair in
            var line = Bureau_PendingRepair()
            line.repairID = repair.id
            line.kind = repair.record.kind.wire
            line.furnisher = repair.record.furnisher.value
            line.recordID = repair.record.recordID
            line.requested = Bureau_CalendarDate(repair.requested)
            line.rectification = repair.rectification
            return line
        }
        return response
    }

    public func reviewRepair(request: Bureau_ReviewRepairRequest, context: ServerContext) async throws -> Bureau_LicenceActionResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(.operator)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        let note = request.note.trimmingCharacters(in: .whitespacesAndNewlines)
        try Furnishing.validateLoggedText(request.note, field: "note")
        guard !request.repairID.isEmpty else { throw BureauError.invalid("repair_id", "is required") }
        try LoggedText.check(request.repairID, field: "repair_id", limit: .recordID)
        let time = self.context.now()
        let catalogue = try self.context.catalogue.current()
        let approve = request.approve
        let id = request.repairID
        let digest = try FurnishService.digest(request)
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard var repair = try txn.repair(id) else { throw BureauError(.notFound, "repair_id: no repair request \(id)") }
            guard repair.status == .pending else { throw BureauError(.failedPrecondition, "repair_id: \(id) was reviewed already") }
            repair.status = approve ? .approved : .rejected
            repair.reviewedBy = caller.operatorID
            repair.note = note
            try txn.putRepair(repair)
            if approve {
                // Repaired: the record goes, and cannot come back unchanged.
                try txn.deleteRecord(repair.record, of: repair.subject, catalogue: catalogue, tombstone: true)
            }
            return try txn.appendLog(
                AccessLogEntry(
                    approve ? .repairApprove : .repairReject, by: caller.actor, time: time, requestID: request.requestID,
                    subjects: [repair.subject], outcome: .applied, reason: "\(id): \(repair.record.logged)",
                    changeDigest: digest
                )
            )
        }
        var response = Bureau_LicenceActionResponse()
        response.status = approve ? "approved" : "rejected"
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }

    public func listAnomalies(request: Bureau_ListAnomaliesRequest, context: ServerContext) async throws -> Bureau_ListAnomaliesResponse {
        try self.regulator(context)
        var day = CalendarDate(utcDayOf: self.context.now())
        if request.hasDay {
            guard let asked = CalendarDate(year: Int(request.day.year), month: Int(request.day.month), day: Int(request.day.day)) else {
                throw BureauError.invalid("day", "must be a real date")
            }
            day = asked
        }
        var response = Bureau_ListAnomaliesResponse()
        response.anomalies = try await self.monitor.anomalies(on: day).map { recorded in
            var line = Bureau_AnomalyLine()
            line.kind = recorded.anomaly.kind.rawValue
            line.institution = recorded.anomaly.institution
            line.day = Bureau_CalendarDate(recorded.anomaly.day)
            line.evidence = recorded.anomaly.evidence
            line.entries = recorded.anomaly.entries
            line.receipt = Bureau_LogReceipt(recorded.receipt)
            return line
        }
        return response
    }

    private func regulator(_ context: ServerContext) throws {
        try self.context.callers.caller(of: context).institution.require(.regulator)
    }

    public func getCheckpoint(request: Bureau_GetCheckpointRequest, context: ServerContext) async throws -> Bureau_CheckpointResponse {
        try self.regulator(context)
        let (note, checkpoint) = try self.publisher.current()
        var response = Bureau_CheckpointResponse()
        response.signedNote = note
        response.treeSize = checkpoint.size
        response.rootHash = Data(checkpoint.root)
        return response
    }

    public func getInclusionProof(request: Bureau_InclusionProofRequest, context: ServerContext) async throws -> Bureau_InclusionProofResponse {
        try self.regulator(context)
        return try self.context.store.read { txn in
            let latest = try txn.logSize()
            let size = request.treeSize == 0 ? latest : request.treeSize
            guard size <= latest else { throw BureauError.invalid("tree_size", "is above the log's size \(latest)") }
            guard request.entryIndex < size else { throw BureauError.invalid("entry_index", "must be below tree_size \(size)") }
            var response = Bureau_InclusionProofResponse()
            response.entryIndex = request.entryIndex
            response.treeSize = size
            response.leafHash = Data(try txn.treeNode(level: 0, index: request.entryIndex))
            response.proof = try txn.tree.inclusionProof(index: request.entryIndex, size: size).map { Data($0) }
            return response
        }
    }

    public func getConsistencyProof(request: Bureau_ConsistencyProofRequest, context: ServerContext) async throws -> Bureau_ConsistencyProofResponse {
        try self.regulator(context)
        return try self.context.store.read { txn in
            let latest = try txn.logSize()
            guard request.newSize <= latest else { throw BureauError.invalid("new_size", "is above the log's size \(latest)") }
            guard request.oldSize <= request.newSize else { throw BureauError.invalid("old_size", "must not be above new_size") }
            var response = Bureau_ConsistencyProofResponse()
            response.proof = try txn.tree.consistencyProof(size1: request.oldSize, size2: request.newSize).map { Data($0) }
            return response
        }
    }

    public func getEntries(request: Bureau_GetEntriesRequest, context: ServerContext) async throws -> Bureau_GetEntriesResponse {
        try self.regulator(context)
        guard (1...1000).contains(request.count) else { throw BureauError.invalid("count", "is 1 to 1000") }
        // Fewer than asked when the entries are large: clients go on from the last index they got.
        let entries = try self.context.store.read {
            try $0.logEntries(from: request.start, limit: Int(request.count), maxBytes: Self.pageBytes)
        }
        var response = Bureau_GetEntriesResponse()
        response.entries = entries.map { logged in
            var entry = Bureau_LogEntry()
            entry.index = logged.index
            entry.canonical = Data(logged.bytes)
            entry.leafHash = Data(logged.leafHash)
            return entry
        }
        return response
    }

    /// The most canonical bytes of entries in one message (GetEntries page or QueryAccessLog message): with
    /// each entry's index and leaf hash it stays below gRPC's 4 MiB message limit. One entry always fits
    /// (see ``AccessLogEntry/maxCanonicalBytes``).
    static let pageBytes = 3 << 20

    public func queryAccessLog(
        request: Bureau_QueryAccessLogRequest,
        response: RPCWriter<Bureau_QueryAccessLogResponse>,
        context: ServerContext
    ) async throws {
        try self.regulator(context)
        let pageSize = request.pageSize == 0 ? 100 : Int(request.pageSize)
        guard (1...1000).contains(pageSize) else { throw BureauError.invalid("page_size", "is 1 to 1000") }
        try FieldLimit.filter.check(request.pageToken, field: "page_token")
        try FieldLimit.filter.check(request.outcome, field: "outcome")
        try FieldLimit.identifier.check(request.institution, field: "institution")
        var start: UInt64 = 0
        if !request.pageToken.isEmpty {
            guard let token = UInt64(request.pageToken) else { throw BureauError.invalid("page_token", "is a token from next_page_token") }
            start = token
        }
        var subject: SubjectKey?
        if !request.subjectIdentifier.isEmpty {
            guard let kind = SubjectKind(request.subjectKind) else { throw BureauError.invalid("subject_kind", "must be individual or business") }
            subject = self.context.store.key(for: try SubjectIdentifier(kind: kind, parsing: request.subjectIdentifier, field: "subject_identifier"))
        }
        var purpose: Purpose?
        if request.purpose != .unspecified { purpose = try Purpose.parse(request.purpose) }
        var outcome: Outcome?
        if !request.outcome.isEmpty {
            guard let parsed = Outcome(rawValue: request.outcome) else {
                throw BureauError.invalid("outcome", "is hit, no-hit, denied, frozen or applied")
            }
            outcome = parsed
        }
        let from = request.hasFrom ? request.from.date : nil
        let to = request.hasTo ? request.to.date : nil
        let institution = request.institution

        // At most this many entries are scanned a call; the last page then carries where to go on.
        let scanLimit: UInt64 = 100_000
        let end = try self.context.store.read { try $0.logSize() }
        var position = start
        var page: [Bureau_LogEntry] = []
        var pageBytes = 0
        while position < end && position - start < scanLimit {
            let batch = try self.context.store.read { try $0.logEntries(from: position, limit: 1000, maxBytes: Self.pageBytes) }
            if batch.isEmpty { break }
            for logged in batch {
                position = logged.index + 1
                let e = logged.entry
                if !institution.isEmpty && e.institution != institution { continue }
                if let subject, !e.subjects.contains(subject) { continue }
                if let purpose, e.purpose != purpose { continue }
                if let outcome, e.outcome != outcome { continue }
                if let from, e.time < from { continue }
                if let to, e.time > to { continue }
                if !page.isEmpty && pageBytes + logged.bytes.count > Self.pageBytes {
                    // A message of large entries ends early, below the message limit.
                    var message = Bureau_QueryAccessLogResponse()
                    message.entries = page
                    try await response.write(message)
                    page.removeAll(keepingCapacity: true)
                    pageBytes = 0
                }
                var entry = Bureau_LogEntry()
                entry.index = logged.index
                entry.canonical = Data(logged.bytes)
                entry.leafHash = Data(logged.leafHash)
                page.append(entry)
                pageBytes += logged.bytes.count
                if page.count == pageSize {
                    var message = Bureau_QueryAccessLogResponse()
                    message.entries = page
                    try await response.write(message)
                    page.removeAll(keepingCapacity: true)
                    pageBytes = 0
                }
            }
        }
        var last = Bureau_QueryAccessLogResponse()
        last.entries = page
        if position < end { last.nextPageToken = String(position) }
        try await response.write(last)
    }

    public func followAccessLog(
        request: Bureau_FollowAccessLogRequest,
        response: RPCWriter<Bureau_LogEntry>,
        context: ServerContext
    ) async throws {
        try self.regulator(context)
        let store = self.context.store
        let shutdown = self.context.shutdown
        // Capped in number; each holds at most one batch of 100 entries, and one that stalls is cut off.
        try await self.context.followers.follow { watch in
            var next = request.fromIndex
            // gRPC signals a cancelled RPC (client gone, deadline) through the context, not the task.
            while !Task.isCancelled && !context.cancellation.isCancelled && !shutdown.isShuttingDown {
                let batch = try store.read { try $0.logEntries(from: next, limit: 100) }
                for logged in batch {
                    var entry = Bureau_LogEntry()
                    entry.index = logged.index
                    entry.canonical = Data(logged.bytes)
                    entry.leafHash = Data(logged.leafHash)
                    try await watch.write { try await response.write(entry) }
                    next = logged.index + 1
                }
                if batch.isEmpty {
                    // Entries are committed in batches; a short poll keeps followers within a fraction of a second.
                    do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
                }
            }
        }
    }

    public func suspendLicence(request: Bureau_LicenceActionRequest, context: ServerContext) async throws -> Bureau_LicenceActionResponse {
        try await self.changeLicence(request, context, to: .suspended, action: .licenceSuspend)
    }

    public func reinstateLicence(request: Bureau_LicenceActionRequest, context: ServerContext) async throws -> Bureau_LicenceActionResponse {
        try await self.changeLicence(request, context, to: .active, action: .licenceReinstate)
    }

    /// Suspends or reinstates a licence for a caller with `role` (regulators here, operators through
    /// ``AdministrationService``).
    func changeLicence(
        _ request: Bureau_LicenceActionRequest, _ context: ServerContext, to status: LicenceStatus, action: LogAction, role: Role = .regulator
    ) async throws -> Bureau_LicenceActionResponse {
        let caller = try self.context.callers.caller(of: context)
        try caller.institution.require(role)
        try Furnishing.validateBatchID(request.requestID, field: "request_id")
        let code = try UnifiedSocialCreditCode(parsing: request.institution, field: "institution")
        let reason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        try Furnishing.validateLoggedText(request.reason, field: "reason")
        guard !reason.isEmpty else { throw BureauError.invalid("reason", "is required") }
        let time = self.context.now()
        let entry = AccessLogEntry(
            action, by: caller.actor, time: time, requestID: request.requestID, outcome: .applied,
            reason: "\(code): \(reason)", changeDigest: try FurnishService.digest(request)
        )
        let receipt = try await self.context.commit(for: caller) { txn -> LogReceipt in
            guard var institution = try txn.institution(code: code) else {
                throw BureauError(.notFound, "institution: \(code) is not registered")
            }
            if institution.licence.status == .revoked {
                throw BureauError(.failedPrecondition, "institution: the licence of \(code) is revoked and cannot change")
            }
            institution.licence.status = status
            try txn.putInstitution(institution)
            return try txn.appendLog(entry)
        }
        var response = Bureau_LicenceActionResponse()
        response.status = status.rawValue
        response.receipt = Bureau_LogReceipt(receipt)
        return response
    }
}

/// Answers pings: the transport's ceiling, for `bureau bench report`.
public struct DiagnosticsService: Bureau_DiagnosticsService.SimpleServiceProtocol {
    public init() {}

    public func ping(request: Bureau_PingRequest, context: ServerContext) async throws -> Bureau_PingResponse {
        Bureau_PingResponse()
    }
}
