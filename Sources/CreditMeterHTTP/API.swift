public import CreditConfig
public import CreditEngine
public import CreditMeterService
public import Hummingbird
import CoreMetrics
import Synchronization

/// Everything the API needs besides the read model.
public struct APISettings: Sendable {
    public var token: String?
    public var readyMaxLag: Int64
    public var accessMode: AccessMode
    public var engine: EngineConfiguration

    public init(config: ServiceConfiguration) {
        token = config.http.token
        readyMaxLag = Int64(config.http.readyMaxLag)
        accessMode = config.accessMode
        engine = config.engine
    }
}

/// The HTTP API (contract §11) as one responder. Routing is done here on the raw request
/// target, so that an account id is one path segment decoded exactly once (`%2F` stays part
/// of the id) and the metrics carry the route template, never the raw path or query.
public struct API: HTTPResponder {
    public typealias Context = BasicRequestContext

    let model: ReadModel
    let settings: APISettings
    let exporter: MetricsExporter
    /// Who owns the partitions this instance does not hold (§13); nil: one instance, no redirects.
    let ownership: OwnershipDirectory?
    /// Where hold requests enter the log (§15); nil: the hold routes answer 503.
    let holds: HoldGateway?
    /// The wall clock, for `/check` without `time=` and the time of hold events (the engine has no clock).
    let now: WallClock

    public init(model: ReadModel, settings: APISettings, exporter: MetricsExporter, ownership: OwnershipDirectory? = nil,
                holds: HoldGateway? = nil, now: @escaping WallClock = systemWallClock) {
        self.model = model
        self.ownership = ownership
        self.holds = holds
        self.settings = settings
        self.exporter = exporter
        self.now = now
    }

    /// A matched route: its template (the metrics label) and the account segment, if any.
    enum Route: String, CaseIterable {
        case root = "/"
        case healthz = "/healthz", readyz = "/readyz", metrics = "/metrics", openapi = "/openapi.json"
        case accounts = "/v1/accounts", account = "/v1/accounts/{account}"
        case check = "/v1/accounts/{account}/check", history = "/v1/accounts/{account}/history"
        case holds = "/v1/accounts/{account}/holds", hold = "/v1/accounts/{account}/holds/{hold_id}"
        case holdExtend = "/v1/accounts/{account}/holds/{hold_id}/extend", holdRelease = "/v1/accounts/{account}/holds/{hold_id}/release"
        case ui = "/ui/", uiAccount = "/ui/accounts/{account}"
        case unmatched = "unmatched"

        var isPage: Bool { self == .ui || self == .uiAccount }

        /// The methods the route answers (`Allow` on a 405): GET and HEAD, but for the hold
        /// routes that change something (§15).
        var allowedMethods: String {
            switch self {
            case .holds: return "GET, HEAD, POST"
            case .holdExtend, .holdRelease: return "POST"
            default: return API.allowedMethods
            }
        }

        func allows(_ method: HTTPRequest.Method) -> Bool {
            switch self {
            case .holds: return method == .get || method == .head || method == .post
            case .holdExtend, .holdRelease: return method == .post
            default: return method == .get || method == .head
            }
        }

        var needsToken: Bool {
            switch self {
            case .root, .healthz, .readyz, .metrics, .openapi, .unmatched: return false
            default: return true
            }
        }
    }

    /// The methods every route answers but the hold routes; any other gets 405 with the
    /// route's list in `Allow` and in the error.
    static let allowedMethods = "GET, HEAD"

