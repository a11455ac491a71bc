import CreditConfig
import CreditEngine
import Foundation
import Kafka
import Logging

/// Proof that every record produced so far was acknowledged by the broker (acks=all) with the
/// offset it was written at, or replaced by one that was: what a snapshot capture requires
/// (contract §8). Only `OutputPublisher.flush` makes one.
struct OutputsAcknowledged: ~Copyable {
    fileprivate init() {}
}

/// Produces what the engine decides — alerts, dead letters, account documents, and the hold
/// expiries the loop writes to the input (§15) — and keeps count of what the broker
/// acknowledged. Delivery reports arrive on the consuming thread (inside `poll`/`flush`), so
/// no locking is needed.
///
/// A record counts as acknowledged only when the broker's answer to its own request gave its
/// offset. librdkafka's idempotent producer also reports records delivered implicitly — those
/// of a failed request, once a later request of the same partition succeeded — trusting the
/// broker to have refused the later one had the earlier not been written. A broker that does
/// not check producer sequence numbers (librdkafka's mock cluster, which the development broker
/// and the tests use) accepts the later request anyway, and the earlier records are lost although
/// reported delivered. Such records are produced again (`produceUnconfirmedAgain`) before any
/// snapshot may cover them: at least once, every copy identical.
final class OutputPublisher {
    final class Deliveries {
        var acknowledged: Int64 = 0
        var failed: Int64 = 0
        var firstFailure: KafkaError?
        /// Reported delivered without an offset, in report order: to produce again.
        var unconfirmed: [ProducedRecord] = []
        /// Reports of tagged records (hold expiries, §15), in report order, for their producer
        /// (`HoldExpiryPass`): none of them counts above — such a record is produced again by the
        /// next pass if it is lost, so its failure stops nothing.
        var tagged: [DeliveryReport] = []
    }

    /// A record the broker did not take (the first one).
    struct DeliveryFailure: Error {
        let reason: String
    }

    let producer: KafkaProducer
    let deliveries: Deliveries
    private let logger: Logger
    let alerts: ProducerTopic
    let deadLetters: ProducerTopic
    let balances: ProducerTopic?
    /// Auto top-up requests (§12), flushed before a snapshot exactly like alerts.
    let requests: ProducerTopic

    init(kafka: ServiceConfiguration.Kafka, bootstrap: String, logger: Logger) throws(KafkaError) {
        let deliveries = Deliveries()
        self.deliveries = deliveries
        self.logger = logger
        let producer = try KafkaProducer(properties: KafkaSettings.outputProducer(kafka, bootstrap: bootstrap), logger: logger) { report in
            if report.tag != 0 {
                deliveries.tagged.append(report)
            } else if let error = report.error {
                deliveries.failed += 1
                if deliveries.firstFailure == nil { deliveries.firstFailure = error }
            } else if let copy = report.unconfirmed {
                deliveries.unconfirmed.append(copy)
            } else {
                deliveries.acknowledged += 1
            }
        }
        self.producer = producer
        alerts = producer.topic(kafka.alertsTopic)
        deadLetters = producer.topic(kafka.deadLetterTopic)
        balances = kafka.balancesTopic.map { producer.topic($0) }
        requests = producer.topic(kafka.requestsTopic)
    }

    /// The first delivery that failed, if any.
    var deliveryFailure: DeliveryFailure? {
        deliveries.failed > 0 ? DeliveryFailure(reason: deliveries.firstFailure?.message ?? "unknown") : nil
    }

    /// Waits until every record produced so far is acknowledged with its offset, producing
    /// again (and waiting for) what was reported delivered without one; throws when a record
    /// was not delivered. `republish` is given the key of each such balances document.
    func flush(timeoutMs: Int32, republish: (_ account: [UInt8]) throws -> Void) throws -> OutputsAcknowledged {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        repeat {
            let left = max(0, (deadline - ContinuousClock.now).milliseconds)
            try producer.flush(timeoutMs: Int32(clamping: left))
            if let deliveryFailure { throw deliveryFailure }
        } while try produceUnconfirmedAgain(republish: republish)
        return OutputsAcknowledged()
    }

