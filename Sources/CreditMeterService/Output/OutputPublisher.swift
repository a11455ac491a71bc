import CreditConfig
import CreditEngine
import Foundation
import Kafka
import Logging

/// Proof that every record produced so far was acknowledged by the broker (acks=all): what a
/// snapshot capture requires (contract §8). Only `OutputPublisher.flush` makes one.
struct OutputsAcknowledged: ~Copyable {
    fileprivate init() {}
}

/// Produces what the engine decides — alerts, dead letters, account documents — and keeps
/// count of what the broker acknowledged. Delivery reports arrive on the consuming thread
/// (inside `poll`/`flush`), so no locking is needed.
final class OutputPublisher {
    final class Deliveries {
        var acknowledged: Int64 = 0
        var failed: Int64 = 0
        var firstFailure: KafkaError?
    }

    /// A record the broker did not take (the first one).
    struct DeliveryFailure: Error {
        let reason: String
    }

    let producer: KafkaProducer
    let deliveries: Deliveries
    let alerts: ProducerTopic
    let deadLetters: ProducerTopic
    let balances: ProducerTopic?
    /// Auto top-up requests (§12), flushed before a snapshot exactly like alerts.
    let requests: ProducerTopic

    init(kafka: ServiceConfiguration.Kafka, bootstrap: String, logger: Logger) throws(KafkaError) {
        let deliveries = Deliveries()
        self.deliveries = deliveries
        let producer = try KafkaProducer(properties: KafkaSettings.outputProducer(kafka, bootstrap: bootstrap), logger: logger) { report in
            if let error = report.error {
                deliveries.failed += 1
                if deliveries.firstFailure == nil { deliveries.firstFailure = error }
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

    /// Waits until every record produced so far is acknowledged; throws when one was not.
    func flush(timeoutMs: Int32) throws -> OutputsAcknowledged {
        try producer.flush(timeoutMs: timeoutMs)
        if let deliveryFailure { throw deliveryFailure }
        return OutputsAcknowledged()
    }

    func publish(_ request: TopupRequest) throws {
        var key = Array(request.account.utf8)
        let value = request.json()
        try key.withUnsafeMutableBytes { k in
            try value.withUnsafeBytes { v in
                try producer.produce(requests, key: UnsafeRawBufferPointer(k), value: v, timestampMs: nil)
            }
        }
    }

    func publish(_ alert: Alert) throws {
        var key = Array(alert.account.utf8)
        let value = alert.json()
        try key.withUnsafeMutableBytes { k in
            try value.withUnsafeBytes { v in
                try producer.produce(alerts, key: UnsafeRawBufferPointer(k), value: v, timestampMs: nil)
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
        try Self.withBuffers(all) { headers in
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

    private static func withBuffers(_ headers: [(String, [UInt8]?)],
                                    _ body: ([(String, UnsafeRawBufferPointer?)]) throws -> Void) throws {
        // One contiguous buffer for every value (plus a sentinel byte so that an empty value
        // still has an address and stays empty rather than null). librdkafka copies them.
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
        try flat.withUnsafeBytes { raw in
            let views = ranges.map { ($0.0, $0.1.map { UnsafeRawBufferPointer(rebasing: raw[$0]) }) }
            try body(views)
        }
    }
}
