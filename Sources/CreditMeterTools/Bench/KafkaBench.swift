import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging

/// Figure 1: raw consumption, the full path through the service, and whole-process CPU against kcat;
/// restart: a restore and replay timed end to end.
extension Bench {
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
        child.terminate()
        guard child.exitedCleanly else { throw ServiceError("credit-meter run did not stop cleanly (status \(child.status))") }
        let perRecord = child.cpuSeconds * 1e6 / Double(expected)
        var line = "credit-meter run (separate process, start → join → all records snapshotted and committed → SIGTERM → exit 0 in \(ms(caughtUp))): "
            + String(format: "%.2f", child.cpuSeconds) + " s CPU = " + String(format: "%.2f", perRecord) + " µs per record"
        if let kcatCPU { line += " = " + String(format: "%.2f", child.cpuSeconds / kcatCPU) + "× kcat" }
        say(line)
    }

    /// Alert latency from the produce call of the triggering event to the alert's arrival at a
    /// separate consumer, at a fixed rate — service, broker and load in this one process.

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
}
