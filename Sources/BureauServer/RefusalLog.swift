import BureauAPI
import BureauCore
import BureauStore
import BureauWire
import GRPCCore
import Logging
import Metrics
import Synchronization

/// Logs every refused call, whichever service refuses it: a certificate that is revoked or bound to no
/// institution (UNAUTHENTICATED), a licence not in force, a missing role, another agency's consent, a wrong
/// freeze code (PERMISSION_DENIED), whether the caller resolver, a re-check inside a write transaction or
/// the service itself found it.
///
/// The entry (outcome `denied`, the refusal's message as its reason) names the certificate's fingerprint
/// and the institution it is bound to (for a revoked certificate, the one it was bound to when revoked),
/// the call (``RefusalDetails/refusedAction``, else the RPC's full name) and what the request names, when
/// it conforms to ``RefusalDetails``: the subject (by its keyed hash), the purpose and the request id. The
/// receipt goes back in the status's metadata, as for every logged refusal. Refusals a service logs itself
/// (reports, see ``LoggedRefusal``) pass through untouched; a call without a client certificate is not
/// logged (there is no one to name), nor is invalid input (README: nothing is logged for it).
struct RefusalLog: ServerInterceptor {
    let context: BureauContext

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context rpc: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let seen = FirstMessage<Input>()
        let operatorID = request.metadata[stringValues: OperatorMetadata.key].first(where: { _ in true }).map { String($0) } ?? ""
        let watched = StreamingServerRequest(
            metadata: request.metadata, messages: RPCAsyncSequence(wrapping: Watched(base: request.messages, seen: seen))
        )
        do {
            return try await next(watched, rpc).mappingProducerErrors { error in
                await self.logged(error, rpc, seen.message, operatorID)
            }
        } catch {
            throw await self.logged(error, rpc, seen.message, operatorID)
        }
    }

    /// `error` as the caller gets it: a refusal is logged and comes back as a ``LoggedRefusal``; anything
    /// else is returned as it is.
    private func logged<Message>(_ error: any Error, _ rpc: ServerContext, _ message: Message?, _ operatorID: String) async -> any Error {
        guard let refusal = error as? BureauError, refusal.code == .permissionDenied || refusal.code == .unauthenticated,
            let presenter = self.context.callers.presenter(of: rpc)
        else { return error }
        let details = message.flatMap { $0 as? any RefusalDetails }
        var subjects: [SubjectKey] = []
        if let (kind, text) = details?.refusedSubject, let kind, let identifier = try? SubjectIdentifier(kind: kind, parsing: text) {
            subjects = [self.context.store.key(for: identifier)]
        }
        let purpose = details?.refusedPurpose
        // The caller may not stand (revoked, unbound): the log names whoever presented the certificate.
        let actor = LogActor(
            institution: presenter.institution, certificateFingerprint: presenter.certificateFingerprint,
            operatorID: Self.loggable(String(operatorID.prefix(64)))
        )
        let entry = AccessLogEntry(
            details?.refusedAction ?? .refusedCall(rpc.descriptor.fullyQualifiedMethod),
            by: actor,
            time: self.context.now(),
            requestID: Self.loggable(details?.refusedRequestID ?? ""),
            subjects: subjects,
            purpose: purpose,
            legalBasis: purpose?.legalBasis ?? "",
            outcome: .denied,
            reason: refusal.message
        )
        do {
            let receipt = try await self.context.writer.submit { txn in try txn.appendLog(entry) }
            self.context.logger.info(
                "call refused",
                metadata: [
                    "method": "\(rpc.descriptor.fullyQualifiedMethod)", "institution": "\(presenter.institution)",
                    "status": "\(refusal.code)", "entry": "\(receipt.index)",
                ]
            )
            Counter(label: "bureau_refusals_total", dimensions: [("method", rpc.descriptor.fullyQualifiedMethod)]).increment()
            return LoggedRefusal(error: refusal, receipt: receipt)
        } catch {
            // No answer without its log entry: the caller learns the storage's error, not the refusal.
            self.context.logger.error("refusal not logged", metadata: ["method": "\(rpc.descriptor.fullyQualifiedMethod)", "error": "\(error)"])
            return error
        }
    }

    /// `text` when it may go into the log as a request or operator id, else empty: the same rule the
    /// services apply to ids they accept.
    private static func loggable(_ text: String) -> String {
        (try? Furnishing.validateBatchID(text)) == nil ? "" : text
    }
}

/// What a request names, for the log entry of its refusal. Nothing here is validated by the service
/// yet: the log keeps a subject only when its identifier parses, an id only when it passes the rule for
/// logged ids.
protocol RefusalDetails {
    /// The log action, for calls whose entries the subject's access history shows (reports, scores);
    /// nil: the RPC's full name.
    var refusedAction: LogAction? { get }
    /// The subject named: its kind (nil when the request's kind is not valid) and identifier as sent.
    var refusedSubject: (SubjectKind?, String)? { get }
    var refusedPurpose: Purpose? { get }
    var refusedRequestID: String { get }
}

