import CreditMeterService
import Foundation
import Kafka
import KafkaMockCluster
import Logging
import Synchronization
import Testing

/// Account → partition exactly as Java's default partitioner and librdkafka's murmur2_random.
@Suite struct KeyPartitionerTests {
    /// Kafka's own vectors (`UtilsTest.testMurmur2`) and those other clients copied from
    /// Kafka's `Utils.murmur2` (signed, as Java returns them).
    @Test(arguments: [
        ("21", -973_932_308), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107), ("1", -1_993_445_489), ("12", 126_087_238), ("123", -267_702_483),
        ("1234", -1_614_185_708), ("12345", -1_188_365_604),
    ] as [(String, Int32)])
    func murmur2MatchesJava(_ key: String, _ expected: Int32) {
        #expect(KeyPartitioner.murmur2(key.utf8) == expected)
    }

    /// toPositive (`& 0x7fffffff`), then modulo the partition count.
    @Test func partitionsAreToPositiveModuloCount() {
        #expect(KeyPartitioner.partition(account: "21", count: 4) == 0)
        #expect(KeyPartitioner.partition(account: "foobar", count: 4) == 2)
        #expect(KeyPartitioner.partition(account: "foobar", count: 12) == 6)
        #expect(KeyPartitioner.partition(account: "a-little-bit-longer-string", count: 12) == 11)
        #expect(KeyPartitioner.partition(account: "abc", count: 1) == 0)
        #expect(KeyPartitioner.partition(account: "acct-1", count: 4) == 2)
    }

    /// The real cross-check: librdkafka's murmur2_random partitioner (what every producer here
    /// uses) puts each keyed record where `KeyPartitioner` says.
    @Test(.timeLimit(.minutes(1))) func agreesWithLibrdkafka() throws {
        var logger = Logger(label: "test.partitioner")
        logger.logLevel = .critical
        let cluster = try MockCluster(brokers: 1, logger: logger)
        try cluster.createTopic("keys", partitions: 7)
        let keys = (0..<200).map { i in i % 3 == 0 ? "acct-\(i)" : i % 3 == 1 ? "tenant/\(i)/é" : String(repeating: "k", count: i % 9 + 1) + "\(i)" }
        let placed = Mutex<[UInt64: Int32]>([:])
        let producer = try KafkaProducer(properties: [("bootstrap.servers", cluster.bootstrapServers)], logger: logger) { report in
            if report.error == nil { placed.withLock { $0[report.tag] = report.partition } }
        }
        for (i, key) in keys.enumerated() {
            try Array(key.utf8).withUnsafeBytes { k in
                try [UInt8(ascii: "x")].withUnsafeBytes { v in try producer.produce(producer.topic("keys"), key: k, value: v, tag: UInt64(i)) }
            }
        }
        try producer.flush(timeoutMs: 20_000)
        let got = placed.withLock { $0 }
        #expect(got.count == keys.count)
        for (i, key) in keys.enumerated() {
            #expect(got[UInt64(i)] == KeyPartitioner.partition(account: key, count: 7), "\(key)")
        }
    }
}

@Suite struct OwnershipFormatTests {
    @Test func keysAndValues() {
        #expect(OwnershipDirectory.key(TopicPartition("ai.usage", 3)) == "owner/ai.usage/3")
        #expect(OwnershipDirectory.parseKey("owner/ai.usage/3") == TopicPartition("ai.usage", 3))
        #expect(OwnershipDirectory.parseKey("owner/a/b/12") == TopicPartition("a/b", 12))
        for bad in ["owner/ai.usage/", "owner//3", "owner/ai.usage/-1", "owner/ai.usage/1x", "chunk/ai.usage/3", "owner/"] {
            #expect(OwnershipDirectory.parseKey(bad) == nil, "\(bad)")
        }
        let announced = OwnershipDirectory.value(url: "http://10.0.0.9:8080", instance: "h-1-ff", timeMillis: 42)
        #expect(String(decoding: announced, as: UTF8.self) == #"{"url":"http://10.0.0.9:8080","instance":"h-1-ff","time":42}"#)
        let released = OwnershipDirectory.value(url: nil, instance: "h-1-ff", timeMillis: 43)
        #expect(String(decoding: released, as: UTF8.self) == #"{"url":null,"instance":"h-1-ff","time":43}"#)
        #expect(OwnershipDirectory.parseValue(announced) == .init(url: "http://10.0.0.9:8080", instance: "h-1-ff", timeMillis: 42))
        #expect(OwnershipDirectory.parseValue(released) == .init(url: nil, instance: "h-1-ff", timeMillis: 43))
        #expect(OwnershipDirectory.parseValue(Array("not json".utf8)) == nil)
        #expect(OwnershipDirectory.parseValue(Array(#"{"instance":"x"}"#.utf8)) == nil)  // no url at all
    }
}