    static func route(_ s: [Substring]) -> (Route, Substring?) {
        switch s.count {
        case 1 where s[0] == "": return (.root, nil)
        case 1 where s[0] == "healthz": return (.healthz, nil)
        case 1 where s[0] == "readyz": return (.readyz, nil)
        case 1 where s[0] == "metrics": return (.metrics, nil)
        case 1 where s[0] == "openapi.json": return (.openapi, nil)
        case 2 where s[0] == "v1" && s[1] == "accounts": return (.accounts, nil)
        case 3 where s[0] == "v1" && s[1] == "accounts": return (.account, s[2])
        case 4 where s[0] == "v1" && s[1] == "accounts" && s[3] == "check": return (.check, s[2])
        case 4 where s[0] == "v1" && s[1] == "accounts" && s[3] == "history": return (.history, s[2])
        case 4 where s[0] == "v1" && s[1] == "accounts" && s[3] == "holds": return (.holds, s[2])
        case 5 where s[0] == "v1" && s[1] == "accounts" && s[3] == "holds": return (.hold, s[2])
        case 6 where s[0] == "v1" && s[1] == "accounts" && s[3] == "holds" && s[5] == "extend": return (.holdExtend, s[2])
        case 6 where s[0] == "v1" && s[1] == "accounts" && s[3] == "holds" && s[5] == "release": return (.holdRelease, s[2])
        case 1 where s[0] == "ui", 2 where s[0] == "ui" && s[1] == "": return (.ui, nil)
        case 3 where s[0] == "ui" && s[1] == "accounts": return (.uiAccount, s[2])
        default: return (.unmatched, nil)
        }
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let target = RequestTarget(request.head.path ?? "/")
        let (route, segment) = Self.route(target.segments)
        // Under /ui/ every answer is a page, errors included (a person reads it).
        let forPeople = route.isPage || target.segments.first == "ui"
        let response: Response
        if route != .unmatched && !route.allows(request.method) {
            let allowed = route.allowedMethods
            let reason = "method: only \(allowed) \(allowed.contains(",") ? "are" : "is") allowed"
            response = forPeople ? Self.html(.methodNotAllowed, HTML.errorPage("Method not allowed", reason), extra: [.allow: allowed])
                : Self.json(.methodNotAllowed, error: reason, extra: [.allow: allowed])
        } else if route.needsToken, let token = settings.token,
                  !Self.authorized(request, token: token, queryToken: route.isPage ? try? target.parameter("token") : nil) {
            response = forPeople ? Self.html(.unauthorized, Self.tokenPage(target), extra: [.wwwAuthenticate: "Bearer"])
                : Self.json(.unauthorized, error: "missing or invalid bearer token", extra: [.wwwAuthenticate: "Bearer"])
        } else if route == .unmatched && forPeople {
            response = Self.html(.notFound, HTML.errorPage("No such page", "There is no page at this address."))
        } else {
            do {
                switch route {
                case .holds, .hold, .holdExtend, .holdRelease:
                    response = try await holdRoute(route, segment!, target, request, started: started)
                default:
                    response = try handle(route, segment, target)
                }
            } catch {
                response = forPeople ? Self.html(.badRequest, HTML.errorPage("Bad request", error.reason)) : Self.json(.badRequest, error: error.reason)
            }
        }
        exporter.record(route, code: Int(response.status.code), duration: ContinuousClock.now - started)
        return response
    }

