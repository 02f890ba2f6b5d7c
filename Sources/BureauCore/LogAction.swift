/// What a log entry records: the action of a call or of the bureau itself.
///
/// A struct over a private enum (like `RPCError.Code`), so that actions can be added without breaking
/// a `switch` elsewhere. Each action's ``name`` is the string written in the entry's canonical bytes
/// (`"action"`); those names never change, so that every entry ever logged still verifies.
public struct LogAction: Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case report(SubjectKind)
        case score(SubjectKind)
        case furnishSubmit, furnishCorrect, furnishDelete, furnishSeed, furnishImport
        case consentRegister, consentRevoke
        case subjectHistory, subjectStatement, subjectFreeze, subjectUnfreeze, subjectFraudAlert, subjectFraudAlertRemoved
        case repairRequest, repairApprove, repairReject
        case disputeFile, disputeAnswer
        case licenceSuspend, licenceReinstate
        case anomalyDetected
        case retentionPurge
        case institutionRegister, institutionUpdate, catalogueReplace, certificateBind, certificateRevoke, keysRotate,
            keysEncryptExisting
        /// A refused call, named by the RPC's full method name; also any name this build does not know.
        case call(String)
    }

    private let code: Code

    private init(_ code: Code) {
        self.code = code
    }

    /// A report about a subject of `kind`: `report.individual`, `report.business`.
    public static func report(_ kind: SubjectKind) -> LogAction { LogAction(.report(kind)) }
    /// A score about a subject of `kind`: `score.individual`, `score.business`.
    public static func score(_ kind: SubjectKind) -> LogAction { LogAction(.score(kind)) }
    /// `furnish.submit`: a furnisher's batch of records.
    public static let furnishSubmit = LogAction(.furnishSubmit)
    /// `furnish.correct`: a furnisher corrected one of its records.
    public static let furnishCorrect = LogAction(.furnishCorrect)
    /// `furnish.delete`: a furnisher deleted one of its records.
    public static let furnishDelete = LogAction(.furnishDelete)
    /// `furnish.seed`: demo records loaded into a new installation.
    public static let furnishSeed = LogAction(.furnishSeed)
    /// `furnish.import`: records loaded by the bulk importer.
    public static let furnishImport = LogAction(.furnishImport)
    /// `consent.register`: an agency filed a subject's consent.
    public static let consentRegister = LogAction(.consentRegister)
    /// `consent.revoke`: a consent was revoked.
    public static let consentRevoke = LogAction(.consentRevoke)
    /// `subject.history`: the subject read who asked about its file.
    public static let subjectHistory = LogAction(.subjectHistory)
    /// `subject.statement`: the subject added a statement to its file.
    public static let subjectStatement = LogAction(.subjectStatement)
    /// `subject.freeze`: the subject froze its file.
    public static let subjectFreeze = LogAction(.subjectFreeze)
    /// `subject.unfreeze`: the subject lifted its freeze.
    public static let subjectUnfreeze = LogAction(.subjectUnfreeze)
    /// `subject.fraud-alert`: the subject placed a fraud alert.
    public static let subjectFraudAlert = LogAction(.subjectFraudAlert)
    /// `subject.fraud-alert-removed`: the subject removed its fraud alert.
    public static let subjectFraudAlertRemoved = LogAction(.subjectFraudAlertRemoved)
    /// `repair.request`: the subject asked for a record to be repaired.
    public static let repairRequest = LogAction(.repairRequest)
    /// `repair.approve`: an operator approved a repair; the record is gone.
    public static let repairApprove = LogAction(.repairApprove)
    /// `repair.reject`: an operator rejected a repair.
    public static let repairReject = LogAction(.repairReject)
    /// `dispute.file`: the subject disputed a record.
    public static let disputeFile = LogAction(.disputeFile)
    /// `dispute.answer`: the furnisher answered a dispute.
    public static let disputeAnswer = LogAction(.disputeAnswer)
    /// `licence.suspend`: the regulator suspended a licence.
    public static let licenceSuspend = LogAction(.licenceSuspend)
    /// `licence.reinstate`: the regulator reinstated a licence.
    public static let licenceReinstate = LogAction(.licenceReinstate)
    /// `anomaly.detected`: the monitor found an anomaly in an institution's queries.
    public static let anomalyDetected = LogAction(.anomalyDetected)
    /// `retention.purge`: records deleted or masked at the end of their retention.
    public static let retentionPurge = LogAction(.retentionPurge)
    /// `institution.register`: an institution registered or replaced.
    public static let institutionRegister = LogAction(.institutionRegister)
    /// An institution's name, roles, categories or licence changed by an operator.
    public static let institutionUpdate = LogAction(.institutionUpdate)
    /// A client certificate bound to an institution by an operator.
    public static let certificateBind = LogAction(.certificateBind)
    /// `catalogue.replace`: a new catalogue put in force.
    public static let catalogueReplace = LogAction(.catalogueReplace)
    /// `certificate.revoke`: a client certificate revoked.
    public static let certificateRevoke = LogAction(.certificateRevoke)
    /// `keys.rotate`: the key-encryption key rotated (every data key re-wrapped).
    public static let keysRotate = LogAction(.keysRotate)
    /// `keys.encrypt-existing`: an installation made before encryption at rest converted in place (`bureau keys
    /// encrypt-existing`): every personal value sealed, record keys re-keyed, the keyed-hash secret wrapped.
    public static let keysEncryptExisting = LogAction(.keysEncryptExisting)

    /// A refused call, named by its RPC's full method name (`bureau.v1.SubjectService/PlaceFreeze`).
    public static func refusedCall(_ method: String) -> LogAction { LogAction(name: method) }

    /// Every action with a fixed name.
    static let named: [LogAction] = [
        .report(.individual), .report(.business), .score(.individual), .score(.business),
        .furnishSubmit, .furnishCorrect, .furnishDelete, .furnishSeed, .furnishImport, .consentRegister, .consentRevoke,
        .subjectHistory, .subjectStatement, .subjectFreeze, .subjectUnfreeze, .subjectFraudAlert, .subjectFraudAlertRemoved,
        .repairRequest, .repairApprove, .repairReject, .disputeFile, .disputeAnswer, .licenceSuspend, .licenceReinstate,
        .anomalyDetected, .retentionPurge, .institutionRegister, .institutionUpdate, .catalogueReplace, .certificateBind,
        .certificateRevoke, .keysRotate, .keysEncryptExisting,
    ]
    private static let byName = Dictionary(uniqueKeysWithValues: named.map { ($0.name, $0) })

    /// The action named `name` in an entry: one of the fixed names, else a call named by its method.
    public init(name: String) {
        self = Self.byName[name] ?? LogAction(.call(name))
    }

    /// The name written in the entry's canonical bytes.
    public var name: String {
        switch self.code {
        case .report(let kind): "report." + kind.rawValue
        case .score(let kind): "score." + kind.rawValue
        case .furnishSubmit: "furnish.submit"
        case .furnishCorrect: "furnish.correct"
        case .furnishDelete: "furnish.delete"
        case .furnishSeed: "furnish.seed"
        case .furnishImport: "furnish.import"
        case .consentRegister: "consent.register"
        case .consentRevoke: "consent.revoke"
        case .subjectHistory: "subject.history"
        case .subjectStatement: "subject.statement"
        case .subjectFreeze: "subject.freeze"
        case .subjectUnfreeze: "subject.unfreeze"
        case .subjectFraudAlert: "subject.fraud-alert"
        case .subjectFraudAlertRemoved: "subject.fraud-alert-removed"
        case .repairRequest: "repair.request"
        case .repairApprove: "repair.approve"
        case .repairReject: "repair.reject"
        case .disputeFile: "dispute.file"
        case .disputeAnswer: "dispute.answer"
        case .licenceSuspend: "licence.suspend"
        case .licenceReinstate: "licence.reinstate"
        case .anomalyDetected: "anomaly.detected"
        case .retentionPurge: "retention.purge"
        case .institutionRegister: "institution.register"
        case .institutionUpdate: "institution.update"
        case .certificateBind: "certificate.bind"
        case .catalogueReplace: "catalogue.replace"
        case .certificateRevoke: "certificate.revoke"
        case .keysRotate: "keys.rotate"
        case .keysEncryptExisting: "keys.encrypt-existing"
        case .call(let method): method
        }
    }

    public var description: String { self.name }

    /// The action's pinned one-byte code in a compact entry (docs/LOG-ENTRY.md): its place in ``named``
    /// counted from 1, or nil for an action written by name (code 0). Actions are only ever appended to
    /// ``named``, so a code never changes.
    public var entryCode: UInt8? {
        Self.codes[self.name]
    }

    /// The action whose ``entryCode`` is `code`, or nil.
    public init?(entryCode code: UInt8) {
        guard code >= 1, Int(code) <= Self.named.count else { return nil }
        self = Self.named[Int(code) - 1]
    }

    private static let codes = Dictionary(uniqueKeysWithValues: named.enumerated().map { ($0.element.name, UInt8($0.offset + 1)) })

    /// A request for a report or a score about its subjects (granted or refused): indexed under each
    /// subject for the file's query records and the subject's access history, and counted by the anomaly
    /// monitor.
    public var isQuery: Bool {
        switch self.code {
        case .report, .score: true
        default: false
        }
    }

    /// A score rather than a report.
    public var isScore: Bool {
        if case .score = self.code { return true }
        return false
    }
}

