public import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
public import Logging

/// `credit-meter bench`: the figures of the performance issue from one run, every count read
/// back and checked so that a dropped record cannot flatter a figure.
public struct BenchOptions: Sendable {
    public var events = 1_000_000
    public var accounts = 100_000
    public var partitions: Int32 = 256
    /// Brokers to use instead of an in-process mock cluster.
    public var bootstrap: String?
    public var phases: Set<String> = ["engine", "memory", "kafka", "cpu", "latency", "restart", "http"]
    public var memoryAccounts = 1_000_000
    /// Events per second for the latency phase (default: half the full path's measured maximum).
    public var latencyRate: Double?
    /// This executable (for the `credit-meter run` child whose CPU is measured).
    public var executable: String = CommandLine.arguments[0]
    public init() {}
}

public enum Bench {
    public static func run(config base: ServiceConfiguration, options: BenchOptions, logger: Logger,
                           say: @escaping @Sendable (String) -> Void) async throws {
        var config = base
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("credit-meter-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        config.snapshots.dir = scratch + "/snapshots"
        config.snapshots.intervalSeconds = 10
        if config.kafka.balancesTopic == nil { config.kafka.balancesTopic = "credit.balances" }

        say("credit-meter bench — \(ProcessInfo.processInfo.activeProcessorCount) cores, librdkafka \(librdkafkaVersion)")
        var spec = WorkloadSpec()
        spec.accounts = options.accounts
        spec.usageEvents = options.events
        spec.malformed = 0
        let generated = ContinuousClock.now
        let records = Workload.generate(spec)
        let bytes = records.reduce(0) { $0 + $1.value.count }
        say("workload: \(fmt(records.count)) records (\(fmt(options.events)) usage), \(fmt(options.accounts)) accounts, "
            + "\(bytes / records.count) B average, generated in \(ms(ContinuousClock.now - generated))")

        if options.phases.contains("engine") { engine(records, config: config.engine, say: say) }
        if options.phases.contains("memory") { try memory(accounts: options.memoryAccounts, config: config.engine, dir: scratch, say: say) }

        if options.phases.contains("move") {
            try await MoveBench.run(accounts: options.accounts, partitions: options.partitions, config: config,
                                    scratch: scratch, logger: logger, say: say)
        }
        let needsKafka = !options.phases.isDisjoint(with: ["kafka", "cpu", "latency", "restart", "http"])
        guard needsKafka else { return }
        var cluster: DevCluster?
        let bootstrap: String
        if let b = options.bootstrap {
            bootstrap = b
            let admin = try KafkaAdmin(properties: [("bootstrap.servers", b)], logger: logger)
            let topics = config.kafka.inputTopics.map { KafkaAdmin.NewTopic(name: $0, partitions: options.partitions) }
                + [config.kafka.alertsTopic, config.kafka.deadLetterTopic, config.kafka.balancesTopic ?? "credit.balances", "bench.latency", "bench.echo"]
                    .map { KafkaAdmin.NewTopic(name: $0, partitions: 16) }
            do { try admin.createTopics(topics) } catch { say("note: could not create topics (\(error)); assuming they exist") }
        } else {
            let c = try DevCluster(for: config.kafka, inputPartitions: options.partitions, outputPartitions: 16,
                                   extra: ["bench.latency", "bench.echo"].map { DevCluster.Topic($0, partitions: 16) }, logger: logger)
            bootstrap = c.bootstrapServers
            cluster = c
            say("broker: librdkafka mock cluster in this process, \(options.partitions) input partitions (it keeps ~5 MiB each)")
        }
        let topic = config.kafka.inputTopics[0]
        let produceStart = ContinuousClock.now
        try Demo.produce(records, to: topic, bootstrap: bootstrap, logger: logger) { _ in }
        let produced = ContinuousClock.now - produceStart
        say("produced \(fmt(records.count)) records in \(ms(produced)) (\(rate(records.count, produced))/s); broker holds them all")

        var fullRate = 0.0
        if options.phases.contains("kafka") {
            let raw = try rawConsume(topic: topic, bootstrap: bootstrap, expected: records.count, logger: logger)
            say("raw librdkafka consumption (this process): \(fmt(Int(raw.rate))) records/s, no processing; process CPU "
                + String(format: "%.2f", raw.cpu * 1e6 / Double(records.count)) + " µs per record (broker included)")
            config.kafka.groupID = "bench-full"
            let full = try await fullPath(config: config, bootstrap: bootstrap, expected: Int64(records.count), logger: logger)
            fullRate = full.rate
            say("full service path (this process): \(fmt(Int(full.rate))) records/s (consume → decode → price → apply → alerts, balances) = "
                + String(format: "%.2f", full.rate / raw.rate) + "× raw; process CPU " + String(format: "%.2f", full.cpu * 1e6 / Double(records.count))
                + " µs per record; \(fmt(Int(full.alerts))) alerts, \(fmt(Int(full.balances))) balances records")
        }
        if options.phases.contains("cpu") {
            try cpuComparison(config: config, bootstrap: bootstrap, topic: topic, expected: records.count, scratch: scratch,
                              executable: options.executable, logger: logger, say: say)
        }
        if options.phases.contains("latency") {
            let target = options.latencyRate ?? (fullRate > 0 ? fullRate / 2 : 50_000)
            try await latency(config: config, bootstrap: bootstrap, rate: target, logger: logger, say: say)
            try await latencySeparateProcesses(config: config, rate: target, scratch: scratch, executable: options.executable,
                                               logger: logger, say: say)
        }
        if options.phases.contains("restart") {
            try await restart(config: config, bootstrap: bootstrap, topic: topic, spec: spec, held: Int64(records.count), logger: logger, say: say)
        }
        if options.phases.contains("http") {
            try await http(config: config, bootstrap: bootstrap, topic: topic, spec: spec, held: Int64(records.count), scratch: scratch,
                           logger: logger, say: say)
        }
        withExtendedLifetime(cluster) {}
    }

    // MARK: Engine alone

    static func engine(_ records: [WorkloadRecord], config: EngineConfiguration, say: (String) -> Void) {
        let decoder = EventDecoder()
        var best = Double.infinity
        var bestDecode = Double.infinity
        for _ in 0..<3 {
            // Decode only.
            // The records are read in place (`rs[i]`): iterating `for r in records` copied each
            // one, retaining and releasing its arrays — bench overhead, not the engine's.
            var t0 = ProcessStats.threadCPUSeconds()
            var sink: Int64 = 0
            records.withUnsafeBufferPointer { rs in
                for i in rs.indices {
                    rs[i].value.withUnsafeBytes { v in if let e = try? decoder.decode(v) { sink &+= e.time } }
                }
            }
            bestDecode = min(bestDecode, ProcessStats.threadCPUSeconds() - t0)
            // Decode → price → apply → alerts.
            let ledger = PartitionLedger(config: config)
            t0 = ProcessStats.threadCPUSeconds()
            records.withUnsafeBufferPointer { rs in
                for i in rs.indices {
                    rs[i].value.withUnsafeBytes { v in
                        guard let e = try? decoder.decode(v) else { return }
                        let result = rs[i].key!.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: rs[i].timestampMs &* 1_000_000) }
                        sink &+= result.charged
                    }
                }
            }
            best = min(best, ProcessStats.threadCPUSeconds() - t0)
            if sink == 42 { say("") }
        }
        say("engine alone (one core, records in memory): \(fmt(Int(Double(records.count) / best))) events/s decode+price+apply+alerts "
            + "(\(Int(best * 1e9 / Double(records.count))) ns/event); decode alone \(fmt(Int(Double(records.count) / bestDecode))) events/s")
        variedDecode(records, say: say)
    }

    /// Decode alone on varied input (see `VariedRecord`): every record must decode to the same
    /// id and time as the generator's original, or the figure is refused.
    static func variedDecode(_ records: [WorkloadRecord], say: (String) -> Void) {
        let decoder = EventDecoder()
        var varied: [VariedRecord] = []
        var expected: [(Int, Int64)] = []
        for (i, r) in records.prefix(200_000).enumerated() {
            guard let v = VariedRecord.make(r.value, variant: i % 4, seed: UInt64(i)),
                  let e = r.value.withUnsafeBytes({ try? decoder.decode($0) }) else { continue }
            expected.append((e.id.count, e.time))
            varied.append(v)
        }
        for (v, x) in zip(varied, expected) {
            guard let e = v.decode(decoder), e.id.count == x.0, e.time == x.1 else {
                say("decode, varied input: a varied record did not decode like its original — figure refused")
                return
            }
        }
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = ProcessStats.threadCPUSeconds()
            var sink: Int64 = 0
            varied.withUnsafeBufferPointer { vs in
                for i in vs.indices { if let e = vs[i].decode(decoder) { sink &+= e.time } }
            }
            best = min(best, ProcessStats.threadCPUSeconds() - t0)
            if sink == 42 { say("") }
        }
        let bytes = varied.reduce(0) { $0 + $1.value.count + $1.headers.count } / max(1, varied.count)
        say("decode alone, varied input (\(fmt(varied.count)) records, ~\(bytes) B: shuffled keys, escapes, unknown attributes, binary mode, "
            + "one in four each): \(fmt(Int(Double(varied.count) / best))) events/s (\(Int(best * 1e9 / Double(varied.count))) ns/event)")
    }

    // MARK: Memory, remembered ids, snapshots

    static func memory(accounts: Int, config: EngineConfiguration, dir: String, say: (String) -> Void) throws {
        let partitions = 16
        let before = ProcessStats.residentBytes()
        var ledgers = (0..<partitions).map { _ in PartitionLedger(config: config) }
        let decoder = EventDecoder()
        var rng = SplitMix64(seed: 11)
        var events = 0
        let plans = ["trial", "basic", "pro", "plus"]
        let actions = ["chat", "doc_search", "web_research", "summarize_thread"]
        let start = EventTime.parse("2026-11-01T00:00:00Z")!
        var buffer: [UInt8] = []
        buffer.reserveCapacity(512)
        func applyTo(_ ledger: PartitionLedger, account: String, _ json: String) {
            buffer.removeAll(keepingCapacity: true)
            buffer.append(contentsOf: json.utf8)
            buffer.withUnsafeBytes { v in
                guard let e = try? decoder.decode(v) else { return }
                account.utf8CString.withUnsafeBytes { k in
                    _ = ledger.apply(e, key: UnsafeRawBufferPointer(rebasing: k.dropLast()), recordTime: e.time)
                }
            }
        }
        for i in 0..<accounts {
            let account = "org-" + String(i)
            let ledger = ledgers[i % partitions]
            let t0 = start + Int64(i % 86_400) * EventTime.nanosPerSecond
            func apply(_ json: String) {
                applyTo(ledger, account: account, json)
                events += 1
            }
            apply("{\"specversion\":\"1.0\",\"id\":\"plan-\(i)\",\"source\":\"billing\",\"type\":\"credit.plan.assigned\",\"subject\":\"\(account)\",\"time\":\"\(EventTime.format(t0))\",\"data\":{\"plan\":\"\(plans[i % 4])\"}}")
            for k in 0..<3 {
                let t = EventTime.format(t0 + Int64(k + 1) * 3_600 * EventTime.nanosPerSecond)
                apply("{\"specversion\":\"1.0\",\"id\":\"evt-\(i)-\(k)-\(rng.next() % 1_000_000)\",\"source\":\"//ai.example/assistant\",\"type\":\"ai.usage\",\"subject\":\"\(account)\",\"time\":\"\(t)\",\"data\":{\"action\":\"\(actions[Int(rng.next() % 4)])\",\"capability\":\"assistant\",\"member\":\"u-\(rng.next() % 8)\",\"input_tokens\":\(rng.next() % 4000)}}")
            }
        }
        let after = ProcessStats.residentBytes()
        let ids = ledgers.reduce(0) { $0 + $1.dedupe.count }
        let idBytes = ledgers.reduce(0) { $0 + $1.dedupe.byteSize }
        say("memory: \(fmt(accounts)) accounts (plan + 3 usage events each, with capability and member): "
            + "\(Int(Double(after - before) / Double(accounts))) B resident per account (dedupe window included); "
            + "\(fmt(ids)) remembered ids in \(fmt(idBytes)) B = " + String(format: "%.1f", Double(idBytes) / Double(ids)) + " B per id")
        say("memory, where it goes (per account): " + memoryBreakdown(ledgers, resident: Double(after - before), dedupeBytes: idBytes))
        // Snapshot write and restore for all of them.
        let store = SnapshotStore(dir: dir + "/memory-snapshots", keep: 1)
        var encodeTime = Duration.zero
        var writeTime = Duration.zero
        var total = 0
        for (p, ledger) in ledgers.enumerated() {
            let t0 = ContinuousClock.now
            let bytes = SnapshotCodec.encode(ledger, topic: "ai.usage", partition: Int32(p), nextOffset: Int64(events), metadata: 0)
            let t1 = ContinuousClock.now
            try store.write(bytes, for: TopicPartition("ai.usage", Int32(p)), nextOffset: Int64(events))
            encodeTime += t1 - t0
            writeTime += ContinuousClock.now - t1
            total += bytes.count
        }
        MoveBench.pause(ledgers, apply: { ledger in
            let i = ledger.accountCount / 2
            applyTo(ledger, account: ledger.accountID(i), "{\"specversion\":\"1.0\",\"id\":\"pause-\(i)\",\"source\":\"//ai.example/assistant\",\"type\":\"ai.usage\",\"subject\":\"\(ledger.accountID(i))\",\"time\":\"\(EventTime.format(start + 86_400 * EventTime.nanosPerSecond))\",\"data\":{\"action\":\"chat\"}}")
        }, say: say)
        ledgers.removeAll()
        let r0 = ContinuousClock.now
        var restored = 0
        for p in 0..<partitions {
            let path = store.files(TopicPartition("ai.usage", Int32(p))).first!
            let data = [UInt8](FileManager.default.contents(atPath: path)!)
            let (ledger, _) = try SnapshotCodec.decode(data, config: config)
            restored += ledger.accountCount
        }
        let restoreTime = ContinuousClock.now - r0
        guard restored == accounts else { throw ServiceError("restored \(restored) of \(accounts) accounts") }
        say("snapshot of \(fmt(accounts)) accounts: \(fmt(total / 1_048_576)) MiB (\(total / accounts) B/account), encode \(ms(encodeTime)), "
            + "write+fsync \(ms(writeTime)), read+restore \(ms(restoreTime))")
    }

    /// The resident bytes per account split into what the account record and its heap arrays
    /// account for (each array: its capacity × element stride + a 32-byte header + 16 bytes of
    /// malloc overhead), the remembered ids, and the rest (id tables, intern tables, string
    /// arenas, allocator slack).
    static func memoryBreakdown(_ ledgers: [PartitionLedger], resident: Double, dedupeBytes: Int) -> String {
        func heap<T>(_ a: [T]) -> Int { a.capacity == 0 ? 0 : 48 + a.capacity * MemoryLayout<T>.stride }
        var n = 0, usage = 0, usageCells = 0, history = 0, historyEntries = 0, blocks = 0, alerts = 0, extras = 0
        for ledger in ledgers {
            for i in 0..<ledger.accountCount {
                guard let a = ledger.account(ledger.accountID(i)) else { continue }
                n += 1
                usage += heap(a.usage); usageCells += a.usage.count
                history += heap(a.history); historyEntries += a.history.count; blocks += heap(a.blocks); alerts += heap(a.cycleAlerts); extras += heap(a.extras)
            }
        }
        guard n > 0 else { return "no accounts" }
        let record = MemoryLayout<Account>.stride
        let per = { (x: Int) in String(x / n) + " B" }
        let known = n * record + usage + history + blocks + alerts + extras + dedupeBytes
        return "account record \(record) B (MemoryLayout<Account>.stride); usage cells " + per(usage)
            + " (" + String(format: "%.1f", Double(usageCells) / Double(n)) + " cells of \(MemoryLayout<UsageCell>.stride) B)"
            + "; history " + per(history) + " (" + String(format: "%.1f", Double(historyEntries) / Double(n)) + " entries of \(MemoryLayout<HistoryEntry>.stride) B)"
            + "; blocks " + per(blocks) + "; this cycle's alerts " + per(alerts) + "; extras " + per(extras)
            + "; remembered ids " + per(dedupeBytes) + "; the rest (id and intern tables, arenas, allocator) "
            + String(Int((resident - Double(known)) / Double(n))) + " B"
    }

    // MARK: Kafka

    static func rawConsume(topic: String, bootstrap: String, expected: Int, logger: Logger) throws -> (rate: Double, cpu: Double) {
        let consumer = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap), ("fetch.wait.max.ms", "100")], logger: logger)
        let n = try consumer.partitionCounts([topic])[topic] ?? 0
        var offsets: [TopicPartition: Int64] = [:]
        for p in 0..<n { offsets[TopicPartition(topic, p)] = KafkaOffset.beginning }
        try consumer.assign(offsets)
        var count = 0
        var first: ContinuousClock.Instant?
        var cpuAtFirst = 0.0
        var sink = 0
        let deadline = ContinuousClock.now + .seconds(600)
        while count < expected && ContinuousClock.now < deadline {
            consumer.poll(timeoutMs: 100, max: 4096) { m in
                guard m.error == nil else { return }
                if first == nil { first = .now; cpuAtFirst = ProcessStats.cpuSeconds() }
                count += 1
                sink &+= m.value.count
            }
        }
        guard count == expected, let first else { throw ServiceError("raw consumer read \(count) of \(expected) records") }
        return (Double(count) / seconds(ContinuousClock.now - first) + Double(sink & 0), ProcessStats.cpuSeconds() - cpuAtFirst)
    }

    static func fullPath(config: ServiceConfiguration, bootstrap: String, expected: Int64,
                         logger: Logger) async throws -> (rate: Double, alerts: Int64, balances: Int64, cpu: Double) {
        let service = MeterService(config: config, logger: logger, bootstrap: bootstrap)
        let task = Task { try await service.run() }
        var first: ContinuousClock.Instant?
        var cpuAtFirst = 0.0
        let deadline = ContinuousClock.now + .seconds(600)
        while service.status.processed < expected && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            if first == nil && service.status.consumed > 0 { first = .now; cpuAtFirst = ProcessStats.cpuSeconds() }
            if !service.status.running && service.status.consumed > 0 { break }
        }
        let end = ContinuousClock.now
        let cpu = ProcessStats.cpuSeconds() - cpuAtFirst
        service.requestStop()
        try await task.value
        let s = service.status
        guard s.processed == expected, let first else { throw ServiceError("service processed \(s.processed) of \(expected) records") }
        return (Double(expected) / seconds(end - first), s.alertsPublished, s.balancesPublished, cpu)
    }

    static func cpuComparison(config: ServiceConfiguration, bootstrap: String, topic: String, expected: Int, scratch: String,
                              executable: String, logger: Logger, say: (String) -> Void) throws {
        // kcat reading the same records from the same broker, to the end, then exiting.
        var kcatCPU: Double?
        if let kcat = which("kcat") ?? which("kafkacat") {
            let out = scratch + "/kcat.out"
            let child = try MeasuredChild(kcat, ["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\\n"], output: out)
            child.wait()
            let lines = (try? String(contentsOfFile: out, encoding: .utf8))?.split(separator: "\n").count ?? 0
            guard lines == expected else { throw ServiceError("kcat read \(lines) of \(expected) records") }
            kcatCPU = child.cpuSeconds
            say("kcat (librdkafka \(librdkafkaVersion), separate process): " + String(format: "%.2f", child.cpuSeconds) + " s CPU = "
                + String(format: "%.2f", child.cpuSeconds * 1e6 / Double(expected)) + " µs per record")
        } else {
            say("kcat: not installed (apt-get install kcat) — CPU comparison skipped")
        }
        // `credit-meter run` as a separate process: start, group join, consume everything,
        // snapshots, balances, SIGTERM, clean stop.
        var cfg = config
        cfg.kafka.groupID = "bench-cpu"
        let path = scratch + "/bench-run.yaml"
        try """
        kafka:
          bootstrap_servers: \(bootstrap)
          group_id: bench-cpu
          input_topics: [\(topic)]
          alerts_topic: \(cfg.kafka.alertsTopic)
          dead_letter_topic: \(cfg.kafka.deadLetterTopic)
          balances_topic: \(cfg.kafka.balancesTopic ?? "credit.balances")
        rate_cards_dir: \(cfg.rateCardsDir)
        price_book: \(cfg.priceBookPath)
        snapshots: { dir: \(scratch)/cpu-snapshots, interval_seconds: \(cfg.snapshots.intervalSeconds), keep: 2 }
        http: { listen: "127.0.0.1:0" }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let started = ContinuousClock.now
        let child = try MeasuredChild(executable, ["run", "--config", path, "--log-level", "warning"], output: scratch + "/run.out")
        let watcher = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap), ("group.id", "bench-cpu")], logger: logger)
        let n = try watcher.partitionCounts([topic])[topic] ?? 0
        let tps = (0..<n).map { TopicPartition(topic, $0) }
        var ends: [TopicPartition: Int64] = [:]
        for tp in tps { ends[tp] = try watcher.watermarks(tp).high }
        let deadline = ContinuousClock.now + .seconds(900)
        while ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            if child.exited() {
                let err = (try? String(contentsOfFile: scratch + "/run.out.err", encoding: .utf8)) ?? ""
                throw ServiceError("credit-meter run exited early (status \(child.status)): \(err.prefix(500))")
            }
            let committed = try watcher.committed(tps, timeoutMs: 5_000)
            if tps.allSatisfy({ committed[$0] == ends[$0] }) { break }
        }
        let caughtUp = ContinuousClock.now - started
        kill(child.pid, SIGTERM)
        child.wait()
        guard child.exitedCleanly else { throw ServiceError("credit-meter run did not stop cleanly (status \(child.status))") }
        let perRecord = child.cpuSeconds * 1e6 / Double(expected)
        var line = "credit-meter run (separate process, start → join → all records snapshotted and committed → SIGTERM → exit 0 in \(ms(caughtUp))): "
            + String(format: "%.2f", child.cpuSeconds) + " s CPU = " + String(format: "%.2f", perRecord) + " µs per record"
        if let kcatCPU { line += " = " + String(format: "%.2f", child.cpuSeconds / kcatCPU) + "× kcat" }
        say(line)
    }

    /// Alert latency from the produce call of the triggering event to the alert's arrival at a
    /// separate consumer, at a fixed rate — service, broker and load in this one process.
    static func latency(config: ServiceConfiguration, bootstrap: String, rate: Double, logger: Logger,
                        say: @escaping @Sendable (String) -> Void) async throws {
        var cfg = config
        cfg.kafka.groupID = "bench-latency"
        cfg.kafka.inputTopics = ["bench.latency"]
        cfg.kafka.balancesTopic = cfg.kafka.balancesTopic ?? "credit.balances"
        let service = MeterService(config: cfg, logger: logger, bootstrap: bootstrap)
        let task = Task { try await service.run() }
        try await pacedAlerts(bootstrap: bootstrap, alertsTopic: cfg.kafka.alertsTopic, balancesTopic: cfg.kafka.balancesTopic!,
                              rate: rate, logger: logger, label: "broker, service and load in one process", say: say)
        service.requestStop()
        try await task.value
    }

    /// Produces plans for 20 000 trial accounts, waits until the service has published their
    /// balances (it is consuming), then 12 web_research events per account at `rate`: alerts
    /// at the 8th, 9th and 10th. Latency = alert arrival − produce call of its triggering event.
    static func pacedAlerts(bootstrap: String, alertsTopic: String, balancesTopic: String, rate: Double, logger: Logger,
                            label: String, say: @escaping @Sendable (String) -> Void) async throws {
        let accounts = 20_000
        let perAccount = 12
        let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "0")], logger: logger) { _ in }
        let topicHandle = producer.topic("bench.latency")
        func send(_ key: String, _ json: String, _ ts: Int64) throws {
            let k = Array(key.utf8)
            let v = Array(json.utf8)
            try k.withUnsafeBytes { kb in try v.withUnsafeBytes { vb in try producer.produce(topicHandle, key: kb, value: vb, timestampMs: ts) } }
        }
        let t0 = EventTime.parse("2026-11-10T00:00:00Z")!
        let balancesBefore = heldIn(balancesTopic, bootstrap: bootstrap, logger: logger)
        for a in 0..<accounts {
            try send("lat-\(a)", "{\"specversion\":\"1.0\",\"id\":\"plan-\(a)\",\"source\":\"billing\",\"type\":\"credit.plan.assigned\",\"subject\":\"lat-\(a)\",\"time\":\"\(EventTime.format(t0))\",\"data\":{\"plan\":\"trial\"}}", t0 / 1_000_000)
        }
        try producer.flush(timeoutMs: 30_000)
        let ready = ContinuousClock.now + .seconds(60)
        while heldIn(balancesTopic, bootstrap: bootstrap, logger: logger) - balancesBefore < Int64(accounts) {
            guard ContinuousClock.now < ready else { throw ServiceError("latency: the service did not take the plans within 60 s") }
            try await Task.sleep(for: .milliseconds(100))
        }

        let total = accounts * perAccount
        let sent = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: total)
        sent.initialize(repeating: 0)
        defer { sent.deallocate() }
        let latencies = Locked<[Double]>([])
        let reader = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap), ("fetch.wait.max.ms", "1")], logger: logger)
        var offsets: [TopicPartition: Int64] = [:]
        let alertPartitions = try reader.partitionCounts([alertsTopic])[alertsTopic] ?? 1
        for p in 0..<alertPartitions {
            let tp = TopicPartition(alertsTopic, p)
            offsets[tp] = try reader.watermarks(tp).high
        }
        try reader.assign(offsets)
        let stopReader = StopSignal()
        let sentBase = UInt(bitPattern: sent.baseAddress)
        let readerThread = Thread {
            let sent = UnsafeMutablePointer<UInt64>(bitPattern: sentBase)!
            while !stopReader.isRequested {
                reader.poll(timeoutMs: 10) { m in
                    guard m.error == nil else { return }
                    let now = DispatchTime.now().uptimeNanoseconds
                    let text = String(decoding: m.value, as: UTF8.self)
                    guard let r = text.range(of: "\"triggered_by\":\"lat-") else { return }
                    let n = Int(text[r.upperBound...].prefix { $0 != "\"" }) ?? -1
                    guard n >= 0, n < total, sent[n] > 0 else { return }
                    latencies.withLock { $0.append(Double(now - sent[n]) / 1e6) }
                }
            }
        }
        readerThread.start()
        let elapsed = try paced(total: total, rate: rate, producer: producer) { i in
            let a = i % accounts
            let t = t0 + Int64(i / accounts + 1) * EventTime.nanosPerSecond
            let json = "{\"specversion\":\"1.0\",\"id\":\"lat-\(i)\",\"source\":\"//ai.example\",\"type\":\"ai.usage\",\"subject\":\"lat-\(a)\",\"time\":\"\(EventTime.format(t))\",\"data\":{\"action\":\"web_research\"}}"
            sent[i] = DispatchTime.now().uptimeNanoseconds
            try send("lat-\(a)", json, t / 1_000_000)
        }
        let expectedAlerts = accounts * 3
        let deadline = ContinuousClock.now + .seconds(60)
        while latencies.value.count < expectedAlerts && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        stopReader.request()
        let l = latencies.value.sorted()
        guard l.count == expectedAlerts else { throw ServiceError("latency: read back \(l.count) of \(expectedAlerts) alerts") }
        func pct(_ p: Double) -> Double { l[min(l.count - 1, Int(Double(l.count) * p))] }
        let echo = try echoLatency(bootstrap: bootstrap, rate: rate, total: min(total, 100_000), logger: logger)
        say("alert latency (\(label)) at " + fmt(Int(Double(total) / elapsed)) + " events/s: p50 "
            + String(format: "%.2f", pct(0.50)) + " ms, p99 " + String(format: "%.2f", pct(0.99)) + " ms, max "
            + String(format: "%.2f", l.last ?? 0) + " ms over \(fmt(l.count)) alerts; the broker alone (produce → consumer, same rate): p50 "
            + String(format: "%.2f", echo.p50) + " ms, p99 " + String(format: "%.2f", echo.p99) + " ms")
    }

    /// Records ever written to a topic (sum of high watermarks: the mock's retention moves the
    /// low ones, so high − low is not monotonic).
    /// Calls `produce(i)` for i in 0..<total at `rate` per second: each millisecond, the ones
    /// due; the thread sleeps in between (a spinning producer would starve the broker and the
    /// service of CPU on 2 cores). Flushes at the end; returns the seconds it took.
    static func paced(total: Int, rate: Double, producer: KafkaProducer, _ produce: (Int) throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        var i = 0
        while i < total {
            let now = DispatchTime.now().uptimeNanoseconds
            let due = min(total, Int(Double(now - start) / 1e9 * rate) + 1)
            while i < due { try produce(i); i += 1 }
            producer.poll()
            let spent = DispatchTime.now().uptimeNanoseconds - now
            if spent < 1_000_000 { usleep(UInt32((1_000_000 - spent) / 1_000)) }
        }
        try producer.flush(timeoutMs: 30_000)
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    static func heldIn(_ topic: String, bootstrap: String, logger: Logger) -> Int64 {
        guard let c = try? KafkaConsumer(properties: [("bootstrap.servers", bootstrap)], logger: logger),
              let n = try? c.partitionCounts([topic])[topic] else { return 0 }
        var total: Int64 = 0
        for p in 0..<n { if let w = try? c.watermarks(TopicPartition(topic, p)) { total += w.high } }
        return total
    }

    /// Alert latency with the broker (`credit-meter dev-broker`) and the service
    /// (`credit-meter run`) each in its own process, as deployed; this process only produces
    /// the paced events and reads the alerts.
    static func latencySeparateProcesses(config: ServiceConfiguration, rate: Double, scratch: String, executable: String,
                                         logger: Logger, say: @escaping @Sendable (String) -> Void) async throws {
        let brokerOut = scratch + "/dev-broker.out"
        let broker = try MeasuredChild(executable, ["dev-broker", "--topic", "bench.latency:16", "--topic", "credit.alerts:16",
                                                    "--topic", "ai.usage.dlq:2", "--topic", "credit.balances:16", "--topic", "bench.echo:16"],
                                       output: brokerOut)
        defer { kill(broker.pid, SIGTERM); broker.wait() }
        var bootstrap = ""
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: brokerOut, encoding: .utf8), let line = text.split(separator: "\n").first {
                bootstrap = String(line); break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard !bootstrap.isEmpty else { throw ServiceError("dev-broker did not start") }
        var cfg = config
        cfg.kafka.groupID = "bench-latency-procs"
        cfg.kafka.inputTopics = ["bench.latency"]
        let path = scratch + "/latency-run.yaml"
        try """
        kafka:
          bootstrap_servers: \(bootstrap)
          group_id: bench-latency-procs
          input_topics: [bench.latency]
          alerts_topic: \(cfg.kafka.alertsTopic)
          dead_letter_topic: \(cfg.kafka.deadLetterTopic)
          balances_topic: \(cfg.kafka.balancesTopic ?? "credit.balances")
        rate_cards_dir: \(cfg.rateCardsDir)
        price_book: \(cfg.priceBookPath)
        snapshots: { dir: \(scratch)/latency-snapshots, interval_seconds: 10, keep: 2 }
        http: { listen: "127.0.0.1:0" }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let service = try MeasuredChild(executable, ["run", "--config", path, "--log-level", "warning"], output: scratch + "/latency-run.out")
        defer { kill(service.pid, SIGTERM); service.wait() }
        try await pacedAlerts(bootstrap: bootstrap, alertsTopic: cfg.kafka.alertsTopic, balancesTopic: cfg.kafka.balancesTopic ?? "credit.balances",
                              rate: rate, logger: logger, label: "broker and service in separate processes", say: say)
    }

    /// The broker's own latency: produce → a separate consumer, same pacing, no service.
    static func echoLatency(bootstrap: String, rate: Double, total: Int, logger: Logger) throws -> (p50: Double, p99: Double) {
        let topic = "bench.echo"
        let producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "0")], logger: logger) { _ in }
        let reader = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap), ("fetch.wait.max.ms", "1")], logger: logger)
        let n = try reader.partitionCounts([topic])[topic] ?? 1
        var offsets: [TopicPartition: Int64] = [:]
        for p in 0..<n { offsets[TopicPartition(topic, p)] = try reader.watermarks(TopicPartition(topic, p)).high }
        try reader.assign(offsets)
        let stop = StopSignal()
        let latencies = Locked<[Double]>([])
        let thread = Thread {
            while !stop.isRequested {
                reader.poll(timeoutMs: 10) { m in
                    guard m.error == nil, m.value.count == 8 else { return }
                    let sent = m.value.loadUnaligned(as: UInt64.self)
                    latencies.withLock { $0.append(Double(DispatchTime.now().uptimeNanoseconds - sent) / 1e6) }
                }
            }
        }
        thread.start()
        let t = producer.topic(topic)
        _ = try paced(total: total, rate: rate, producer: producer) { i in
            var stamp = DispatchTime.now().uptimeNanoseconds
            let key = Array("k\(i % 10_000)".utf8)
            try withUnsafeBytes(of: &stamp) { v in try key.withUnsafeBytes { k in try producer.produce(t, key: k, value: v) } }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while latencies.value.count < total && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        stop.request()
        let l = latencies.value.sorted()
        guard l.count == total else { throw ServiceError("echo: read back \(l.count) of \(total) records") }
        return (l[l.count / 2], l[min(l.count - 1, l.count * 99 / 100)])
    }

    /// Restart with a tail: a service runs over the workload and stops cleanly (snapshot);
    /// then a tail of new events is produced and a new instance is started. Time from start to
    /// caught up = restore + group join + catch-up.
    static func restart(config: ServiceConfiguration, bootstrap: String, topic: String, spec: WorkloadSpec,
                        held: Int64, logger: Logger, say: (String) -> Void) async throws {
        var cfg = config
        cfg.kafka.groupID = "bench-restart"
        cfg.snapshots.dir = config.snapshots.dir + "-restart"
        _ = try await fullPath(config: cfg, bootstrap: bootstrap, expected: held, logger: logger)
        var tailSpec = spec
        tailSpec.seed = spec.seed + 1
        tailSpec.start = spec.start + Int64(spec.spanDays) * EventTime.nanosPerDay
        tailSpec.spanDays = 5
        let tail = Workload.generate(tailSpec).filter { $0.kind != .setup }
        try Demo.produce(tail, to: topic, bootstrap: bootstrap, logger: logger, alreadyHeld: held) { _ in }
        let snapshotBytes = SnapshotStore.snapshotFilesRecursive(cfg.snapshots.dir).reduce(0) { $0 + $1.1 }
        let started = ContinuousClock.now
        let service = MeterService(config: cfg, logger: logger, bootstrap: bootstrap)
        let task = Task { try await service.run() }
        var assigned: ContinuousClock.Instant?
        let deadline = ContinuousClock.now + .seconds(600)
        while service.status.processed < Int64(tail.count) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
            if assigned == nil && service.status.consumed > 0 { assigned = .now }
        }
        let done = ContinuousClock.now
        service.requestStop()
        try await task.value
        guard service.status.processed == Int64(tail.count) else {
            throw ServiceError("restart: processed \(service.status.processed) of \(tail.count) tail records")
        }
        say("restart with a \(fmt(tail.count))-record tail after \(fmt(Int(held))) records (\(fmt(snapshotBytes / 1_048_576)) MiB of snapshots): "
            + "caught up in \(ms(done - started)) (group join + restore until the first record \(ms((assigned ?? done) - started)), "
            + "then the tail at \(rate(tail.count, done - (assigned ?? done)))/s)")
    }

    static func seconds(_ d: Duration) -> Double { Double(d.nanoseconds) / 1e9 }
    static func ms(_ d: Duration) -> String { d.nanoseconds >= 10_000_000_000 ? String(format: "%.1f s", seconds(d)) : "\(d.milliseconds) ms" }
    static func rate(_ n: Int, _ d: Duration) -> String { fmt(Int(Double(n) / seconds(d))) }
}

extension SnapshotStore {
    /// (path, size) of every snapshot under a folder.
    static func snapshotFilesRecursive(_ dir: String) -> [(String, Int)] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        var out: [(String, Int)] = []
        while let p = e.nextObject() as? String {
            guard p.hasSuffix(".snap") else { continue }
            let full = "\(dir)/\(p)"
            out.append((full, (try? FileManager.default.attributesOfItem(atPath: full)[.size] as? Int) ?? 0))
        }
        return out
    }
}
