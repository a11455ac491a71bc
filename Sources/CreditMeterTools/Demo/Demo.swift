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
    /// Agent workflows on accounts of their own, under `/check` alone and under holds.
    var agents = AgentWorkflows.Spec()
    public init() {
        // §12 in the demo: auto top-up policies, member budgets, a few refunds.
        workload.autoTopupPercent = 10
        workload.budgetPercent = 15
        workload.refunds = 3
        // §16: some accounts want to hear at 50 % and 75 % used.
        workload.alertThresholdsPercent = 10
    }
}

public struct DemoReport: Sendable {
    /// Records the demo produced (its workload, and the packs its billing system bought).
    public var produced = 0
    /// Records in the input topic that the demo did not produce (with `--serve`: events of your
    /// own); the service applies them like any other.
    public var fromElsewhere = 0
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
    /// The agent workflows' twins: what they did and overspent.
    public var agents = AgentReport()
    public var auditClean = false
    public var seconds = 0.0

    /// Every record in the input topic was applied once, as duplicate or dead-lettered.
    public var balanced: Bool { status.processed == Int64(produced + fromElsewhere) }
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
        let input = config.kafka.inputTopics[0]

        // 1. The in-process cluster, the service (not started yet) and its HTTP server (the
        //    product services' /check). HTTP binds first: a taken port ends the demo with that
        //    one line, before anything is printed, produced or consumed.
        let cluster = try DevCluster(for: config.kafka, inputPartitions: options.partitions, outputPartitions: 4, logger: logger)
        let service = MeterService(config: config, logger: logger, bootstrap: cluster.bootstrapServers)
        let http = try HTTPServer.forService(service, listen: options.serve ? config.http.listen : "127.0.0.1:0", logger: logger)
        // In a service group of its own, so that it stops gracefully (requests in flight finish).
        let httpGroup = ServiceGroup(configuration: .init(services: [.init(service: http)], logger: logger))
        let httpTask = Task { try await httpGroup.run() }
        let port: Int
        do {
            port = try await http.binding.port()
        } catch {
            _ = try? await httpTask.value
            throw error
        }

        say("CreditMeter demo — librdkafka \(librdkafkaVersion) in-process mock cluster, real Kafka wire protocol")
        say("  brokers \(cluster.bootstrapServers); topics \(config.kafka.inputTopics.joined(separator: ",")) (\(options.partitions) partitions), "
            + "\(config.kafka.alertsTopic), \(config.kafka.deadLetterTopic), \(config.kafka.balancesTopic!)")

        // 2. The workload.
        let records = withStoryAccounts(Workload.generate(options.workload), spec: options.workload, prices: config.engine.priceBook)
        let usage = records.filter { $0.kind == .usage }.count
        let duplicates = records.filter { $0.kind == .duplicate }.count
        let malformed = records.filter { $0.kind == .malformed }.count
        say("  workload: \(plural(options.workload.accounts, "account")) on trial/basic/pro/plus, \(fmt(usage)) usage events, "
            + "\(fmt(records.count - usage - duplicates - malformed)) plan/top-up/grant events, \(plural(duplicates, "duplicate")), \(malformed) malformed")
        // Plans, policies and budgets come first (the product services ask about accounts that exist).
        let firstUsage = options.gated ? (records.firstIndex { $0.kind == .usage } ?? records.count) : records.count
        try produce(Array(records[..<firstUsage]), to: input, bootstrap: cluster.bootstrapServers, logger: logger, say: say)

        // 3. A separate consumer prints alerts as they arrive.
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

