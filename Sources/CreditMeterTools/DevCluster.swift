public import CreditConfig
public import KafkaMockCluster
public import Logging

/// A development Kafka cluster: librdkafka's in-process mock cluster with its topics created.
/// The one way every tool starts a broker of its own — `kafka.bootstrap_servers: embedded`,
/// the demo, the bench, `credit-meter dev-broker` and the tests' harness. It serves the real
/// Kafka wire protocol to any client (this process or another) while the value lives.
public final class DevCluster: Sendable {
    public struct Topic: Sendable, Equatable {
        public var name: String
        public var partitions: Int32
        public init(_ name: String, partitions: Int32) {
            self.name = name
            self.partitions = partitions
        }

        /// `NAME:PARTITIONS` (the partition count defaults to 4).
        public init?(parsing text: String) {
            let parts = text.split(separator: ":")
            guard let name = parts.first, let n = Int32(parts.count > 1 ? String(parts[1]) : "4"), n > 0 else { return nil }
            self.init(String(name), partitions: n)
        }
    }

    /// The mock cluster itself, for fault injection.
    public let cluster: MockCluster
    public let topics: [Topic]
    public var bootstrapServers: String { cluster.bootstrapServers }

    public init(brokers: Int32 = 1, topics: [Topic], logger: Logger) throws {
        cluster = try MockCluster(brokers: brokers, logger: logger)
        for t in topics { try cluster.createTopic(t.name, partitions: t.partitions) }
        self.topics = topics
    }

    /// The topics a service configuration names: its input topics with `inputPartitions`
    /// each; alerts, dead letters, top-up requests and balances (when configured) with
    /// `outputPartitions`; plus `extra`.
    public static func topics(for kafka: ServiceConfiguration.Kafka, inputPartitions: Int32, outputPartitions: Int32,
                              extra: [Topic] = []) -> [Topic] {
        kafka.inputTopics.map { Topic($0, partitions: inputPartitions) }
            + ([kafka.alertsTopic, kafka.deadLetterTopic, kafka.requestsTopic] + (kafka.balancesTopic.map { [$0] } ?? []))
                .map { Topic($0, partitions: outputPartitions) }
            // The state topic (§13): one state partition per input partition.
            + (kafka.stateTopic.map { [Topic($0, partitions: inputPartitions)] } ?? [])
            + extra
    }

    /// A cluster for `kafka`'s topics (see `topics(for:…)`).
    public convenience init(for kafka: ServiceConfiguration.Kafka, inputPartitions: Int32, outputPartitions: Int32,
                            extra: [Topic] = [], logger: Logger) throws {
        try self.init(topics: Self.topics(for: kafka, inputPartitions: inputPartitions, outputPartitions: outputPartitions, extra: extra),
                      logger: logger)
    }

    /// Runs one fault command (`down 1`, `errors Fetch 7` …; see `MockCluster.perform`) and
    /// returns its one-line answer.
    public func perform(_ command: String) -> String {
        cluster.perform(command)
    }
}
