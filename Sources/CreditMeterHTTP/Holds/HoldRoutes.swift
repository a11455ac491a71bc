import CreditEngine
import CreditMeterService
import Hummingbird
import Kafka

/// The hold routes (contract §15). A request that changes something — `POST …/holds`,
/// `…/extend`, `…/release` — is checked, produced as an event to the account's input partition
/// and answered once the consuming loop has applied it (`HoldGateway`), with the decision the
/// log holds; one that is not applied within `http.hold_timeout_ms`, or whose partition leaves
/// this instance meanwhile, is answered 202 with where to look. Reads answer from the
/// account's published view, like every other account route.
///
/// What is answered before anything is produced: a bad request (400), a repeated `hold_id`
/// the view remembers (its first decision, or 409 with other data), and for extend and
/// release a hold the view does not remember (404) — a client that was answered a decision
/// reads it in the view at once (the loop publishes the view before it answers).
extension API {
    func holdRoute(_ route: Route, _ segment: Substring, _ target: RequestTarget, _ request: Request,
                   started: ContinuousClock.Instant) async throws(BadRequest) -> Response {
        let account = try Parameters.account(segment)
        let holdID = route == .holds ? nil : try Parameters.holdID(target.segments[4])
        _ = try Self.wasRedirected(target)
        let view: AccountView?
        switch model.account(account) {
        case .found(let v):
            view = v
        case .notHeld:
            if let elsewhere = try elsewhere(account, target, page: false) { return elsewhere }
            view = nil
        case .notReady(let reason):
            if let elsewhere = try elsewhere(account, target, page: false) { return elsewhere }
            return Self.json(.serviceUnavailable, error: "not ready: \(reason)")
        }
        switch route {
        case .holds where request.method == .post:
            let body = try await Self.body(request)
            let response = try await requestHold(account, view, body, started: started)
            exporter.recordHoldDecision(ContinuousClock.now - started)
            return response
        case .holds:
            guard let view else { return Self.json(.notFound, error: "no state for this account on this instance") }
            return try listHolds(view, target)
        case .hold:
            guard let view else { return Self.json(.notFound, error: "no state for this account on this instance") }
            guard let hold = Self.remembered(holdID!, in: view, at: nil) else { return Self.noSuchHold(holdID!) }
            return Self.json(.ok, bytes: Self.holdJSON(hold))
        default:
            guard let view else { return Self.json(.notFound, error: "no state for this account on this instance") }
            let body = route == .holdExtend ? try await Self.body(request) : []
            return try await changeHold(route, account, holdID!, view, body, started: started)
        }
    }

    // MARK: POST /v1/accounts/{account}/holds

    /// The service clock in whole milliseconds: the `time` of the events the routes produce.
    func eventTime() -> Int64 { now() / 1_000_000 * 1_000_000 }

    func requestHold(_ account: String, _ view: AccountView?, _ body: [UInt8], started: ContinuousClock.Instant) async throws(BadRequest) -> Response {
        let time = eventTime()
        let event = try HoldEvents.make(.holdRequested, account: account, data: body, time: time) { e throws(BadRequest) in
            // What the ledger would refuse rather than decide (a dead letter): refused here.
            guard let view, e.action != nil else { return }
            guard let v = view.versionInForce(at: time) else { throw BadRequest("action", "no rate-card version is in force now") }
            do throws(PricingFailure) { _ = try view.config.rateCards.price(e, version: v) } catch {
                if case .overflow = error { throw BadRequest("quantity", "the price would exceed the ledger's limits") }
            }
        }
        if let view, let first = Self.remembered(event.holdID, in: view, at: time) {
            guard first.requestHash == event.fingerprint else { return Self.holdConflict(event.holdID) }
            return Self.decision(first, available: view.state.availableCredits, repeated: true)
        }
        return try await submit(event, account, started: started) { report in
            guard let hold = report.hold else { return Self.unknownAccount(event.holdID) }
            return Self.decision(hold, available: report.available, repeated: report.repeated)
        }
    }

    // MARK: POST …/holds/{hold_id}/extend and …/release

    func changeHold(_ route: Route, _ account: String, _ holdID: String, _ view: AccountView, _ body: [UInt8],
                    started: ContinuousClock.Instant) async throws(BadRequest) -> Response {
        let time = eventTime()
        // Checked before producing: an unknown hold would change nothing (§15), so nothing is
        // produced for it.
        guard Self.remembered(holdID, in: view, at: time) != nil else { return Self.noSuchHold(holdID) }
        let event: HoldEvents.Event
        let prefix = Self.holdIDMember(holdID)
        if route == .holdExtend {
            // The body's members after the path's `hold_id` (a body that is no object is refused whole).
            let members = try Self.members(body)
            let data = members.isEmpty ? prefix + [UInt8(ascii: "}")] : prefix + [UInt8(ascii: ",")] + members + [UInt8(ascii: "}")]
            event = try HoldEvents.make(.holdExtended, account: account, data: data, time: time, prefix: prefix.count + 1)
        } else {
            event = try HoldEvents.make(.holdReleased, account: account, data: prefix + [UInt8(ascii: "}")], time: time)
        }
        return try await submit(event, account, started: started) { report in
            guard let hold = report.hold else { return Self.noSuchHold(holdID) }
            return Self.json(.ok, bytes: Self.holdJSON(hold))
        }
    }

