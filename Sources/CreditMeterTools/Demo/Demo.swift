public import CreditConfig
import CreditEngine
import CreditMeterHTTP
public import CreditMeterService
import Foundation
import Kafka
public import Logging
import ServiceLifecycle

/// `credit-meter demo`: the real service on librdkafka's in-process mock cluster, fed a
/// synthetic workload; alerts are read back by a separate consumer as they arrive.
public struct DemoOptions: Sendable {
    public var workload = WorkloadSpec()
    public var partitions: Int32 = 64
    public var printAlerts = 25
    /// Product services ask `/check` before each AI action (the soft cap); false produces
    /// the whole workload ungated, as a product that ignores the balance would.
    public var gated = true
    /// `--serve`: keep the service and its HTTP server running after the workload, on
    /// `http.listen`, until `waitForStop` returns.
    public var serve = false
    public var waitForStop: (@Sendable () async -> Void)?
    public init() {
        // §12 in the demo: auto top-up policies, member budgets, a few refunds.
        workload.autoTopupPercent = 10
        workload.budgetPercent = 15
        workload.refunds = 3
    }
}

public struct DemoReport: Sendable {
    public var produced = 0
    public var status = ServiceStatus()
    public var alertsReadBack = 0
    public var distinctAlertIDs = 0
    public var deadLettersReadBack = 0
    /// §12: top-up requests read back from the requests topic, and member budget alerts.
    public var requestsReadBack = 0
    public var requestIDs: [String] = []
    public var memberAlerts = 0
    /// The product services' side: checks asked, actions paused by reason, packs bought when
    /// paused, accounts that resumed after one.
    public var checks = 0
    public var paused: [String: Int] = [:]
    public var packsBoughtWhenPaused = 0
    public var resumed = 0
    public var largestOverageMillicredits: Int64 = 0
    public var auditClean = false
    public var seconds = 0.0
}

