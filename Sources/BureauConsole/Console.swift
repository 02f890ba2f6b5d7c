public import BureauAPI
public import BureauClient
public import BureauCore
import BureauWire
public import Foundation
public import GRPCCore
public import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import SwiftProtobuf

/// The regulator's web console: a local web application over bureaud's oversight API that shows nothing it has
/// not verified against a checkpoint whose signature it checked with the configured key.
///
/// ```swift
/// try await withGRPCClient(transport: transport) { grpc in
///     let console = RegulatorConsole(client: grpc, verifier: verifier, memory: memory, memoryPath: path, serverAddress: "host:port")
///     try await console.serve(on: listen) { url in print(url) }
/// }
/// ```
public struct RegulatorConsole<Transport: ClientTransport>: Sendable {
    let oversight: Bureau_OversightService.Client<Transport>
    let mirror: LogMirror<Transport>
    let token: SessionToken
    let options: CallOptions
    let serverAddress: String

    /// The most entries one export holds.
    public static var exportLimit: Int { 100_000 }

    public init(
        client: GRPCClient<Transport>, verifier: NoteVerifier, memory: CheckpointMemory, memoryPath: String, serverAddress: String,
        token: SessionToken = SessionToken(), timeout: Duration = .seconds(10)
    ) {
        var options = CallOptions.defaults
        options.timeout = timeout
        self.options = options
        self.oversight = Bureau_OversightService.Client(wrapping: client)
        self.mirror = LogMirror(oversight: self.oversight, verifier: verifier, options: options, memory: memory, memoryPath: memoryPath)
        self.token = token
        self.serverAddress = serverAddress
    }

    /// Brings the console's verified view of the log up to date (the first look, before serving).
    public func refresh() async -> LogView { await self.mirror.refresh() }

