import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Testing

/// Contract §14: after broker faults, every record §7 sends to the dead-letter topic is there at
/// least once, each copy the original record plus the four headers. The real binary runs
/// against a three-broker `dev-broker --commands` whose broker 3 leads both dead-letter
/// partitions and nothing else, so every fault aimed at broker 3 lands on dead letters only:
/// slow answers (several Produce requests in flight at once), retriable Produce errors
/// interleaved with successes, then an outage while dead letters are in flight.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct DeadLetterFaultTests {
    static let topics = ["ai.usage:6", "credit.alerts:2", "ai.usage.dlq:2", "credit.balances:2", "credit.requests:2"]

    /// 24 accounts, 900 usage events, one bad record (five kinds of §7 input) after every fifth.
    static let records: [WorkloadRecord] = {
        var spec = WorkloadSpec()
        spec.seed = 21
        spec.accounts = 24
        spec.usageEvents = 900
        spec.duplicateEvery = 25
        spec.malformed = 180
        spec.spanDays = 10
        return Workload.generate(spec)
    }()

    /// One record the service dead-letters: where it came from, what it held, why.
    struct DeadLetter {
        let key: String?
        let value: String
        let headers: [String: String]
        let reason: String
    }

    @Test func everyDeadLetterSurvivesProduceErrorsAndAnOutageAtItsLeader() async throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-dlqfault-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logs) }
        let broker = try await DevBroker(dir: logs, topics: Self.topics, brokers: 3, commands: true)
        defer { Task { await broker.stop() } }
        // The input on brokers 1 and 2, the other outputs on broker 1, the dead letters alone on 3.
        for p in 0..<6 { try await broker.command("leader ai.usage \(p) \(p % 2 + 1)") }
        for t in ["credit.alerts", "credit.balances", "credit.requests"] {
            for p in 0..<2 { try await broker.command("leader \(t) \(p) 1") }
        }
        for p in 0..<2 { try await broker.command("leader ai.usage.dlq \(p) 3") }
        try await broker.command("coordinator test-group 1")

        // One record per Produce request (idempotence allows five in flight per partition), so
        // that a dead letter whose request fails always has later ones in flight behind it.
        let h = try ServiceHarness(partitions: 6, externalBootstrap: broker.bootstrap, snapshotInterval: 1,
                                   kafkaProperties: ["batch.num.messages": "1"])
        let third = Self.records.count / 3
        let parts = [Array(Self.records[..<third]), Array(Self.records[third..<(2 * third)]), Array(Self.records[(2 * third)...])]
        // librdkafka's `msg` context shows each dead-letter request the broker refused.
        var runner = OutOfProcessFaultTests.Runner(h: h, logs: logs, environment: [
            "CREDIT_METER_LOG_LEVEL": "debug", "CREDIT_METER_KAFKA_PROPERTIES_DEBUG": "msg,eos"])

        try h.produce(parts[0])
        try runner.start()
        try await runner.waitUntilProcessed(parts[0].count)

        // Answers 300 ms late keep five dead-letter requests per partition in flight; retriable
        // errors alternate with successes, so a request that fails is answered while the ones
        // behind it are still on their way — and they succeed.
        try await broker.command("rtt 3 300")
        let errors = Array(repeating: ["REQUEST_TIMED_OUT", "0", "NOT_ENOUGH_REPLICAS", "0", "NOT_LEADER_FOR_PARTITION", "0"], count: 4)
        try await broker.command("errors Produce \(errors.joined().joined(separator: ",")) 3")
        try h.produce(parts[1])
        try await runner.waitUntilProcessed(parts[0].count + parts[1].count)

        // Broker 3 goes down while dead letters wait for its answers, and comes back once the
        // service has found it down.
        try h.produce(parts[2])
        try await runner.waitUntilProcessed(Self.records.count)
        let refusedBefore = runner.log.components(separatedBy: "Connection refused").count
        try await broker.command("down 3")
        try await runner.waitUntilLogged { $0.components(separatedBy: "Connection refused").count > refusedBefore }
        try await broker.command("up 3")
        try await broker.command("rtt 3 0")
        try await runner.waitUntilCommittedToTheEnd()
        try await runner.stop()

        let log = runner.log
        #expect(runner.restarts == 0, "the service stopped: \(log.suffix(2000))")
        #expect(log.contains("ai.usage.dlq [") && log.contains("encountered error"), "no dead-letter batch met a fault")

        // Exactly what an undisturbed run dead-letters, each copy identical to its original.
        let expected = try Self.deadLettersOfAnUndisturbedRun(h)
        #expect(expected.count >= 150)
        var copies: [String: [ServiceHarness.Record]] = [:]
        for r in try h.readAll("ai.usage.dlq") {
            copies["\(r.headers["source-partition"] ?? "?")/\(r.headers["source-offset"] ?? "?")", default: []].append(r)
        }
        let missing = expected.keys.filter { copies[$0] == nil }.sorted()
        #expect(missing.isEmpty, "\(missing.count) of \(expected.count) dead letters missing, e.g. \(missing.prefix(5))")
        #expect(copies.keys.allSatisfy { expected[$0] != nil }, "dead letters of records an undisturbed run applies")
        for (source, original) in expected {
            let wanted = original.headers.merging(["error": original.reason, "source-topic": "ai.usage",
                                                   "source-partition": String(source.prefix { $0 != "/" }),
                                                   "source-offset": String(source.drop { $0 != "/" }.dropFirst())]) { _, new in new }
            for copy in copies[source] ?? [] {
                #expect(copy.key == original.key && copy.value == original.value && copy.headers == wanted,
                        "\(source): \(copy) is not \(original)")
            }
        }
        let duplicated = copies.values.filter { $0.count > 1 }.count
        print("dead letters: \(expected.count) expected, \(copies.count) present (\(duplicated) more than once); "
              + "implicit acknowledgements: \(log.components(separatedBy: "IMPLICITACK").count - 1)")
    }

    /// The input log as it is, partition by partition, through the service's own record path
    /// with one ledger per partition (as the service keeps them): "partition/offset" → the
    /// record and the reason of every record it dead-letters.
    static func deadLettersOfAnUndisturbedRun(_ h: ServiceHarness) throws -> [String: DeadLetter] {
        let engine = try h.config().engine
        let consumer = try KafkaConsumer(properties: [("bootstrap.servers", h.bootstrap)], logger: h.logger)
        var ends: [Int32: Int64] = [:]
        var start: [TopicPartition: Int64] = [:]
        for p in 0..<h.inputPartitions {
            let tp = TopicPartition("ai.usage", p)
            let w = try consumer.watermarks(tp)
            if w.high > w.low { ends[p] = w.high }
            start[tp] = KafkaOffset.beginning
        }
        try consumer.assign(start)
        let pipeline = RecordPipeline()
        var ledgers: [Int32: PartitionLedger] = [:]
        var out: [String: DeadLetter] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while !ends.isEmpty && ContinuousClock.now < deadline {
            consumer.poll(timeoutMs: 100) { m in
                guard m.error == nil, let end = ends[m.partition] else { return }
                let ledger = ledgers[m.partition] ?? PartitionLedger(config: engine)
                ledgers[m.partition] = ledger
                if case .deadLetter(let reason) = pipeline.process(m, into: ledger) {
                    var headers: [String: String] = [:]
                    for (k, v) in m.headers { headers[k] = v.map { String(decoding: $0, as: UTF8.self) } ?? "<null>" }
                    out["\(m.partition)/\(m.offset)"] = DeadLetter(key: m.key.map { String(decoding: $0, as: UTF8.self) },
                                                                   value: String(decoding: m.value, as: UTF8.self),
                                                                   headers: headers, reason: reason)
                }
                if m.offset + 1 >= end { ends[m.partition] = nil }
            }
        }
        if !ends.isEmpty { throw TestFailure("the input was not read to its end: partitions \(ends.keys.sorted())") }
        return out
    }
}

extension OutOfProcessFaultTests.Runner {
    /// Waits until the service's log satisfies `condition` (a service that stopped meanwhile
    /// fails the wait: the log would say why).
    func waitUntilLogged(timeout: Duration = .seconds(60), _ condition: (String) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(log) { return }
            if let child, !child.process.isRunning { throw TestFailure("the service stopped: \(log.suffix(2000))") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("the service's log did not show what was waited for in \(timeout): \(log.suffix(2000))")
    }
}
