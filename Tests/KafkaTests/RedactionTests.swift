import Foundation
import Logging
import Testing
import Kafka
import KafkaMockCluster

/// Secrets given to librdkafka never appear in a log line or an error —
/// including librdkafka's own configuration dumps (`debug=conf`).
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RedactionTests {
    static let password = "S3cr3t-pa55word"
    static let jaasPassword = "jaas-Pa55"

    /// Collects every log line (message and metadata) a client emits.
    final class Capture: LogHandler, @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lock.lock(); defer { lock.unlock() }
            lines.append("\(event.level) \(event.message) \(event.metadata ?? [:])")
        }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    @Test func theRedactorMasksValuesJAASAndNamedPairs() {
        let r = Redactor(properties: [
            ("sasl.password", Self.password),
            ("sasl.jaas.config", #"org.apache.kafka.common.security.plain.PlainLoginModule required username="svc" password="\#(Self.jaasPassword)";"#),
            ("bootstrap.servers", "broker:9093"),
        ])
        #expect(r("auth failed for \(Self.password) at broker:9093") == "auth failed for [redacted] at broker:9093")
        #expect(!r("jaas: password=\"\(Self.jaasPassword)\"").contains(Self.jaasPassword))
        // Pairs with a sensitive name are masked even when the value was never configured here.
        #expect(Redactor.none("sasl.password = other-secret, client.id = x") == "sasl.password = [redacted], client.id = x")
        #expect(Redactor.none(#"{"ssl.key.password": "k3y", "acks": "all"}"#) == #"{"ssl.key.password": "[redacted]", "acks": "all"}"#)
        #expect(Redactor.none("http.token=abc123 ok") == "http.token=[redacted] ok")
        #expect(Redactor.none("input 12 tokens") == "input 12 tokens")
        #expect(Redactor.isSensitive("sasl.oauthbearer.client.secret"))
        #expect(Redactor.isSensitive("ssl.keystore.password"))
        #expect(!Redactor.isSensitive("bootstrap.servers"))
    }

    @Test func librdkafkaConfigDumpsAndErrorsCarryNoSecret() throws {
        let cluster = try MockCluster(brokers: 1)
        try cluster.createTopic("t", partitions: 1)
        let capture = Capture()
        let logger = Logger(label: "test.redaction") { _ in capture }
        let secretProperties: [(String, String)] = [
            ("bootstrap.servers", cluster.bootstrapServers),
            ("debug", "conf,security,broker,generic"),
            ("log_level", "7"),
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "svc"),
            ("sasl.password", Self.password),
            ("ssl.key.password", Self.password + "-key"),
        ]
        do {
            let producer = try KafkaProducer(properties: secretProperties, logger: logger) { _ in }
            var v = Array("x".utf8)
            v.withUnsafeMutableBytes { raw in
                try? producer.produce(producer.topic("t"), key: nil, value: UnsafeRawBufferPointer(raw), headers: [], tag: 1)
            }
            Thread.sleep(forTimeInterval: 1.5)  // SASL against the mock: handshakes and their failures are logged
            _ = producer
        }
        let lines = capture.all
        #expect(lines.count > 10, "librdkafka logged too little to prove anything: \(lines.count) lines")
        #expect(lines.contains { $0.contains("sasl.password") || $0.contains("SASL") || $0.contains("sasl") },
                "no SASL-related line was logged")
        let leaks = lines.filter { $0.contains(Self.password) }
        #expect(leaks.isEmpty, "secret in log lines: \(leaks.prefix(3))")

        // The configuration dump shows the property — masked.
        #expect(lines.contains { $0.contains("sasl.password") && $0.contains(Redactor.mask) },
                "no masked sasl.password line: \(lines.filter { $0.contains("sasl.password") }.prefix(2))")

        // A client that cannot be created: librdkafka's error text carries no secret either.
        #expect {
            _ = try KafkaProducer(properties: [("security.protocol", "ssl"), ("ssl.key.location", "/nonexistent/key.pem"),
                                               ("ssl.key.password", Self.password)], logger: logger) { _ in }
        } throws: { error in
            !"\(error)".contains(Self.password)
        }
    }
}