    /// `{"hold_id":"<id>"` — the start of an extend's or release's `data`.
    static func holdIDMember(_ holdID: String) -> [UInt8] {
        var w = JSONWriter(capacity: 32 + holdID.utf8.count)
        w.beginObject(); w.key("hold_id"); w.string(holdID); w.endObject()
        return Array(w.bytes.dropLast())
    }

    /// The members of a JSON object body, between its braces (empty for `{}` or no body); a
    /// `hold_id` among them is refused (the path names the hold). The members themselves are
    /// checked by the decoder.
    static func members(_ body: [UInt8]) throws(BadRequest) -> ArraySlice<UInt8> {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        guard let first = body.firstIndex(where: { !isSpace($0) }) else { return [] }
        guard body[first] == UInt8(ascii: "{"), let last = body.lastIndex(where: { !isSpace($0) }), last > first,
              body[last] == UInt8(ascii: "}") else { throw BadRequest("body", "must be a JSON object") }
        let inner = body[(first + 1)..<last]
        guard inner.contains(where: { !isSpace($0) }) else { return [] }
        return inner
    }

    // MARK: GET …/holds

    func listHolds(_ view: AccountView, _ target: RequestTarget) throws(BadRequest) -> Response {
        let statusText = try target.parameter("status") ?? "all"
        let status: Hold.Status?
        switch statusText {
        case "all": status = nil
        case "active": status = .active
        case "denied": status = .denied
        case "released": status = .released
        case "expired": status = .expired
        default: throw BadRequest("status", "must be all, active, denied, released or expired")
        }
        let limit = Int(try Parameters.integer(target, "limit", 1...100, default: 100)!)
        let after = try Parameters.integer(target, "after", 1...Int64.max, default: nil)
        var listed: [Hold] = []
        var more = false
        for h in (view.state.holdBook?.holds ?? []).reversed() where (after.map { h.number < $0 } ?? true) && (status.map { h.status == $0 } ?? true) {
            if listed.count == limit { more = true; break }
            listed.append(h)
        }
        var w = JSONWriter(capacity: 128 + 320 * listed.count)
        w.beginObject()
        w.key("account"); w.string(view.account)
        w.key("holds"); w.beginArray()
        for h in listed { Self.writeHold(h, into: &w) }
        w.endArray()
        w.key("next"); if more, let last = listed.last { w.integer(last.number) } else { w.null() }
        w.endObject()
        return Self.json(.ok, bytes: w.bytes)
    }

    // MARK: Helpers

    /// Produces `event` to the account's partition and answers with what came of it: `applied`
    /// answers an applied event; the rest is answered alike for every route — 503 when the
    /// partition cannot be produced to from here or the produce failed, 409 for a conflict the
    /// ledger found, 202 when not applied in time or the partition left.
    func submit(_ event: HoldEvents.Event, _ account: String, started: ContinuousClock.Instant,
                applied: (HoldReport) -> Response) async throws(BadRequest) -> Response {
        guard let holds else { return Self.json(.serviceUnavailable, error: "not ready: hold requests are not served by this server") }
        guard let tp = holds.partition(of: account) else {
            return Self.json(.serviceUnavailable, error: "not ready: the partitions of \(holds.topic) are not known yet")
        }
        guard model.holds(tp) else { return Self.json(.serviceUnavailable, error: "not ready: \(tp) is not held by this instance") }
        switch await holds.submit(event.value, id: event.id, account: account, time: event.time, to: tp, until: started + holds.timeout) {
        case .applied(let report): return applied(report)
        case .rejected(.holdConflict): return Self.holdConflict(event.holdID)
        case .rejected(let rejection): throw BadRequest("body", rejection.description)
        case .notDelivered: return Self.produceFailed(event.holdID)
        case .revoked, .timedOut: return Self.pending(account, event.holdID)
        }
    }

