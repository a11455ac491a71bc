import Logging
import Synchronization

/// What librdkafka's C callbacks need, reached through the client's opaque pointer: they run
/// on librdkafka's threads or inside a poll, and cannot capture Swift state. Lives until
/// after `rd_kafka_destroy` returns.
final class RDKafkaClientContext: @unchecked Sendable {
    let logger: Logger
    /// Masks secrets (sasl.password, JAAS, tokens …) in everything librdkafka says.
    let redact: Redactor
    /// The first fatal error librdkafka reported (e.g. an idempotent producer that can no
    /// longer guarantee ordering); callers check it and stop.
    let fatal = Mutex<KafkaError?>(nil)
    let onRebalance: ((RebalanceEvent) -> [TopicPartition: Int64])?
    let onDelivery: ((DeliveryReport) -> Void)?
    /// Where the stats callback keeps the latest statistics (nil: statistics are off).
    let statistics: RDKafkaStatistics?

    init(logger: Logger, redact: Redactor, onRebalance: ((RebalanceEvent) -> [TopicPartition: Int64])? = nil,
         onDelivery: ((DeliveryReport) -> Void)? = nil, statistics: RDKafkaStatistics? = nil) {
        self.logger = logger
        self.redact = redact
        self.onRebalance = onRebalance
        self.onDelivery = onDelivery
        self.statistics = statistics
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaClientContext? {
        opaque.map { Unmanaged<RDKafkaClientContext>.fromOpaque($0).takeUnretainedValue() }
    }
}