        // 4. The real service.
        let serviceTask = Task { try await service.run() }
        let clock = ContinuousClock()
        let t0 = clock.now
        // Ready means restored, replayed and caught up: the product services may start asking.
        say("  joining the consumer group (the mock cluster takes ~3 s) …")
        while service.status.processed < Int64(firstUsage) || service.readModel.readiness(maxLag: Int64(config.http.readyMaxLag)) != nil {
            try await Task.sleep(for: .milliseconds(100))
            if !service.status.running && service.status.consumed > 0 { break }
            if clock.now - t0 > .seconds(60) { throw ServiceError("the service did not apply the set-up records in 60 s") }
        }
        var total = Int64(records.count)
        var outcome = ProductServices.Outcome()
        if options.gated {
            // 5. Product services: /check before every AI action; paused work is not started.
            say("  product services ask /check before every AI action (soft cap: http://127.0.0.1:\(port)/v1/accounts/{account}/check)")
            let producer = try KafkaProducer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("linger.ms", "2"),
                                                          ("queue.buffering.max.messages", "500000")], logger: logger) { _ in }
            let pace = ProductServices.Pace(maxAhead: maxAhead(accounts: options.workload.accounts, events: options.workload.usageEvents),
                                            applied: { service.status.processed }, producedBefore: firstUsage,
                                            serviceRunning: { service.readModel.isRunning })
            let products = ProductServices(records: Array(records[firstUsage...]), port: port, token: config.http.token,
                                           producer: producer, topic: producer.topic(input), shards: 4, pace: pace)
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
            let (complete, held) = try holdsAll(total, input, bootstrap: cluster.bootstrapServers, serving: options.serve, logger: logger)
            guard complete else {
                throw ServiceError("the broker holds \(held) of \(total) records (the mock cluster keeps ~5 MiB per partition): use more partitions or fewer events")
            }
        }
        try await waitForOutputs(service, reader: reader, total: total, started: t0, say: say)

        // 6. Agent workflows on accounts of their own: the same workload under /check alone
        //    and under holds. The hold events the service produces for them count as produced.
        var agents = AgentReport()
        if options.agents.pairs > 0 {
            say("  agent workflows on \(options.agents.pairs * 2) accounts of their own: under /check alone, and under holds "
                + "(http://127.0.0.1:\(port)/v1/accounts/{account}/holds)")
            let workflows = AgentWorkflows(spec: options.agents, port: port, token: config.http.token, bootstrap: cluster.bootstrapServers,
                                           topic: input, now: service.wallClock, logger: logger)
            agents = try await onOwnThread { try workflows.run() }
            total += Int64(agents.produced + agents.producedByService)
            let (complete, inTopic) = try holdsAll(total, input, bootstrap: cluster.bootstrapServers, serving: options.serve, logger: logger)
            guard complete else {
                throw ServiceError("the input topic holds \(inTopic) records, the demo counts \(total) (\(agents.producedByService) of them hold events the service produced)")
            }
            try await waitForOutputs(service, reader: reader, total: total, started: nil, say: say)
            try await waitForViews(service, topic: input, bootstrap: cluster.bootstrapServers, logger: logger)
            agents = try await onOwnThread { [agents] in try workflows.readBack(agents) }
        }

        var report = DemoReport()
        report.produced = Int(total)
        report.agents = agents
        report.checks = outcome.checks
        report.paused = outcome.paused
        report.packsBoughtWhenPaused = outcome.packsBought
        report.resumed = outcome.resumed
        func accounts(with type: String) -> Int {
            Set(records.filter { $0.kind == .setup && String(decoding: $0.value, as: UTF8.self).contains("\"type\":\"\(type)\"") }.compactMap(\.key)).count
        }
        let ending = Ending(config: config, bootstrap: cluster.bootstrapServers, reader: reader, memberAlerts: memberAlerts, outcome: outcome,
                            agents: agents, gated: options.gated, policies: accounts(with: "credit.autotopup.configured"),
                            budgets: accounts(with: "credit.member.budget.set"), logger: logger, say: say)
        if options.serve {
            // 7. The ending now, from the read model once it shows every applied record; then the
            //    service keeps serving until the stop.
            try await waitForViews(service, topic: input, bootstrap: cluster.bootstrapServers, logger: logger)
            let views = service.readModel.page(after: nil, limit: .max) { _ in true }.views
            try ending.print(Books(views: views), status: service.status, report: &report, started: started)
            let base = "http://\(config.http.listen.hasPrefix(":") ? "127.0.0.1" : String(config.http.listen.prefix { $0 != ":" })):\(port)"
            let token = config.http.token == nil ? "" : "?token=<http.token>"  // never printed: CI and terminals keep output
            say("")
            say("  the service keeps running (Ctrl-C to stop). Open:")
            say("    \(base)/ui/\(token)                      accounts, sortable, filters for low / exhausted / idle")
            say("    \(base)/ui/accounts/\(Workload.accountID(0))\(token)   one account: burn-down, blocks, usage, history, alerts")
            if options.agents.pairs > 0 {
                say("    \(base)/ui/accounts/\(AgentWorkflows.account(0, holds: true))\(token)  agent workflows under holds: held, settled, released")
            }
            say("    \(base)/v1/accounts/\(Workload.accountID(0))    \(base)/v1/accounts?status=low    \(base)/metrics    \(base)/readyz")
            await options.waitForStop?()
            // Records of your own are applied before the stop, so the final accounting covers them.
            let inTopic = try held(input, bootstrap: cluster.bootstrapServers, logger: logger)
            try await waitForOutputs(service, reader: reader, total: inTopic, started: nil, say: say)
        }
        service.requestStop()
        try await serviceTask.value
        await httpGroup.triggerGracefulShutdown()
        try await httpTask.value
        reader.stop()

        let books = Books(ledgers: service.finalLedgers())
        if options.serve {
            // 8. After serving: the accounting again, with whatever arrived from elsewhere.
            say("")
            say("  stopped; the final accounting:")
            try ending.accounting(books, status: service.status, report: &report, started: started)
        } else {
            try ending.print(books, status: service.status, report: &report, started: started)
        }
        return report
    }

    /// Records produced and not yet applied that the product services may have: about one per
    /// account for small workloads (each `/check` then sees nearly all of its account's earlier
    /// actions), 2 % of the workload for large ones (so pacing never dominates the run time).
    static func maxAhead(accounts: Int, events: Int) -> Int {
        max(8, accounts, events / 50)
    }

    /// Waits until the service has applied `total` records and the alert reader has read back
    /// every alert it published; progress about once a second when `started` is given.
    static func waitForOutputs(_ service: MeterService, reader: TopicReader, total: Int64, started t0: ContinuousClock.Instant?,
                               say: (String) -> Void) async throws {
        let clock = ContinuousClock()
        var lastLine = clock.now
        let waitStart = clock.now
        while true {
            let s = service.status
            if s.processed >= total && reader.count >= Int(s.alertsPublished) { return }
            if !s.running && s.consumed > 0 { return }  // stopped: its error comes from its task
            if let t0, clock.now - lastLine >= .seconds(1), s.consumed > 0 {
                lastLine = clock.now
                let secs = Double((clock.now - t0).milliseconds) / 1000
                say("  progress  \(fmt(Int(s.processed)))/\(fmt(Int(total))) records (\(Int(100 * Double(s.processed) / Double(max(total, 1))))%), "
                    + "\(fmt(Int(Double(s.processed) / max(secs, 0.001)))) rec/s, \(s.alertsPublished) alerts, \(s.deadLettered) dead-lettered")
            }
            if clock.now - waitStart > .seconds(120) { throw ServiceError("demo did not finish in 120 s (processed \(s.processed) of \(total))") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Waits until the read model shows every record the input topic holds (views and positions
    /// are published together, at most 100 ms after the records they cover).
    static func waitForViews(_ service: MeterService, topic: String, bootstrap: String, logger: Logger) async throws {
        let checker = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap)], logger: logger)
        let partitions = try checker.partitionCounts([topic])[topic] ?? 0
        var ends: [TopicPartition: Int64] = [:]
        for p in 0..<partitions {
            let tp = TopicPartition(topic, p)
            let w = try checker.watermarks(tp)
            if w.high > w.low { ends[tp] = w.high }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let parts = service.readModel.partitions
            if ends.allSatisfy({ (parts[$0.key]?.position ?? -1) >= $0.value }) { return }
            guard ContinuousClock.now < deadline else { throw ServiceError("the read model did not catch up with the input in 30 s") }
            try await Task.sleep(for: .milliseconds(50))
        }
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

    /// Whether `topic` holds the `total` records counted, and how many it holds. More when
    /// serving: hold requests made over HTTP meanwhile are records of the input too; then none
    /// of ours may be missing, and none dropped.
    static func holdsAll(_ total: Int64, _ topic: String, bootstrap: String, serving: Bool, logger: Logger) throws -> (Bool, Int64) {
        let n = try held(topic, bootstrap: bootstrap, logger: logger)
        return (serving ? try n >= total && !dropped(topic, bootstrap: bootstrap, logger: logger) : n == total, n)
    }

    /// Whether the broker dropped records of `topic`: the mock cluster keeps ~5 MiB per
    /// partition, and dropping the oldest moves a partition's log start past 0.
    static func dropped(_ topic: String, bootstrap: String, logger: Logger) throws -> Bool {
        let checker = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap)], logger: logger)
        let partitions = try checker.partitionCounts([topic])[topic] ?? 0
        for p in 0..<partitions where try checker.watermarks(TopicPartition(topic, p)).low > 0 { return true }
        return false
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
}

/// `1234567` → `1,234,567` (progress lines of the demo and the bench).
package func fmt(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }; out.append(c) }
    return String(out.reversed())
}

/// `1 duplicate`, `3 duplicates`.
func plural(_ n: Int, _ noun: String) -> String {
    "\(fmt(n)) \(noun)\(n == 1 ? "" : "s")"
}