extension RefusalDetails {
    var refusedAction: LogAction? { nil }
    var refusedSubject: (SubjectKind?, String)? { nil }
    var refusedPurpose: Purpose? { nil }
    var refusedRequestID: String { "" }
}

extension Bureau_IndividualReportRequest: RefusalDetails {
    var refusedAction: LogAction? { .report(.individual) }
    var refusedSubject: (SubjectKind?, String)? { (.individual, self.identifier) }
    var refusedPurpose: Purpose? { Purpose(self.purpose) }
    var refusedRequestID: String { self.requestID }
}

extension Bureau_BusinessReportRequest: RefusalDetails {
    var refusedAction: LogAction? { .report(.business) }
    var refusedSubject: (SubjectKind?, String)? { (.business, self.identifier) }
    var refusedPurpose: Purpose? { Purpose(self.purpose) }
    var refusedRequestID: String { self.requestID }
}

extension Bureau_ScoreRequest: RefusalDetails {
    var refusedAction: LogAction? { SubjectKind(self.subjectKind).map { .score($0) } }
    var refusedSubject: (SubjectKind?, String)? { (SubjectKind(self.subjectKind), self.identifier) }
    var refusedPurpose: Purpose? { Purpose(self.purpose) }
    var refusedRequestID: String { self.requestID }
}

extension Bureau_SubjectRequest: RefusalDetails {
    var refusedSubject: (SubjectKind?, String)? { (SubjectKind(self.subjectKind), self.subjectIdentifier) }
    var refusedRequestID: String { self.requestID }
}

/// Requests of the channel that carry a ``Bureau_SubjectRequest``.
protocol SubjectNaming: RefusalDetails {
    var subject: Bureau_SubjectRequest { get }
}

extension SubjectNaming {
    var refusedSubject: (SubjectKind?, String)? { self.subject.refusedSubject }
    var refusedRequestID: String { self.subject.requestID }
}

extension Bureau_StatementRequest: SubjectNaming {}
extension Bureau_DisputeRequest: SubjectNaming {}
extension Bureau_RepairRequest: SubjectNaming {}
extension Bureau_LiftFreezeRequest: SubjectNaming {}
extension Bureau_FraudAlertRequest: SubjectNaming {}

extension Bureau_RegisterConsentRequest: RefusalDetails {
    var refusedSubject: (SubjectKind?, String)? { (SubjectKind(self.subjectKind), self.subjectIdentifier) }
    var refusedPurpose: Purpose? { Purpose(self.purpose) }
    var refusedRequestID: String { self.requestID }
}

extension Bureau_RevokeConsentRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}

extension Bureau_SubmitRecordsRequest: RefusalDetails {
    var refusedRequestID: String { self.batchID }
}

extension Bureau_CorrectRecordRequest: RefusalDetails {
    var refusedSubject: (SubjectKind?, String)? { (SubjectKind(self.ref.subjectKind), self.ref.subjectIdentifier) }
    var refusedRequestID: String { self.requestID }
}

extension Bureau_DeleteRecordRequest: RefusalDetails {
    var refusedSubject: (SubjectKind?, String)? { (SubjectKind(self.ref.subjectKind), self.ref.subjectIdentifier) }
    var refusedRequestID: String { self.requestID }
}

extension Bureau_AnswerDisputeRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}

extension Bureau_QueryAccessLogRequest: RefusalDetails {
    var refusedSubject: (SubjectKind?, String)? {
        self.subjectIdentifier.isEmpty ? nil : (SubjectKind(self.subjectKind), self.subjectIdentifier)
    }
    var refusedPurpose: Purpose? { Purpose(self.purpose) }
}

extension Bureau_LicenceActionRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}

extension Bureau_ReviewRepairRequest: RefusalDetails {
    var refusedRequestID: String { self.requestID }
}

/// The first message of a request, kept as it passes to the handler.
private final class FirstMessage<Message: Sendable>: Sendable {
    private let first = Mutex<Message?>(nil)

    var message: Message? { self.first.withLock { $0 } }

    func keep(_ message: Message) {
        self.first.withLock { if $0 == nil { $0 = message } }
    }
}

/// A request's messages, unchanged, with the first one kept for ``RefusalLog``.
private struct Watched<Message: Sendable>: AsyncSequence, Sendable {
    typealias Element = Message
    typealias Failure = any Error

    let base: RPCAsyncSequence<Message, any Error>
    let seen: FirstMessage<Message>

    func makeAsyncIterator() -> Iterator { Iterator(base: self.base.makeAsyncIterator(), seen: self.seen) }

    struct Iterator: AsyncIteratorProtocol {
        var base: RPCAsyncSequence<Message, any Error>.AsyncIterator
        let seen: FirstMessage<Message>

        mutating func next() async throws -> Message? {
            let message = try await self.base.next()
            if let message { self.seen.keep(message) }
            return message
        }
    }
}
