import Crdkafka
public import Logging

/// The outcome of one produced record, reported on the thread that calls `poll`/`flush`.
public struct DeliveryReport: Sendable {
    /// The caller's tag given to `produce`.
    public var tag: UInt64
    public var error: KafkaError?
    public var partition: Int32
    public var offset: Int64
}

/// A topic handle for producing, cached by the producer.
public struct ProducerTopic: @unchecked Sendable {
    let rkt: OpaquePointer
    public let name: String
}

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
        let context = ClientContext(logger: logger)
        context.delivery = onDelivery
        client = try RDKafkaClient(type: RD_KAFKA_PRODUCER, properties: defaults + properties, context: context) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let ctx = ClientContext.from(opaque) else { return }
                let m = message.pointee
                let error: KafkaError? = m.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(m.err)
                let tag = UInt64(UInt(bitPattern: m._private))
                ctx.delivery?(DeliveryReport(tag: tag, error: error, partition: m.partition, offset: m.offset))
            }
        }
    }

    deinit {
        for t in topics.values { rd_kafka_topic_destroy(t.rkt) }
    }

    public var fatalError: KafkaError? { client.fatalError }

    public func topic(_ name: String) -> ProducerTopic {
        if let t = topics[name] { return t }
        let t = ProducerTopic(rkt: rd_kafka_topic_new(client.handle, name, nil), name: name)
        topics[name] = t
        return t
    }

    /// Queues one record. Waits (serving delivery reports) while librdkafka's queue is full.
    /// `partition` nil lets the partitioner choose from the key.
    public func produce(_ topic: ProducerTopic, partition: Int32? = nil, key: UnsafeRawBufferPointer?,
                        value: UnsafeRawBufferPointer?, headers: [(String, UnsafeRawBufferPointer?)] = [],
                        timestampMs: Int64? = nil, tag: UInt64 = 0) throws(KafkaError) {
        while true {
            var hdrs: OpaquePointer?
            if !headers.isEmpty {
                hdrs = rd_kafka_headers_new(headers.count)
                for (name, v) in headers {
                    _ = rd_kafka_header_add(hdrs, name, -1, v?.baseAddress, v?.count ?? 0)
                }
            }
            var vus = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 8)
            var n = 0
            vus[n].vtype = RD_KAFKA_VTYPE_RKT; vus[n].u.rkt = topic.rkt; n += 1
            vus[n].vtype = RD_KAFKA_VTYPE_PARTITION; vus[n].u.i32 = partition ?? RD_KAFKA_PARTITION_UA; n += 1
            vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[n].u.i = RD_KAFKA_MSG_F_COPY; n += 1
            if let key {
                vus[n].vtype = RD_KAFKA_VTYPE_KEY
                vus[n].u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                vus[n].u.mem.size = key.count
                n += 1
            }
            if let value {
                vus[n].vtype = RD_KAFKA_VTYPE_VALUE
                vus[n].u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                vus[n].u.mem.size = value.count
                n += 1
            }
            if let hdrs { vus[n].vtype = RD_KAFKA_VTYPE_HEADERS; vus[n].u.headers = hdrs; n += 1 }
            if let timestampMs { vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP; vus[n].u.i64 = timestampMs; n += 1 }
            vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE; vus[n].u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(tag)); n += 1
            let error = rd_kafka_produceva(client.handle, &vus, n)
            guard let error else { return }  // headers now belong to librdkafka
            if let hdrs { rd_kafka_headers_destroy(hdrs) }
            let kafkaError = KafkaError(error: error, context: "produce to \(topic.name)")
            if kafkaError.isQueueFull {
                rd_kafka_poll(client.handle, 10)
                continue
            }
            throw kafkaError
        }
    }

    /// Serves delivery reports; returns how many events were served.
    @discardableResult
    public func poll(timeoutMs: Int32 = 0) -> Int { Int(rd_kafka_poll(client.handle, timeoutMs)) }

    /// Records queued or in flight (not yet acknowledged).
    public var outstanding: Int { Int(rd_kafka_outq_len(client.handle)) }

    /// Waits until every queued record is acknowledged (or failed), serving delivery reports.
    public func flush(timeoutMs: Int32) throws(KafkaError) {
        let err = rd_kafka_flush(client.handle, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "flush") }
    }

    public func partitionCounts(_ topics: [String], timeoutMs: Int32 = 10_000) throws(KafkaError) -> [String: Int32] {
        try client.partitionCounts(topics, timeoutMs: timeoutMs)
    }
}
