public import CreditConfig
import CreditEngine
import Foundation
public import Kafka
public import Logging
import Synchronization

/// Where hold requests made over HTTP (contract §15) enter the log: the events the HTTP routes
/// build are produced to the first input topic, keyed by the account, to the partition the
/// consumer's partitioner gives that key (`KeyPartitioner`), and the caller waits —
/// suspended, not blocking a thread — until the consuming loop has applied the event
/// (`HoldWaiters`).
///
/// The producer is its own (idempotent, acks=all), never the loop's output producer, whose
/// delivery reports belong to the consuming thread: librdkafka producers are thread-safe, so
/// every HTTP handler produces on its own thread, and a thread of the gateway's own serves the
/// delivery reports — a record the broker did not take resolves its request at once; one
/// reported delivered without an offset (see `DeliveryReport.unconfirmed`) is produced again:
/// the copy has the same `id`, so the ledger applies at most one of them.
public final class HoldGateway: Sendable {
    /// The `source` of the events the HTTP routes produce.
    public static let source = "credit-meter/http"

    public let waiters = HoldWaiters()
    /// The first of `kafka.input_topics`.
    public let topic: String
    /// `http.hold_timeout_ms`.
    public let timeout: Duration
    private let kafka: ServiceConfiguration.Kafka
    private let logger: Logger
    private let runner = Mutex<ProducerThread?>(nil)
    private let stopSignal = StopSignal()
    /// The input topic's partition count as the producer's metadata has it (0: not known yet).
    private let partitionCount = Atomic<Int32>(0)

    public init(config: ServiceConfiguration, logger: Logger) {
        kafka = config.kafka
        topic = config.kafka.inputTopics.first ?? "ai.usage"
        timeout = .milliseconds(config.http.holdTimeoutMs)
        self.logger = logger
    }

    // MARK: Lifecycle

    /// Connects the producer and starts the thread that serves its delivery reports and learns
    /// the input topic's partition count.
    public func start(bootstrap: String) throws {
        try runner.withLock { current in
            guard current == nil else { return }
            let waiters = self.waiters
            let unconfirmed = Locked<[(ProducedRecord, UInt64)]>([])
            let producer = try KafkaProducer(properties: KafkaSettings.holdProducer(kafka, bootstrap: bootstrap), logger: logger) { report in
                if let error = report.error {
                    waiters.resolve(tag: report.tag, .notDelivered(error.message))
                } else if let copy = report.unconfirmed {
                    unconfirmed.withLock { $0.append((copy, report.tag)) }
                }
            }
            let r = ProducerThread(producer: producer, topic: producer.topic(topic))
            current = r
            let thread = Thread { [self] in
                defer { r.finished.signal() }
                var nextLookup = ContinuousClock.now
                while !stopSignal.isRequested {
                    r.producer.poll(timeoutMs: 50)
                    for (copy, tag) in unconfirmed.withLock({ list in defer { list = [] }; return list }) {
                        do { try r.producer.produce(copy, tag: tag) } catch { waiters.resolve(tag: tag, .notDelivered("\(error)")) }
                    }
                    // Until known, then now and then (a topic's partitions can be added).
                    if ContinuousClock.now >= nextLookup {
                        let known = partitionCount.load(ordering: .acquiring) > 0
                        if let n = try? r.producer.partitionCounts([topic], timeoutMs: 5_000)[topic], n > 0 {
                            partitionCount.store(n, ordering: .releasing)
                        }
                        nextLookup = ContinuousClock.now + (known ? .seconds(30) : .milliseconds(200))
                    }
                }
            }
            thread.name = "credit-meter-holds"
            thread.start()
        }
    }

    /// Stops the thread and flushes what is still queued. Idempotent.
    public func stop() {
        guard let r = runner.withLock({ $0 }), !stopSignal.isRequested else { return }
        stopSignal.request()
        r.finished.wait()
        do { try r.producer.flush(timeoutMs: 5_000) } catch {
            logger.warning("hold requests not flushed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Requests

    /// The input partition an account's events go to; nil while the partition count is not
    /// known (the gateway has not started, or the metadata has not answered yet).
    public func partition(of account: String) -> TopicPartition? {
        let n = partitionCount.load(ordering: .acquiring)
        guard n > 0 else { return nil }
        return TopicPartition(topic, KeyPartitioner.partition(account: account, count: n))
    }

    /// Produces the event `value` (its `id` is `id`; its subject, and so its key, `account`) to
    /// `tp` and waits until the loop applies it, at the latest until `deadline`.
    public func submit(_ value: [UInt8], id: String, account: String, time: Int64, to tp: TopicPartition,
                       until deadline: ContinuousClock.Instant) async -> HoldWaiters.Outcome {
        guard let r = runner.withLock({ $0 }), !stopSignal.isRequested else { return .notDelivered("the hold producer is not running") }
        let tag = waiters.register(id, partition: tp)
        do {
            let key = Array(account.utf8)
            try key.withUnsafeBytes { k in
                try value.withUnsafeBytes { v in
                    // A full queue is a failed produce, answered at once (never a blocked thread).
                    try r.producer.produce(r.topic, partition: tp.partition, key: k, value: v, timestampMs: time / 1_000_000, tag: tag,
                                           waitWhenFull: false)
                }
            }
        } catch {
            waiters.cancel(id)
            return .notDelivered("\(error)")
        }
        return await waiters.wait(id, until: deadline)
    }
}