    func handle(_ route: Route, _ segment: Substring?, _ target: RequestTarget) throws(BadRequest) -> Response {
        switch route {
        case .root:
            // The pages are the way in for a browser; the query (a `?token=`) travels along.
            let query = target.raw.firstIndex(of: "?").map { String(target.raw[$0...].prefix { $0 != "#" }) } ?? ""
            var headers = HTTPFields()
            headers[.location] = "/ui/" + query
            headers[.contentType] = "text/html; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(status: .found, headers: headers, body: .init(byteBuffer: ByteBuffer(string: HTML.page(title: "CreditMeter", body: "<p><a href=\"/ui/\">Accounts</a></p>"))))
        case .healthz:
            return model.isRunning ? Self.json(.ok, raw: #"{"status":"ok"}"#)
                : Self.json(.serviceUnavailable, raw: #"{"status":"stopped"}"#)
        case .readyz:
            if let reason = model.readiness(maxLag: settings.readyMaxLag) {
                var w = JSONWriter(capacity: 128)
                w.beginObject(); w.key("status"); w.string("not_ready"); w.key("reason"); w.string(reason); w.endObject()
                return Self.json(.serviceUnavailable, bytes: w.bytes)
            }
            return Self.json(.ok, raw: #"{"status":"ready"}"#)
        case .metrics:
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: exporter.render())))
        case .openapi:
            return Self.json(.ok, bytes: OpenAPIDocument.bytes)
        case .accounts:
            return try listAccounts(target)
        case .account, .history, .check:
            let id = try Parameters.account(segment!)
            _ = try Self.wasRedirected(target)
            if route == .check { return try check(id, target) }
            let limit = route == .history ? try Parameters.integer(target, "limit", 1...100, default: 100)! : 0
            switch model.account(id) {
            case .found(let view):
                return Self.json(.ok, bytes: route == .history ? view.history(limit: Int(limit)) : view.document())
            case .notHeld:
                if let elsewhere = try elsewhere(id, target, page: false) { return elsewhere }
                return Self.json(.notFound, error: "no state for this account on this instance")
            case .notReady(let reason):
                if let elsewhere = try elsewhere(id, target, page: false) { return elsewhere }
                return Self.json(.serviceUnavailable, error: "not ready: \(reason)")
            }
        case .ui, .uiAccount:
            return try page(route, segment, target)
        case .holds, .hold, .holdExtend, .holdRelease:
            preconditionFailure("hold routes are answered by holdRoute")
        case .unmatched:
            return Self.json(.notFound, error: "no such route")
        }
    }

    func check(_ id: String, _ target: RequestTarget) throws(BadRequest) -> Response {
        guard let action = try Parameters.text(target, "action") else { throw BadRequest("action", "is required") }
        var request = CheckRequest(action: action)
        request.quantity = try Parameters.integer(target, "quantity", 1...1_000_000_000, default: 1)!
        request.model = try Parameters.text(target, "model")
        request.inputTokens = try Parameters.integer(target, "input_tokens", 0...1_000_000_000_000, default: 0)!
        request.outputTokens = try Parameters.integer(target, "output_tokens", 0...1_000_000_000_000, default: 0)!
        request.toolCalls = try Parameters.integer(target, "tool_calls", 0...1_000_000_000, default: 0)!
        if let member = try Parameters.text(target, "member") {
            guard !member.contains("/") else { throw BadRequest("member", "must not contain /") }
            request.member = member
        }
        var at = now()
        if let time = try target.parameter("time") {
            guard let t = EventTime.parse(time) else { throw BadRequest("time", "must be an RFC 3339 time") }
            at = t
        }
        request.time = at
        let decision: CheckDecision
        switch model.account(id) {
        case .found(let view):
            decision = view.check(request, mode: settings.accessMode, now: at)
        case .notHeld:
            if let elsewhere = try elsewhere(id, target, page: false) { return elsewhere }
            decision = .unknownAccount
        case .notReady(let reason):
            if let elsewhere = try elsewhere(id, target, page: false) { return elsewhere }
            return Self.json(.serviceUnavailable, error: "not ready: \(reason)")
        }
        switch decision.problem {
        case .noRateCardInForce?: throw BadRequest("time", "no rate-card version is in force at this time")
        case .unpriceable?: throw BadRequest("quantity", "the price would exceed the ledger's limits")
        case nil: break
        }
        return Self.json(.ok, bytes: decision.json())
    }

    /// Contract §11's last bullet: an account this instance holds no state for, whose partition
    /// another instance owns. nil — answer as one instance would — without a directory, while
    /// the loop is not running, while the partition count is unknown, or when the account's
    /// partition is held here (then its absence is real, or its restore is under way).
    /// Otherwise `307` to the owner's `http.advertised_url` with the original path and query
    /// plus `redirected=1` (one hop: a redirected request still not held here gets 503), or
    /// 503 when the owner is unknown or advertises no URL.
    func elsewhere(_ id: String, _ target: RequestTarget, page: Bool) throws(BadRequest) -> Response? {
        guard let ownership, model.isRunning else { return nil }
        guard let tp = ownership.partition(of: id) else {
            // Several instances, but the input's partition count is not known yet: the owner is unknown.
            return page ? Self.html(.serviceUnavailable, HTML.page(title: "Not ready", body: "<p>Not ready: the input's partitions are not known yet</p>"))
                : Self.json(.serviceUnavailable, error: "not ready: the input's partitions are not known yet, so this account's owner is unknown")
        }
        guard !model.holds(tp) else { return nil }
        let reason: String
        let owner = ownership.owner(of: tp)
        if try Self.wasRedirected(target) {
            reason = "\(tp) is not held here although this request was redirected here (its owner moved); retry at the start"
        } else if let owner, owner.instance == ownership.instance || (owner.url != nil && owner.url == ownership.advertisedURL) {
            // Never a redirect to ourselves: our own (or a previous run's) entry, not held now.
            reason = "\(tp) is being handed over (this instance no longer holds it)"
        } else if let owner, let url = owner.url {
            let location = Self.location(url, target.raw)
            let body = page ? HTML.page(title: "Moved", body: "<p>This account is served by another instance.</p>") : ""
            var w = JSONWriter(capacity: 64 + location.utf8.count)
            w.beginObject(); w.key("location"); w.string(location); w.endObject()
            var headers = HTTPFields()
            headers[.location] = location
            headers[.contentType] = page ? "text/html; charset=utf-8" : "application/json"
            headers[.cacheControl] = "no-store"  // ownership moves
            return Response(status: .temporaryRedirect, headers: headers,
                            body: .init(byteBuffer: page ? ByteBuffer(string: body) : ByteBuffer(bytes: w.bytes)))
        } else if owner != nil {
            reason = "the owner of \(tp) has no advertised_url (released, or not advertised)"
        } else {
            reason = "the owner of \(tp) is unknown"
        }
        if page { return Self.html(.serviceUnavailable, HTML.page(title: "Not ready", body: "<p>Not ready: \(HTML.escape(reason))</p>")) }
        return Self.json(.serviceUnavailable, error: "not ready: \(reason)")
    }

    /// The one-hop marker added to a redirect's query.
    static let redirectMarker = "redirected"

    /// Whether the request carries the marker (`redirected=1`; any other value is 400, on
    /// every account route, whether or not it is redirected).
    static func wasRedirected(_ target: RequestTarget) throws(BadRequest) -> Bool {
        guard let marker = try target.parameter(redirectMarker) else { return false }
        guard marker == "1" else { throw BadRequest(redirectMarker, "must be 1") }
        return true
    }

    /// `<advertised url without trailing /><path and query as sent>` plus `redirected=1`.
    static func location(_ url: String, _ raw: String) -> String {
        var base = Substring(url)
        while base.hasSuffix("/") { base = base.dropLast() }
        let target = raw.prefix { $0 != "#" }
        let separator = target.contains("?") ? (target.hasSuffix("?") || target.hasSuffix("&") ? "" : "&") : "?"
        return String(base) + String(target) + separator + redirectMarker + "=1"
    }

    func listAccounts(_ target: RequestTarget) throws(BadRequest) -> Response {
        let status = try target.parameter("status") ?? "all"
        let include: (AccountView) -> Bool
        switch status {
        case "all": include = { _ in true }
        case "low": include = { $0.summary.isLow }
        case "exhausted": include = { $0.summary.isExhausted }
        case "idle": include = { $0.summary.isIdle }
        default: throw BadRequest("status", "must be low, exhausted, idle or all")
        }
        let limit = Int(try Parameters.integer(target, "limit", 1...1000, default: 100)!)
        let after = try Parameters.text(target, "after")
        if let reason = model.readableReason { return Self.json(.serviceUnavailable, error: "not ready: \(reason)") }
        let (views, next) = model.page(after: after, limit: limit, include: include)
        var w = JSONWriter(capacity: 256 * views.count + 64)
        w.beginObject()
        w.key("accounts"); w.beginArray()
        for v in views { v.summary.json(into: &w) }
        w.endArray()
        w.key("next"); if let next { w.string(next) } else { w.null() }
        w.endObject()
        return Self.json(.ok, bytes: w.bytes)
    }

    // MARK: Helpers

    /// `Authorization: Bearer <token>` (pages also take `?token=`, for browsers), compared in constant time (for a given token length).
    static func authorized(_ request: Request, token: String, queryToken: String? = nil) -> Bool {
        if let queryToken, constantTimeEqual(Array(queryToken.utf8), Array(token.utf8)) { return true }
        guard let header = request.headers[.authorization] else { return false }
        // The scheme is case-insensitive (RFC 7235); the token is everything after the spaces.
        let bytes = Array(header.utf8)
        guard bytes.count > 7, String(decoding: bytes[0..<7], as: UTF8.self).lowercased() == "bearer " else { return false }
        let given = bytes[7...].drop { $0 == 0x20 }
        return constantTimeEqual(Array(given), Array(token.utf8))
    }

    /// Equal bytes, in time that depends only on the lengths (never on where they differ).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }

    static func json(_ status: HTTPResponse.Status, bytes: [UInt8], extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func json(_ status: HTTPResponse.Status, raw: String) -> Response {
        json(status, bytes: Array(raw.utf8))
    }

    static func json(_ status: HTTPResponse.Status, error: String, extra: HTTPFields = [:]) -> Response {
        json(status, bytes: errorBody(error), extra: extra)
    }

    /// `{"error": reason}`.
    static func errorBody(_ reason: String) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + reason.utf8.count)
        w.beginObject(); w.key("error"); w.string(reason); w.endObject()
        return w.bytes
    }
}

