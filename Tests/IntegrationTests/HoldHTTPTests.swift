import CreditConfig
import CreditEngine
@testable import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import KafkaMockCluster
import Synchronization
import Testing

/// Contract §15's HTTP routes over real HTTP against the running service on the mock cluster:
/// every answer with its exact body, read back with GET and from the input topic. Nested in the
/// endpoint suite so that they never run beside it (one process-wide metrics registry).
extension HTTPEndpointTests {
@Suite(.serialized, .timeLimit(.minutes(4))) struct HoldRouteTests {
    /// The service's clock: every hold event's time (tests never read the real clock).
    static let now = EventTime.parse("2026-11-10T12:00:00Z")!
    static let token = "hold-token-9"

    /// hold-a: basic 500, doc_search (3) → 497; a budget of 50 for member m2.
    static func produceAccount(_ h: ServiceHarness) throws -> Int64 {
        let events = [
            event("credit.plan.assigned", "hold-a", id: "p1", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#),
            event("ai.usage", "hold-a", id: "u1", time: "2026-11-02T10:00:00Z", data: #"{"action":"doc_search"}"#),
            event("credit.member.budget.set", "hold-a", id: "b1", time: "2026-11-02T11:00:00Z", data: #"{"member":"m2","monthly_credits":50}"#),
        ]
        for e in events { try h.produce(e, key: "hold-a") }
        return Int64(events.count)
    }

    /// Records on the input topic now.
    static func inputRecords(_ h: ServiceHarness) throws -> Int64 { try h.held("ai.usage") }

    /// Waits until `condition` holds for the answer to GET `target` (the loop publishes views,
    /// positions and counts on its own cadence).
    static func waitFor(_ c: LoopbackHTTPClient, _ target: String, token: String? = token, timeout: Duration = .seconds(30),
                        _ condition: (LoopbackHTTPClient.Response) -> Bool) async throws -> LoopbackHTTPClient.Response {
        let deadline = ContinuousClock.now + timeout
        while true {
            let r = try await c.request(target, token: token)
            if condition(r) { return r }
            guard ContinuousClock.now < deadline else {
                Issue.record("\(target) did not become as expected in \(timeout): \(r.status) \(r.text.prefix(400))")
                return r
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func decisionsRepeatsConflictsAndReadBack() async throws {
        let h = try ServiceHarness(partitions: 2)
        let stack = try await HTTPStack(harness: h, token: Self.token, fixedTime: Self.now)
        try await stack.startService()
        let n = try Self.produceAccount(h)
        try await stack.waitReady(processed: n)
        let c = stack.client
        let path = "/v1/accounts/hold-a/holds"
        func post(_ target: String, _ body: String?) async throws -> LoopbackHTTPClient.Response {
            try await c.post(target, token: Self.token, json: body)
        }
        let histogramBefore = try await Self.decisionCount(c)

        // Granted: 201, the hold's decision; read back with GET and from the input topic.
        let body1 = #"{"hold_id":"h1","credits":100,"ttl_seconds":600,"member":"m1","workflow":"wf-1"}"#
        let before = try Self.inputRecords(h)
        var r = try await post(path, body1)
        #expect(r.status == 201)
        #expect(r.headers["content-type"] == "application/json")
        #expect(r.text == #"{"hold_id":"h1","status":"active","held_credits":100,"available_credits":397,"expires_at":"2026-11-10T12:10:00Z"}"#)
        #expect(try Self.inputRecords(h) == before + 1)
        let h1 = #"{"hold_id":"h1","status":"active","held_credits":100,"settled_credits":0,"remaining_credits":100,"member":"m1","workflow":"wf-1","requested_at":"2026-11-10T12:00:00Z","expires_at":"2026-11-10T12:10:00Z","ended_at":null,"reason":null}"#
        // The view is published before the answer: read at once.
        #expect(try await c.request("\(path)/h1", token: Self.token).text == h1)
        let record = try #require(try h.readAll("ai.usage").last { $0.key == "hold-a" })
        let j = record.json
        #expect(j["source"] as? String == "credit-meter/http" && j["type"] as? String == "credit.hold.requested")
        #expect(j["subject"] as? String == "hold-a" && j["time"] as? String == "2026-11-10T12:00:00Z")
        #expect(j["specversion"] as? String == "1.0" && (j["id"] as? String ?? "").count == 36)
        #expect(record.value.hasSuffix(#","data":"# + body1 + "}"), "data as sent: \(record.value)")
        #expect(record.timestampMs == Self.now / 1_000_000)

        // The same hold_id and data: the first decision, nothing produced, one hold.
        r = try await post(path, #"{ "workflow": "wf-1", "member": "m1", "ttl_seconds": 600, "credits": 100.000, "hold_id": "h1" }"#)
        #expect(r.status == 200)
        #expect(r.text == #"{"hold_id":"h1","status":"active","held_credits":100,"available_credits":397,"expires_at":"2026-11-10T12:10:00Z"}"#)
        // Other data: 409, nothing produced.
        r = try await post(path, #"{"hold_id":"h1","credits":101,"ttl_seconds":600,"member":"m1","workflow":"wf-1"}"#)
        #expect(r.status == 409 && r.text == #"{"error":"hold_conflict","hold_id":"h1"}"#)
        #expect(try Self.inputRecords(h) == before + 1)

        // Denials: 402 and 422 with the available credits after them.
        r = try await post(path, #"{"hold_id":"h2","credits":1000}"#)
        #expect(r.status == 402 && r.text == #"{"error":"insufficient_credits","hold_id":"h2","status":"denied","available_credits":397}"#)
        r = try await post(path, #"{"hold_id":"h3","action":"teleport"}"#)
        #expect(r.status == 422 && r.text == #"{"error":"unknown_action","hold_id":"h3","status":"denied","available_credits":397}"#)
        // An action priced as by /check, times the multiplier: web_research 10 × 2 × 3.
        r = try await post(path, #"{"hold_id":"h4","action":"web_research","quantity":2,"multiplier":3}"#)
        #expect(r.status == 201 && r.text == #"{"hold_id":"h4","status":"active","held_credits":60,"available_credits":337,"expires_at":"2026-11-10T13:00:00Z"}"#)
        // m2's budget is 50.
        r = try await post(path, #"{"hold_id":"h5","credits":60,"member":"m2"}"#)
        #expect(r.status == 402 && r.text == #"{"error":"member_budget_exhausted","hold_id":"h5","status":"denied","available_credits":337}"#)
        // A repeated denial: its first code and body, with the current available credits.
        r = try await post(path, #"{"hold_id":"h2","credits":1000}"#)
        #expect(r.status == 402 && r.text == #"{"error":"insufficient_credits","hold_id":"h2","status":"denied","available_credits":337}"#)
        // No state for the account: denied, nothing remembered.
        r = try await post("/v1/accounts/nobody/holds", #"{"hold_id":"x","credits":1}"#)
        #expect(r.status == 402 && r.text == #"{"error":"unknown_account","hold_id":"x","status":"denied","available_credits":null}"#)
        #expect(try await c.request("/v1/accounts/nobody/holds/x", token: Self.token).status == 404)
        #expect(try await c.request("\(path)/h2", token: Self.token).text
                == #"{"hold_id":"h2","status":"denied","held_credits":1000,"settled_credits":0,"remaining_credits":1000,"member":null,"workflow":null,"requested_at":"2026-11-10T12:00:00Z","expires_at":"2026-11-10T13:00:00Z","ended_at":"2026-11-10T12:00:00Z","reason":"insufficient_credits"}"#)
        #expect(try await c.request("\(path)/h3", token: Self.token).text
                == #"{"hold_id":"h3","status":"denied","held_credits":0,"settled_credits":0,"remaining_credits":0,"member":null,"workflow":null,"requested_at":"2026-11-10T12:00:00Z","expires_at":"2026-11-10T13:00:00Z","ended_at":"2026-11-10T12:00:00Z","reason":"unknown_action"}"#)
        #expect(try await c.request("\(path)/nope", token: Self.token).text == #"{"error":"no such hold (never decided, or forgotten)","hold_id":"nope"}"#)

        // Every answer is the log's decision: one request event per hold id, each decided as answered.
        let requests = try h.readAll("ai.usage").filter { $0.json["source"] as? String == "credit-meter/http" }
        func holdIDs(_ account: String) -> [String] {
            requests.filter { $0.key == account }.compactMap { ($0.json["data"] as? [String: Any])?["hold_id"] as? String }
        }
        #expect(holdIDs("hold-a") == ["h1", "h2", "h3", "h4", "h5"])
        #expect(holdIDs("nobody") == ["x"])
        #expect(Set(requests.compactMap { $0.json["id"] as? String }).count == requests.count)

        // 400 naming the field, nothing produced.
        let produced = try Self.inputRecords(h)
        for (body, field) in [(#"{"credits":1}"#, "hold_id"), (#"{"hold_id":"z","credits":0}"#, "credits"),
                              (#"{"hold_id":"z","credits":1.0001}"#, "credits"), (#"{"hold_id":"z"}"#, "credits"),
                              (#"{"hold_id":"z","credits":1,"action":"chat"}"#, "credits"), (#"{"hold_id":"a/b","credits":1}"#, "hold_id"),
                              (#"{"hold_id":"","credits":1}"#, "hold_id"), (#"{"hold_id":"z","credits":1,"ttl_seconds":0}"#, "ttl_seconds"),
                              (#"{"hold_id":"z","credits":1,"ttl_seconds":604801}"#, "ttl_seconds"),
                              (#"{"hold_id":"z","credits":1,"multiplier":2}"#, "multiplier"),
                              (#"{"hold_id":"z","action":"chat","multiplier":0}"#, "multiplier"),
                              (#"{"hold_id":"z","action":"chat","quantity":1.5}"#, "quantity"),
                              (#"{"hold_id":"z","credits":"5"}"#, "credits"), (#"{"hold_id":7,"credits":1}"#, "hold_id"),
                              (#"{"hold_id":"z","credits":1,"member":"a/b"}"#, "member"),
                              (#"{"hold_id":"z","credits":1,"workflow":""}"#, "workflow"),
                              (#"{"hold_id":"z","hold_id":"y","credits":1}"#, "hold_id"),
                              (#"{"hold_id":"z","credits":1}x"#, "body"), (#"[1]"#, "body"), ("", "body"), (#"{"hold_id":"z","#, "body"),
                              (#"{"hold_id":"z","action":"chat","quantity":1000000000,"multiplier":1000000000}"#, "quantity")] {
            let r = try await post(path, body)
            #expect(r.status == 400, "\(body): \(r.status) \(r.text)")
            #expect((r.json["error"] as? String ?? "").hasPrefix(field + ": "), "\(body): \(r.text)")
        }
        let control = try await post("/v1/accounts/hold%01a/holds", #"{"hold_id":"z","credits":1}"#)
        #expect(control.status == 400 && (control.json["error"] as? String ?? "").hasPrefix("account: "), "\(control.text)")
        #expect(try Self.inputRecords(h) == produced)

        // Spending against a hold (usage naming it, produced by a product), and usage naming no
        // known hold: charged all the same, counted unheld.
        try h.produce(event("ai.usage", "hold-a", id: "u2", time: "2026-11-10T12:00:00Z", data: #"{"action":"chat","quantity":7,"hold_id":"h1"}"#),
                      key: "hold-a")
        try h.produce(event("ai.usage", "hold-a", id: "u3", time: "2026-11-10T12:00:00Z", data: #"{"action":"chat","hold_id":"zz"}"#),
                      key: "hold-a")
        r = try await Self.waitFor(c, "\(path)/h1") { ($0.json["settled_credits"] as? NSNumber)?.intValue == 7 }
        #expect(r.text == h1.replacingOccurrences(of: #""settled_credits":0,"remaining_credits":100"#, with: #""settled_credits":7,"remaining_credits":93"#))
        r = try await Self.waitFor(c, "/v1/accounts/hold-a") { ($0.json["balance_credits"] as? NSNumber)?.intValue == 489 }

        // Extend and release: produced, applied, answered with the hold; an ended hold unchanged.
        r = try await post("\(path)/h1/extend", #"{"ttl_seconds":7200}"#)
        #expect(r.status == 200 && r.text == h1.replacingOccurrences(of: #""settled_credits":0,"remaining_credits":100"#, with: #""settled_credits":7,"remaining_credits":93"#)
            .replacingOccurrences(of: #""expires_at":"2026-11-10T12:10:00Z""#, with: #""expires_at":"2026-11-10T14:00:00Z""#), "\(r.text)")
        let released = #"{"hold_id":"h1","status":"released","held_credits":100,"settled_credits":7,"remaining_credits":93,"member":"m1","workflow":"wf-1","requested_at":"2026-11-10T12:00:00Z","expires_at":"2026-11-10T14:00:00Z","ended_at":"2026-11-10T12:00:00Z","reason":null}"#
        r = try await post("\(path)/h1/release", nil)
        #expect(r.status == 200 && r.text == released, "\(r.text)")
        #expect(try await c.request("\(path)/h1", token: Self.token).text == released)
        let doc = try await c.request("/v1/accounts/hold-a", token: Self.token).json
        #expect((doc["balance_credits"] as? NSNumber)?.intValue == 489)
        let afterRelease = try Self.inputRecords(h)
        r = try await post("\(path)/h1/release", "{}")
        #expect(r.status == 200 && r.text == released)
        r = try await post("\(path)/h1/extend", #"{"ttl_seconds":60}"#)
        #expect(r.status == 200 && r.text == released)
        #expect(try Self.inputRecords(h) == afterRelease + 2)
        // Checked before producing: an unknown hold, a bad ttl, a hold_id in the body.
        for (target, body, status, error) in [
            ("\(path)/nope/release", nil, 404, #"{"error":"no such hold (never decided, or forgotten)","hold_id":"nope"}"#),
            ("\(path)/nope/extend", #"{"ttl_seconds":60}"#, 404, #"{"error":"no such hold (never decided, or forgotten)","hold_id":"nope"}"#),
            ("\(path)/h4/extend", #"{"ttl_seconds":0}"#, 400, #"{"error":"ttl_seconds: must be an integer from 1 to 604800"}"#),
            ("\(path)/h4/extend", "{}", 400, #"{"error":"ttl_seconds: is required"}"#),
            ("\(path)/h4/extend", #"{"ttl_seconds":60,"hold_id":"h5"}"#, 400, #"{"error":"hold_id: is given more than once"}"#),
            ("\(path)/h4/extend", "[]", 400, #"{"error":"body: must be a JSON object"}"#),
            ("/v1/accounts/nobody/holds/x/release", nil, 404, #"{"error":"no state for this account on this instance"}"#),
        ] as [(String, String?, Int, String)] {
            let r = try await post(target, body)
            #expect(r.status == status && r.text == error, "\(target) \(body ?? ""): \(r.status) \(r.text)")
        }
        #expect(try Self.inputRecords(h) == afterRelease + 2)

        // Listing: newest first in log order, filtered, paged.
        func ids(_ query: String) async throws -> ([String], Int?) {
            let j = try await c.request(path + query, token: Self.token).json
            #expect(j["account"] as? String == "hold-a")
            return ((j["holds"] as? [[String: Any]] ?? []).compactMap { $0["hold_id"] as? String }, (j["next"] as? NSNumber)?.intValue)
        }
        #expect(try await ids("") == (["h5", "h4", "h3", "h2", "h1"], nil))
        #expect(try await ids("?status=denied") == (["h5", "h3", "h2"], nil))
        #expect(try await ids("?status=active") == (["h4"], nil))
        #expect(try await ids("?status=released&limit=1") == (["h1"], nil))
        #expect(try await ids("?limit=2") == (["h5", "h4"], 4))
        #expect(try await ids("?limit=2&after=4") == (["h3", "h2"], 2))
        #expect(try await ids("?limit=2&after=2") == (["h1"], nil))
        #expect(try await ids("?status=denied&limit=2&after=5") == (["h3", "h2"], nil))
        let list = try await c.request(path + "?limit=1&after=2", token: Self.token)
        #expect(list.text == #"{"account":"hold-a","holds":["# + released + #"],"next":null}"#)
        for bad in ["status=gone", "limit=0", "limit=101", "limit=1.0", "after=0", "after=x"] {
            let r = try await c.request(path + "?" + bad, token: Self.token)
            #expect(r.status == 400 && (r.json["error"] as? String ?? "").hasPrefix(String(bad.prefix { $0 != "=" }) + ": "), "\(bad): \(r.text)")
        }

        // Methods, token, redirects marker.
        r = try await c.request("\(path)/h1", token: Self.token, method: "POST", body: [])
        #expect(r.status == 405 && r.headers["allow"] == "GET, HEAD" && r.text == #"{"error":"method: only GET, HEAD are allowed"}"#)
        r = try await c.request("\(path)/h1/release", token: Self.token)
        #expect(r.status == 405 && r.headers["allow"] == "POST" && r.text == #"{"error":"method: only POST is allowed"}"#)
        r = try await c.request(path, token: Self.token, method: "DELETE")
        #expect(r.status == 405 && r.headers["allow"] == "GET, HEAD, POST")
        r = try await c.post(path, token: nil, json: #"{"hold_id":"t","credits":1}"#)
        #expect(r.status == 401)

        // The ledger's counters of owned partitions, and the decision histogram.
        let expected = ["credit_meter_holds_total{outcome=\"granted\"} 2", "credit_meter_holds_total{outcome=\"denied\"} 4",
                        "credit_meter_holds_total{outcome=\"released\"} 1", "credit_meter_holds_total{outcome=\"expired\"} 0",
                        "credit_meter_usage_unheld_total 1"]
        // Counts are published with the views, on the loop's cadence: waited for.
        _ = try await Self.waitFor(c, "/metrics", token: nil) { r in
            let lines = Set(r.text.split(separator: "\n").map(String.init))
            return expected.allSatisfy { lines.contains($0) }
        }
        // Every POST …/holds past validation: h1 ×3, h2 ×2, h3, h4, h5, x.
        #expect(try await Self.decisionCount(c) - histogramBefore == 9)
        try await stack.stop()
    }

    /// Not applied within `http.hold_timeout_ms` → 202 with where to look; a retry with the same
    /// `hold_id` then gets the decision. Deterministic: the broker delays every response by far
    /// more than the timeout (`rtt`), and the loop cannot see the event before a fetch response
    /// that carries it. A produce the producer refuses → 503, nothing produced; 1,000 active
    /// holds → `too_many_holds`.
    @Test func pendingProduceFailedAndTooManyHolds() async throws {
        let h = try ServiceHarness(partitions: 2)
        let stack = try await HTTPStack(harness: h, token: nil, fixedTime: Self.now) { $0.http.holdTimeoutMs = 200 }
        try await stack.startService()
        var n = try Self.produceAccount(h)
        // many: pro 2000 and 1,000 active holds of 1 credit, requested by a product over Kafka.
        var records = [WorkloadRecord(key: Array("many".utf8),
                                      value: Array(event("credit.plan.assigned", "many", id: "pm", time: "2026-11-01T00:00:00Z", data: #"{"plan":"pro"}"#).utf8),
                                      timestampMs: Self.now / 1_000_000, kind: .setup)]
        for i in 0..<1000 {
            records.append(WorkloadRecord(key: Array("many".utf8),
                                          value: Array(event("credit.hold.requested", "many", id: "k\(i)", time: "2026-11-10T12:00:00Z",
                                                             data: #"{"hold_id":"k\#(i)","credits":1}"#).utf8),
                                          timestampMs: Self.now / 1_000_000, kind: .setup))
        }
        try h.produce(records)
        n += Int64(records.count)
        try await stack.waitReady(processed: n)
        let c = stack.client
        let gateway = stack.service.holds
        #expect(try await OwnershipDirectoryTests.eventually { gateway.partition(of: "hold-a") != nil })

        var r = try await c.post("/v1/accounts/many/holds", json: #"{"hold_id":"k1000","credits":1}"#)
        #expect(r.status == 402 && r.text == #"{"error":"too_many_holds","hold_id":"k1000","status":"denied","available_credits":1000}"#)

        let body = #"{"hold_id":"p 1","credits":10}"#
        let before = try Self.inputRecords(h)
        #expect(h.cluster!.perform("rtt 1 3000") == "ok")
        r = try await c.post("/v1/accounts/hold-a/holds", json: body)
        #expect(h.cluster!.perform("rtt 1 0") == "ok")
        #expect(r.status == 202 && r.text == #"{"hold_id":"p 1","status":"pending"}"#, "\(r.status) \(r.text)")
        #expect(r.headers["location"] == "/v1/accounts/hold-a/holds/p%201" && r.headers["retry-after"] == "1")
        // Decided meanwhile (the event was produced): readable where Location says.
        let decided = try await Self.waitFor(c, r.headers["location"] ?? "", token: nil) { $0.status == 200 }
        #expect(decided.json["status"] as? String == "active")
        r = try await c.post("/v1/accounts/hold-a/holds", json: body)
        #expect(r.status == 200 && r.text == #"{"hold_id":"p 1","status":"active","held_credits":10,"available_credits":487,"expires_at":"2026-11-10T13:00:00Z"}"#)
        #expect(try Self.inputRecords(h) == before + 1)

        // Larger than the producer takes (message.max.bytes) though the decoder accepts it.
        let big = #"{"hold_id":"big","credits":1,"padding":""# + String(repeating: "x", count: 1_000_100) + #""}"#
        r = try await c.post("/v1/accounts/hold-a/holds", json: big)
        #expect(r.status == 503 && r.text == #"{"error":"produce_failed","hold_id":"big"}"#)
        #expect(try await c.request("/v1/accounts/hold-a/holds/big").status == 404)
        #expect(try Self.inputRecords(h) == before + 1)
        try await stack.stop()
    }

    /// A request whose event the broker refused is answered 503 `produce_failed` and is not in
    /// the log; the client's retry with the same `hold_id` and body gets the first decision, and
    /// a retry after that the same hold (200): one hold, one request in the input topic. The
    /// refusal is aimed at the input partition of the account alone (its own broker), so no
    /// output of the service meets it.
    @Test func aRetryAfterAFailedProduceGetsOneHoldAndTheFirstDecision() async throws {
        let h = try ServiceHarness(partitions: 2, brokers: 2)
        let cluster = try #require(h.cluster).cluster
        let mine = KeyPartitioner.partition(account: "hold-a", count: 2)
        for p in 0..<Int32(2) { try cluster.setPartitionLeader(topic: "ai.usage", partition: p, broker: p == mine ? 2 : 1) }
        for t in ["credit.alerts", "ai.usage.dlq", "credit.balances", "credit.requests"] {
            for p in 0..<Int32(2) { try cluster.setPartitionLeader(topic: t, partition: p, broker: 1) }
        }
        try cluster.setCoordinator(group: "test-group", broker: 1)
        let stack = try await HTTPStack(harness: h, token: nil, fixedTime: Self.now)
        try await stack.startService()
        try await stack.waitReady(processed: try Self.produceAccount(h))
        let c = stack.client
        #expect(try await OwnershipDirectoryTests.eventually { stack.service.holds.partition(of: "hold-a") != nil })

        let body = #"{"hold_id":"r1","credits":20,"workflow":"retry"}"#
        let before = try Self.inputRecords(h)
        #expect(h.cluster!.perform("errors Produce TOPIC_AUTHORIZATION_FAILED 2") == "ok")
        var r = try await c.post("/v1/accounts/hold-a/holds", json: body)
        #expect(r.status == 503 && r.text == #"{"error":"produce_failed","hold_id":"r1"}"#, "\(r.status) \(r.text)")
        #expect(r.headers["retry-after"] == "1")
        #expect(try await c.request("/v1/accounts/hold-a/holds/r1").status == 404)
        #expect(try Self.inputRecords(h) == before)

        // The idempotent producer resets itself after a refused batch: retries meanwhile are
        // answered 503 too (their events failed with the batch, not written); the client retries
        // until the service answers otherwise.
        let granted = #"{"hold_id":"r1","status":"active","held_credits":20,"available_credits":477,"expires_at":"2026-11-10T13:00:00Z"}"#
        for _ in 0..<200 {
            r = try await c.post("/v1/accounts/hold-a/holds", json: body)
            guard r.status == 503 else { break }
            #expect(r.text == #"{"error":"produce_failed","hold_id":"r1"}"#)
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(r.status == 201 && r.text == granted, "\(r.status) \(r.text)")
        r = try await c.post("/v1/accounts/hold-a/holds", json: body)
        #expect(r.status == 200 && r.text == granted, "\(r.status) \(r.text)")
        #expect(try Self.inputRecords(h) == before + 1)
        let list = try await c.request("/v1/accounts/hold-a/holds").json
        #expect((list["holds"] as? [[String: Any]])?.compactMap { $0["hold_id"] as? String } == ["r1"])
        try await stack.stop()
    }

    /// 64 clients over real HTTP, one account of 1,000 credits: each holds 10, spends 8
    /// against the hold (usage naming it, produced by the product over Kafka), waits until the
    /// spend is settled, and releases. No grant beyond what was available, every answer the
    /// log's decision, and the balance exactly 1,000 − Σ usage, never below 0.
    @Test func concurrentClientsSpendWithinTheirHolds() async throws {
        let h = try ServiceHarness(partitions: 2)
        let stack = try await HTTPStack(harness: h, token: nil, fixedTime: Self.now) { $0.http.holdTimeoutMs = 20_000 }
        try await stack.startService()
        try h.produce(event("credit.topup.purchased", "shared", id: "t1", time: "2026-11-01T00:00:00Z", data: #"{"credits":1000}"#), key: "shared")
        try await stack.waitReady(processed: 1)
        #expect(try await OwnershipDirectoryTests.eventually { stack.service.holds.partition(of: "shared") != nil })
        let producer = try KafkaProducer(properties: [("bootstrap.servers", h.bootstrap), ("linger.ms", "1")], logger: h.logger) { _ in }
        let topic = producer.topic("ai.usage")
        let clients = 64, rounds = 3
        struct Answer: Sendable { var holdID: String; var status: Int; var available: Int64?; var millis: Double }
        let answers = try await withThrowingTaskGroup(of: [Answer].self) { group in
            for i in 0..<clients {
                group.addTask {
                    let c = LoopbackHTTPClient(port: stack.port)
                    var out: [Answer] = []
                    for round in 0..<rounds {
                        let id = "c\(i)-\(round)"
                        let started = ContinuousClock.now
                        var r = try await c.post("/v1/accounts/shared/holds", json: #"{"hold_id":"\#(id)","credits":10}"#)
                        // Pending (a slow machine): the same request again until decided.
                        while r.status == 202 { r = try await c.post("/v1/accounts/shared/holds", json: #"{"hold_id":"\#(id)","credits":10}"#) }
                        let millis = Double((ContinuousClock.now - started).components.attoseconds) / 1e15
                            + Double((ContinuousClock.now - started).components.seconds) * 1000
                        let available = (r.json["available_credits"] as? NSNumber).map { Int64(($0.doubleValue * 1000).rounded()) }
                        out.append(Answer(holdID: id, status: r.status, available: available, millis: millis))
                        guard r.status == 201 || r.status == 200 else { continue }
                        let usage = Array(event("ai.usage", "shared", id: "use-\(id)", time: "2026-11-10T12:00:00Z",
                                                data: #"{"action":"chat","quantity":8,"hold_id":"\#(id)"}"#).utf8)
                        let key = Array("shared".utf8)
                        try key.withUnsafeBytes { k in try usage.withUnsafeBytes { v in
                            try producer.produce(topic, key: k, value: v, timestampMs: Self.now / 1_000_000) } }
                        _ = try await Self.waitFor(c, "/v1/accounts/shared/holds/\(id)", token: nil) {
                            ($0.json["settled_credits"] as? NSNumber)?.intValue == 8
                        }
                        let released = try await c.post("/v1/accounts/shared/holds/\(id)/release", json: nil)
                        #expect(released.status == 200 && released.json["status"] as? String == "released", "\(released.text)")
                    }
                    return out
                }
            }
            var all: [Answer] = []
            for try await part in group { all += part }
            return all
        }
        try producer.flush(timeoutMs: 10_000)
        #expect(answers.count == clients * rounds)
        let granted = answers.filter { $0.status == 201 || $0.status == 200 }
        let denied = answers.filter { $0.status == 402 }
        #expect(granted.count + denied.count == answers.count, "\(Set(answers.map(\.status)))")
        // Each grant fit in what was available when it was decided.
        #expect(granted.allSatisfy { ($0.available ?? -1) >= 0 })
        #expect(denied.allSatisfy { ($0.available ?? .max) < 10_000 })
        // Every answer is the log's decision, and each request is one hold.
        let list = try await Self.waitFor(stack.client, "/v1/accounts/shared/holds?limit=100", token: nil) { _ in true }
        var holds: [String: [String: Any]] = [:]
        var page = list.json
        while true {
            for hold in page["holds"] as? [[String: Any]] ?? [] { holds[hold["hold_id"] as! String] = hold }
            guard let next = page["next"] as? NSNumber else { break }
            page = try await stack.client.request("/v1/accounts/shared/holds?limit=100&after=\(next)").json
        }
        #expect(holds.count == answers.count)
        for a in answers {
            let hold = holds[a.holdID] ?? [:]
            if a.status == 402 {
                #expect(hold["status"] as? String == "denied" && hold["reason"] as? String == "insufficient_credits", "\(a.holdID): \(hold)")
            } else {
                #expect(hold["status"] as? String == "released" && (hold["settled_credits"] as? NSNumber)?.intValue == 8, "\(a.holdID): \(hold)")
            }
        }
        let usage = 8 * granted.count
        let doc = try await Self.waitFor(stack.client, "/v1/accounts/shared", token: nil) {
            ($0.json["balance_credits"] as? NSNumber)?.intValue == 1000 - usage
        }.json
        #expect((doc["balance_credits"] as? NSNumber)?.intValue == 1000 - usage && 1000 - usage >= 0)
        let requests = try h.readAll("ai.usage").filter { $0.json["source"] as? String == "credit-meter/http" && $0.json["type"] as? String == "credit.hold.requested" }
        #expect(Set(requests.compactMap { ($0.json["data"] as? [String: Any])?["hold_id"] as? String }) == Set(answers.map(\.holdID)))
        let millis = answers.map(\.millis).sorted()
        print("hold decisions over HTTP: \(granted.count) granted, \(denied.count) denied; client latency p50 \(millis[millis.count / 2]) ms, p99 \(millis[millis.count * 99 / 100]) ms, \(clients) clients")
        try await stack.stop()
    }

    /// `credit_meter_hold_decision_seconds_count` now (process-wide).
    static func decisionCount(_ c: LoopbackHTTPClient) async throws -> Int {
        let text = try await c.request("/metrics").text
        let line = text.split(separator: "\n").first { $0.hasPrefix("credit_meter_hold_decision_seconds_count ") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
    }
}
}