    /// The body, up to what one event may hold.
    static func body(_ request: Request) async throws(BadRequest) -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: EventDecoder.maxRecordBytes)
            return Array(buffer.readableBytesView)
        } catch {
            throw BadRequest("body", "could not be read, or is larger than \(EventDecoder.maxRecordBytes) bytes")
        }
    }

    /// The hold `id` as the ledger remembers it for an event at `time` (nil: now, as the view
    /// has it): an ended hold is forgotten 7 days of the account clock after it ended (§15).
    static func remembered(_ id: String, in view: AccountView, at time: Int64?) -> Hold? {
        guard let time else { return view.state.holdBook?.hold(id) }
        return view.state.holdAfterPass(id, time: time)
    }

    /// A request's decision: granted (201, or 200 for a repeated `hold_id`) or denied (402/422).
    static func decision(_ hold: Hold, available: Int64?, repeated: Bool) -> Response {
        var w = JSONWriter(capacity: 160 + hold.id.utf8.count)
        w.beginObject()
        if let denial = hold.denial {
            w.key("error"); w.string(denial.name)
            w.key("hold_id"); w.string(hold.id)
            w.key("status"); w.string(Hold.Status.denied.name)
            w.key("available_credits"); if let available { w.credits(available) } else { w.null() }
            w.endObject()
            return json(HTTPResponse.Status(code: denial.httpStatus), bytes: w.bytes)
        }
        w.key("hold_id"); w.string(hold.id)
        w.key("status"); w.string(Hold.Status.active.name)
        w.key("held_credits"); w.credits(hold.held)
        w.key("available_credits"); if let available { w.credits(available) } else { w.null() }
        w.key("expires_at"); w.time(hold.expiresAt)
        w.endObject()
        return json(repeated ? .ok : .created, bytes: w.bytes)
    }

    /// A request for an account with no state: denied, nothing remembered (§15).
    static func unknownAccount(_ holdID: String) -> Response {
        json(HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"), bytes: holdError(Hold.Denial.unknownAccount.name, holdID) { w in
            w.key("status"); w.string(Hold.Status.denied.name)
            w.key("available_credits"); w.null()
        })
    }

    static func holdConflict(_ holdID: String) -> Response {
        json(.conflict, bytes: holdError("hold_conflict", holdID))
    }

    /// 503 with `Retry-After: 1`: the producer refused the event (a full queue, a broker
    /// error); it resets itself within about a second, and a retry with the same `hold_id` is
    /// safe.
    static func produceFailed(_ holdID: String) -> Response {
        var headers = HTTPFields()
        headers[.retryAfter] = "1"
        return json(.serviceUnavailable, bytes: holdError("produce_failed", holdID), extra: headers)
    }

    static func noSuchHold(_ holdID: String) -> Response {
        json(.notFound, bytes: holdError("no such hold (never decided, or forgotten)", holdID))
    }

    /// 202: not applied yet; where to look, and when.
    static func pending(_ account: String, _ holdID: String) -> Response {
        var w = JSONWriter(capacity: 64 + holdID.utf8.count)
        w.beginObject(); w.key("hold_id"); w.string(holdID); w.key("status"); w.string("pending"); w.endObject()
        var headers = HTTPFields()
        headers[.location] = "/v1/accounts/\(HTML.urlEncode(account))/holds/\(HTML.urlEncode(holdID))"
        headers[.retryAfter] = "1"
        return json(.accepted, bytes: w.bytes, extra: headers)
    }

    /// `{"error": reason, "hold_id": id, …}`.
    static func holdError(_ reason: String, _ holdID: String, _ more: (inout JSONWriter) -> Void = { _ in }) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + reason.utf8.count + holdID.utf8.count)
        w.beginObject()
        w.key("error"); w.string(reason)
        w.key("hold_id"); w.string(holdID)
        more(&w)
        w.endObject()
        return w.bytes
    }

    // MARK: Hold JSON

    static func holdJSON(_ h: Hold) -> [UInt8] {
        var w = JSONWriter(capacity: 320)
        writeHold(h, into: &w)
        return w.bytes
    }

    /// `{"hold_id", "status", "held_credits", "settled_credits", "remaining_credits", "member",
    /// "workflow", "requested_at", "expires_at", "ended_at", "reason"}`.
    static func writeHold(_ h: Hold, into w: inout JSONWriter) {
        w.beginObject()
        w.key("hold_id"); w.string(h.id)
        w.key("status"); w.string(h.status.name)
        w.key("held_credits"); w.credits(h.held)
        w.key("settled_credits"); w.credits(h.settled)
        w.key("remaining_credits"); w.credits(h.remaining)
        w.key("member"); if let m = h.member { w.string(m) } else { w.null() }
        w.key("workflow"); if let f = h.workflow { w.string(f) } else { w.null() }
        w.key("requested_at"); w.time(h.requestedAt)
        w.key("expires_at"); w.time(h.expiresAt)
        w.key("ended_at"); w.optionalTime(h.isActive ? nil : h.endedAt)
        w.key("reason"); if let d = h.denial { w.string(d.name) } else { w.null() }
        w.endObject()
    }
}

extension Parameters {
    /// A hold id as a path segment: decoded once, 1–128 characters, no `/` (§15).
    static func holdID(_ raw: Substring) throws(BadRequest) -> String {
        guard let id = RequestTarget.percentDecode(raw) else { throw BadRequest("hold_id", "is not valid percent-encoded UTF-8") }
        let n = id.unicodeScalars.count
        guard n >= 1 && n <= 128 else { throw BadRequest("hold_id", "must be 1 to 128 characters") }
        guard !id.contains("/") else { throw BadRequest("hold_id", "must not contain /") }
        return id
    }
}
