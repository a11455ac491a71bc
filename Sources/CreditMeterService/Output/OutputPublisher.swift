import CreditConfig
import CreditEngine
import Foundation
import Kafka
import Logging

/// Proof that every record the loop produced with a number below `below` (`OutputSequence`) was
/// acknowledged by the broker (acks=all) with the offset it was written at, or replaced by one
/// that was: what handing a snapshot capture to the writer requires (contract §8). Only
/// `OutputPublisher.flush` and `OutputPublisher.acknowledged(below:)` make one.
struct OutputsAcknowledged: ~Copyable {
    let below: UInt64
    fileprivate init(below: UInt64) { self.below = below }

    /// About no output at all: what a snapshot that captures nothing needs.
    static var nothing: OutputsAcknowledged { OutputsAcknowledged(below: 0) }
}

/// Produces what the engine decides — alerts, dead letters, account documents, and the hold
/// expiries the loop writes to the input (§15) — and keeps count of what the broker
/// acknowledged: every record but a hold expiry is numbered (`OutputSequence`), its delivery
/// report carries the number back, and the acknowledged watermark says below which number
/// everything is acknowledged. Hold expiries go to the input, which no snapshot waits for
/// (contract §8): they are counted apart, and their reports go to their producer. Delivery reports arrive on the consuming thread (inside `poll`/`flush`), so
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
        /// The first delivery report or flush that contradicted the numbering (a bug in the
        /// service or the client): recorded like a failed delivery — the service stops without
        /// a snapshot — instead of crashing inside librdkafka's delivery callback.
        var contradiction: String?
        /// The numbers of the records produced, and the acknowledged watermark.
        var sequence = OutputSequence()
        /// The hold expiries produced so far: each one's tag counts from here, not from `sequence`.
        var expiries: UInt64 = 0
        /// Reported delivered without an offset, in report order: to produce again, under the
        /// same number (the watermark stays below it until the copy is acknowledged).
        var unconfirmed: [DeliveryReport] = []
        /// Reports of hold expiries (§15), in report order, for their producer
        /// (`HoldExpiryPass`): none of them counts above — acknowledged, failed, or without an
        /// offset: such a record is produced again by the next pass if it is lost, so its
        /// failure stops nothing.
        var tagged: [DeliveryReport] = []

        /// Records an acknowledgement the numbering refutes (the first one is reported).
        func contradicted(_ c: OutputSequence.Contradiction) {
            if contradiction == nil { contradiction = "delivery reports contradict the output numbering: \(c)" }
        }

        /// No delivery failed and nothing contradicted the numbering.
        var intact: Bool { failed == 0 && contradiction == nil }
    }

    /// A record's delivery-report tag: its number (`OutputSequence`, or for a hold expiry its
    /// count in `Deliveries.expiries`) shifted left by one, bit 0 set for a hold expiry (whose
    /// report goes to `Deliveries.tagged`).
    static func tag(_ number: UInt64, expiry: Bool = false) -> UInt64 { number << 1 | (expiry ? 1 : 0) }
    static func number(ofTag tag: UInt64) -> UInt64 { tag >> 1 }

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
            if report.tag & 1 != 0 {
                deliveries.tagged.append(report)
            } else if let error = report.error {
                // Its number stays unacknowledged: no snapshot ever covers what caused it.
                deliveries.failed += 1
                if deliveries.firstFailure == nil { deliveries.firstFailure = error }
            } else if report.unconfirmed != nil {
                deliveries.unconfirmed.append(report)
            } else {
                deliveries.acknowledged += 1
                if let c = deliveries.sequence.acknowledge(Self.number(ofTag: report.tag)) { deliveries.contradicted(c) }
            }
        }
        self.producer = producer
        alerts = producer.topic(kafka.alertsTopic)
        deadLetters = producer.topic(kafka.deadLetterTopic)
        balances = kafka.balancesTopic.map { producer.topic($0) }
        requests = producer.topic(kafka.requestsTopic)
    }

    /// The first delivery that failed (or the numbering contradicted), if any.
    var deliveryFailure: DeliveryFailure? {
        if deliveries.failed > 0 { return DeliveryFailure(reason: deliveries.firstFailure?.message ?? "unknown") }
        return deliveries.contradiction.map { DeliveryFailure(reason: $0) }
    }

    /// The number the next record gets: every record produced so far is numbered below it.
    var produced: UInt64 { deliveries.sequence.next }

    /// Every record numbered below it is acknowledged.
    var watermark: UInt64 { deliveries.sequence.watermark }

    /// Proof that every record numbered below `n` is acknowledged; nil while one is not, or
    /// once any delivery failed (or the numbering was contradicted).
    func acknowledged(below n: UInt64) -> OutputsAcknowledged? {
        guard deliveries.intact, n <= deliveries.sequence.watermark else { return nil }
        return OutputsAcknowledged(below: n)
    }

    /// Waits until every record produced so far is acknowledged with its offset, producing
    /// again (and waiting for) what was reported delivered without one; throws when a record
    /// was not delivered. `republish` is given the key and tag of each such balances document.
    func flush(timeoutMs: Int32, republish: Republish) throws -> OutputsAcknowledged {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        repeat {
            let left = max(0, (deadline - ContinuousClock.now).milliseconds)
            try producer.flush(timeoutMs: Int32(clamping: left))
            if let deliveryFailure { throw deliveryFailure }
        } while try produceUnconfirmedAgain(republish: republish)
        let s = deliveries.sequence
        if s.watermark != s.next, deliveries.contradiction == nil {
            deliveries.contradiction = "flushed, yet outputs \(s.watermark)..<\(s.next) are not all acknowledged"
        }
        if let deliveryFailure { throw deliveryFailure }
        return OutputsAcknowledged(below: s.next)
    }

    /// Produces the current balances document of the account `account` names under `tag` (the
    /// number of the document it replaces); false when the account is not held here any more.
    typealias Republish = (_ account: [UInt8], _ tag: UInt64) throws -> Bool

    /// Produces again the records reported delivered without an offset, each under its own
    /// number: a copy of each alert, dead letter and request (to the same partition); for a
    /// balances document, `republish` with its key — the account's current document replaces
    /// it, since a copy could land after a newer one and leave the topic's last record for the
    /// account stale. A document of an account no longer held needs nothing more (the
    /// partition's next owner replays what its snapshot does not cover). Returns whether there
    /// were any.
    func produceUnconfirmedAgain(republish: Republish) throws -> Bool {
        guard !deliveries.unconfirmed.isEmpty else { return false }
        let reports = deliveries.unconfirmed
        deliveries.unconfirmed.removeAll()
        let records = reports.compactMap(\.unconfirmed)
        logger.warning("records reported delivered without an offset (implicitly acknowledged); producing them again",
                       metadata: ["count": "\(records.count)", "topics": "\(Set(records.map(\.topic)).sorted())"])
        for report in reports {
            guard let record = report.unconfirmed else { continue }
            if let balances, record.topic == balances.name {
                if try !republish(record.key ?? [], report.tag),
                   let c = deliveries.sequence.acknowledge(Self.number(ofTag: report.tag)) {
                    deliveries.contradicted(c)
                }
            } else {
                try producer.produce(record, tag: report.tag)
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
    /// (`expires_at`, the event's time, is not after it). Not numbered: no snapshot waits for
    /// it. Returns its tag: its delivery report goes to `Deliveries.tagged`.
    func publish(_ expiry: HoldExpiry, to tp: TopicPartition, timestampMs: Int64) throws -> UInt64 {
        deliveries.expiries += 1
        let tag = Self.tag(deliveries.expiries, expiry: true)
        try produce(producer.topic(tp.topic), partition: tp.partition, key: expiry.account, value: expiry.json(),
                    timestampMs: timestampMs, tag: tag)
        return tag
    }

    /// One CloudEvent keyed by its account, under the next number.
    private func produce(_ topic: ProducerTopic, key: String, value: [UInt8]) throws {
        try numbered { tag in try produce(topic, key: key, value: value, tag: tag) }
    }

    /// One CloudEvent keyed by its account, under `tag`.
    private func produce(_ topic: ProducerTopic, partition: Int32? = nil, key: String, value: [UInt8], timestampMs: Int64? = nil,
                         tag: UInt64) throws {
        var key = Array(key.utf8)
        try key.withUnsafeMutableBytes { k in
            try value.withUnsafeBytes { v in
                try producer.produce(topic, partition: partition, key: UnsafeRawBufferPointer(k), value: v, timestampMs: timestampMs,
                                     tag: tag)
            }
        }
    }

    /// Produces one record (`body`, given its tag) under the next number; a produce call that
    /// fails takes its number back.
    @inline(__always)
    private func numbered(_ body: (_ tag: UInt64) throws -> Void) throws {
        let n = deliveries.sequence.issue()
        do {
            try body(Self.tag(n))
        } catch {
            deliveries.sequence.retract(n)
            throw error
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
        try numbered { tag in
            try KafkaProducer.withHeaderBuffers(all) { headers in
                try producer.produce(deadLetters, key: m.key, value: tooLarge ? nil : m.value, headers: headers, timestampMs: m.timestampMs,
                                     tag: tag)
            }
        }
    }

    /// Reused for every balances document (no allocation per record).
    private var documentBuffer: [UInt8] = []

    /// Publishes the balances document of `index`; the key is the account id. `replacing`: the
    /// tag of a document reported delivered without an offset, whose number this one takes.
    func publishBalance(_ ledger: PartitionLedger, _ index: Int, replacing: UInt64? = nil) throws {
        guard let balances else { return }
        ledger.writeBalanceDocument(index, into: &documentBuffer)
        func produce(_ tag: UInt64) throws {
            try ledger.ids.withBytes(of: index) { key in
                try documentBuffer.withUnsafeBytes { v in try producer.produce(balances, key: key, value: v, tag: tag) }
            }
        }
        if let replacing { try produce(replacing) } else { try numbered(produce) }
    }
}
