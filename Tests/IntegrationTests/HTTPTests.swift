import CreditConfig
import CreditEngine
import CreditMeterTools
@testable import CreditMeterHTTP
import CreditMeterService
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The service and its HTTP server, running for real: the loop on a mock cluster, the server
/// on a free loopback port. The server starts first (so a test can see it before the loop
/// runs); `startService()` starts the loop.
final class HTTPStack: @unchecked Sendable {
    let harness: ServiceHarness
    let service: MeterService
    let httpGroup: ServiceGroup
    let httpTask: Task<Void, any Error>
    var serviceTask: Task<Void, any Error>?
    let port: Int
    let token: String?
    var client: LoopbackHTTPClient { LoopbackHTTPClient(port: port) }

    init(harness: ServiceHarness, token: String?, extraServers: [(APISettings, @Sendable (Int) async -> Void)] = [],
         fixedTime: Int64? = nil, configure: (inout ServiceConfiguration) -> Void = { _ in }) async throws {
        self.harness = harness
        self.token = token
        var config = try harness.config()
        config.http.token = token
        configure(&config)
        // A fixed wall clock, when given: the time of `/check` without `time=` and of hold events.
        var wallClock = systemWallClock
        if let fixedTime { wallClock = { fixedTime } }
        let service = MeterService(config: config, logger: harness.logger, wallClock: wallClock)
        self.service = service
        let ports = Mutex<[Int]>([])
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: try HTTPServer.forService(service, listen: "127.0.0.1:0", logger: harness.logger) { p in
                ports.withLock { $0.append(p) }
            }),
        ]
        for (settings, onListening) in extraServers {
            services.append(.init(service: try HTTPServer.forService(service, settings: settings, listen: "127.0.0.1:0",
                                                                     logger: harness.logger, onListening: onListening)))
        }
        let group = ServiceGroup(configuration: .init(services: services, logger: harness.logger))
        httpGroup = group
        httpTask = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while ports.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard let p = ports.withLock({ $0.first }) else { throw LoopbackHTTPClient.Failure("HTTP server did not start") }
        port = p
    }

    /// Starts the consuming loop and waits until `/healthz` says it runs.
    func startService() async throws {
        let service = self.service
        serviceTask = Task { try await service.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while try await client.request("/healthz").status != 200 {
            guard ContinuousClock.now < deadline else { throw LoopbackHTTPClient.Failure("the loop did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until `/readyz` answers 200, the service has processed `records`, and the read
    /// views are as far as the loop (views and their partition's position are published
    /// together, every 100 ms: readiness allows some lag, a test reading exact values may not).
    func waitReady(processed records: Int64, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        func viewsCurrent() -> Bool {
            let loop = service.status.positions, views = service.readModel.partitions
            return loop.allSatisfy { tp, next in next < 0 || views[tp]?.position == next }
        }
        while true {
            let late = ContinuousClock.now >= deadline  // one more look after a late wake-up
            if service.status.processed >= records, viewsCurrent(), try await client.request("/readyz").status == 200 { return }
            if late { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("not ready in time: processed \(service.status.processed) of \(records), readyz \(try await client.request("/readyz").text)")
    }

    func stop() async throws {
        service.requestStop()
        try await serviceTask?.value
        await httpGroup.triggerGracefulShutdown()
        try await httpTask.value
    }
}

/// Contract §11 over real HTTP against the running service.
@Suite(.serialized, .timeLimit(.minutes(3))) struct HTTPEndpointTests {
    static let token = "s3cret-token-42"

    /// Five accounts with hand-computed states (rate card 2026-11-01, price book in configs/).
    static func produceAccounts(_ h: ServiceHarness) throws -> Int64 {
        let events: [(String, String)] = [
            // acct-1: basic 500; chat ×3, web_research 10, grant 50, doc_search 3 (member m1, capability assistant) → 534 of 550
            (event("credit.plan.assigned", "acct-1", id: "p1", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#), "acct-1"),
            (event("ai.usage", "acct-1", id: "u1", time: "2026-11-02T10:00:00Z", data: #"{"action":"chat","quantity":3}"#), "acct-1"),
            (event("ai.usage", "acct-1", id: "u2", time: "2026-11-03T10:00:00Z", data: #"{"action":"web_research"}"#), "acct-1"),
            (event("credit.grant.issued", "acct-1", id: "g1", time: "2026-11-03T11:00:00Z",
                   data: #"{"credits":50,"expires_at":"2026-12-15T00:00:00Z","reason":"promo"}"#), "acct-1"),
            (event("ai.usage", "acct-1", id: "u4", time: "2026-11-04T09:00:00Z",
                   data: #"{"action":"doc_search","member":"m1","capability":"assistant"}"#), "acct-1"),
            // a/b: trial 100, doc_search → 97
            (event("credit.plan.assigned", "a/b", id: "p2", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), "a/b"),
            (event("ai.usage", "a/b", id: "u5", time: "2026-11-02T10:00:00Z", data: #"{"action":"doc_search"}"#), "a/b"),
            // acct-x: trial 100, knowledge_sync ×5 = 125 → −25 (exhausted)
            (event("credit.plan.assigned", "acct-x", id: "p3", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), "acct-x"),
            (event("ai.usage", "acct-x", id: "u6", time: "2026-11-02T10:00:00Z", data: #"{"action":"knowledge_sync","quantity":5}"#), "acct-x"),
            // acct-low: trial 100, action_execution ×6 = 90 → 10 (10 %: low)
            (event("credit.plan.assigned", "acct-low", id: "p4", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), "acct-low"),
            (event("ai.usage", "acct-low", id: "u7", time: "2026-11-02T10:00:00Z", data: #"{"action":"action_execution","quantity":6}"#), "acct-low"),
            // acct-idle: pro 2000, no usage
            (event("credit.plan.assigned", "acct-idle", id: "p5", time: "2026-11-01T00:00:00Z", data: #"{"plan":"pro"}"#), "acct-idle"),
        ]
        for (json, key) in events { try h.produce(json, key: key) }
        return Int64(events.count)
    }

    /// 40 accounts on the pro plan (2000 credits), then `uses` rounds of one doc_search (3
    /// credits) each, one second apart: ids `p-<account>` and `u<round>-<account>`.
    static func backlog(prefix: String, uses: Int) -> (accounts: [String], records: [WorkloadRecord]) {
        let accounts = (0..<40).map { "\(prefix)-\($0)" }
        var records: [WorkloadRecord] = []
        func add(_ json: String, _ key: String) {
            records.append(WorkloadRecord(key: Array(key.utf8), value: Array(json.utf8), timestampMs: 1_793_500_000_000, kind: .usage))
        }
        for a in accounts { add(event("credit.plan.assigned", a, id: "p-\(a)", time: "2026-11-01T00:00:00Z", data: #"{"plan":"pro"}"#), a) }
        for i in 0..<uses {
            let time = String(format: "2026-11-02T%02d:%02d:%02dZ", i / 3600, i / 60 % 60, i % 60)
            for a in accounts { add(event("ai.usage", a, id: "u\(i)-\(a)", time: time, data: #"{"action":"doc_search"}"#), a) }
        }
        return (accounts, records)
    }

    /// A backlog on the topic before the service starts is replayed without building read
    /// views (nobody can read a partition that replays: 503); the publish that ends the replay
    /// carries every account's view, built once, equal to the account's final state.
    @Test func aBacklogIsReplayedWithoutViewsThenEveryViewIsCurrent() async throws {
        let h = try ServiceHarness(partitions: 2, snapshotInterval: 3600)
        // pro: 2000 credits; 300 × doc_search (3 credits) = 900 → 1100 left, no alert.
        let (accounts, records) = Self.backlog(prefix: "bk", uses: 300)
        try h.produce(records)
        let stack = try await HTTPStack(harness: h, token: nil)
        try await stack.startService()
        try await stack.waitReady(processed: Int64(records.count))
        let c = stack.client
        for a in accounts {
            let r = try await c.request("/v1/accounts/\(a)")
            #expect(r.status == 200 && (r.json["balance_credits"] as? NSNumber)?.int64Value == 1100, "\(a): \(r.status) \(r.text.prefix(200))")
            #expect(r.json["last_event_id"] as? String == "u299-\(a)")
        }
        try await stack.stop()
        let status = stack.service.status
        #expect(status.applied == Int64(records.count))
        // One view per account, at the end of the replay: none per record while it ran (read
        // after the stop, which folds the loop's last counts).
        #expect(status.viewsBuilt == Int64(accounts.count), "views built: \(status.viewsBuilt)")
        // Balances records coalesced over the replay (no snapshot fell inside it): one per
        // account, current.
        #expect(stack.service.status.balancesPublished == Int64(accounts.count))
        let balances = try h.readAll("credit.balances", expect: accounts.count)
        #expect(balances.count == accounts.count)
        #expect(Set(balances.compactMap { $0.json["account"] as? String }) == Set(accounts))
        #expect(balances.allSatisfy { ($0.json["balance_credits"] as? NSNumber)?.int64Value == 1100 })
    }

    /// A clean stop in the middle of a replay publishes every coalesced balances record before
    /// its snapshot (§8), and a restart finishes the replay: the balances topic's last record
    /// per account equals the ledger at each stop.
    @Test func aStopInTheMiddleOfAReplayPublishesEveryBalanceFirst() async throws {
        // Small fetches and a small prefetch queue: a clean stop applies what was delivered
        // before it leaves the group, so with librdkafka's large default prefetch the whole
        // backlog could be applied before the stop and the replay would end first.
        let h = try ServiceHarness(partitions: 2, snapshotInterval: 3600,
                                   kafkaProperties: ["queued.max.messages.kbytes": "16", "max.partition.fetch.bytes": "4096"])
        // pro: 2000 credits; 400 × doc_search (3 credits) = 1200 → 800 left, no alert.
        let (accounts, records) = Self.backlog(prefix: "mr", uses: 400)
        try h.produce(records)
        #expect(try h.config().kafka.properties.count == 2)
        func lastBalances() throws -> [String: Int64] {
            var out: [String: Int64] = [:]
            for r in try h.readAll("credit.balances") {
                if let a = r.json["account"] as? String, let b = r.json["balance_credits"] as? NSNumber { out[a] = Int64((b.doubleValue * 1000).rounded()) }
            }
            return out
        }
        func ledgerBalances(_ s: MeterService) -> [String: Int64] { s.finalBalances(of: accounts) }

        let first = MeterService(config: try h.config(), logger: h.logger)
        // The loop stops itself after the batch that reaches 2,000 (a test task polling the
        // status can wake seconds late on a loaded machine: CI once saw the whole replay first).
        first.requestStop(afterProcessed: 2_000)
        let run1 = Task { try await first.run() }
        try await run1.value
        let stoppedAt = first.status.processed
        print("replay stopped at \(stoppedAt) of \(records.count) records")
        // Stopped mid-replay (else this test proves nothing about a replay).
        try #require(stoppedAt < Int64(records.count), "the replay ended before the stop: \(stoppedAt)")
        let atStop = ledgerBalances(first)
        #expect(!atStop.isEmpty)
        #expect(try lastBalances() == atStop)

        let second = MeterService(config: try h.config(), logger: h.logger)
        let run2 = Task { try await second.run() }
        let deadline2 = ContinuousClock.now + .seconds(60)
        while stoppedAt + second.status.processed < Int64(records.count) && ContinuousClock.now < deadline2 {
            try await Task.sleep(for: .milliseconds(20))
        }
        second.requestStop()
        try await run2.value
        #expect(stoppedAt + second.status.processed == Int64(records.count))
        let final = ledgerBalances(second)
        #expect(final == Dictionary(uniqueKeysWithValues: accounts.map { ($0, 800_000) }))
        #expect(try lastBalances() == final)
    }

    @Test func accountsChecksHistoryPagingAndErrors() async throws {
        let h = try ServiceHarness(partitions: 2)
        let hardPort = Mutex<Int?>(nil)
        var hard = APISettings(config: try h.config())
        hard.accessMode = .hard
        hard.token = Self.token
        let stack = try await HTTPStack(harness: h, token: Self.token, extraServers: [(hard, { @Sendable p in hardPort.withLock { $0 = p } })])
        let c = stack.client
        // Before the loop runs: not alive, not ready, and reads say why (503, not 404).
        #expect(try await c.request("/healthz").status == 503)
        let early = try await c.request("/readyz")
        #expect(early.status == 503)
        #expect(early.text == #"{"status":"not_ready","reason":"the consuming loop is not running"}"#)
        let notYet = try await c.request("/v1/accounts/acct-1", token: Self.token)
        #expect(notYet.status == 503 && notYet.json["error"] as? String == "not ready: the consuming loop is not running")
        try await stack.startService()
        #expect(try await c.request("/healthz").text == #"{"status":"ok"}"#)

        let n = try Self.produceAccounts(h)
        try await stack.waitReady(processed: n)
        #expect(try await c.request("/readyz").text == #"{"status":"ready"}"#)

        // 401 without, or with a wrong, token; health, readiness and metrics stay open.
        for auth in [nil, "wrong", Self.token + "x"] as [String?] {
            let r = try await c.request("/v1/accounts/acct-1", token: auth)
            #expect(r.status == 401)
            #expect(r.json["error"] as? String == "missing or invalid bearer token")
            #expect(!r.text.contains(Self.token))
        }
        #expect(try await c.request("/metrics").status == 200)

        // The document: exact millicredits.
        let doc = try await c.request("/v1/accounts/acct-1", token: Self.token)
        #expect(doc.status == 200)
        #expect(doc.headers["content-type"] == "application/json")
        let d = doc.json
        #expect(d["account"] as? String == "acct-1")
        #expect((d["balance_credits"] as? NSNumber)?.int64Value == 534)
        #expect((d["entitlement_credits"] as? NSNumber)?.int64Value == 550)
        #expect((d["used_this_cycle_credits"] as? NSNumber)?.int64Value == 16)
        #expect((d["overage_credits"] as? NSNumber)?.int64Value == 0)
        #expect(d["plan"] as? String == "basic")
        #expect(d["cycle_start"] as? String == "2026-11-01T00:00:00Z")
        #expect(d["cycle_end"] as? String == "2026-12-01T00:00:00Z")
        #expect(d["last_event_id"] as? String == "u4")
        #expect(d["rate_card_version"] as? String == "2026-11-01")
        let blocks = d["blocks"] as? [[String: Any]] ?? []
        #expect(blocks.count == 2)
        #expect(blocks.first?["kind"] as? String == "allowance" && (blocks.first?["credits"] as? NSNumber)?.int64Value == 484)
        #expect(blocks.last?["kind"] as? String == "grant" && (blocks.last?["credits"] as? NSNumber)?.int64Value == 50)
        #expect(blocks.last?["expires_at"] as? String == "2026-12-15T00:00:00Z")
        let usage = d["usage"] as? [String: Any] ?? [:]
        func amounts(_ any: Any?) -> [String: Int64] {
            ((any as? [String: Any]) ?? [:]).mapValues { ($0 as? NSNumber)?.int64Value ?? -1 }
        }
        #expect(amounts(usage["by_capability"]) == ["assistant": 3])
        #expect(amounts(usage["by_member"]) == ["m1": 3])
        #expect(amounts(usage["by_day"]) == ["2026-11-02": 3, "2026-11-03": 10, "2026-11-04": 3])
        // Runway by hand: D = 11-02…11-04 (n 3), C = 16 credits; 16/3 = 5.333; 534 × 3 × 86400 / 16 s after t.
        let runway = d["runway"] as? [String: Any] ?? [:]
        #expect(String(decoding: try JSONSerialization.data(withJSONObject: runway["credits_per_day"]!, options: .fragmentsAllowed), as: UTF8.self) == "5.333")
        #expect(runway["exhausted_at"] as? String == "2027-02-12T12:00:00Z")
        #expect(runway["before_cycle_end"] as? Bool == false)
        #expect((d["money"] as? [String: Any])?["currency"] as? String == "USD")

        // The balances topic's last record for the account carries the same shared fields (the
        // record is coalesced over 1 s: read until it has arrived).
        var last: [String: Any] = [:]
        let until = ContinuousClock.now + .seconds(20)
        while last["last_event_id"] as? String != "u4" && ContinuousClock.now < until {
            last = try h.readAll("credit.balances").last { $0.key == "acct-1" }?.json ?? [:]
            if last["last_event_id"] as? String != "u4" { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(last["last_event_id"] as? String == "u4")
        for (key, value) in last {
            func canonical(_ v: Any?) throws -> String {
                String(decoding: try JSONSerialization.data(withJSONObject: [key: v ?? NSNull()], options: [.sortedKeys]), as: UTF8.self)
            }
            #expect(try canonical(d[key]) == (try canonical(value)), "field \(key) differs from the balances topic")
        }

        // Ids are one path segment, decoded once.
        #expect(try await c.request("/v1/accounts/a%2Fb", token: Self.token).json["balance_credits"] as? NSNumber == 97)
        #expect(try await c.request("/v1/accounts/a/b", token: Self.token).status == 404)
        #expect(try await c.request("/v1/accounts/nobody", token: Self.token).status == 404)
        #expect(try await c.request("/v1/accounts/nobody", token: Self.token).json["error"] as? String == "no state for this account on this instance")
        #expect(try await c.request("/v1/accounts/" + String(repeating: "z", count: 128), token: Self.token).status == 404)
        let long = try await c.request("/v1/accounts/" + String(repeating: "z", count: 129), token: Self.token)
        #expect(long.status == 400 && (long.json["error"] as? String ?? "").hasPrefix("account:"))
        #expect(try await c.request("/v1/accounts/%ZZ", token: Self.token).status == 400)
        #expect(try await c.request("/v1/nothing-here", token: Self.token).status == 404)
        #expect(try await c.request("/v1/accounts/acct-1", token: Self.token, method: "DELETE").status == 405)

        // Listing: byte order, paging, status filters, bad parameters.
        func ids(_ target: String) async throws -> ([String], String?) {
            let j = try await c.request(target, token: Self.token).json
            return ((j["accounts"] as? [[String: Any]] ?? []).compactMap { $0["account"] as? String }, j["next"] as? String)
        }
        #expect(try await ids("/v1/accounts?limit=2") == (["a/b", "acct-1"], "acct-1"))
        #expect(try await ids("/v1/accounts?limit=2&after=acct-1") == (["acct-idle", "acct-low"], "acct-low"))
        #expect(try await ids("/v1/accounts?limit=2&after=acct-low") == (["acct-x"], nil))
        #expect(try await ids("/v1/accounts?status=low").0 == ["acct-low"])
        #expect(try await ids("/v1/accounts?status=exhausted").0 == ["acct-x"])
        #expect(try await ids("/v1/accounts?status=idle").0 == ["acct-idle"])
        #expect(try await ids("/v1/accounts?unknown=1").0.count == 5)
        let row = try #require((try await c.request("/v1/accounts?limit=1&after=acct-idle", token: Self.token).json["accounts"] as? [[String: Any]])?.first)
        #expect(row["account"] as? String == "acct-low" && row["plan"] as? String == "trial")
        #expect((row["balance_credits"] as? NSNumber)?.int64Value == 10 && (row["remaining_percent"] as? NSNumber)?.doubleValue == 10.0)
        #expect(row["last_event_time"] as? String == "2026-11-02T10:00:00Z")
        for bad in ["limit=1.0", "limit=0", "limit=1001", "limit=-0", "status=bogus"] {
            let r = try await c.request("/v1/accounts?" + bad, token: Self.token)
            #expect(r.status == 400, "\(bad)")
            let error = r.json["error"] as? String ?? ""
            #expect(error.hasPrefix(String(bad.prefix { $0 != "=" }) + ":"), "\(bad): \(r.text)")
        }

        // /check, soft mode (the default).
        func check(_ target: String, port: Int? = nil) async throws -> [String: Any] {
            let r = try await LoopbackHTTPClient(port: port ?? stack.port).request(target, token: Self.token)
            #expect(r.status == 200, "\(target): \(r.text)")
            return r.json
        }
        var j = try await check("/v1/accounts/acct-1/check?action=chat")
        #expect(j["allowed"] as? Bool == true && (j["credits"] as? NSNumber)?.int64Value == 1)
        #expect((j["balance_credits"] as? NSNumber)?.int64Value == 534 && j["rate_card_version"] as? String == "2026-11-01")
        #expect(j["reason"] is NSNull)
        j = try await check("/v1/accounts/acct-x/check?action=chat")
        #expect(j["allowed"] as? Bool == false && j["reason"] as? String == "no_credits")
        j = try await check("/v1/accounts/acct-1/check?action=teleport")
        #expect(j["allowed"] as? Bool == false && j["reason"] as? String == "unknown_action" && j["credits"] is NSNull)
        j = try await check("/v1/accounts/ghost/check?action=chat")
        #expect(j["allowed"] as? Bool == false && j["reason"] as? String == "unknown_account")
        j = try await check("/v1/accounts/acct-low/check?action=summarize_thread&input_tokens=12345&time=2026-11-05T00:00:00Z")
        #expect(j["allowed"] as? Bool == true)
        #expect(String(decoding: try JSONSerialization.data(withJSONObject: j["credits"]!, options: .fragmentsAllowed), as: UTF8.self) == "1.617")
        for (bad, parameter) in [("quantity=1.0", "quantity"), ("quantity=0", "quantity"), ("time=yesterday", "time"),
                                 ("time=2020-01-01T00:00:00Z", "time"), ("input_tokens=-1", "input_tokens")] {
            let r = try await c.request("/v1/accounts/acct-1/check?action=chat&" + bad, token: Self.token)
            #expect(r.status == 400, "\(bad)")
            let error = r.json["error"] as? String ?? ""
            #expect(error.hasPrefix(parameter + ":"), "\(bad): \(r.text)")
        }
        #expect(try await c.request("/v1/accounts/acct-1/check", token: Self.token).json["error"] as? String == "action: is required")

        // /check, hard mode: balance ≥ credits.
        let hp = try #require(hardPort.withLock { $0 })
        #expect(try await check("/v1/accounts/acct-low/check?action=web_research", port: hp)["allowed"] as? Bool == true)
        j = try await check("/v1/accounts/acct-low/check?action=action_execution", port: hp)
        #expect(j["allowed"] as? Bool == false && j["reason"] as? String == "insufficient_credits")
        #expect((j["credits"] as? NSNumber)?.int64Value == 15 && (j["balance_credits"] as? NSNumber)?.int64Value == 10)

        // Metrics: the contract's names, exact credits, route templates (never raw paths or the token).
        let metrics = try await c.request("/metrics").text
        let lines = Set(metrics.split(separator: "\n").map(String.init))
        #expect(lines.contains("credit_meter_records_total{outcome=\"applied\"} \(n)"))
        #expect(lines.contains("credit_meter_records_total{outcome=\"duplicate\"} 0"))
        #expect(lines.contains("credit_meter_records_total{outcome=\"dead_lettered\"} 0"))
        #expect(lines.contains("credit_meter_credits_charged_total 234"))
        #expect(lines.contains("credit_meter_alerts_published_total{type=\"credit.balance.low\"} 1"))
        #expect(lines.contains("credit_meter_alerts_published_total{type=\"credit.balance.exhausted\"} 1"))
        #expect(lines.contains("credit_meter_accounts 5.0"))
        #expect(lines.contains("credit_meter_remembered_ids{kind=\"window\"} 12.0"))   // every applied record's id
        #expect(lines.contains("credit_meter_remembered_ids{kind=\"purchase\"} 1.0"))  // g1
        #expect(lines.contains("credit_meter_http_requests_total{route=\"/v1/accounts/{account}\",code=\"401\"} 3"))
        #expect(lines.contains("credit_meter_consumer_lag{topic=\"ai.usage\",partition=\"0\"} 0.0"))
        #expect(lines.contains("credit_meter_consumer_lag{topic=\"ai.usage\",partition=\"1\"} 0.0"))
        #expect(lines.contains { $0.hasPrefix("credit_meter_snapshot_age_seconds ") })
        #expect(lines.contains { $0.hasPrefix("credit_meter_snapshot_bytes ") })
        #expect(lines.contains { $0.hasPrefix("credit_meter_snapshot_duration_seconds_count ") })
        #expect(!metrics.contains("a%2Fb") && !metrics.contains("acct-1") && !metrics.contains(Self.token))
        try await stack.stop()
    }
}

/// The pages for people (/ui), loaded in a real browser: headless Chromium. Nested in the
/// endpoint suite so that the two never run at once (they scrape one process-wide registry).
extension HTTPEndpointTests {
@Suite(.serialized, .timeLimit(.minutes(3))) struct UIPageTests {
    static let token = "ui-token-7"

    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Where screenshots are kept (test artifacts): .build/test-artifacts/.
    static let artifacts: URL = {
        let url = ServiceHarness.repoRoot.appendingPathComponent(".build/test-artifacts")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// Runs headless Chromium on `url` with `arguments`; returns its standard output.
    static func browser(_ arguments: [String], _ url: String) async throws -> String {
        try await onOwnThread { try browserBlocking(arguments, url) }
    }

    static func browserBlocking(_ arguments: [String], _ url: String) throws -> String {
        guard let chromium else {
            throw TestFailure("headless Chromium is needed: apt-get install chromium (scripts/install-deps.sh --test does)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("cm-chromium-\(UUID().uuidString)")
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                       "--user-data-dir=\(home.path)", "--window-size=1200,2200", "--virtual-time-budget=2000"] + arguments + [url]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // A browser that stalls (a starved machine) is stopped after 90 s (SIGTERM, then SIGKILL
        // 5 s later) and the test fails there: the run does not hang.
        let killed = Atomic<Bool>(false)
        let pid = p.processIdentifier
        let watchdog = DispatchWorkItem {
            guard p.isRunning else { return }
            killed.store(true, ordering: .relaxed)
            p.terminate()
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) { if p.isRunning { kill(pid, SIGKILL) } }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: watchdog)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        watchdog.cancel()
        try? FileManager.default.removeItem(at: home)
        if killed.load(ordering: .relaxed) { throw TestFailure("headless Chromium did not finish within 90 s: \(arguments) \(url)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// The attribute `name` of the first element with `id`.
    static func attribute(_ dom: String, id: String, _ name: String) -> String? {
        guard let tag = dom.range(of: "id=\"\(id)\"") else { return nil }
        let start = dom[..<tag.lowerBound].lastIndex(of: "<") ?? tag.lowerBound
        let end = dom[tag.upperBound...].firstIndex(of: ">") ?? dom.endIndex
        let element = dom[start..<end]
        guard let a = element.range(of: " \(name)=\"") else { return nil }
        return String(element[a.upperBound...].prefix { $0 != "\"" })
    }

    @Test func overviewAndAccountPagesInARealBrowser() async throws {
        let h = try ServiceHarness(partitions: 2)
        let stack = try await HTTPStack(harness: h, token: Self.token)
        try await stack.startService()
        var n = try HTTPEndpointTests.produceAccounts(h)
        // An account with no plan: a grant only. And one whose id is markup.
        try h.produce(event("credit.grant.issued", "no-plan", id: "g9", time: "2026-11-02T00:00:00Z", data: #"{"credits":25}"#), key: "no-plan")
        let markup = "<b>x&'"
        try h.produce(event("credit.grant.issued", markup, id: "<i>g</i>", time: "2026-11-02T00:00:00Z",
                            data: #"{"credits":1,"reason":"<script>alert(1)</script>"}"#), key: markup)
        n += 2
        try await stack.waitReady(processed: n)
        let base = "http://127.0.0.1:\(stack.port)"

        // Without the token: 401, also for pages.
        #expect(try await stack.client.request("/ui/").status == 401)
        #expect(try await stack.client.request("/ui/?token=nope").status == 401)

        // The overview: every account, sorted by balance (descending) on the server.
        let overview = try await Self.browser(["--dump-dom"], "\(base)/ui/?sort=balance&dir=desc&token=\(Self.token)")
        #expect(overview.contains("<title>Accounts (7) — CreditMeter</title>"))
        let order = ["acct-idle", "acct-1", "a/b", "no-plan", "acct-low", "acct-x"].map { ">" + $0 + "</a>" }
        let positions = order.compactMap { overview.range(of: $0)?.lowerBound }
        #expect(positions.count == order.count && positions == positions.sorted(), "rows not in balance order")
        #expect(overview.contains("class=\"status-exhausted\">exhausted<"))
        #expect(overview.contains("class=\"status-low\">low<"))
        // Markup in ids and texts is text, on both pages (raw HTML as served).
        let rawOverview = try await stack.client.request("/ui/?token=\(Self.token)").text
        #expect(rawOverview.contains("&lt;b&gt;x&amp;&#39;") && !rawOverview.contains("<b>x"))
        let rawAccount = try await stack.client.request("/ui/accounts/%3Cb%3Ex%26'?token=\(Self.token)")
        #expect(rawAccount.status == 200)
        #expect(rawAccount.text.contains("&lt;i&gt;g&lt;/i&gt;") && !rawAccount.text.contains("<i>g") && !rawAccount.text.contains("<script>"))
        #expect(rawAccount.headers["content-security-policy"]?.hasPrefix("default-src 'none'") == true)
        #expect(rawAccount.headers["cache-control"] == "no-store")
        let unknown = try await stack.client.request("/ui/accounts/ghost?token=\(Self.token)")
        #expect(unknown.status == 404 && !unknown.text.contains(Self.token))
        let low = try await Self.browser(["--dump-dom"], "\(base)/ui/?status=low&token=\(Self.token)")
        #expect(low.contains(">acct-low</a>") && !low.contains(">acct-1</a>"))

        // One account: the burn-down's last point is the balance, exactly where the scale puts it.
        let page = try await Self.browser(["--dump-dom"], "\(base)/ui/accounts/acct-1?token=\(Self.token)")
        #expect(page.contains("<title>acct-1 — 534 credits left — CreditMeter</title>"))
        let d = try #require(Self.attribute(page, id: "balance-line", "d"))
        let last = try #require(d.split(separator: "L").last).split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "M", with: "")) }
        let yZero = try #require(Self.attribute(page, id: "burndown", "data-y-zero").flatMap(Double.init))
        let perCredit = try #require(Self.attribute(page, id: "burndown", "data-px-per-credit").flatMap(Double.init))
        #expect(last.count == 2)
        #expect(abs(last[1] - (yZero - 534 * perCredit)) < 0.02, "last point \(last) vs balance 534")
        #expect(Self.attribute(page, id: "runway-line", "d") != nil)  // projected runway, dashed
        #expect(Self.attribute(page, id: "reset", "x1") != nil)       // the reset date
        #expect(page.contains("resets 2026-12-01") && page.contains("20 % (110)") && page.contains("10 % (55)"))
        #expect(page.contains("<table id=\"history\">") && page.contains(">g1<"))
        #expect(page.contains(">assistant<") && page.contains(">m1<"))
        _ = try await Self.browser(["--screenshot=\(Self.artifacts.appendingPathComponent("ui-account.png").path)"],
                             "\(base)/ui/accounts/acct-1?token=\(Self.token)")
        let png = try Data(contentsOf: Self.artifacts.appendingPathComponent("ui-account.png"))
        #expect(png.count > 10_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]))

        // An exhausted account, and one with no plan.
        let exhausted = try await Self.browser(["--dump-dom"], "\(base)/ui/accounts/acct-x?token=\(Self.token)")
        #expect(exhausted.contains("<title>acct-x — −25 credits left — CreditMeter</title>"))
        #expect(exhausted.contains("exhausted</b>"))
        let lastX = try #require(Self.attribute(exhausted, id: "balance-line", "d")?.split(separator: "L").last)
            .split(separator: " ").compactMap { Double($0) }
        let y0x = try #require(Self.attribute(exhausted, id: "burndown", "data-y-zero").flatMap(Double.init))
        let pcx = try #require(Self.attribute(exhausted, id: "burndown", "data-px-per-credit").flatMap(Double.init))
        #expect(abs((lastX.last ?? 0) - (y0x + 25 * pcx)) < 0.02)
        let noPlan = try await Self.browser(["--dump-dom"], "\(base)/ui/accounts/no-plan?token=\(Self.token)")
        #expect(noPlan.contains("<title>no-plan — 25 credits left — CreditMeter</title>"))
        #expect(noPlan.contains("No plan yet, so no billing cycle to draw."))
        #expect(Self.attribute(noPlan, id: "balance-line", "d") == nil)
        _ = try await Self.browser(["--screenshot=\(Self.artifacts.appendingPathComponent("ui-overview.png").path)"],
                             "\(base)/ui/?sort=balance&dir=desc&token=\(Self.token)")
        try await stack.stop()
    }

    @Test func openHoldsOnTheAccountPageAndTheOverviewFilter() async throws {
        let h = try ServiceHarness(partitions: 2)
        let stack = try await HTTPStack(harness: h, token: Self.token)
        try await stack.startService()
        // Times an hour before the wall clock, on a whole minute, so that the service's own
        // expiry pass (which runs on the wall clock) leaves a 7-day hold open.
        let minute: Int64 = 60 * EventTime.nanosPerSecond
        let t0 = (Int64(Date().timeIntervalSince1970) * EventTime.nanosPerSecond) / minute * minute - 60 * minute
        func at(_ seconds: Int64) -> String { EventTime.format(t0 + seconds * EventTime.nanosPerSecond) }
        let records = [
            ("held", event("credit.plan.assigned", "held", id: "p1", time: at(0), data: #"{"plan":"basic"}"#)),
            ("plain", event("credit.plan.assigned", "plain", id: "p2", time: at(0), data: #"{"plan":"basic"}"#)),
            ("held", event("credit.hold.requested", "held", id: "h1", time: at(60),
                           data: #"{"hold_id":"run-1","credits":100,"workflow":"nightly <report>","ttl_seconds":604800}"#)),
            ("held", event("ai.usage", "held", id: "u1", time: at(61), data: #"{"action":"web_research","hold_id":"run-1"}"#)),
            ("held", event("credit.hold.requested", "held", id: "h2", time: at(62), data: #"{"hold_id":"run-2","credits":1000}"#)),
        ]
        for (key, value) in records { try h.produce(value, key: key) }
        try await stack.waitReady(processed: Int64(records.count))
        let base = "http://127.0.0.1:\(stack.port)"

        // balance 500 − 10 = 490; run-1 holds 100, 10 settled: 90 reserved, 400 available;
        // run-2 asked for 1,000 and was denied.
        let expires = at(60 + 604_800).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: ":00Z", with: " UTC")
        let page = try await Self.browser(["--dump-dom"], "\(base)/ui/accounts/held?token=\(Self.token)")
        #expect(page.contains("<span id=\"available\">400 available · 90 on hold</span>"))
        #expect(page.contains("<tr class=\"hold-active\"><td>run-1</td><td class=\"wide\">nightly &lt;report&gt;</td><td>active</td><td class=\"num\">100</td><td class=\"num wide\">10</td><td class=\"num wide\">90</td><td>\(expires)</td></tr>"),
                "\(page)")
        #expect(page.contains("<tr class=\"hold-denied\"><td>run-2</td><td class=\"wide\">—</td><td>denied (insufficient credits)</td><td class=\"num\">1,000</td>"))
        let plain = try await Self.browser(["--dump-dom"], "\(base)/ui/accounts/plain?token=\(Self.token)")
        #expect(plain.contains("no open holds") && !plain.contains("id=\"available\""))

        let filtered = try await Self.browser(["--dump-dom"], "\(base)/ui/?status=holds&token=\(Self.token)")
        #expect(filtered.contains(">held</a>") && !filtered.contains(">plain</a>"))
        #expect(filtered.contains("400 available</span>"))
        try await stack.stop()
    }

    // MARK: Charts and pages at desktop and phone widths

    /// The browser's measurements of a page (see `measure`).
    struct Measured {
        struct Box { var x0, y0, x1, y1: Double }
        struct Label { var text: String; var box: Box }
        struct Chart { var box: Box; var labels: [Label]; var lines: [(String, (Double, Double), (Double, Double))] }
        var viewport: Double
        var scrollWidth: Double
        var charts: [String: Chart]
        /// The overview's status column header and first status cell, when visible.
        var statusHeader: Box?
        var statusCell: Box?
    }

    /// The script that measures a page in the browser: every chart's text boxes and drawn
    /// lines (dashed lines and paths) in viewport pixels, the page's width, the overview's
    /// status column. It writes them as JSON into `<pre id="measured">`.
    static let measuringScript = """
    <script>
    function box(e){const b=e.getBoundingClientRect();return [b.left,b.top,b.right,b.bottom]}
    function measure(){
      const out={viewport:document.documentElement.clientWidth,scrollWidth:document.documentElement.scrollWidth,charts:{}};
      for(const svg of document.querySelectorAll('svg.chart')){
        const m=svg.getScreenCTM();
        const pt=(x,y)=>{const p=svg.createSVGPoint();p.x=x;p.y=y;const q=p.matrixTransform(m);return [q.x,q.y]};
        const labels=[...svg.querySelectorAll('text')].map(t=>({text:t.textContent,box:box(t)}));
        const lines=[];
        for(const l of svg.querySelectorAll('line[stroke-dasharray]'))
          lines.push([l.id||l.getAttribute('class')||'line',pt(+l.getAttribute('x1'),+l.getAttribute('y1')),pt(+l.getAttribute('x2'),+l.getAttribute('y2'))]);
        for(const p of svg.querySelectorAll('path')){
          const n=(p.getAttribute('d').match(/-?[0-9.]+/g)||[]).map(Number);
          for(let i=2;i+1<n.length;i+=2) lines.push([p.id||'path',pt(n[i-2],n[i-1]),pt(n[i],n[i+1])]);
        }
        out.charts[svg.id]={box:box(svg),labels,lines};
      }
      const visible=e=>e&&getComputedStyle(e).display!=='none'?box(e):null;
      out.statusHeader=visible(document.querySelector('#accounts thead th:last-child'));
      out.statusCell=visible(document.querySelector('#accounts tbody td:last-child'));
      const pre=window.top.document.createElement('pre');pre.id='measured';pre.style.display='none';pre.textContent=JSON.stringify(out);window.top.document.body.appendChild(pre);
    }
    window.addEventListener('load',()=>document.fonts.ready.then(measure));
    </script>
    """

    /// The page at `target` as served, with the measuring script added before `</body>`, in
    /// an `<iframe>` exactly `width` px wide (Chromium's window is at least 500 px wide; the
    /// frame is the phone's screen), written to a file. The page as served runs no script
    /// (its Content-Security-Policy forbids any), so the browser loads this file instead.
    static func framedPage(_ stack: HTTPStack, _ target: String, width: Int) async throws -> URL {
        let html = try await stack.client.request(target).text.replacingOccurrences(of: "</body>", with: measuringScript + "</body>")
        let attribute = html.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
        let wrapper = "<!doctype html><html><head><meta charset=\"utf-8\"></head><body style=\"margin:0\">"
            + "<iframe style=\"border:0;display:block\" width=\"\(width)\" height=\"9000\" srcdoc=\"\(attribute)\"></iframe></body></html>"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cm-page-\(UUID().uuidString).html")
        try wrapper.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    static func windowSize(_ width: Int) -> String { "--window-size=\(max(width, 500)),2400" }

    /// Loads `target` in headless Chromium, `width` px wide, and measures it.
    static func measure(_ stack: HTTPStack, _ target: String, width: Int) async throws -> Measured {
        let file = try await framedPage(stack, target, width: width)
        defer { try? FileManager.default.removeItem(at: file) }
        let dom = try await browser(["--dump-dom", windowSize(width)], file.absoluteString)
        guard let tag = dom.range(of: "<pre id=\"measured\""), let start = dom[tag.upperBound...].range(of: ">"),
              let end = dom[start.upperBound...].range(of: "</pre>") else {
            throw TestFailure("the measuring script wrote nothing for \(target) at \(width) px")
        }
        let text = dom[start.upperBound..<end.lowerBound].replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        func box(_ any: Any?) -> Measured.Box? {
            guard let a = any as? [NSNumber], a.count == 4 else { return nil }
            return .init(x0: a[0].doubleValue, y0: a[1].doubleValue, x1: a[2].doubleValue, y1: a[3].doubleValue)
        }
        func point(_ any: Any?) -> (Double, Double) {
            let a = any as? [NSNumber] ?? []
            return a.count == 2 ? (a[0].doubleValue, a[1].doubleValue) : (.nan, .nan)
        }
        var charts: [String: Measured.Chart] = [:]
        for (id, any) in j["charts"] as? [String: [String: Any]] ?? [:] {
            let labels = (any["labels"] as? [[String: Any]] ?? []).compactMap { l in box(l["box"]).map { Measured.Label(text: l["text"] as? String ?? "", box: $0) } }
            let lines = (any["lines"] as? [[Any]] ?? []).map { l in (l.first as? String ?? "", point(l.count > 1 ? l[1] : nil), point(l.count > 2 ? l[2] : nil)) }
            charts[id] = .init(box: box(any["box"]) ?? .init(x0: 0, y0: 0, x1: 0, y1: 0), labels: labels, lines: lines)
        }
        return Measured(viewport: (j["viewport"] as? NSNumber)?.doubleValue ?? 0, scrollWidth: (j["scrollWidth"] as? NSNumber)?.doubleValue ?? 0,
                        charts: charts, statusHeader: box(j["statusHeader"]), statusCell: box(j["statusCell"]))
    }

    /// Whether the segment a–b passes through the box shrunk by `inset` px: sampled every
    /// 0.1 px along it (independent of the server's own clipping arithmetic).
    static func crosses(_ b: Measured.Box, _ a: (Double, Double), _ c: (Double, Double), inset: Double = 0.5) -> Bool {
        let x0 = b.x0 + inset, y0 = b.y0 + inset, x1 = b.x1 - inset, y1 = b.y1 - inset
        guard x0 < x1, y0 < y1, max(a.0, c.0) > x0, min(a.0, c.0) < x1, max(a.1, c.1) > y0, min(a.1, c.1) < y1 else { return false }
        let steps = max(1, Int(((c.0 - a.0) * (c.0 - a.0) + (c.1 - a.1) * (c.1 - a.1)).squareRoot() * 10))
        return (0...steps).contains { i in
            let t = Double(i) / Double(steps)
            let x = a.0 + (c.0 - a.0) * t, y = a.1 + (c.1 - a.1) * t
            return x > x0 && x < x1 && y > y0 && y < y1
        }
    }

    /// Every chart on the page: each label wholly inside its chart and the window, no two
    /// labels overlapping, no drawn line (dashed lines, the balance and runway) through a label.
    static func expectReadableCharts(_ m: Measured, _ page: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let slack = 0.5
        for (id, chart) in m.charts.sorted(by: { $0.key < $1.key }) {
            #expect(!chart.labels.isEmpty, "\(page) \(id): no labels", sourceLocation: sourceLocation)
            #expect(chart.box.x1 <= m.viewport + slack, "\(page) \(id): the chart is wider than the window", sourceLocation: sourceLocation)
            for l in chart.labels {
                let b = l.box
                let inside = b.x0 >= chart.box.x0 - slack && b.x1 <= chart.box.x1 + slack && b.y0 >= chart.box.y0 - slack && b.y1 <= chart.box.y1 + slack
                    && b.x0 >= -slack && b.x1 <= m.viewport + slack
                #expect(inside, "\(page) \(id): \"\(l.text)\" is cut: \(b) outside \(chart.box) or the window (\(m.viewport) px)", sourceLocation: sourceLocation)
                for (name, a, c) in chart.lines where crosses(b, a, c) {
                    Issue.record("\(page) \(id): \(name) strikes through \"\(l.text)\"", sourceLocation: sourceLocation)
                }
            }
            for (i, p) in chart.labels.enumerated() {
                for q in chart.labels[(i + 1)...] {
                    let overlap = p.box.x0 < q.box.x1 - slack && q.box.x0 < p.box.x1 - slack && p.box.y0 < q.box.y1 - slack && q.box.y0 < p.box.y1 - slack
                    #expect(!overlap, "\(page) \(id): \"\(p.text)\" overlaps \"\(q.text)\"", sourceLocation: sourceLocation)
                }
            }
        }
    }

    /// Four accounts whose charts crowd their labels: an account at a threshold, one in
    /// overage, one whose credits outlast the cycle, one with a top-up and an auto top-up.
    @Test(arguments: [1280, 390]) func chartLabelsNeitherOverlapNorAreCutNorStruckThrough(width: Int) async throws {
        let h = try ServiceHarness(partitions: 2)
        let stack = try await HTTPStack(harness: h, token: nil)
        try await stack.startService()
        var n = try HTTPEndpointTests.produceAccounts(h)
        let topup = "acct-topup"
        for (json, _) in [
            (event("credit.plan.assigned", topup, id: "tp1", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), 0),
            (event("credit.topup.purchased", topup, id: "tp2", time: "2026-11-01T06:00:00Z", data: #"{"pack":"pack-1000"}"#), 0),
            (event("credit.autotopup.configured", topup, id: "tp3", time: "2026-11-01T07:00:00Z",
                   data: #"{"pack":"pack-1000","below_credits":60,"max_per_cycle":2}"#), 0),
            (event("ai.usage", topup, id: "tp4", time: "2026-11-05T10:00:00Z", data: #"{"action":"web_research","quantity":20}"#), 0),
            (event("ai.usage", topup, id: "tp5", time: "2026-11-06T10:00:00Z", data: #"{"action":"chat","quantity":7}"#), 0),
            (event("credit.alerts.configured", topup, id: "tp6", time: "2026-11-06T11:00:00Z", data: #"{"thresholds_percent":[50,25,5]}"#), 0),
        ] { try h.produce(json, key: topup) }
        n += 6
        try await stack.waitReady(processed: n)

        for account in ["acct-1", "acct-low", "acct-x", "acct-idle", topup] {
            let m = try await Self.measure(stack, "/ui/accounts/\(account)", width: width)
            #expect(m.viewport <= Double(width) && m.viewport >= Double(width) - 20, "the window is \(m.viewport) px, not \(width)")
            #expect(m.charts["burndown"] != nil, "\(account): no burn-down")
            #expect(m.scrollWidth <= m.viewport + 0.5, "\(account) at \(width) px: the page is \(m.scrollWidth) px wide, the window \(m.viewport) px")
            Self.expectReadableCharts(m, "\(account) at \(width) px")
            // The current point's label and the runway's stay in the chart at every width.
            let labels = m.charts["burndown"]?.labels.map(\.text) ?? []
            #expect(labels.contains { $0.hasPrefix("balance ") }, "\(account): \(labels)")
            #expect(labels.contains("credits"), "\(account): no unit on the axis")
            #expect(labels.filter { $0.range(of: #"^[A-Z][a-z]{2} [0-9]{1,2}$"#, options: .regularExpression) != nil }.count >= 3,
                    "\(account): fewer than three dates: \(labels)")
            if account == topup {  // the account's own thresholds, not the configured 20 and 10
                let page = try await stack.client.request("/ui/accounts/\(topup)").text
                #expect(page.contains("50 % (550)") && page.contains("25 % (275)") && page.contains("5 % (55)") && !page.contains("20 % ("))
            }
            if account != "acct-x" && account != "acct-idle" {
                #expect(labels.contains { $0.hasPrefix("runs out ") || $0.hasSuffix(" left at the reset") }, "\(account): no runway label: \(labels)")
            }
        }
        let m = try await Self.measure(stack, "/ui/?sort=balance&dir=desc", width: width)
        let header = try #require(m.statusHeader, "no visible status column at \(width) px")
        let cell = try #require(m.statusCell)
        #expect(header.x1 <= m.viewport + 0.5 && cell.x1 <= m.viewport + 0.5, "status column cut at \(width) px: \(header), window \(m.viewport)")
        #expect(m.scrollWidth <= m.viewport + 0.5, "overview at \(width) px: \(m.scrollWidth) px wide, the window \(m.viewport) px")
        // Screenshots (a 390 px frame in a 500 px window: Chromium's narrowest).
        for (name, target) in [("ui-account", "/ui/accounts/acct-1"), ("ui-account-low", "/ui/accounts/acct-low"), ("ui-overview", "/ui/?sort=balance&dir=desc")] {
            // The page is kept beside its screenshot (`<name>-<width>.html`: opens in any browser).
            let page = Self.artifacts.appendingPathComponent("\(name)-\(width).html")
            try? FileManager.default.removeItem(at: page)
            try FileManager.default.moveItem(at: try await Self.framedPage(stack, target, width: width), to: page)
            let file = Self.artifacts.appendingPathComponent("\(name)-\(width).png")
            _ = try await Self.browser(["--screenshot=\(file.path)", Self.windowSize(width)], page.absoluteString)
            #expect(try Data(contentsOf: file).starts(with: [0x89, 0x50, 0x4E, 0x47]))
        }
        try await stack.stop()
    }

    /// What the account page tells: the runway against the reset, plan and price, usage per
    /// day, money, the auto top-up, readable times, one minus sign, no internal alert ids.
    @Test func theAccountPageTellsTheWholeStory() async throws {
        let h = try ServiceHarness(partitions: 2)
        let stack = try await HTTPStack(harness: h, token: nil)
        try await stack.startService()
        var n = try HTTPEndpointTests.produceAccounts(h)
        try h.produce(event("credit.topup.purchased", "acct-low", id: "t1", time: "2026-11-02T11:00:00Z", data: #"{"pack":"pack-1000"}"#), key: "acct-low")
        try h.produce(event("credit.autotopup.configured", "acct-low", id: "c1", time: "2026-11-02T12:00:00Z",
                            data: #"{"pack":"pack-1000","below_credits":60,"max_per_cycle":2}"#), key: "acct-low")
        n += 2
        try await stack.waitReady(processed: n)
        let c = stack.client

        // acct-1: 534 credits at ≈5.3 a day outlast the cycle: the card says what the reset does.
        let one = try await c.request("/ui/accounts/acct-1").text
        #expect(one.contains("plan <b>basic</b>: 500 credits a month for 39 USD"))
        #expect(one.contains("<b>lasts this cycle</b>"))
        #expect(one.contains("left when the allowance resets on 2026-12-01 (to 500 credits)"))
        #expect(one.contains("unused allowance, forfeited then"))
        #expect(one.contains("at today&#39;s pace this cycle&#39;s credits would last until"))
        #expect(!one.contains("runs out 2027") && !one.contains("runs out 2026-12") )
        #expect(one.contains("<svg id=\"daily-usage\"") && one.contains("<td>2026-11-04</td><td class=\"num\">3</td>"))
        #expect(one.contains("2026-11-03 11:00 UTC"))  // the grant, in the history
        #expect(one.contains("<dt>paid</dt><dd>39 USD</dd>") && one.contains("<dt>credits bought</dt><dd>500</dd>"))
        #expect(one.contains("<dt>price per credit</dt><dd>0.078 USD</dd>") && one.contains("<dt>provider cost</dt>") && one.contains("<dt>margin</dt>"))
        #expect(one.contains("no auto top-up"))

        // acct-low: runs out before the reset; a top-up bought, an auto top-up set; a low alert.
        let low = try await c.request("/ui/accounts/acct-low").text
        #expect(low.contains("<dt>paid</dt><dd>10 USD</dd>") && low.contains("<dt>credits bought</dt><dd>1,100</dd>"))
        #expect(low.contains("<dt>pack</dt><dd>pack-1000: 1,000 credits for 10 USD</dd>"))
        #expect(low.contains("when the balance falls below 60"))
        #expect(low.contains("<td>balance low</td>"))
        #expect(!low.contains("acct-low/2026-11-01"), "an internal alert id on the page")
        #expect(!low.contains("T10:00:00Z"), "a machine timestamp on the page")

        // acct-x: exhausted, −25, and every negative amount with U+2212.
        let x = try await c.request("/ui/accounts/acct-x").text
        #expect(x.contains("<b>exhausted</b>") && x.contains("until the allowance resets on 2026-12-01 (to 100 credits)"))
        #expect(x.contains("<b>−25</b>") && x.contains("−25.0 %"))
        #expect(x.range(of: #">-[0-9]"#, options: .regularExpression) == nil && x.range(of: #" -[0-9]"#, options: .regularExpression) == nil)
        try await stack.stop()
    }

    /// The overview's search and page clamp, the way in at `/`, and errors under /ui/ as pages.
    @Test func searchPageClampRedirectAndErrorPages() async throws {
        let h = try ServiceHarness(partitions: 2)
        let stack = try await HTTPStack(harness: h, token: Self.token)
        try await stack.startService()
        let n = try HTTPEndpointTests.produceAccounts(h)
        try await stack.waitReady(processed: n)
        let c = stack.client
        let base = "http://127.0.0.1:\(stack.port)"
        func ids(_ page: String) -> [String] {
            page.components(separatedBy: "<a href=\"/ui/accounts/").dropFirst().compactMap { $0.split(separator: ">").dropFirst().first?.split(separator: "<").first.map(String.init) }
        }

        // Search: part of the id, either case, through a real form in the browser's address.
        let found = try await Self.browser(["--dump-dom"], "\(base)/ui/?q=ACCT-L&token=\(Self.token)")
        #expect(ids(found) == ["acct-low"], "\(ids(found))")
        #expect(found.contains("<input type=\"search\" id=\"q\" name=\"q\" value=\"ACCT-L\""))
        #expect(found.contains("name=\"token\" value=\"\(Self.token)\""))  // the form keeps the browser's way in
        #expect(ids(try await c.request("/ui/?q=%2F", token: Self.token).text) == ["a/b"])
        #expect(ids(try await c.request("/ui/?q=", token: Self.token).text).count == 5)
        #expect(ids(try await c.request("/ui/?q=nobody", token: Self.token).text).isEmpty)
        #expect(ids(try await c.request("/ui/?q=acct&status=exhausted", token: Self.token).text) == ["acct-x"])
        let sorted = try await c.request("/ui/?q=acct&sort=balance&dir=desc&token=\(Self.token)").text
        #expect(sorted.contains("q=acct") && ids(sorted) == ["acct-idle", "acct-1", "acct-low", "acct-x"])

        // A page past the last shows the last and says so.
        let far = try await c.request("/ui/?page=999", token: Self.token)
        #expect(far.status == 200)
        #expect(far.text.contains("There is no page 1000: there is one page; this is the last.") && far.text.contains("page 1 of 1"))
        #expect(ids(far.text).count == 5)

        // `/` is the way in.
        let root = try await c.request("/")
        #expect(root.status == 302 && root.headers["location"] == "/ui/")
        #expect(try await c.request("/?token=\(Self.token)").headers["location"] == "/ui/?token=\(Self.token)")
        let followed = try await Self.browser(["--dump-dom"], "\(base)/?token=\(Self.token)")
        #expect(followed.contains("<h1>Accounts</h1>"))

        // Errors under /ui/ are pages; /v1/ stays JSON.
        for (target, token, status, text) in [("/ui/?status=bogus", Self.token, 400, "status: must be"), ("/ui/?q=" + String(repeating: "z", count: 129), Self.token, 400, "q: must be"),
                                               ("/ui/", nil, 401, "Token needed"), ("/ui/accounts/acct-1?token=nope", nil, 401, "Token needed"),
                                               ("/ui/nothing-here", Self.token, 404, "No such page"), ("/ui/accounts/%ZZ", Self.token, 400, "account:")] {
            let r = try await c.request(target, token: token)
            #expect(r.status == status, "\(target)")
            #expect(r.headers["content-type"] == "text/html; charset=utf-8" && r.text.hasPrefix("<!doctype html>") && r.text.contains(text), "\(target): \(r.text)")
            #expect(!r.text.contains(Self.token), "\(target): the token on an error page")
        }
        #expect(try await c.request("/ui/", token: nil).headers["www-authenticate"] == "Bearer")
        let post = try await c.request("/ui/", token: Self.token, method: "POST")
        #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD" && post.text.contains("method: only GET, HEAD are allowed"))
        #expect(post.headers["content-type"] == "text/html; charset=utf-8")
        let api = try await c.request("/v1/accounts?status=bogus", token: Self.token)
        #expect(api.headers["content-type"] == "application/json" && api.json["error"] as? String != nil)
        try await stack.stop()
    }
}
}
