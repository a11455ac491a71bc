import Foundation
import Kafka
import KafkaMockCluster
import Logging
import Testing

/// librdkafka's statistics (`statistics.interval.ms`) read into `KafkaStatistics`: the per-broker
/// counters of trouble librdkafka retries on its own.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct KafkaStatisticsTests {
    /// A statistics document shaped as librdkafka 2.0.2 writes it (STATISTICS.md): nested
    /// objects and arrays around the counters, the internal placeholder broker, escapes.
    static let document = #"""
    { "name": "credit-meter#producer-1", "client_id": "credit-meter", "type": "producer", "ts":5016483227792, "time":1527060869,
      "age":5016483, "replyq":0, "msg_cnt":0, "tx":1, "rx":1,
      "brokers":{
        "localhost:9092/2": { "name":"localhost:9092/2", "nodeid":2, "nodename":"localhost:9092", "source":"learned", "state":"UP",
          "stateage":9057234, "outbuf_cnt":0, "waitresp_cnt":0, "tx":320, "txbytes":84283332, "txerrs":3, "txretries":7,
          "txidle":-1, "req_timeouts":2, "rx":320, "rxbytes":15708, "rxerrs":1, "rxcorriderrs":0, "rxpartial":0, "rxidle":-1,
          "zbuf_grow":0, "buf_grow":0, "wakeups":591067, "connects":4, "disconnects":3,
          "int_latency": { "min":86, "max":59375, "avg":23726, "sum":5694616664, "stddev":13982, "p50":28031, "p75":36095,
            "p90":39679, "p95":43263, "p99":48639, "p99_99":59391, "outofrange":0, "hdrsize":11376, "cnt":240012 },
          "req": { "Produce": 320, "Metadata": 2, "ApiVersion": 1 },
          "toppars":{ "test-0": { "topic":"test", "partition":0 } } },
        ":0/internal": { "name":":0/internal", "nodeid":-1, "nodename":"", "source":"internal", "state":"UP", "txerrs":0,
          "txretries":0, "req_timeouts":0, "rxerrs":0, "connects":0, "disconnects":0, "toppars":{} },
        "broker \"b\"\\1:9092/1": { "name":"x", "nodeid":1, "source":"configured", "state":"DOWN", "txerrs":0, "txretries":0,
          "req_timeouts":0, "rxerrs":0, "connects":12, "disconnects":0, "int_latency":{}, "req":{}, "toppars":{} }
      },
      "topics":{ "test": { "topic":"test", "partitions":{ "0": { "partition":0, "fetchq_cnt":[], "msgq_cnt":-1.5e3 } } } },
      "tx":1, "flags":[true,false,null,"a\u00e9"] }
    """#

    @Test func theBrokerCountersAreReadAndTheInternalBrokerLeftOut() throws {
        let s = try #require(KafkaStatistics(json: Array(Self.document.utf8)))
        #expect(s.client == "credit-meter#producer-1")
        #expect(s.type == "producer")
        var up = KafkaStatistics.Broker(name: "localhost:9092/2")
        up.transmitErrors = 3
        up.retries = 7
        up.requestTimeouts = 2
        up.receiveErrors = 1
        up.connects = 4
        up.disconnects = 3
        var down = KafkaStatistics.Broker(name: "broker \"b\"\\1:9092/1")
        down.connects = 12
        #expect(s.brokers == [down, up])
    }

    @Test func anythingButAStatisticsDocumentIsRefused() {
        #expect(KafkaStatistics(json: Array("".utf8)) == nil)
        #expect(KafkaStatistics(json: Array("[]".utf8)) == nil)
        #expect(KafkaStatistics(json: Array(#"{"type":"producer"}"#.utf8)) == nil)  // no name
        #expect(KafkaStatistics(json: Array(#"{"name":"c","brokers":{"b":{"txerrs":1.5}}}"#.utf8)) == nil)
        #expect(KafkaStatistics(json: Array(#"{"name":"c","brokers":{"b":{"txerrs":1}}"#.utf8)) == nil)  // truncated
        #expect(KafkaStatistics(json: Array(Self.document.utf8.dropLast(5))) == nil)
    }

    /// A live consumer with statistics on: its documents reach `ofThisProcess()` (parsed when
    /// asked), and leave with the client.
    @Test func aClientWithStatisticsOnIsListedUntilItIsDestroyed() throws {
        let cluster = try MockCluster(brokers: 2)
        try cluster.createTopic("stats", partitions: 2)
        var consumer: KafkaConsumer? = try KafkaConsumer(
            properties: [("bootstrap.servers", cluster.bootstrapServers), ("client.id", "stats-test"),
                         ("statistics.interval.ms", "50")],
            logger: Logger(label: "test.kafka"))
        try consumer!.assign([TopicPartition("stats", 0): KafkaOffset.beginning, TopicPartition("stats", 1): KafkaOffset.beginning])
        func mine() -> KafkaStatistics? {
            KafkaStatistics.ofThisProcess().first { $0.client.hasPrefix("stats-test#") && !$0.brokers.isEmpty }
        }
        // Statistics are served by the consumer's polls.
        let deadline = Date().addingTimeInterval(30)
        while mine() == nil && Date() < deadline { consumer!.poll(timeoutMs: 20) { _ in } }
        let s = try #require(mine())
        #expect(s.type == "consumer")
        #expect(s.brokers.allSatisfy { $0.connects >= 0 && $0.transmitErrors >= 0 })
        #expect(s.brokers.contains { $0.connects >= 1 })
        let name = s.client
        consumer = nil
        #expect(!KafkaStatistics.ofThisProcess().contains { $0.client == name })
    }

    /// Without the property (or with 0) nothing is listed.
    @Test func withoutTheProperty() throws {
        let cluster = try MockCluster(brokers: 1)
        let a = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("client.id", "no-stats-a")],
                                  logger: Logger(label: "test.kafka"))
        let b = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("client.id", "no-stats-b"),
                                               ("statistics.interval.ms", "50"), ("statistics.interval.ms", "0")],
                                  logger: Logger(label: "test.kafka"))
        for _ in 0..<10 { a.poll(timeoutMs: 20) { _ in }; b.poll(timeoutMs: 20) { _ in } }
        #expect(!KafkaStatistics.ofThisProcess().contains { $0.client.hasPrefix("no-stats-") })
    }
}

/// Broker trouble librdkafka handles on its own, made on the mock cluster, shows in the counters.
extension KafkaStatisticsTests {
    /// Polls `consumer` until the statistics of `client` satisfy `condition` (or 30 s pass).
    static func statistics(_ client: String, polling consumer: KafkaConsumer,
                           until condition: (KafkaStatistics) -> Bool) -> KafkaStatistics? {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let s = KafkaStatistics.ofThisProcess().first(where: { $0.client.hasPrefix(client + "#") }), condition(s) { return s }
            consumer.poll(timeoutMs: 20) { _ in }
        }
        return nil
    }

    @Test func aRetriedRequestCountsAsARetryOnItsBroker() throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("r", partitions: 1)
        let c = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("client.id", "retried"),
                                               ("group.id", "retried"), ("statistics.interval.ms", "50")], logger: Logger(label: "test.kafka"))
        try c.assign([TopicPartition("r", 0): 0])
        cluster.pushRequestErrors(.offsetCommit, [7, 7])  // REQUEST_TIMED_OUT twice: librdkafka retries, the commit succeeds
        try c.commit([TopicPartition("r", 0): 1])
        let s = Self.statistics("retried", polling: c) { $0.brokers.contains { $0.retries >= 2 } }
        #expect(s?.brokers.first { $0.retries >= 2 }?.name == "GroupCoordinator")
    }

    @Test func aBrokerSlowerThanTheRequestTimeoutCountsTimeoutsAndDisconnects() throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("r", partitions: 1)
        let c = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers), ("client.id", "slow"),
                                               ("socket.timeout.ms", "300"), ("statistics.interval.ms", "50")], logger: Logger(label: "test.kafka"))
        try c.assign([TopicPartition("r", 0): 0])
        _ = Self.statistics("slow", polling: c) { $0.brokers.contains { $0.name.hasSuffix("/1") && $0.connects >= 1 } }
        try cluster.setRoundTripTime(broker: 1, milliseconds: 1000)
        // One statistics document shows the timeout, the disconnect it causes and the reconnect
        // after it (they arrive in separate documents on a loaded machine: wait for all three).
        let s = Self.statistics("slow", polling: c) {
            $0.brokers.contains { $0.requestTimeouts >= 1 && $0.disconnects >= 1 && $0.connects >= 2 }
        }
        let broker = try #require(s?.brokers.first { $0.requestTimeouts >= 1 })
        #expect(broker.name.hasSuffix("/1") && broker.disconnects >= 1 && broker.connects >= 2)
    }
}