    /// Serves the console on `address` until cancelled; `onListening` gets the URL to open (with the session token).
    public func serve(on address: ListenAddress, onListening: @escaping @Sendable (String) -> Void) async throws {
        let host = address.description.hasPrefix("[") ? "[\(address.host)]" : address.host
        var logger = Logger(label: "bureau.console")
        logger.logLevel = .warning
        let app = Application(
            router: self.router(),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                onListening("http://\(host):\(port)/?token=\(self.token.value)")
            },
            logger: logger
        )
        try await app.run()
    }

    /// The routes, behind the session-token guard.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: SessionGuard(token: self.token))
        router.get("/static/console.css") { _, _ in Web.response(StaticFiles.css, type: "text/css; charset=utf-8") }
        router.get("/static/console.js") { _, _ in Web.response(StaticFiles.javascript, type: "text/javascript; charset=utf-8") }
        router.get("/") { request, _ in try await self.dashboard(request) }
        router.get("/log") { request, _ in try await self.search(request) }
        router.get("/log/export") { request, _ in try await self.export(request) }
        router.get("/entry/:index") { request, context in try await self.entry(request, index: context.parameters.get("index")) }
        router.get("/checkpoints") { request, _ in try await self.checkpoints(request) }
        router.get("/actions") { request, _ in try await self.actions(request, message: nil) }
        router.post("/actions/licence") { request, _ in try await self.licenceAction(request) }
        router.post("/actions/repair") { request, _ in try await self.repairAction(request) }
        return router
    }

    // MARK: Pages

    struct Context {
        var language: Language
        var query: FormFields
        var layout: Layout
        var setLanguage: Language?
    }

    func context(_ request: Request) async -> Context {
        let query = FormFields(parsing: request.uri.query ?? "")
        var language = Language.preferred(acceptLanguage: request.headers[.acceptLanguage])
        if let cookie = request.cookies["lang"]?.value, let chosen = Language(rawValue: String(cookie)) { language = chosen }
        var set: Language?
        if let chosen = query["lang"].flatMap(Language.init(rawValue:)) {
            language = chosen
            set = chosen
        }
        let view = await self.mirror.refresh()
        return Context(language: language, query: query, layout: Layout(language: language, path: request.uri.path, view: view, serverAddress: self.serverAddress), setLanguage: set)
    }

    func page(_ c: Context, title: Text, _ body: String, status: HTTPResponse.Status = .ok) -> Response {
        var response = Web.response(c.layout.page(title: title(c.language), body), type: "text/html; charset=utf-8", status: status)
        if let set = c.setLanguage {
            response.headers.append(HTTPField(name: .setCookie, value: "lang=\(set.rawValue); Path=/; SameSite=Strict; Max-Age=31536000"))
        }
        return response
    }

    func dashboard(_ request: Request) async throws -> Response {
        let c = await self.context(request)
        let t = c.language
        let view = c.layout.view
        let stats = view.statistics
        var body = "<div class=\"cards\">"
        body += "<div class=\"card\"><div>\(esc(Text.treeSize(t)))</div><div class=\"big\" id=\"tree-size\">\(view.checkpoint.map { String($0.size) } ?? "–")</div></div>"
        body += "<div class=\"card\"><div>\(esc(Text.checkpointFirstSeen(t)))</div><div>\(view.firstSeen.map(Dates.element) ?? "–")</div>"
        if let seen = view.firstSeen { body += "<div class=\"hint\">\(Self.age(since: seen, t))</div>" }
        body += "</div><div class=\"card\"><div>\(esc(Text.lastEntry(t)))</div><div>\(stats.latest.map(Dates.element) ?? "–")</div></div></div>"

        let days = stats.recentDays(14)
        if days.isEmpty {
            body += "<p>\(esc(Text.noEntriesYet(t)))</p>"
        } else {
            body += "<div class=\"charts\">"
            body += Charts.stacked(id: "chart-purpose", caption: Text.entriesPerDayPurpose(t), days: days, series: \.byPurpose, language: t)
            body += Charts.stacked(id: "chart-outcome", caption: Text.entriesPerDayOutcome(t), days: days, series: \.byOutcome, language: t)
            body += Charts.stacked(id: "chart-institution", caption: Text.entriesPerDayInstitution(t), days: days, series: \.byInstitution, language: t)
            body += "</div>"
        }
        let ratios = stats.refusals.sorted { $0.value.ratio != $1.value.ratio ? $0.value.ratio > $1.value.ratio : $0.key < $1.key }
        body += "<h2>\(esc(Text.refusalRatios(t)))</h2>"
        body += table(
            [Text.institution(t), Text.queries(t), Text.refused(t), Text.ratio(t)],
            ratios.map { code, r in
                [Self.institutionLink(code), String(r.queries), String(r.refused), String(format: "%.1f%%", r.ratio * 100)]
            }, id: "refusals"
        )
        body += "<h2>\(esc(Text.openAnomalies(t)))</h2>"
        do {
            let anomalies = try await self.oversight.listAnomalies(request: ClientRequest(message: .init()), options: self.options).anomalies
            body += anomalies.isEmpty ? "<p>\(esc(Text.none(t)))</p>" : table(
                [Text.kind(t), Text.institution(t), Text.day(t), Text.evidence(t), Text.entry(t)],
                anomalies.map { a in
                    [esc(a.kind), Self.institutionLink(a.institution), esc(Self.day(a.day)), esc(a.evidence),
                     a.entries.prefix(20).map { "<a href=\"/entry/\($0)\">#\($0)</a>" }.joined(separator: " ")]
                }, id: "anomalies"
            )
        } catch {
            body += "<p class=\"error\">\(esc(Text.unavailable(t))): \(esc(Self.describe(error)))</p>"
        }
        body += "<h2>\(esc(Text.overdueDisputes(t)))</h2>"
        do {
            let disputes = try await self.oversight.listOverdueDisputes(request: ClientRequest(message: .init()), options: self.options).disputes
            body += disputes.isEmpty ? "<p>\(esc(Text.none(t)))</p>" : table(
                [Text.dispute(t), Text.furnisher(t), Text.record(t), Text.filed(t), Text.deadline(t)],
                disputes.map { d in [esc(d.disputeID), esc(d.furnisher), esc(d.recordID), esc(Self.day(d.filed)), esc(Self.day(d.deadline))] },
                id: "disputes"
            )
        } catch {
            body += "<p class=\"error\">\(esc(Text.unavailable(t))): \(esc(Self.describe(error)))</p>"
        }
        return self.page(c, title: .dashboard, body)
    }

    /// The search form's fields, as a request (and the error naming the field the console refuses).
    static func queryRequest(_ q: FormFields) -> (Bureau_QueryAccessLogRequest, String?) {
        var request = Bureau_QueryAccessLogRequest()
        request.pageSize = 50
        var problem: String?
        if let institution = q["institution"] {
            do { request.institution = try UnifiedSocialCreditCode(parsing: institution, field: "institution").value } catch { problem = error.message }
        }
        if let subject = q["subject"] {
            request.subjectIdentifier = subject
            request.subjectKind = q["kind"] == "business" ? .business : .individual
        }
        if let purpose = q["purpose"] {
            if let p = Purpose(rawValue: purpose) { request.purpose = p.wire } else { problem = "purpose: unknown purpose \(purpose)" }
        }
        if let outcome = q["outcome"] {
            if Outcome(rawValue: outcome) != nil { request.outcome = outcome } else { problem = "outcome: one of \(Outcome.allCases.map(\.rawValue).joined(separator: ", "))" }
        }
        if let from = q["from"] {
            if let date = Dates.parse(from) { request.from = Google_Protobuf_Timestamp(date: date) } else { problem = "from: expected 2026-12-02T11:00 (UTC)" }
        }
        if let to = q["to"] {
            if let date = Dates.parse(to) { request.to = Google_Protobuf_Timestamp(date: date) } else { problem = "to: expected 2026-12-02T11:00 (UTC)" }
        }
        if let token = q["page"] { request.pageToken = token }
        return (request, problem)
    }

    /// One page of a search: the entries the bureau returned, each with its content, references resolved, if it
    /// verified here (nil if not).
    func query(_ request: Bureau_QueryAccessLogRequest) async throws -> (entries: [(Bureau_LogEntry, AccessLogEntry?)], next: String) {
        let (entries, token) = try await self.oversight.queryAccessLogPage(request, options: self.options)
        // An entry newer than the verified tree: bring the tree up to date once.
        if let newest = entries.map(\.index).max(), await self.mirror.leafHash(newest) == nil { _ = await self.mirror.refresh() }
        var checked: [(Bureau_LogEntry, AccessLogEntry?)] = []
        for entry in entries {
            checked.append((entry, try? await self.mirror.check(entry).get()))
        }
        return (checked, token)
    }

    func search(_ request: Request) async throws -> Response {
        let c = await self.context(request)
        let t = c.language
        let q = c.query
        func field(_ name: String, _ label: Text, type: String = "text", placeholder: String = "") -> String {
            "<div><label for=\"f-\(name)\">\(esc(label(t)))</label><input id=\"f-\(name)\" name=\"\(name)\" type=\"\(type)\" value=\"\(esc(q[name] ?? ""))\" placeholder=\"\(esc(placeholder))\" autocomplete=\"off\"></div>"
        }
        func select(_ name: String, _ label: Text, _ options: [(String, String)]) -> String {
            var html = "<div><label for=\"f-\(name)\">\(esc(label(t)))</label><select id=\"f-\(name)\" name=\"\(name)\"><option value=\"\">\(esc(Text.any(t)))</option>"
            for (value, text) in options { html += "<option value=\"\(esc(value))\"\(q[name] == value ? " selected" : "")>\(esc(text))</option>" }
            return html + "</select></div>"
        }
        var body = "<form class=\"search\" method=\"get\" action=\"/log\" role=\"search\">"
        body += field("institution", .institution, placeholder: "91110000100000016D")
        body += field("subject", .subjectIdentifier)
        body += select("kind", .subjectKind, [("individual", Text.individual(t)), ("business", Text.business(t))])
        body += select("purpose", .purpose, Purpose.allCases.map { ($0.rawValue, $0.rawValue) })
        body += select("outcome", .outcome, Outcome.allCases.map { ($0.rawValue, $0.rawValue) })
        body += field("from", .from, type: "datetime-local")
        body += field("to", .to, type: "datetime-local")
        body += "<div><button type=\"submit\" id=\"search\">\(esc(Text.search(t)))</button></div></form>"

        let (wire, problem) = Self.queryRequest(q)
        if let problem {
            body += "<p class=\"error\" role=\"alert\" id=\"search-error\">\(esc(problem))</p>"
            return self.page(c, title: .accessLog, body, status: .badRequest)
        }
        do {
            let (entries, next) = try await self.query(wire)
            let exportQuery = Web.encode(q.values.filter { $0.key != "page" && $0.key != "lang" })
            body += "<h2>\(esc(Text.results(t))) (\(entries.count))</h2>"
            body += "<p><a href=\"/log/export?format=csv&amp;\(esc(exportQuery))\" id=\"export-csv\">\(esc(Text.exportCSV(t)))</a> · "
            body += "<a href=\"/log/export?format=jsonl&amp;\(esc(exportQuery))\" id=\"export-jsonl\">\(esc(Text.exportJSONL(t)))</a></p>"
            body += table(
                [Text.index(t), Text.time(t), Text.action(t), Text.institution(t), Text.purpose(t), Text.outcome(t), Text.subjects(t), Text.verified(t)],
                entries.map { entry, verified in Self.row(entry, verified: verified, t) }, id: "results"
            )
            if !next.isEmpty {
                body += "<p><a href=\"/log?\(esc(Web.encode(q.values.merging(["page": next]) { $1 })))\" id=\"next-page\" rel=\"next\">\(esc(Text.next(t))) →</a></p>"
            }
        } catch {
            body += "<p class=\"error\" role=\"alert\" id=\"search-error\">\(esc(Self.describe(error)))</p>"
        }
        return self.page(c, title: .accessLog, body)
    }

    static func row(_ entry: Bureau_LogEntry, verified: AccessLogEntry?, _ t: Language) -> [String] {
        let link = "<a href=\"/entry/\(entry.index)\">#\(entry.index)</a>"
        guard let e = verified else {
            return [link, "", "", "", "", "", "", verifiedMark(false, t)]
        }
        return [
            link, Dates.element(e.time), esc(e.action.name), institutionLink(e.institution), esc(e.purpose?.rawValue ?? ""),
            Self.outcome(e.outcome), e.subjects.map { "<code title=\"\($0.hex)\">\($0.hex.prefix(12))…</code>" }.joined(separator: " "),
            verifiedMark(true, t),
        ]
    }

    /// An outcome as a word with a symbol (refusals marked, not only coloured).
    static func outcome(_ outcome: Outcome) -> String {
        switch outcome {
        case .denied, .frozen: "<span class=\"mark bad\">✘ \(outcome.rawValue)</span>"
        default: esc(outcome.rawValue)
        }
    }

    static func institutionLink(_ code: String) -> String {
        guard !code.isEmpty, code != "-" else { return "-" }
        return "<a href=\"/log?institution=\(esc(code))\">\(esc(code))</a>"
    }

    func export(_ request: Request) async throws -> Response {
        let q = FormFields(parsing: request.uri.query ?? "")
        let csv = q["format"] != "jsonl"
        var (wire, problem) = Self.queryRequest(q)
        if let problem { return Web.response(problem + "\n", type: "text/plain; charset=utf-8", status: .badRequest) }
        wire.pageSize = 1000
        wire.pageToken = ""
        _ = await self.mirror.refresh()
        var text = csv ? AccessLogExport.csvHeader : ""
        var count = 0
        var skipped = 0
        do {
            while count < Self.exportLimit {
                let (entries, next) = try await self.query(wire)
                for (entry, verified) in entries {
                    guard let e = verified else {
                        skipped += 1
                        continue
                    }
                    text += csv ? AccessLogExport.csvLine(entry, e) : AccessLogExport.jsonLine(entry, e)
                    count += 1
                }
                if next.isEmpty { break }
                wire.pageToken = next
            }
        } catch {
            return Web.response(Self.describe(error) + "\n", type: "text/plain; charset=utf-8", status: .badGateway)
        }
        var response = Web.response(text, type: csv ? "text/csv; charset=utf-8" : "application/jsonl; charset=utf-8")
        response.headers[.contentDisposition] = "attachment; filename=\"access-log.\(csv ? "csv" : "jsonl")\""
        response.headers[HTTPField.Name("X-Bureau-Unverified-Skipped")!] = String(skipped)
        return response
    }

    func entry(_ request: Request, index text: String?) async throws -> Response {
        let c = await self.context(request)
        let t = c.language
        guard let text, let index = UInt64(text) else {
            return self.page(c, title: .entry, "<p class=\"error\">index: expected a whole number</p>", status: .badRequest)
        }
        var body = ""
        do {
            guard let checkpoint = c.layout.view.checkpoint, index < checkpoint.size else {
                return self.page(c, title: .entry, "<p class=\"error\">#\(index): \(esc(Text.notVerified(t)))</p>", status: .notFound)
            }
            var get = Bureau_GetEntriesRequest()
            get.start = index
            get.count = 1
            guard let entry = try await self.oversight.getEntries(request: ClientRequest(message: get), options: self.options).entries.first,
                entry.index == index
            else { throw ConsoleError("the bureau returned no entry \(index)") }
            var proofRequest = Bureau_InclusionProofRequest()
            proofRequest.entryIndex = index
            proofRequest.treeSize = checkpoint.size
            let proof = try await self.oversight.getInclusionProof(request: ClientRequest(message: proofRequest), options: self.options)
            let leaf = entry.computedLeafHash
            let checked = await self.mirror.check(entry)
            var verified = (try? checked.get()) != nil
            var why = ""
            if case .failure(let error) = checked { why = error.message }
            do {
                try Merkle.verifyInclusion(index: index, size: checkpoint.size, leafHash: leaf, proof: proof.proof.map(Array.init), root: checkpoint.root)
            } catch {
                verified = false
                why = [why, error.reason].filter { !$0.isEmpty }.joined(separator: "; ")
            }
            body += "<p id=\"entry-mark\">\(verifiedMark(verified, t))</p>"
            body += "<p>\(esc(verified ? Text.verifiedExplain(t) : Text.notVerifiedExplain(t)))\(why.isEmpty ? "" : " (\(esc(why)))")</p>"
            if verified, let e = try? checked.get() {
                let rows: [(String, String)] = [
                    (Text.index(t), String(index)), (Text.time(t), Dates.element(e.time)), (Text.action(t), esc(e.action.name)),
                    (Text.institution(t), Self.institutionLink(e.institution)), ("certificate_sha256", "<code>\(esc(e.certificateFingerprint))</code>"),
                    ("operator_id", esc(e.operatorID)), ("request_id", esc(e.requestID)),
                    (Text.subjects(t), e.subjects.map { "<code>\($0.hex)</code>" }.joined(separator: "<br>")),
                    (Text.purpose(t), esc(e.purpose?.rawValue ?? "")), ("consent_reference", esc(e.consentReference)),
                    ("legal_basis", esc(e.legalBasis)), (Text.outcome(t), Self.outcome(e.outcome)), (Text.reason(t), esc(e.reason)),
                    ("disclosed_fields", esc(e.disclosedFields.joined(separator: ", "))), ("disclosure_version", String(e.disclosureVersion)),
                    ("change_sha256", "<code>\(esc(e.changeDigest))</code>"), (Text.leafHash(t), "<code>\(leaf.hexString)</code>"),
                ]
                body += "<h2>\(esc(Text.fields(t)))</h2>" + table(["", ""], rows.map { ["<strong>\(esc($0.0))</strong>", $0.1] }, id: "entry-fields")
            }
            body += "<h2>\(esc(Text.inclusionProof(t)))</h2>"
            body += "<p>\(esc(Text.index(t))) \(index) / \(esc(Text.size(t))) \(checkpoint.size) · \(esc(Text.rootHash(t))) <code>\(checkpoint.root.hexString)</code></p>"
            body += "<ol class=\"proof\">" + proof.proof.map { "<li><code>\(Array($0).hexString)</code></li>" }.joined() + "</ol>"
            body += "<h3>\(esc(Text.signedNote(t)))</h3><pre>\(esc(c.layout.view.signedNote ?? ""))</pre>"
            body += "<details><summary>\(esc(Text.canonicalBytes(t)))</summary><pre>\(Array(entry.canonical).hexString)</pre></details>"
        } catch {
            body += "<p class=\"error\" role=\"alert\">\(esc(Self.describe(error)))</p>"
        }
        return self.page(c, title: .entry, body)
    }

    func checkpoints(_ request: Request) async throws -> Response {
        let c = await self.context(request)
        let t = c.language
        let memory = await self.mirror.remembered
        let rows = memory.seen.reversed().map { seen -> [String] in
            let root = seen.note.split(separator: "\n").dropFirst(2).first.map(String.init) ?? ""
            return [String(seen.size), Dates.element(seen.firstSeen), "<code>\(esc(root))</code>", "<details><summary>…</summary><pre>\(esc(seen.note))</pre></details>"]
        }
        let body = table([Text.size(t), Text.firstSeen(t), Text.rootHash(t), Text.signedNote(t)], rows, id: "seen", caption: Text.seenCheckpoints(t))
        return self.page(c, title: .checkpoints, body)
    }

    // MARK: Actions

    func actions(_ request: Request, message: String?) async throws -> Response {
        let c = await self.context(request)
        return self.page(c, title: .actions, (message ?? "") + (await self.actionForms(c.language)))
    }

    func actionForms(_ t: Language) async -> String {
        let key = self.token.formKey
        var body = "<div class=\"actions\"><h2>\(esc(Text.licenceAction(t)))</h2>"
        body += """
            <form method="post" action="/actions/licence" id="licence-form"><input type="hidden" name="form_key" value="\(key)">
            <label for="l-institution">\(esc(Text.institution(t)))</label><input id="l-institution" name="institution" required placeholder="91110000100000016D">
            <fieldset><legend>\(esc(Text.action(t)))</legend>
            <label><input type="radio" name="action" value="suspend" checked> \(esc(Text.suspend(t)))</label>
            <label><input type="radio" name="action" value="reinstate"> \(esc(Text.reinstate(t)))</label></fieldset>
            <label for="l-reason">\(esc(Text.reason(t)))</label><input id="l-reason" name="reason" required>
            <label for="l-operator">\(esc(Text.operatorID(t)))</label><input id="l-operator" name="operator_id" required>
            <p class="hint">\(esc(Text.operatorIDHelp(t)))</p>
            <button type="submit" id="licence-submit">\(esc(Text.submit(t)))</button></form>
            """
        body += "<h2>\(esc(Text.repairs(t)))</h2>"
        do {
            let repairs = try await self.oversight.listRepairs(request: ClientRequest(message: .init()), options: self.options).repairs
            if repairs.isEmpty { body += "<p>\(esc(Text.none(t)))</p>" }
            for repair in repairs {
                body += """
                    <form method="post" action="/actions/repair"><input type="hidden" name="form_key" value="\(key)">
                    <input type="hidden" name="repair_id" value="\(esc(repair.repairID))">
                    <p><strong>\(esc(Text.repair(t))) \(esc(repair.repairID))</strong> · \(esc(Text.furnisher(t))) \(esc(repair.furnisher)) ·
                    \(esc(Text.record(t))) \(esc(repair.recordID)) · \(esc(Text.requested(t))) \(esc(Self.day(repair.requested)))</p>
                    <p>\(esc(Text.rectification(t))): \(esc(repair.rectification))</p>
                    <fieldset><legend>\(esc(Text.reviewRepair(t)))</legend>
                    <label><input type="radio" name="decision" value="approve" checked> \(esc(Text.approve(t)))</label>
                    <label><input type="radio" name="decision" value="reject"> \(esc(Text.reject(t)))</label></fieldset>
                    <label>\(esc(Text.note(t)))<input name="note"></label>
                    <label>\(esc(Text.operatorID(t)))<input name="operator_id" required></label>
                    <button type="submit">\(esc(Text.submit(t)))</button></form>
                    """
            }
        } catch {
            body += "<p class=\"error\">\(esc(Text.unavailable(t))): \(esc(Self.describe(error)))</p>"
        }
        return body + "</div>"
    }

    /// Reads a POSTed form and checks its form key (against requests from other sites).
    func form(_ request: Request) async throws -> FormFields? {
        var request = request
        let body = try await request.collectBody(upTo: 64 << 10)
        let form = FormFields(parsing: String(buffer: body))
        guard let key = form["form_key"], SessionToken(value: self.token.formKey).matches(key) else { return nil }
        return form
    }

    /// Checks the analyst's id: 1 to 64 bytes, no control characters (it is logged).
    static func analyst(_ form: FormFields) -> String? {
        guard let id = form["operator_id"], id.utf8.count <= 64, !id.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return nil
        }
        return id
    }

    func licenceAction(_ request: Request) async throws -> Response {
        let c = await self.context(request)
        let t = c.language
        guard let form = try await self.form(request) else { return self.page(c, title: .actions, "<p class=\"error\">form_key: missing or wrong</p>", status: .forbidden) }
        let suspend = form["action"] != "reinstate"
        guard let institution = form["institution"], let reason = form["reason"], let analyst = Self.analyst(form) else {
            let message = "<p class=\"error\" role=\"alert\">institution, reason and operator_id (1 to 64 bytes, no control characters) are required</p>"
            return self.page(c, title: .actions, message + (await self.actionForms(t)), status: .badRequest)
        }
        let label = suspend ? Text.suspend(t) : Text.reinstate(t)
        guard form["confirmed"] == "yes" else {
            return self.page(c, title: .confirmTitle, self.confirmation(form, summary: [
                (Text.action(t), label), (Text.institution(t), institution), (Text.reason(t), reason), (Text.operatorID(t), analyst),
            ], action: "/actions/licence", t))
        }
        var wire = Bureau_LicenceActionRequest()
        wire.requestID = "console-\(UUID().uuidString.lowercased())"
        wire.institution = institution
        // A regulator's call logs no operator id: the analyst is named in the logged reason.
        wire.reason = "analyst \(analyst): \(reason)"
        do {
            let call = ClientRequest(message: wire, metadata: ["bureau-operator-id": "\(analyst)"])
            let answer = suspend
                ? try await self.oversight.suspendLicence(request: call, options: self.options)
                : try await self.oversight.reinstateLicence(request: call, options: self.options)
            return try await self.receipt(c, status: answer.status, receipt: answer.receipt, summary: [(Text.action(t), label), (Text.institution(t), institution)])
        } catch {
            return self.page(c, title: .actionFailed, "<p class=\"error\" role=\"alert\" id=\"action-error\">\(esc(Self.describe(error)))</p><p><a href=\"/actions\">\(esc(Text.back(t)))</a></p>", status: .badGateway)
        }
    }

    func repairAction(_ request: Request) async throws -> Response {
        let c = await self.context(request)
        let t = c.language
        guard let form = try await self.form(request) else { return self.page(c, title: .actions, "<p class=\"error\">form_key: missing or wrong</p>", status: .forbidden) }
        guard let repair = form["repair_id"], let analyst = Self.analyst(form) else {
            let message = "<p class=\"error\" role=\"alert\">repair_id and operator_id (1 to 64 bytes, no control characters) are required</p>"
            return self.page(c, title: .actions, message + (await self.actionForms(t)), status: .badRequest)
        }
        let approve = form["decision"] != "reject"
        let label = approve ? Text.approve(t) : Text.reject(t)
        guard form["confirmed"] == "yes" else {
            return self.page(c, title: .confirmTitle, self.confirmation(form, summary: [
                (Text.reviewRepair(t), label), (Text.repair(t), repair), (Text.note(t), form["note"] ?? ""), (Text.operatorID(t), analyst),
            ], action: "/actions/repair", t))
        }
        var wire = Bureau_ReviewRepairRequest()
        wire.requestID = "console-\(UUID().uuidString.lowercased())"
        wire.repairID = repair
        wire.approve = approve
        wire.note = form["note"] ?? ""
        do {
            let answer = try await self.oversight.reviewRepair(
                request: ClientRequest(message: wire, metadata: ["bureau-operator-id": "\(analyst)"]), options: self.options
            )
            return try await self.receipt(c, status: answer.status, receipt: answer.receipt, summary: [(Text.reviewRepair(t), label), (Text.repair(t), repair)])
        } catch {
            return self.page(c, title: .actionFailed, "<p class=\"error\" role=\"alert\" id=\"action-error\">\(esc(Self.describe(error)))</p><p><a href=\"/actions\">\(esc(Text.back(t)))</a></p>", status: .badGateway)
        }
    }

    /// The step before an action: what will be done, and a button that does it.
    func confirmation(_ form: FormFields, summary: [(String, String)], action: String, _ t: Language) -> String {
        var html = table(["", ""], summary.map { ["<strong>\(esc($0.0))</strong>", esc($0.1)] }, id: "confirm-summary")
        html += "<form method=\"post\" action=\"\(action)\" id=\"confirm-form\">"
        for (name, value) in form.values.sorted(by: { $0.key < $1.key }) where name != "confirmed" {
            html += "<input type=\"hidden\" name=\"\(esc(name))\" value=\"\(esc(value))\">"
        }
        html += "<input type=\"hidden\" name=\"confirmed\" value=\"yes\"><button type=\"submit\" id=\"confirm\">\(esc(Text.confirm(t)))</button> "
        html += "<a href=\"/actions\" id=\"cancel\">\(esc(Text.cancel(t)))</a></form>"
        return html
    }

    /// The logged action's receipt, checked against the verified tree.
    func receipt(_ c: Context, status: String, receipt: Bureau_LogReceipt, summary: [(String, String)]) async throws -> Response {
        let t = c.language
        var c = c
        c.layout.view = await self.mirror.refresh()
        let verified = await self.mirror.leafHash(receipt.entryIndex) == Array(receipt.leafHash)
        var rows = summary.map { ["<strong>\(esc($0.0))</strong>", esc($0.1)] }
        rows.append(["<strong>\(esc(Text.status(t)))</strong>", "<span id=\"receipt-status\">\(esc(status))</span>"])
        rows.append(["<strong>\(esc(Text.index(t)))</strong>", "<a href=\"/entry/\(receipt.entryIndex)\" id=\"receipt-entry\">#\(receipt.entryIndex)</a>"])
        rows.append(["<strong>\(esc(Text.leafHash(t)))</strong>", "<code>\(Array(receipt.leafHash).hexString)</code>"])
        rows.append(["<strong>\(esc(Text.verified(t)))</strong>", verifiedMark(verified, t)])
        return self.page(c, title: .receipt, table(["", ""], rows, id: "receipt") + "<p><a href=\"/actions\">\(esc(Text.back(t)))</a></p>")
    }

    // MARK: Helpers

    static func day(_ date: Bureau_CalendarDate) -> String { String(format: "%04d-%02d-%02d", date.year, date.month, date.day) }

    static func age(since date: Date, _ t: Language) -> String {
        let seconds = max(0, Int(Date().timeIntervalSince(date)))
        let (n, en, zh) = seconds < 120 ? (seconds, "s", "秒") : seconds < 7200 ? (seconds / 60, "min", "分钟") : (seconds / 3600, "h", "小时")
        return t == .zh ? "\(n) \(zh)前" : "\(n) \(en) ago"
    }

    /// An error in words: a gRPC status's code and message, not a stack trace.
    static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }
}

