public import Logging

/// An idempotent Kafka producer (`enable.idempotence=true`, hence `acks=all`) with a
/// delivery report per record. Payloads are copied by librdkafka, so callers may reuse
/// their buffers as soon as `produce` returns.
public final class KafkaProducer: @unchecked Sendable {
    let client: RDKafkaClient
    private var topics: [String: ProducerTopic] = [:]

    /// - Parameter properties: librdkafka properties, applied after CreditMeter's defaults
    ///   (idempotence on, `partitioner=murmur2_random`, small linger for low latency).
    public init(properties: [(String, String)], logger: Logger,
                onDelivery: @escaping (DeliveryReport) -> Void) throws(KafkaError) {
        let defaults: [(String, String)] = [
            ("enable.idempotence", "true"),
            ("partitioner", "murmur2_random"),
            ("linger.ms", "2"),
            ("socket.nagle.disable", "true"),
        ]
        client = try RDKafkaClient(.producer(onDelivery: onDelivery), properties: defaults + properties, logger: logger)
    }

    deinit {
        // Topic handles go before the client handle they belong to.
        for t in topics.values { client.destroyTopicHandle(t.handle) }
    }

    /// A fatal error librdkafka reported, if any.
    public var fatalError: KafkaError? { client.fatalError }

    public func topic(_ name: String) -> ProducerTopic {
        if let t = topics[name] { return t }
        let t = ProducerTopic(handle: client.newTopicHandle(name), name: name)
        topics[name] = t
        return t
    }

    /// Queues one record. Waits (serving delivery reports) while librdkafka's queue is full.
    /// `partition` nil lets the partitioner choose from the key.
    public func produce(_ topic: ProducerTopic, partition: Int32? = nil, key: UnsafeRawBufferPointer?,
                        value: UnsafeRawBufferPointer?, headers: [(String, UnsafeRawBufferPointer?)] = [],
                        timestampMs: Int64? = nil, tag: UInt64 = 0) throws(KafkaError) {
        while true {
            do {
                return try client.produce(topic, partition: partition, key: key, value: value, headers: headers,
                                          timestampMs: timestampMs, tag: tag)
            } catch let error where error.isQueueFull {
                _ = client.poll(timeoutMs: 10)
            }
        }
    }

    /// Serves delivery reports; returns how many events were served.
    @discardableResult
    public func poll(timeoutMs: Int32 = 0) -> Int { client.poll(timeoutMs: timeoutMs) }

    /// Records queued or in flight (not yet acknowledged).
    public var outstanding: Int { client.outstanding }

    /// Waits until every queued record is acknowledged (or failed), serving delivery reports.
    public func flush(timeoutMs: Int32) throws(KafkaError) {
        try client.flush(timeoutMs: timeoutMs)
    }

    public func partitionCounts(_ topics: [String], timeoutMs: Int32 = 10_000) throws(KafkaError) -> [String: Int32] {
        try client.partitionCounts(topics, timeoutMs: timeoutMs)
    }
}
