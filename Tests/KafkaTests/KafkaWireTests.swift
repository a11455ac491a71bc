import Foundation
import Logging
import Testing
import Kafka
import KafkaMockCluster

/// The Kafka edge against librdkafka's mock cluster: a real wire protocol, no server.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct KafkaWireTests {
    let logger = Logger(label: "test.kafka")

    func producer(_ cluster: MockCluster, reports: Reports) throws -> KafkaProducer {
        try KafkaProducer(properties: [("bootstrap.servers", cluster.bootstrapServers)], logger: logger) { report in
            reports.add(report)
        }
    }

    final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [DeliveryReport] = []
        func add(_ r: DeliveryReport) { lock.lock(); items.append(r); lock.unlock() }
        var all: [DeliveryReport] { lock.lock(); defer { lock.unlock() }; return items }
    }

    @Test func producedRecordsAreReadBackWithKeysHeadersAndDeliveryReports() throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("t", partitions: 3)
        let reports = Reports()
        let p = try producer(cluster, reports: reports)
        let topic = p.topic("t")
        for i in 0..<30 {
            var key = Array("k\(i % 5)".utf8)
            var value = Array("v\(i)".utf8)
            var h = Array("h\(i)".utf8)
            try key.withUnsafeMutableBytes { k in
                try value.withUnsafeMutableBytes { v in
                    try h.withUnsafeMutableBytes { hv in
                        try p.produce(topic, key: UnsafeRawBufferPointer(k), value: UnsafeRawBufferPointer(v),
                                      headers: [("hdr", UnsafeRawBufferPointer(hv)), ("null-header", nil)], tag: UInt64(i + 1))
                    }
                }
            }
        }
        try p.flush(timeoutMs: 10_000)
        #expect(reports.all.count == 30)
        #expect(reports.all.allSatisfy { $0.error == nil })
        #expect(Set(reports.all.map(\.tag)) == Set(1...30))

        let c = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("group.id", "g1")], logger: logger)
        try c.assign([TopicPartition("t", 0): KafkaOffset.beginning, TopicPartition("t", 1): KafkaOffset.beginning,
                      TopicPartition("t", 2): KafkaOffset.beginning])
        var seen: [String: (key: String, header: String?, nullHeader: Bool)] = [:]
        var lastOffset: [Int32: Int64] = [:]
        let deadline = Date().addingTimeInterval(20)
        while seen.count < 30 && Date() < deadline {
            c.poll(timeoutMs: 200) { m in
                guard m.error == nil else { return }
                let value = String(decoding: m.value, as: UTF8.self)
                let headers = m.headers
                seen[value] = (String(decoding: m.key!, as: UTF8.self), headers.first { $0.0 == "hdr" }?.1.map { String(decoding: $0, as: UTF8.self) },
                               headers.contains { $0.0 == "null-header" && $0.1 == nil })
                // Partition order: offsets only grow.
                #expect(m.offset > lastOffset[m.partition, default: -1])
                lastOffset[m.partition] = m.offset
                #expect(m.timestampMs != nil)
            }
        }
        #expect(seen.count == 30)
        #expect(seen["v7"]?.key == "k2")
        #expect(seen["v7"]?.header == "h7")
        #expect(seen["v7"]?.nullHeader == true)
        // Same key → same partition (murmur2_random).
        let counts = try c.partitionCounts(["t"])
        #expect(counts["t"] == 3)
        var total: Int64 = 0
        for p in 0..<3 { total += try c.watermarks(TopicPartition("t", Int32(p))).high }
        #expect(total == 30)
    }

    @Test func groupRebalanceHookRunsBeforeAssignmentAndChoosesOffsets() throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("in", partitions: 2)
        let reports = Reports()
        let p = try producer(cluster, reports: reports)
        for i in 0..<20 {
            var v = Array("\(i)".utf8)
            try v.withUnsafeMutableBytes { try p.produce(p.topic("in"), partition: Int32(i % 2), key: nil, value: UnsafeRawBufferPointer($0)) }
        }
        try p.flush(timeoutMs: 10_000)

        final class Events: @unchecked Sendable { var items: [RebalanceEvent] = [] }
        let events = Events()
        let c = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("group.id", "g2"),
                                               ("session.timeout.ms", "6000")], logger: logger) { event in
            events.items.append(event)
            if case .assigned = event { return [TopicPartition("in", 0): 5, TopicPartition("in", 1): 8] }
            return [:]
        }
        try c.subscribe(["in"])
        var values: [Int32: [Int]] = [:]
        let deadline = Date().addingTimeInterval(30)
        while values.values.map(\.count).reduce(0, +) < 7 && Date() < deadline {
            c.poll(timeoutMs: 200) { m in
                guard m.error == nil else { return }
                values[m.partition, default: []].append(Int(String(decoding: m.value, as: UTF8.self))!)
            }
        }
        // Partition 0 holds 0,2,…,18 (offsets 0…9): from offset 5 → 10…18. Partition 1 from 8 → 17, 19.
        #expect(values[0] == [10, 12, 14, 16, 18])
        #expect(values[1] == [17, 19])
        try c.commit([TopicPartition("in", 0): 10, TopicPartition("in", 1): 10])
        #expect(try c.committed([TopicPartition("in", 0)], timeoutMs: 5_000)[TopicPartition("in", 0)] == 10)
        c.close()
        guard case .assigned(let assigned) = events.items.first else { Issue.record("no assignment"); return }
        #expect(Set(assigned) == [TopicPartition("in", 0), TopicPartition("in", 1)])
        guard case .revoked(let revoked, _) = events.items.last else { Issue.record("no final revocation on close"); return }
        #expect(Set(revoked) == Set(assigned))
    }

    @Test func producerSurvivesABrokerOutageAndInjectedErrors() throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("r", partitions: 1)
        let reports = Reports()
        let p = try producer(cluster, reports: reports)
        cluster.pushRequestErrors(.produce, [KafkaErrorCode.notEnoughReplicas, KafkaErrorCode.requestTimedOut])
        try cluster.setBrokerDown(1)
        for i in 0..<10 {
            var v = Array("\(i)".utf8)
            try v.withUnsafeMutableBytes { try p.produce(p.topic("r"), key: nil, value: UnsafeRawBufferPointer($0), tag: UInt64(i)) }
        }
        p.poll(timeoutMs: 500)
        #expect(reports.all.isEmpty)  // nothing acknowledged while the broker is down
        try cluster.setBrokerUp(1)
        try p.flush(timeoutMs: 20_000)
        #expect(reports.all.count == 10)
        #expect(reports.all.allSatisfy { $0.error == nil })
        // Idempotence: retries after injected errors did not duplicate records.
        let c = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers)], logger: logger)
        #expect(try c.watermarks(TopicPartition("r", 0)).high == 10)
    }

    @Test func invalidPropertiesAreSwiftErrorsWithLibrdkafkasText() {
        #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(properties: [("no.such.property", "1")], logger: logger) { _ in }
        }
        do {
            _ = try KafkaConsumer(properties: [("session.timeout.ms", "soon")], logger: logger)
        } catch {
            #expect(error.message.contains("session.timeout.ms"))
        }
    }
}