/// Responses and URLs.
enum Web {
    static func response(_ text: String, type: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func encode(_ values: [String: String]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return values.sorted { $0.key < $1.key }.map {
            "\($0.key.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
    }

}

/// Refuses every request without the session token: in the URL (once; it becomes a cookie and the URL is cleaned)
/// or in the cookie.
struct SessionGuard<Context: RequestContext>: RouterMiddleware {
    let token: SessionToken
    static var cookie: String { "bureau_console" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let query = FormFields(parsing: request.uri.query ?? "")
        if let presented = query.values["token"] {
            guard self.token.matches(presented) else { return Self.refuse() }
            var rest = query.values
            rest["token"] = nil
            // A path of its own only ("//host" would leave the console).
            let path = request.uri.path.hasPrefix("/") && !request.uri.path.hasPrefix("//") ? request.uri.path : "/"
            let location = path + (rest.isEmpty ? "" : "?" + Web.encode(rest))
            var headers = HTTPFields()
            headers[.location] = location
            headers[.setCookie] = "\(Self.cookie)=\(self.token.value); Path=/; HttpOnly; SameSite=Strict"
            headers[.cacheControl] = "no-store"
            return Response(status: .seeOther, headers: headers)
        }
        guard let cookie = request.cookies[Self.cookie]?.value, self.token.matches(cookie) else { return Self.refuse() }
        return try await next(request, context)
    }

    static func refuse() -> Response {
        Web.response(
            "This console needs the session token: open the URL `bureau console` printed (it holds ?token=...).\n",
            type: "text/plain; charset=utf-8", status: .forbidden
        )
    }
}
