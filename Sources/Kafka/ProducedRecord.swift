/// A copy of a produced record — topic, partition, key, value, headers, timestamp — that
/// `KafkaProducer.produce(_:)` produces again, to the same partition.
public struct ProducedRecord: Sendable {
    public let topic: String
    public let partition: Int32
    public let key: [UInt8]?
    /// Nil: the record had no value (not an empty one).
    public let value: [UInt8]?
    /// In order; a nil value is a null header.
    public let headers: [(String, [UInt8]?)]
    public let timestampMs: Int64?

    public init(topic: String, partition: Int32, key: [UInt8]?, value: [UInt8]?, headers: [(String, [UInt8]?)], timestampMs: Int64?) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMs = timestampMs
    }
}
