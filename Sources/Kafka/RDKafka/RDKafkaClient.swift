import Crdkafka
package import Logging
import Synchronization

/// Owns one `rd_kafka_t`: creates it from properties, routes its log and error callbacks to
/// swift-log (through the redactor), keeps its statistics when `statistics.interval.ms` turns
/// them on (`RDKafkaStatistics`), and destroys it with this object — unless `leak()` was
/// called. The calls on the handle are in the `RDKafkaClient+…` extensions.
package final class RDKafkaClient {
    /// What the handle is for, with the callbacks that kind of client serves.
    package enum Kind {
        /// `onDelivery` is called once per produced record, on the thread that polls or flushes.
        case producer(onDelivery: ((DeliveryReport) -> Void)?)
        /// `onRebalance` (when given) runs on the polling thread before librdkafka applies an
        /// assignment or revocation; for an assignment it returns the offsets to start at.
        case consumer(onRebalance: ((RebalanceEvent) -> [TopicPartition: Int64])?)
    }

    package let handle: OpaquePointer
    let context: RDKafkaClientContext
    private let retainedContext: Unmanaged<RDKafkaClientContext>

    package init(_ kind: Kind, properties: [(String, String)], logger: Logger) throws(KafkaError) {
        let conf = try RDKafkaConfig.make(properties)
        let context: RDKafkaClientContext
        let type: rd_kafka_type_t
        let statistics = RDKafkaStatistics.slot(for: properties)
        switch kind {
        case .producer(let onDelivery):
            type = RD_KAFKA_PRODUCER
            context = RDKafkaClientContext(logger: logger, redact: Redactor(properties: properties), onDelivery: onDelivery,
                                           statistics: statistics)
            if onDelivery != nil { Self.installDeliveryCallback(conf) }
        case .consumer(let onRebalance):
            type = RD_KAFKA_CONSUMER
            context = RDKafkaClientContext(logger: logger, redact: Redactor(properties: properties), onRebalance: onRebalance,
                                           statistics: statistics)
            if onRebalance != nil { RDKafkaRebalance.installCallback(conf) }
        }
        if statistics != nil { RDKafkaStatistics.installCallback(conf) }
        let retained = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, retained.toOpaque())
        Self.installLogCallbacks(conf)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            retained.release()
            throw KafkaError(invalidArgument: context.redact(String(errorBuffer: errstr)))
        }
        self.handle = rk
        self.context = context
        self.retainedContext = retained
        // A consumer reads everything (records, rebalances, errors, statistics) through its consumer queue.
        if case .consumer = kind { rd_kafka_poll_set_consumer(rk) }
        statistics?.register()
    }

    deinit {
        context.statistics?.unregister()
        rd_kafka_destroy(handle)
        retainedContext.release()
    }

    /// Keeps this client — the handle and the context librdkafka's threads still use — alive
    /// for the rest of the process: the handle is never destroyed.
    func leak() {
        _ = Unmanaged.passRetained(self)
    }

    /// The first fatal error librdkafka reported, if any.
    var fatalError: KafkaError? { context.fatal.withLock { $0 } }

    /// librdkafka's version, e.g. "2.0.2", and as a number (0xMMmmrrxx).
    static var versionString: String { String(cString: rd_kafka_version_str()) }
    static var version: Int32 { rd_kafka_version() }

    private static func installLogCallbacks(_ conf: OpaquePointer) {
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let rk, let ctx = RDKafkaClientContext.from(rd_kafka_opaque(rk)) else { return }
            let text = ctx.redact(message.map { String(cString: $0) } ?? "")
            let fac = facility.map { String(cString: $0) } ?? ""
            let logLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
            ctx.logger.log(level: logLevel, "\(text)", metadata: ["kafka.facility": "\(fac)"])
        }
        rd_kafka_conf_set_error_cb(conf) { rk, err, reason, opaque in
            guard let ctx = RDKafkaClientContext.from(opaque) else { return }
            let text = ctx.redact(reason.map { String(cString: $0) } ?? "")
            if err == RD_KAFKA_RESP_ERR__FATAL.rawValue, let rk {
                var buffer = [CChar](repeating: 0, count: 512)
                let original = rd_kafka_fatal_error(rk, &buffer, buffer.count)
                let error = KafkaError(code: original.rawValue, message: ctx.redact("fatal Kafka error: \(String(errorBuffer: buffer))"))
                ctx.fatal.withLock { if $0 == nil { $0 = error } }
                ctx.logger.critical("\(error.message)")
            } else {
                // Transient: librdkafka retries on its own (broker down, transport errors …).
                ctx.logger.warning("\(text)", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(err))))"])
            }
        }
    }
}
