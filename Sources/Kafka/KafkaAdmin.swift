public import Logging

/// Topic administration over the wire (CreateTopics). Brokers that do not serve it (the
/// mock cluster) make `createTopics` throw a timeout; callers fall back to the mock's API
/// or to broker auto-creation.
public final class KafkaAdmin: @unchecked Sendable {
    let client: RDKafkaClient

    public init(properties: [(String, String)], logger: Logger) throws(KafkaError) {
        client = try RDKafkaClient(.producer(onDelivery: nil), properties: properties, logger: logger)
    }

    /// A topic to create, with replication factor 1.
    public struct NewTopic: Sendable {
        public var name: String
        public var partitions: Int32
        public init(name: String, partitions: Int32) {
            self.name = name
            self.partitions = partitions
        }
    }

    /// Creates topics; an existing topic is not an error. Returns the names created.
    @discardableResult
    public func createTopics(_ topics: [NewTopic], timeoutMs: Int32 = 10_000) throws(KafkaError) -> [String] {
        try client.createTopics(topics.map { ($0.name, $0.partitions) }, timeoutMs: timeoutMs)
    }
}