    /// Produces again the records reported delivered without an offset: a copy of each alert,
    /// dead letter and request (to the same partition); for a balances document, `republish`
    /// with its key — the account's current document replaces it, since a copy could land
    /// after a newer one and leave the topic's last record for the account stale. Returns
    /// whether there were any.
    func produceUnconfirmedAgain(republish: (_ account: [UInt8]) throws -> Void) throws -> Bool {
        guard !deliveries.unconfirmed.isEmpty else { return false }
        let records = deliveries.unconfirmed
        deliveries.unconfirmed.removeAll()
        logger.warning("records reported delivered without an offset (implicitly acknowledged); producing them again",
                       metadata: ["count": "\(records.count)", "topics": "\(Set(records.map(\.topic)).sorted())"])
        for record in records {
            if let balances, record.topic == balances.name {
                try republish(record.key ?? [])
            } else {
                try producer.produce(record)
            }
        }
        return true
    }

    func publish(_ request: TopupRequest) throws {
        try produce(requests, key: request.account, value: request.json())
    }

    func publish(_ alert: Alert) throws {
        try produce(alerts, key: alert.account, value: alert.json())
    }

    /// A hold expiry (§15) into the input partition that holds the hold (its account's), keyed
    /// by the account, with the wall-clock time it is produced at as the record's timestamp
    /// (`expires_at`, the event's time, is not after it). `tag` (not 0) sends its delivery
    /// report to `Deliveries.tagged`.
    func publish(_ expiry: HoldExpiry, to tp: TopicPartition, tag: UInt64, timestampMs: Int64) throws {
        try produce(producer.topic(tp.topic), partition: tp.partition, key: expiry.account, value: expiry.json(),
                    timestampMs: timestampMs, tag: tag)
    }

    /// One CloudEvent keyed by its account.
    private func produce(_ topic: ProducerTopic, partition: Int32? = nil, key: String, value: [UInt8], timestampMs: Int64? = nil,
                         tag: UInt64 = 0) throws {
        var key = Array(key.utf8)
        try key.withUnsafeMutableBytes { k in
            try value.withUnsafeBytes { v in
                try producer.produce(topic, partition: partition, key: UnsafeRawBufferPointer(k), value: v, timestampMs: timestampMs,
                                     tag: tag)
            }
        }
    }

    /// Values larger than this are dead-lettered without the value (brokers refuse records over
    /// ~1 MB by default: producing it would fail, stop the service, and fail again on restart).
    static let maxDeadLetterValue = 900_000

    /// The original record, unchanged, plus `error`, `source-topic`, `source-partition`,
    /// `source-offset` (and `original-value-bytes` when the value is too large to carry).
    func deadLetter(_ m: KafkaMessage, reason: String) throws {
        var original = m.headers
        original.removeAll { ["error", "source-topic", "source-partition", "source-offset", "original-value-bytes"].contains($0.0) }
        var extra: [(String, [UInt8]?)] = [("error", Array(reason.utf8)), ("source-topic", Array(m.topic.utf8)),
                                           ("source-partition", Array(String(m.partition).utf8)),
                                           ("source-offset", Array(String(m.offset).utf8))]
        let tooLarge = m.value.count > Self.maxDeadLetterValue
        if tooLarge { extra.append(("original-value-bytes", Array(String(m.value.count).utf8))) }
        let all = original + extra
        try KafkaProducer.withHeaderBuffers(all) { headers in
            try producer.produce(deadLetters, key: m.key, value: tooLarge ? nil : m.value, headers: headers, timestampMs: m.timestampMs)
        }
    }

    /// Reused for every balances document (no allocation per record).
    private var documentBuffer: [UInt8] = []

    /// Publishes the balances document of `index`; the key is the account id.
    func publishBalance(_ ledger: PartitionLedger, _ index: Int) throws {
        guard let balances else { return }
        ledger.writeBalanceDocument(index, into: &documentBuffer)
        try ledger.ids.withBytes(of: index) { key in
            try documentBuffer.withUnsafeBytes { v in try producer.produce(balances, key: key, value: v) }
        }
    }
}