public enum Demo {
    public static func run(config base: ServiceConfiguration, options: DemoOptions, logger: Logger,
                           print say: @escaping @Sendable (String) -> Void) async throws -> DemoReport {
        let started = Date()
        var config = base
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("credit-meter-demo-\(getpid())").path
        config.snapshots.dir = scratch + "/snapshots"
        config.kafka.groupID = "credit-meter-demo"
        if config.kafka.balancesTopic == nil { config.kafka.balancesTopic = "credit.balances" }
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        say("CreditMeter demo — librdkafka \(librdkafkaVersion) in-process mock cluster, real Kafka wire protocol")
        let cluster = try DevCluster(for: config.kafka, inputPartitions: options.partitions, outputPartitions: 4, logger: logger)
        say("  brokers \(cluster.bootstrapServers); topics \(config.kafka.inputTopics.joined(separator: ",")) (\(options.partitions) partitions), "
            + "\(config.kafka.alertsTopic), \(config.kafka.deadLetterTopic), \(config.kafka.balancesTopic!)")

        // 1. The workload.
        let records = Workload.generate(options.workload)
        let usage = records.filter { $0.kind == .usage }.count
        let duplicates = records.filter { $0.kind == .duplicate }.count
        let malformed = records.filter { $0.kind == .malformed }.count
        say("  workload: \(options.workload.accounts) accounts on trial/basic/pro/plus, \(fmt(usage)) usage events, "
            + "\(fmt(records.count - usage - duplicates - malformed)) plan/top-up/grant events, \(fmt(duplicates)) duplicates, \(malformed) malformed")
        // Plans, policies and budgets come first (the product services ask about accounts that exist).
        let firstUsage = options.gated ? (records.firstIndex { $0.kind == .usage } ?? records.count) : records.count
        try produce(Array(records[..<firstUsage]), to: config.kafka.inputTopics[0], bootstrap: cluster.bootstrapServers, logger: logger, say: say)

        // 2. A separate consumer prints alerts as they arrive.
        let reader = TopicReader(topic: config.kafka.alertsTopic, bootstrap: cluster.bootstrapServers, logger: logger)
        let printLimit = options.printAlerts
        let printed = Locked(0)
        let memberAlerts = Locked((count: 0, first: [String]()))
        reader.start { value in
            guard let line = describeAlert(value) else { return }
            if line.contains("member ") {
                memberAlerts.withLock { m in m.count += 1; if m.first.count < 3 { m.first.append(line) } }
            }
            let n = printed.withLock { n -> Int in n += 1; return n }
            if n <= printLimit { say("  alert  " + line) } else if n == printLimit + 1 { say("  alert  … (further alerts counted, not printed)") }
        }

        // 3. The real service, and its HTTP server (the product services' /check).
        let service = MeterService(config: config, logger: logger, bootstrap: cluster.bootstrapServers)
        let serviceTask = Task { try await service.run() }
        let port = Locked<Int?>(nil)
        let http = try HTTPServer.forService(service, listen: options.serve ? config.http.listen : "127.0.0.1:0", logger: logger) { p in
            port.withLock { $0 = p }
        }
        // In a service group of its own, so that it stops gracefully (requests in flight finish).
        let httpGroup = ServiceGroup(configuration: .init(services: [.init(service: http)], logger: logger))
        let httpTask = Task { try await httpGroup.run() }
        let clock = ContinuousClock()
        let t0 = clock.now
        var lastLine = clock.now
        while service.status.processed < Int64(firstUsage) || port.value == nil {
            try await Task.sleep(for: .milliseconds(100))
            if !service.status.running && service.status.consumed > 0 { break }
            if clock.now - lastLine >= .seconds(1) {
                lastLine = clock.now
                say("  joining the consumer group (the mock cluster takes ~3 s) …")
            }
            if clock.now - t0 > .seconds(60) { throw ServiceError("the service did not apply the set-up records in 60 s") }
        }
        var total = Int64(records.count)
        var outcome = ProductServices.Outcome()
        if options.gated, let port = port.value {
            // 4. Product services: /check before every AI action; paused work is not started.
            say("  product services ask /check before every AI action (soft cap: http://127.0.0.1:\(port)/v1/accounts/{account}/check)")
            let producer = try KafkaProducer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("linger.ms", "2"),
                                                          ("queue.buffering.max.messages", "500000")], logger: logger) { _ in }
            let products = ProductServices(records: Array(records[firstUsage...]), port: port, token: config.http.token,
                                           producer: producer, topic: producer.topic(config.kafka.inputTopics[0]), shards: 4)
            let status: @Sendable () -> ServiceStatus = { service.status }
            outcome = try await onOwnThread {
                try products.run { o in
                    let paused = o.paused.values.reduce(0, +)
                    say("  products  \(fmt(o.checks)) checks, \(fmt(o.allowed)) actions started, \(fmt(paused)) paused, "
                        + "\(o.packsBought) packs bought when paused; service applied \(fmt(Int(status().applied)))")
                }
            }
            try producer.flush(timeoutMs: 60_000)
            total = Int64(firstUsage + outcome.produced)
            let held = try held(config.kafka.inputTopics[0], bootstrap: cluster.bootstrapServers, logger: logger)
            guard held == total else {
                throw ServiceError("the broker holds \(held) of \(total) records (the mock cluster keeps ~5 MiB per partition): use more partitions or fewer events")
            }
        }
        lastLine = clock.now
        let waitStart = clock.now
        while true {
            try await Task.sleep(for: .milliseconds(100))
            let s = service.status
            if !s.running && s.consumed > 0 { break }
            if clock.now - lastLine >= .seconds(1) {
                lastLine = clock.now
                let secs = Double((clock.now - t0).milliseconds) / 1000
                if s.consumed == 0 { say("  joining the consumer group (the mock cluster takes ~3 s) …"); continue }
                say("  progress  \(fmt(Int(s.processed)))/\(fmt(Int(total))) records (\(Int(100 * Double(s.processed) / Double(total)))%), "
                    + "\(fmt(Int(Double(s.processed) / max(secs, 0.001)))) rec/s, \(s.alertsPublished) alerts, \(s.deadLettered) dead-lettered")
            }
            if s.processed >= total && reader.count >= Int(s.alertsPublished) { break }
            if clock.now - waitStart > .seconds(120) { throw ServiceError("demo did not finish in 120 s (processed \(s.processed) of \(total))") }
        }
        if options.serve, let port = port.value {
            let base = "http://\(config.http.listen.hasPrefix(":") ? "127.0.0.1" : String(config.http.listen.prefix { $0 != ":" })):\(port)"
            let token = config.http.token == nil ? "" : "?token=<http.token>"  // never printed: CI and terminals keep output
            say("")
            say("  the service keeps running (Ctrl-C to stop). Open:")
            say("    \(base)/ui/\(token)                      accounts, sortable, filters for low / exhausted / idle")
            say("    \(base)/ui/accounts/\(Workload.accountID(0))\(token)   one account: burn-down, blocks, usage, history, alerts")
            say("    \(base)/v1/accounts/\(Workload.accountID(0))    \(base)/v1/accounts?status=low    \(base)/metrics    \(base)/readyz")
            await options.waitForStop?()
        }
        service.requestStop()
        try await serviceTask.value
        await httpGroup.triggerGracefulShutdown()
        try await httpTask.value
        reader.stop()

        // 4. Read back the dead letters, then the final state.
        let dlq = TopicReader.readAll(topic: config.kafka.deadLetterTopic, bootstrap: cluster.bootstrapServers, logger: logger)
        var report = DemoReport()
        report.produced = Int(total)
        report.status = service.status
        report.alertsReadBack = reader.count
        report.distinctAlertIDs = reader.distinctIDs
        report.deadLettersReadBack = dlq.count
        let requests = TopicReader.readAll(topic: config.kafka.requestsTopic, bootstrap: cluster.bootstrapServers, logger: logger)
        report.requestsReadBack = requests.count
        report.requestIDs = requests.compactMap { r in
            (try? JSONSerialization.jsonObject(with: Data(r.value)) as? [String: Any])?["id"] as? String
        }
        let member = memberAlerts.withLock { $0 }
        report.memberAlerts = member.count
        let ledgers = service.finalLedgers()
        report.auditClean = ledgers.values.allSatisfy { $0.audit().isClean }
        report.checks = outcome.checks
        report.paused = outcome.paused
        report.packsBoughtWhenPaused = outcome.packsBought
        report.resumed = outcome.resumed
        report.largestOverageMillicredits = ledgers.values.flatMap { $0.accounts.map(\.overage) }.max() ?? 0
        say("")
        say(balancesTable(ledgers, top: 12))
        var reasons: [String: Int] = [:]
        for r in dlq { reasons[r.headers["error"] ?? "?", default: 0] += 1 }
        say("  auto top-up requests on \(config.kafka.requestsTopic): \(requests.count) (read back)")
        for r in requests.prefix(3) { say("    request  " + (describeRequest(r.value) ?? "?")) }
        if options.gated {
            say("  product services: \(fmt(outcome.checks)) /check calls; \(fmt(outcome.allowed)) AI actions started, "
                + "\(fmt(outcome.paused.values.reduce(0, +))) paused ("
                + outcome.paused.sorted { $0.key < $1.key }.map { "\($0.key) \(fmt($0.value))" }.joined(separator: ", ") + ") in "
                + "\(outcome.accountsPaused) accounts; \(outcome.packsBought) packs bought when paused, \(outcome.resumed) resumed after a top-up")
        } else {
            say("  product services ignored /check (--ungated): every AI action was started")
        }
        say("  largest overage \(Credits.format(report.largestOverageMillicredits)) credits")
        say("  member budget alerts: \(member.count)")
        for line in member.first { say("    alert  " + line) }
        say("  dead letters by reason:")
        for (reason, n) in reasons.sorted(by: { $0.value > $1.value }) { say("    \(n) × \(reason)") }
        let s = report.status
        report.seconds = Date().timeIntervalSince(started)
        say("")
        say("  consumed \(fmt(Int(s.consumed)))   priced \(fmt(Int(s.priced)))   duplicates \(fmt(Int(s.duplicates)))   "
            + "dead-lettered \(s.deadLettered)   alerts \(s.alertsPublished) (read back \(report.alertsReadBack), \(report.distinctAlertIDs) distinct ids)   "
            + "balances records \(fmt(Int(s.balancesPublished)))")
        say("  records  produced \(report.produced) = applied \(s.applied) + duplicates \(s.duplicates) + dead-lettered \(s.deadLettered)"
            + (Int64(report.produced) == s.processed ? "" : "  MISMATCH"))
        say("  credits charged \(Credits.format(s.creditsChargedMillicredits))   audit \(report.auditClean ? "conserved to the millicredit" : "FAILED")   "
            + "\(String(format: "%.1f", report.seconds)) s")
        return report
    }

    /// Produces the records and checks that the broker then holds `alreadyHeld + records.count`.
    package static func produce(_ records: [WorkloadRecord], to topic: String, bootstrap: String, logger: Logger,
                        alreadyHeld: Int64 = 0, say: (String) -> Void) throws {
        let failures = Locked(0)
        let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "5"),
                                                      ("batch.num.messages", "10000"), ("queue.buffering.max.messages", "500000")],
                                         logger: logger) { report in if report.error != nil { failures.withLock { $0 += 1 } } }
        let t = producer.topic(topic)
        for (i, r) in records.enumerated() {
            try r.value.withUnsafeBytes { v in
                if let key = r.key {
                    try key.withUnsafeBytes { k in try producer.produce(t, key: k, value: v, timestampMs: r.timestampMs) }
                } else {
                    try producer.produce(t, key: nil, value: v, timestampMs: r.timestampMs)
                }
            }
            if i % 50_000 == 49_999 { say("  producing \(fmt(i + 1))/\(fmt(records.count))") }
            if i % 1000 == 0 { producer.poll() }
        }
        try producer.flush(timeoutMs: 60_000)
        guard failures.value == 0 else { throw ServiceError("\(failures.value) workload records were not delivered") }
        // The mock cluster keeps only ~5 MiB per partition: make sure nothing was dropped.
        let held = try held(topic, bootstrap: bootstrap, logger: logger)
        guard held == alreadyHeld + Int64(records.count) else {
            throw ServiceError("the broker holds \(held) of \(alreadyHeld + Int64(records.count)) records (the mock cluster keeps ~5 MiB per partition): use more partitions or fewer events")
        }
        say("  produced \(fmt(records.count)) records (all \(fmt(Int(held))) held by the broker)")
    }

    /// Records the broker holds in `topic` (high − low watermarks, summed).
    static func held(_ topic: String, bootstrap: String, logger: Logger) throws -> Int64 {
        let checker = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap)], logger: logger)
        let partitions = try checker.partitionCounts([topic])[topic] ?? 0
        var held: Int64 = 0
        for p in 0..<partitions {
            let w = try checker.watermarks(TopicPartition(topic, p))
            held += w.high - w.low
        }
        return held
    }

    static func describeRequest(_ value: [UInt8]) -> String? {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any], let id = obj["id"] as? String else { return nil }
        let text = String(decoding: value, as: UTF8.self)
        return "\(id)  \(field(text, "credits") ?? "?") credits (balance \(field(text, "balance_credits") ?? "?") ≤ \(field(text, "below_credits") ?? "?"))"
    }

    static func describeAlert(_ value: [UInt8]) -> String? {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
              let type = obj["type"] as? String, let data = obj["data"] as? [String: Any] else { return nil }
        if type.hasPrefix("credit.member.budget.") {
            let text = String(decoding: value, as: UTF8.self)
            let kind = type == "credit.member.budget.low" ? "low \(data["threshold_percent"] ?? "?")%" : "exhausted"
            return "\(data["account"] ?? "?")  member \(data["member"] ?? "?") budget \(kind): used \(field(text, "used_credits") ?? "?") of "
                + "\(field(text, "budget_credits") ?? "?") credits  at \(obj["time"] ?? "?")"
        }
        let kind = type.replacingOccurrences(of: "credit.balance.", with: "")
        let account = data["account"] as? String ?? "?"
        let threshold = data["threshold_percent"].map { "\($0)" } ?? "?"
        let percent = data["remaining_percent"].map { "\($0)" } ?? "?"
        // Amount fields are printed from the record's text, not through floating point.
        let text = String(decoding: value, as: UTF8.self)
        let remaining = field(text, "remaining_credits") ?? "?"
        let entitlement = field(text, "entitlement_credits") ?? "?"
        let label = kind == "low" ? "low \(threshold)%" : kind == "recovered" ? "recovered (from \(threshold)%)" : kind
        return "\(account)  \(label.padding(toLength: 24, withPad: " ", startingAt: 0)) remaining \(remaining) of \(entitlement) credits (\(percent)%)  at \(obj["time"] ?? "?")"
    }

    /// The raw text of a numeric JSON field (exact, as written).
    static func field(_ json: String, _ name: String) -> String? {
        guard let r = json.range(of: "\"\(name)\":") else { return nil }
        return String(json[r.upperBound...].prefix { $0 != "," && $0 != "}" })
    }

    static func balancesTable(_ ledgers: [TopicPartition: PartitionLedger], top: Int) -> String {
        struct Row { let account: String; let plan: String; let used: Int64; let balance: Int64; let overage: Int64; let blocks: String; let entitlement: Int64 }
        var rows: [Row] = []
        for ledger in ledgers.values {
            let book = ledger.config.priceBook
            for i in 0..<ledger.accountCount {
                let a = ledger.accounts[i]
                let plan = a.plan >= 0 ? book.plans[Int(a.plan)].id : a.plan == Account.customPlan ? "custom" : "-"
                var blocks = ["allowance \(Credits.format(a.allowance))"]
                let grants = a.blocks.filter { $0.kind == .grant }.reduce(Int64(0)) { $0 + $1.remaining }
                let topups = a.blocks.filter { $0.kind == .topup }.reduce(Int64(0)) { $0 + $1.remaining }
                if grants > 0 { blocks.append("grants \(Credits.format(grants))") }
                if topups > 0 { blocks.append("top-ups \(Credits.format(topups))") }
                rows.append(Row(account: ledger.accountID(i), plan: plan, used: a.usedThisCycle, balance: a.balance, overage: a.overage,
                                blocks: blocks.joined(separator: ", "), entitlement: a.entitlement))
            }
        }
        rows.sort { ($0.used, $0.account) > ($1.used, $1.account) }
        func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
            s.count >= n ? s : right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count)
        }
        var lines = ["  top \(top) of \(rows.count) accounts by credits used this cycle",
                     "  " + pad("account", 12) + pad("plan", 7) + pad("used", 11, right: true) + pad("entitled", 11, right: true)
                        + pad("balance", 11, right: true) + pad("overage", 10, right: true) + "  blocks"]
        for r in rows.prefix(top) {
            lines.append("  " + pad(r.account, 12) + pad(r.plan, 7) + pad(Credits.format(r.used), 11, right: true)
                         + pad(Credits.format(r.entitlement), 11, right: true) + pad(Credits.format(r.balance), 11, right: true)
                         + pad(Credits.format(r.overage), 10, right: true) + "  " + r.blocks)
        }
        return lines.joined(separator: "\n")
    }
}

/// `1234567` → `1,234,567` (progress lines of the demo and the bench).
package func fmt(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }; out.append(c) }
    return String(out.reversed())
}