extension LogAction: Codable {
    /// Decodes the action's ``name``.
    public init(from decoder: any Decoder) throws {
        self.init(name: try decoder.singleValueContainer().decode(String.self))
    }

    /// Encodes the action's ``name``, as the canonical bytes have always held it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.name)
    }
}

/// Who a log entry names as acting: the institution, the certificate it called with and, for an
/// operator's client, the member of staff. Services take it from their caller, so that none of the three
/// is forgotten; the bureau's own work (retention, imports, demo data) names no one or only the
/// institution concerned.
public struct LogActor: Hashable, Sendable {
    /// The institution's Unified Social Credit Code, or empty.
    public var institution: String
    /// Hex SHA-256 of the caller's certificate, or empty.
    public var certificateFingerprint: String
    /// The operator id, or empty.
    public var operatorID: String

    public init(institution: String, certificateFingerprint: String, operatorID: String) {
        self.institution = institution
        self.certificateFingerprint = certificateFingerprint
        self.operatorID = operatorID
    }

    /// The bureau itself, with the operator who ran the tool, if any.
    public static func bureau(operatorID: String = "") -> LogActor {
        LogActor(institution: "", certificateFingerprint: "", operatorID: operatorID)
    }

    /// The bureau's own work about or on behalf of institution `code`, with no certificate.
    public static func bureau(for code: String, operatorID: String = "") -> LogActor {
        LogActor(institution: code, certificateFingerprint: "", operatorID: operatorID)
    }
}
