import BureauCore
import Foundation
import Testing

@Suite("Log actions and the one entry factory")
struct LogActionTests {
    /// The names entries have always carried: changing one would break every stored entry's leaf hash.
    static let names: [(LogAction, String)] = [
        (.report(.individual), "report.individual"), (.report(.business), "report.business"),
        (.score(.individual), "score.individual"), (.score(.business), "score.business"),
        (.furnishSubmit, "furnish.submit"), (.furnishCorrect, "furnish.correct"), (.furnishDelete, "furnish.delete"),
        (.furnishSeed, "furnish.seed"), (.furnishImport, "furnish.import"), (.consentRegister, "consent.register"),
        (.consentRevoke, "consent.revoke"), (.subjectHistory, "subject.history"), (.subjectStatement, "subject.statement"),
        (.subjectFreeze, "subject.freeze"), (.subjectUnfreeze, "subject.unfreeze"), (.subjectFraudAlert, "subject.fraud-alert"),
        (.subjectFraudAlertRemoved, "subject.fraud-alert-removed"), (.repairRequest, "repair.request"),
        (.repairApprove, "repair.approve"), (.repairReject, "repair.reject"), (.disputeFile, "dispute.file"),
        (.disputeAnswer, "dispute.answer"), (.licenceSuspend, "licence.suspend"), (.licenceReinstate, "licence.reinstate"),
        (.anomalyDetected, "anomaly.detected"), (.retentionPurge, "retention.purge"),
        (.institutionRegister, "institution.register"), (.catalogueReplace, "catalogue.replace"),
        (.certificateRevoke, "certificate.revoke"),
        (.keysRotate, "keys.rotate"), (.keysEncryptExisting, "keys.encrypt-existing"),
    ]

    @Test("every action keeps its name, and a name read back is the same action")
    func names() {
        for (action, name) in Self.names {
            #expect(action.name == name)
            #expect(LogAction(name: name) == action)
        }
        #expect(Set(Self.names.map(\.1)).count == Self.names.count)
        let refused = LogAction.refusedCall("bureau.v1.SubjectService/PlaceFreeze")
        #expect(refused.name == "bureau.v1.SubjectService/PlaceFreeze")
        #expect(LogAction(name: refused.name) == refused)
    }

    @Test("reports and scores, and only they, are queries indexed under their subjects")
    func queries() {
        let queries = Self.names.map(\.0).filter(\.isQuery)
        #expect(queries == [.report(.individual), .report(.business), .score(.individual), .score(.business)])
        #expect(queries.filter(\.isScore) == [.score(.individual), .score(.business)])
        #expect(!LogAction.refusedCall("bureau.v1.ReportService/GetIndividualReport").isQuery)
    }

    @Test("the query index codes of purposes and outcomes are pinned to what stored entries hold")
    func indexCodes() {
        let purposes: [Purpose] = [
            .loanOrigination, .creditCardOrigination, .postLoanManagement, .guaranteeReview, .employmentScreening,
            .tenantScreening, .insuranceUnderwriting, .regulatorySupervision, .courtOrder, .selfAccess,
        ]
        #expect(purposes.map(\.indexCode) == Array(0...9))
        #expect(Set(Purpose.allCases) == Set(purposes))
        #expect(Outcome.hit.indexCode == 0 && Outcome.noHit.indexCode == 1 && Outcome.denied.indexCode == 2)
        #expect(Outcome.frozen.indexCode == 3 && Outcome.applied.indexCode == 4)
        for purpose in Purpose.allCases { #expect(Purpose(indexCode: purpose.indexCode) == purpose) }
        for outcome in Outcome.allCases { #expect(Outcome(indexCode: outcome.indexCode) == outcome) }
        #expect(Purpose(indexCode: 10) == nil && Outcome(indexCode: 5) == nil)
    }

    @Test("the factory names the actor's institution, certificate and operator id")
    func factory() {
        let actor = LogActor(institution: "91110000100000016D", certificateFingerprint: "ab", operatorID: "op-7")
        let entry = AccessLogEntry(.repairApprove, by: actor, time: Date(timeIntervalSince1970: 1), requestID: "r", outcome: .applied)
        #expect(entry.institution == actor.institution && entry.certificateFingerprint == "ab" && entry.operatorID == "op-7")
        let bureau = AccessLogEntry(.retentionPurge, by: .bureau(), time: Date(), requestID: "p", outcome: .applied)
        #expect(bureau.institution.isEmpty && bureau.certificateFingerprint.isEmpty && bureau.operatorID.isEmpty)
    }

    @Test("an entry logged before the typed action (JSON) decodes and encodes to the same JSON bytes")
    func storedEntryStillVerifies() throws {
        let subject = String(repeating: "0f", count: 32)
        let stored = #"{"action":"report.individual","certificate_sha256":"ab","change_sha256":"","consent_reference":"C-1","disclosed_fields":["identity.name:masked"],"disclosure_version":1,"institution":"91110000100000016D","legal_basis":"consent","operator_id":"","outcome":"hit","purpose":"loan-origination","reason":"","request_id":"r-1","subjects":[""#
            + subject + #""],"time":1700000000123}"#
        let bytes = Array(stored.utf8)
        let entry = try AccessLogEntry(canonicalBytes: bytes)
        #expect(entry.action == .report(.individual))
        #expect(entry.subjects == [SubjectKey(hex: subject)!])
        #expect(entry.jsonBytes() == bytes)
        let refused = #"{"action":"bureau.v1.CatalogService/ListCategories","certificate_sha256":"ab","change_sha256":"","consent_reference":"","disclosed_fields":[],"disclosure_version":0,"institution":"","legal_basis":"","operator_id":"","outcome":"denied","reason":"no","request_id":"","subjects":[],"time":1700000000456}"#
        let again = String(decoding: try AccessLogEntry(canonicalBytes: Array(refused.utf8)).jsonBytes(), as: UTF8.self)
        #expect(again == refused, "\(again)")
    }
}
