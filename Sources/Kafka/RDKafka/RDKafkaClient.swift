import Crdkafka
import Logging
import Synchronization

/// Builds an `rd_kafka_conf_t` from key/value properties; errors carry librdkafka's text.
enum RDKafkaConfig {
    static func make(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var buffer = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &buffer, buffer.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let redactor = Redactor(properties: properties)
                let shown = Redactor.isSensitive(key) ? text.replacing(value, with: Redactor.mask) : text
                throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, message: redactor("Kafka property \(key): \(shown)"))
            }
        }
        return conf
    }
}

/// State shared with librdkafka's C callbacks through the client's opaque pointer. Lives
/// until after `rd_kafka_destroy` returns.
final class ClientContext: @unchecked Sendable {
    let logger: Logger
    /// Masks secrets (sasl.password, JAAS, tokens …) in everything librdkafka says.
    var redact = Redactor.none
    /// The first fatal error librdkafka reported (e.g. an idempotent producer that can no
    /// longer guarantee ordering); callers check it and stop.
    let fatal = Mutex<KafkaError?>(nil)
    var rebalance: ((RebalanceEvent) -> Void)?
    var delivery: ((DeliveryReport) -> Void)?
    /// Offsets the rebalance hook chose for the partitions being assigned.
    var pendingOffsets: (() -> [TopicPartition: Int64])?

    init(logger: Logger) { self.logger = logger }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> ClientContext? {
        opaque.map { Unmanaged<ClientContext>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// Owns one `rd_kafka_t` and routes its log and error callbacks to swift-log.
final class RDKafkaClient {
    let handle: OpaquePointer
    let context: ClientContext
    private let retainedContext: Unmanaged<ClientContext>

    init(type: rd_kafka_type_t, properties: [(String, String)], context: ClientContext,
         configure: (OpaquePointer) -> Void = { _ in }) throws(KafkaError) {
        let conf = try RDKafkaConfig.make(properties)
        context.redact = Redactor(properties: properties)
        let retained = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, retained.toOpaque())
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let ctx = ClientContext.from(rd_kafka_opaque(rk)) else { return }
            let text = ctx.redact(message.map { String(cString: $0) } ?? "")
            let fac = facility.map { String(cString: $0) } ?? ""
            let logLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
            ctx.logger.log(level: logLevel, "\(text)", metadata: ["kafka.facility": "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, opaque in
            guard let ctx = ClientContext.from(opaque) else { return }
            let text = ctx.redact(reason.map { String(cString: $0) } ?? "")
            if err == RD_KAFKA_RESP_ERR__FATAL.rawValue, let rk {
                var buffer = [CChar](repeating: 0, count: 512)
                let original = rd_kafka_fatal_error(rk, &buffer, buffer.count)
                let fatalText = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let error = KafkaError(code: original.rawValue, message: ctx.redact("fatal Kafka error: \(fatalText)"))
                ctx.fatal.withLock { if $0 == nil { $0 = error } }
                ctx.logger.critical("\(error.message)")
            } else {
                // Transient: librdkafka retries on its own (broker down, transport errors …).
                ctx.logger.warning("\(text)", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(err))))"])
            }
        }
        configure(conf)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            retained.release()
            let text = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, message: context.redact(text))
        }
        self.handle = rk
        self.context = context
        self.retainedContext = retained
    }

    /// Set when the handle must outlive this object (see `KafkaConsumer.abandon`): no destroy,
    /// and the context stays retained for librdkafka's threads.
    var leakOnDeinit = false

    deinit {
        if leakOnDeinit { return }
        rd_kafka_destroy(handle)
        retainedContext.release()
    }

    var fatalError: KafkaError? { context.fatal.withLock { $0 } }

    /// Number of partitions of each topic (metadata request).
    func partitionCounts(_ topics: [String], timeoutMs: Int32) throws(KafkaError) -> [String: Int32] {
        var out: [String: Int32] = [:]
        for topic in topics {
            let rkt = rd_kafka_topic_new(handle, topic, nil)
            defer { rd_kafka_topic_destroy(rkt) }
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let err = rd_kafka_metadata(handle, 0, rkt, &metadata, timeoutMs)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md = metadata else { throw KafkaError(err, context: "metadata for \(topic)") }
            defer { rd_kafka_metadata_destroy(md) }
            for i in 0..<Int(md.pointee.topic_cnt) {
                let t = md.pointee.topics[i]
                if t.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(t.err, context: "metadata for \(topic)") }
                out[String(cString: t.topic)] = t.partition_cnt
            }
        }
        return out
    }

    /// Low and high watermarks of a partition (asks the broker).
    func watermarks(_ tp: TopicPartition, timeoutMs: Int32) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, tp.topic, tp.partition, &low, &high, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "watermarks of \(tp)") }
        return (low, high)
    }

    /// Low and high watermarks as last seen in fetch responses (no request: never blocks);
    /// nil until a fetch for the partition has answered.
    func cachedWatermarks(_ tp: TopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle, tp.topic, tp.partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// For each partition, the earliest offset whose timestamp ≥ `timestampMs` (-1 / end when none).
    func offsetsForTimes(_ partitions: [TopicPartition], timestampMs: Int64, timeoutMs: Int32) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = RDKafkaTopicPartitionList(partitions.map { ($0, timestampMs) })
        let err = rd_kafka_offsets_for_times(handle, list.pointer, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "offsets for times") }
        var out: [TopicPartition: Int64] = [:]
        for (tp, offset, e) in list.entries {
            if e != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(e, context: "offsets for times of \(tp)") }
            out[tp] = offset
        }
        return out
    }
}
