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

    /// Queues one record. Waits (serving delivery reports) while librdkafka's queue is full,
    /// unless `waitWhenFull` is false: then a full queue is thrown (`isQueueFull`) at once.
    /// `partition` nil lets the partitioner choose from the key.
    public func produce(_ topic: ProducerTopic, partition: Int32? = nil, key: UnsafeRawBufferPointer?,
                        value: UnsafeRawBufferPointer?, headers: [(String, UnsafeRawBufferPointer?)] = [],
                        timestampMs: Int64? = nil, tag: UInt64 = 0, waitWhenFull: Bool = true) throws(KafkaError) {
        while true {
            do {
                return try client.produce(topic, partition: partition, key: key, value: value, headers: headers,
                                          timestampMs: timestampMs, tag: tag)
            } catch let error where error.isQueueFull && waitWhenFull {
                _ = client.poll(timeoutMs: 10)
            }
        }
    }

    /// Produces a copy of a record again (a report's `unconfirmed`), to its topic and partition;
    /// `tag` comes back in the copy's delivery report.
    public func produce(_ record: ProducedRecord, tag: UInt64 = 0) throws(KafkaError) {
        let topic = topic(record.topic)
        var failure: KafkaError?
        Self.withHeaderBuffers(record.headers) { headers in
            Self.withOptionalBytes(record.key) { key in
                Self.withOptionalBytes(record.value) { value in
                    do throws(KafkaError) {
                        try produce(topic, partition: record.partition, key: key, value: value, headers: headers,
                                    timestampMs: record.timestampMs, tag: tag)
                    } catch {
                        failure = error
                    }
                }
            }
        }
        if let failure { throw failure }
    }

    /// Lends `headers` as the buffers `produce` takes: one contiguous buffer for every value,
    /// plus a sentinel byte so that an empty value still has an address and stays empty rather
    /// than null. librdkafka copies them.
    public static func withHeaderBuffers<R>(_ headers: [(String, [UInt8]?)],
                                            _ body: ([(String, UnsafeRawBufferPointer?)]) throws -> R) rethrows -> R {
        var flat: [UInt8] = []
        var ranges: [(String, Range<Int>?)] = []
        for (name, value) in headers {
            if let value {
                let start = flat.count
                flat.append(contentsOf: value)
                ranges.append((name, start..<flat.count))
            } else {
                ranges.append((name, nil))
            }
        }
        flat.append(0)
        return try flat.withUnsafeBytes { raw in
            try body(ranges.map { ($0.0, $0.1.map { UnsafeRawBufferPointer(rebasing: raw[$0]) }) })
        }
    }

    /// nil stays nil; an empty array stays empty, not null (the sentinel byte gives it an address).
    private static func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
        guard var bytes else { return body(nil) }
        let count = bytes.count
        bytes.append(0)
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
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