// MARK: Pages for people (/ui)

extension API {
    func page(_ route: Route, _ segment: Substring?, _ target: RequestTarget) throws(BadRequest) -> Response {
        // The token is carried on the pages' links only when it came in the query (a browser's
        // way in); error pages never carry it.
        let token = (try? target.parameter("token")).flatMap { $0 }
        let tokenQuery = token.map { "?token=" + HTML.urlEncode($0) } ?? ""
        // An account whose partition another instance owns: redirected before readiness here
        // matters (its `?token=`, if any, travels along in the query as sent).
        if route == .uiAccount, let segment {
            let id = try Parameters.account(segment)
            _ = try Self.wasRedirected(target)
            if case .found = model.account(id) {} else if let elsewhere = try elsewhere(id, target, page: true) { return elsewhere }
        }
        if let reason = model.readableReason { return Self.html(.serviceUnavailable, HTML.page(title: "Not ready", body: "<p>Not ready: \(HTML.escape(reason))</p>")) }
        switch route {
        case .uiAccount:
            let id = try Parameters.account(segment!)
            switch model.account(id) {
            case .found(let view):
                let page = AccountPage(view: view, thresholds: view.alertThresholds.map { Int($0) })
                return Self.html(.ok, page.render(backLink: "/ui/" + tokenQuery))
            case .notHeld:
                return Self.html(.notFound, HTML.page(title: "Unknown account", body: "<h1>\(HTML.escape(id))</h1><p>This instance holds no state for this account.</p>"))
            case .notReady(let reason):
                return Self.html(.serviceUnavailable, HTML.page(title: "Not ready", body: "<p>Not ready: \(HTML.escape(reason))</p>"))
            }
        default:
            let statusText = try target.parameter("status") ?? "all"
            guard let status = OverviewPage.Status(rawValue: statusText) else { throw BadRequest("status", "must be all, low, exhausted, idle or holds") }
            let sortText = try target.parameter("sort") ?? "account"
            guard let sort = OverviewPage.Column(rawValue: sortText) else {
                throw BadRequest("sort", "must be one of " + OverviewPage.Column.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let dir = try target.parameter("dir") ?? "asc"
            guard dir == "asc" || dir == "desc" else { throw BadRequest("dir", "must be asc or desc") }
            let pageNumber = Int(try Parameters.integer(target, "page", 0...10_000_000, default: 0)!)
            let search = try target.parameter("q") ?? ""
            guard search.unicodeScalars.count <= 128 else { throw BadRequest("q", "must be at most 128 characters") }
            let needle = OverviewPage.needle(search)
            let summaries = model.summaries { status.includes($0) && OverviewPage.matches($0.account, needle) }
            let page = OverviewPage.make(summaries, status: status, sort: sort, descending: dir == "desc", page: pageNumber, search: search,
                                         token: token)
            return Self.html(.ok, page.render())
        }
    }

    /// The 401 page: what is missing, and a form that sends the token in the query (the
    /// address and query as sent, less a wrong `token`, kept in hidden fields).
    static func tokenPage(_ target: RequestTarget) -> String {
        let path = String(target.raw.prefix { $0 != "?" && $0 != "#" })
        var form = "<form class=\"search\" method=\"get\" action=\"\(HTML.escape(path))\">"
        for case let (name?, value?) in target.query where name != "token" {
            form += "<input type=\"hidden\" name=\"\(HTML.escape(name))\" value=\"\(HTML.escape(value))\">"
        }
        form += "<label for=\"token\">token </label><input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\"> <button type=\"submit\">open</button></form>\n"
        return HTML.errorPage("Token needed", "These pages need the instance's token (http.token): send Authorization: Bearer <token>, or give it here.", extra: form)
    }

    static func html(_ status: HTTPResponse.Status, _ text: String, extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "text/html; charset=utf-8"
        // Balances are not for caches, and a token in the page's URL is not for other sites.
        headers[.cacheControl] = "no-store"
        headers[HTTPFields.Element.Name("Referrer-Policy")!] = "no-referrer"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
