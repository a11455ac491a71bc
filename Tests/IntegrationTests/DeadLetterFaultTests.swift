import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import KafkaMockCluster
import Logging
import Testing

/// Contract §14: after broker faults, every record §7 sends to the dead-letter topic is there at
/// least once, each copy the original record plus the four headers — and, through the same
/// producer, every alert and top-up request id with its one content, and every account's last
/// balances record current. The real binary runs against a three-broker
/// `dev-broker --commands` whose broker 3 leads the dead-letter partitions (alone, or with
/// every other output's), so every fault aimed at broker 3 lands on those: slow answers
/// (several Produce requests in flight at once), retriable Produce errors interleaved with
/// successes, then an outage while records wait for its answers.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct DeadLetterFaultTests {
    static let topics = ["ai.usage:6", "credit.alerts:2", "ai.usage.dlq:2", "credit.balances:2", "credit.requests:2"]

    /// 24 accounts, 900 usage events, one bad record (five kinds of §7 input) after every fifth;
    /// auto top-ups for the requests topic.
    static let records: [WorkloadRecord] = {
        var spec = WorkloadSpec()
        spec.seed = 21
        spec.accounts = 24
        spec.usageEvents = 900
        spec.duplicateEvery = 25
        spec.malformed = 180
        spec.spanDays = 10
        spec.autoTopupPercent = 40
        return Workload.generate(spec)
    }()

    /// One record the service dead-letters: what it held, why.
    struct DeadLetter {
        let key: String?
        let value: String
        let headers: [String: String]
        let reason: String
    }

    /// What broker 3 leads.
    enum Faulted: String, CaseIterable, CustomTestStringConvertible {
        case deadLetters, everyOutput
        var testDescription: String { rawValue }
        var topics: [String] {
            switch self {
            case .deadLetters: ["ai.usage.dlq"]
            case .everyOutput: ["ai.usage.dlq", "credit.alerts", "credit.balances", "credit.requests"]
            }
        }
    }

    @Test(arguments: Faulted.allCases)
    func everyDeadLetterSurvivesProduceErrorsAndAnOutageAtItsLeader(_ faulted: Faulted) async throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-dlqfault-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logs) }
        let broker = try await DevBroker(dir: logs, topics: Self.topics, brokers: 3, commands: true)
        defer { Task { await broker.stop() } }
        // The input on brokers 1 and 2, the faulted outputs on 3, the others on 1.
        for p in 0..<6 { try await broker.command("leader ai.usage \(p) \(p % 2 + 1)") }
        for t in ["ai.usage.dlq", "credit.alerts", "credit.balances", "credit.requests"] {
            for p in 0..<2 { try await broker.command("leader \(t) \(p) \(faulted.topics.contains(t) ? 3 : 1)") }
        }
        try await broker.command("coordinator test-group 1")

        // One record per Produce request (idempotence allows five in flight per partition), so
        // that a record whose request fails always has later ones in flight behind it.
        let h = try ServiceHarness(partitions: 6, externalBootstrap: broker.bootstrap, snapshotInterval: 1,
                                   kafkaProperties: ["batch.num.messages": "1"])
        let reference = Reference(records: Self.records, config: try h.config().engine)
        #expect(!reference.alerts.isEmpty && !reference.requests.isEmpty)
        let third = Self.records.count / 3
        let parts = [Array(Self.records[..<third]), Array(Self.records[third..<(2 * third)]), Array(Self.records[(2 * third)...])]
        // librdkafka's `msg` and `eos` contexts show each refused request and each implicit acknowledgement.
        var runner = OutOfProcessFaultTests.Runner(h: h, logs: logs, environment: [
            "CREDIT_METER_LOG_LEVEL": "debug", "CREDIT_METER_KAFKA_PROPERTIES_DEBUG": "msg,eos"])

        try h.produce(parts[0])
        try runner.start()
        try await runner.waitUntilProcessed(parts[0].count)

        // Answers 300 ms late keep five requests per partition in flight; retriable errors
        // alternate with successes, so a request that fails is answered while the ones behind
        // it are still on their way — and they succeed.
        try await broker.command("rtt 3 300")
        let errors = Array(repeating: ["REQUEST_TIMED_OUT", "0", "NOT_ENOUGH_REPLICAS", "0", "NOT_LEADER_FOR_PARTITION", "0"], count: 6)
        try await broker.command("errors Produce \(errors.joined().joined(separator: ",")) 3")
        try h.produce(parts[1])
        try await runner.waitUntilProcessed(parts[0].count + parts[1].count)

        // Broker 3 goes down as soon as the service has sent it dead letters again (their
        // answers a second away), and comes back once the service has found it down.
        try await broker.command("rtt 3 1000")
        let sentBefore = Self.deadLetterRequests(runner.log)
        try h.produce(parts[2])
        try await runner.waitUntilLogged { Self.deadLetterRequests($0) > sentBefore }
        let refusedBefore = runner.log.components(separatedBy: "Connection refused").count
        try await broker.command("down 3")
        try await runner.waitUntilLogged { $0.components(separatedBy: "Connection refused").count > refusedBefore }
        try await broker.command("up 3")
        try await broker.command("rtt 3 0")
        try await runner.waitUntilProcessed(Self.records.count)
        try await runner.waitUntilCommittedToTheEnd()
        try await runner.stop()

        let log = runner.log
        #expect(runner.restarts == 0, "the service stopped: \(log.suffix(2000))")
        #expect(log.contains("ai.usage.dlq [") && log.contains("encountered error"), "no dead-letter request met a fault")
        // The interleaving that loses records happened: records counted delivered implicitly.
        #expect(log.contains("IMPLICITACK") && log.contains("reported delivered without an offset"),
                "no record was acknowledged implicitly: the faults did not force what this test is about")

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

        // The other outputs share the producer: every alert and request id, each with the one
        // content of an undisturbed run, and every account's last balances record current.
        for (topic, wanted) in [("credit.alerts", reference.alerts), ("credit.requests", reference.requests)] {
            var byID: [String: Set<String>] = [:]
            for r in try h.readAll(topic) { byID[r.json["id"] as? String ?? "?", default: []].insert(r.value) }
            #expect(Set(byID.keys) == Set(wanted.keys), "\(topic): ids differ")
            #expect(byID.allSatisfy { $0.value == [wanted[$0.key] ?? ""] }, "\(topic): an id with other content")
        }
        var last: [String: String] = [:]
        for r in try h.readAll("credit.balances") { if let k = r.key { last[k] = r.value } }
        let stale = reference.balances.filter { last[$0.key] != $0.value }.map(\.key).sorted()
        #expect(last.count == reference.balances.count && stale.isEmpty, "last balances records not current: \(stale)")

        let duplicated = copies.values.filter { $0.count > 1 }.count
        let again = log.split(separator: "\n").filter { $0.contains("reported delivered without an offset") }
            .compactMap { $0.firstMatch(of: /count=(\d+) topics=(\[[^\]]*\])/).map { "\($0.1) to \($0.2)" } }
        print("\(faulted): dead letters \(expected.count) expected, \(copies.count) present (\(duplicated) more than once); "
              + "implicit acknowledgements \(log.components(separatedBy: "IMPLICITACK").count - 1); produced again: \(again)")
    }

    /// The mechanism underneath, on the producer alone: librdkafka's idempotent producer
    /// counts the records of a failed request delivered once a later request of the partition
    /// succeeds; the mock cluster accepts that later request without checking sequence
    /// numbers, so those records are not in the log. Their reports carry no offset and a copy,
    /// and the copy produced again is the record, identical, at an offset of its own.
    @Test func implicitlyAcknowledgedRecordsComeWithACopyThatProducesThemAgain() throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("t", partitions: 1)
        final class Reports: @unchecked Sendable {
            let lock = NSLock()
            var items: [DeliveryReport] = []
            func add(_ r: DeliveryReport) { lock.lock(); items.append(r); lock.unlock() }
            var all: [DeliveryReport] { lock.lock(); defer { lock.unlock() }; return items }
        }
        let reports = Reports()
        // One record per request, five in flight, answers 300 ms late: the request after a
        // failed one is always on its way when the failure comes back.
        let p = try KafkaProducer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("batch.num.messages", "1")],
                                  logger: Logger(label: "test.producer")) { reports.add($0) }
        try cluster.setRoundTripTime(broker: 1, milliseconds: 300)
        try cluster.pushRequestErrors(.produce, [KafkaErrorCode.requestTimedOut, 0, KafkaErrorCode.notEnoughReplicas, 0], broker: 1)
        // Keys name the records; values null, empty and not; headers null, empty and not.
        let produced = (0..<10).map { (i: Int) -> ProducedRecord in
            let value: [UInt8]? = i == 0 ? nil : i == 1 ? [] : Array("v\(i)".utf8)
            let headers: [(String, [UInt8]?)] = [("h", Array("h\(i)".utf8)), ("null", nil), ("empty", [])]
            return ProducedRecord(topic: "t", partition: 0, key: Array("k\(i)".utf8), value: value, headers: headers,
                                  timestampMs: 1_800_000_000_000 + Int64(i))
        }
        for r in produced { try p.produce(r) }
        try p.flush(timeoutMs: 20_000)
        #expect(reports.all.count == 10 && reports.all.allSatisfy { $0.error == nil })
        let copies = reports.all.compactMap(\.unconfirmed)
        #expect(!copies.isEmpty, "no record was acknowledged implicitly")
        #expect(reports.all.allSatisfy { ($0.offset != nil) != ($0.unconfirmed != nil) })
        // Written: exactly the records acknowledged with an offset.
        let consumer = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers)], logger: Logger(label: "test.reader"))
        #expect(try consumer.watermarks(TopicPartition("t", 0)).high == Int64(10 - copies.count))
        for copy in copies {
            let original = produced.first { $0.key == copy.key }
            #expect(original.map { Self.same($0, copy) } == true, "\(copy) is not \(String(describing: original))")
        }

        try cluster.setRoundTripTime(broker: 1, milliseconds: 0)
        for copy in copies { try p.produce(copy) }
        try p.flush(timeoutMs: 20_000)
        #expect(reports.all.count == 10 + copies.count && reports.all.dropFirst(10).allSatisfy { $0.offset != nil })
        try consumer.assign([TopicPartition("t", 0): KafkaOffset.beginning])
        var read: [ProducedRecord] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while read.count < 10 && ContinuousClock.now < deadline {
            consumer.poll(timeoutMs: 100) { m in
                guard m.error == nil else { return }
                read.append(ProducedRecord(topic: m.topic, partition: m.partition, key: m.key.map { Array($0) },
                                           value: m.valueIsNull ? nil : Array(m.value), headers: m.headers, timestampMs: m.timestampMs))
            }
        }
        #expect(read.count == 10)
        for original in produced {
            #expect(read.contains { Self.same($0, original) }, "\(original) not read back")
        }
    }

    static func same(_ a: ProducedRecord, _ b: ProducedRecord) -> Bool {
        a.topic == b.topic && a.partition == b.partition && a.key == b.key && a.value == b.value && a.timestampMs == b.timestampMs
            && a.headers.map(\.0) == b.headers.map(\.0) && zip(a.headers, b.headers).allSatisfy { $0.1 == $1.1 }
    }

    /// Produce requests of dead letters the service has sent (librdkafka's `msg` context).
    static func deadLetterRequests(_ log: String) -> Int {
        ["ai.usage.dlq [0]: Produce MessageSet", "ai.usage.dlq [1]: Produce MessageSet"]
            .map { log.components(separatedBy: $0).count - 1 }.reduce(0, +)
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
                if let reason = pipeline.process(m, into: ledger).deadLetterReason {
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
