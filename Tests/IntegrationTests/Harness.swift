import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Logging
import Testing

/// A mock cluster, a configuration in a temp folder, and helpers to produce CloudEvents and
/// read topics back — the service is always run for real over the Kafka wire protocol.
final class ServiceHarness: @unchecked Sendable {
    /// The in-process development cluster, unless the harness uses an external broker.
    let cluster: DevCluster?
    let bootstrap: String
    let dir: String
    let configPath: String
    let logger: Logger
    private var producer: KafkaProducer!
    let inputPartitions: Int32

    static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    init(partitions: Int32 = 4, extraConfig: String = "", rateCardsDir: String? = nil, externalBootstrap: String? = nil,
         snapshotInterval: Int = 1, stateTopic: Bool = false, groupID: String = "test-group",
         kafkaProperties: [String: String] = [:], brokers: Int32 = 1) throws {
        var logger = Logger(label: "test.service")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        self.logger = logger
        inputPartitions = partitions
        if let externalBootstrap {
            cluster = nil
            bootstrap = externalBootstrap
        } else {
            let cluster = try DevCluster(brokers: brokers, topics: [DevCluster.Topic("ai.usage", partitions: partitions)]
                                            + ["credit.alerts", "ai.usage.dlq", "credit.balances", "credit.requests"].map { DevCluster.Topic($0, partitions: 2) }
                                            + (stateTopic ? [DevCluster.Topic("credit.state", partitions: 2)] : []),
                                         logger: logger)
            self.cluster = cluster
            bootstrap = cluster.bootstrapServers
        }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("cm-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        configPath = dir + "/credit-meter.yaml"
        let configs = Self.repoRoot.appendingPathComponent("configs").path
        try """
        kafka:
          bootstrap_servers: \(bootstrap)
          group_id: \(groupID)
          input_topics: [ai.usage]
          alerts_topic: credit.alerts
          dead_letter_topic: ai.usage.dlq
          balances_topic: credit.balances
        \(stateTopic ? "  state_topic: credit.state" : "")
          properties: { \(kafkaProperties.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ")) }
        rate_cards_dir: \(rateCardsDir ?? configs + "/rate-cards")
        price_book: \(configs)/price-book.yaml
        snapshots: { dir: \(dir)/snapshots, interval_seconds: \(snapshotInterval), keep: 3 }
        \(extraConfig.contains("http:") ? "" : "http: { listen: \"127.0.0.1:0\" }   # a free port: tests run services side by side")
        \(extraConfig)
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        producer = try KafkaProducer(properties: [("bootstrap.servers", bootstrap), ("linger.ms", "5"),
                                                  ("queue.buffering.max.messages", "1000000")], logger: logger) { _ in }
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func config() throws -> ServiceConfiguration { try ServiceConfiguration.load(path: configPath) }

    /// Produces one record (key defaults to the event's subject) and waits for the ack.
    /// The record timestamp is the event's time (plus a second), so tests never depend on the wall clock.
    func produce(_ json: String, key: String?, headers: [(String, String)] = [], partition: Int32? = nil) throws {
        let value = Array(json.utf8)
        let time = (json.range(of: #""time":""#).map { json[$0.upperBound...].prefix { $0 != "\"" } }).flatMap { EventTime.parse(String($0)) }
            ?? headers.first { $0.0 == "ce_time" }.flatMap { EventTime.parse($0.1) }
        let timestampMs = time.map { $0 / 1_000_000 + 1000 }
        let keyBytes = key.map { Array($0.utf8) }
        let headerBytes = headers.map { ($0.0, Array($0.1.utf8)) }
        try value.withUnsafeBytes { v in
            try withHeaders(headerBytes) { hs in
                if let keyBytes {
                    try keyBytes.withUnsafeBytes { k in try producer.produce(producer.topic("ai.usage"), partition: partition, key: k, value: v, headers: hs, timestampMs: timestampMs) }
                } else {
                    try producer.produce(producer.topic("ai.usage"), partition: partition, key: nil, value: v, headers: hs, timestampMs: timestampMs)
                }
            }
        }
        try producer.flush(timeoutMs: 10_000)
    }

    func produce(_ records: [WorkloadRecord], topic: String = "ai.usage") throws {
        for r in records {
            try r.value.withUnsafeBytes { v in
                if let key = r.key {
                    try key.withUnsafeBytes { k in try producer.produce(producer.topic(topic), key: k, value: v, timestampMs: r.timestampMs) }
                } else {
                    try producer.produce(producer.topic(topic), key: nil, value: v, timestampMs: r.timestampMs)
                }
            }
        }
        try producer.flush(timeoutMs: 60_000)
    }

    /// Sum over partitions of (high − low) watermarks: what the broker holds.
    func held(_ topic: String) throws -> Int64 {
        let consumer = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap)], logger: logger)
        let n = try consumer.partitionCounts([topic])[topic] ?? 0
        var total: Int64 = 0
        for p in 0..<n { let w = try consumer.watermarks(TopicPartition(topic, p)); total += w.high - w.low }
        return total
    }

    /// The group's committed offsets and the high watermarks of the input topic.
    func committedAndEnds(group: String = "test-group") throws -> (committed: [Int32: Int64], ends: [Int32: Int64]) {
        let consumer = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap), ("group.id", group)], logger: logger)
        let tps = (0..<inputPartitions).map { TopicPartition("ai.usage", $0) }
        let committed = try consumer.committed(tps, timeoutMs: 30_000)  // generous: a fresh consumer on slow brokers (400 ms RTT)
        var c: [Int32: Int64] = [:]
        var e: [Int32: Int64] = [:]
        for tp in tps {
            c[tp.partition] = committed[tp] ?? -1
            e[tp.partition] = try consumer.watermarks(tp).high
        }
        return (c, e)
    }

    private func withHeaders(_ headers: [(String, [UInt8])], _ body: ([(String, UnsafeRawBufferPointer?)]) throws -> Void) throws {
        var flat: [UInt8] = []
        var ranges: [(String, Range<Int>)] = []
        for (n, v) in headers { let s = flat.count; flat += v; ranges.append((n, s..<flat.count)) }
        flat.append(0)
        try flat.withUnsafeBytes { raw in try body(ranges.map { ($0.0, UnsafeRawBufferPointer(rebasing: raw[$0.1])) }) }
    }

    struct Record {
        var partition: Int32
        var offset: Int64
        var key: String?
        var value: String
        var headers: [String: String]
        var timestampMs: Int64? = nil
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any]) ?? [:] }
    }

    /// Every record now in `topic`, in (partition, offset) order.
    func readAll(_ topic: String, expect count: Int? = nil, timeout: Duration = .seconds(20)) throws -> [Record] {
        let consumer = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap)], logger: logger)
        let n = try consumer.partitionCounts([topic])[topic] ?? 1
        var ends: [Int32: Int64] = [:]
        var offsets: [TopicPartition: Int64] = [:]
        for p in 0..<n {
            offsets[TopicPartition(topic, p)] = KafkaOffset.beginning
            let w = try consumer.watermarks(TopicPartition(topic, p))
            if w.high > w.low { ends[p] = w.high }
        }
        if let count { #expect(ends.values.reduce(0, +) >= Int64(count), "topic \(topic) holds fewer records than expected") }
        try consumer.assign(offsets)
        var out: [Record] = []
        let deadline = ContinuousClock.now + timeout
        while !ends.isEmpty && ContinuousClock.now < deadline {
            consumer.poll(timeoutMs: 100) { m in
                guard m.error == nil else { return }
                var headers: [String: String] = [:]
                for (k, v) in m.headers { headers[k] = v.map { String(decoding: $0, as: UTF8.self) } ?? "<null>" }
                out.append(Record(partition: m.partition, offset: m.offset, key: m.key.map { String(decoding: $0, as: UTF8.self) },
                                  value: String(decoding: m.value, as: UTF8.self), headers: headers, timestampMs: m.timestampMs))
                if let end = ends[m.partition], m.offset + 1 >= end { ends[m.partition] = nil }
            }
        }
        // Never a silent partial read (a test would then compare the wrong thing).
        if !ends.isEmpty { Issue.record("readAll(\(topic)): partitions \(ends.keys.sorted()) not read to their end in \(timeout)") }
        return out.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
    }

    /// Runs the service until it has processed `records` records (and its outputs are
    /// flushed by the clean stop), then stops it. `logger`: the service's, else the harness's.
    @discardableResult
    func runService(until records: Int64, config: ServiceConfiguration? = nil, logger: Logger? = nil,
                    timeout: Duration = .seconds(60)) async throws -> MeterService {
        let service = MeterService(config: try config ?? self.config(), logger: logger ?? self.logger)
        let task = Task { try await service.run() }
        let deadline = ContinuousClock.now + timeout
        while service.status.processed < records && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            if !service.status.running && service.status.consumed > 0 { break }
        }
        service.requestStop()
        try await task.value
        #expect(service.status.processed >= records, "service processed \(service.status.processed) of \(records)")
        return service
    }
}

/// CloudEvents JSON for service tests.
func event(_ type: String, _ account: String, id: String, time: String, data: String, source: String = "svc") -> String {
    "{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"\(source)\",\"type\":\"\(type)\",\"subject\":\"\(account)\",\"time\":\"\(time)\",\"data\":\(data)}"
}
