import Foundation
import Kafka
import CreditMeterService
import Logging

/// Reads a whole topic (every partition, from the beginning) with its own consumer, outside
/// any group — how the demo and the tests read back alerts and dead letters.
final class TopicReader: @unchecked Sendable {
    struct Record: Sendable {
        var partition: Int32
        var offset: Int64
        var key: String?
        var value: [UInt8]
        var headers: [String: String]
    }

    let topic: String
    let bootstrap: String
    let logger: Logger
    private let stopSignal = StopSignal()
    private let seen = Locked<(count: Int, ids: Set<String>)>((0, []))
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    init(topic: String, bootstrap: String, logger: Logger) {
        self.topic = topic
        self.bootstrap = bootstrap
        self.logger = logger
    }

    var count: Int { seen.value.count }
    var distinctIDs: Int { seen.value.ids.count }

    /// Starts following the topic on a thread; `body` gets each value.
    func start(_ body: @escaping @Sendable ([UInt8]) -> Void) {
        let t = Thread { [self] in
            defer { done.signal() }
            do {
                let consumer = try Self.consumer(topic: topic, bootstrap: bootstrap, logger: logger)
                while !stopSignal.isRequested {
                    consumer.poll(timeoutMs: 100) { m in
                        guard m.error == nil else { return }
                        let value = Array(m.value)
                        let id = Self.cloudEventID(value)
                        seen.withLock { $0.count += 1; if let id { $0.ids.insert(id) } }
                        body(value)
                    }
                }
            } catch {
                logger.error("reader failed", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }
        t.name = "reader-\(topic)"
        thread = t
        t.start()
    }

    func stop() {
        stopSignal.request()
        if thread != nil { done.wait() }
    }

    static func consumer(topic: String, bootstrap: String, logger: Logger) throws -> KafkaConsumer {
        let consumer = try KafkaConsumer(properties: [("bootstrap.servers", bootstrap), ("fetch.wait.max.ms", "20")], logger: logger)
        let n = try consumer.partitionCounts([topic])[topic] ?? 1
        var offsets: [TopicPartition: Int64] = [:]
        for p in 0..<n { offsets[TopicPartition(topic, p)] = KafkaOffset.beginning }
        try consumer.assign(offsets)
        return consumer
    }

    /// Everything in the topic now (up to the high watermarks).
    static func readAll(topic: String, bootstrap: String, logger: Logger, timeout: Duration = .seconds(30)) -> [Record] {
        var out: [Record] = []
        do {
            let consumer = try consumer(topic: topic, bootstrap: bootstrap, logger: logger)
            let n = try consumer.partitionCounts([topic])[topic] ?? 1
            var remaining: [Int32: Int64] = [:]
            for p in 0..<n {
                let w = try consumer.watermarks(TopicPartition(topic, p))
                if w.high > w.low { remaining[p] = w.high }
            }
            let deadline = ContinuousClock.now + timeout
            while !remaining.isEmpty && ContinuousClock.now < deadline {
                consumer.poll(timeoutMs: 100) { m in
                    guard m.error == nil else { return }
                    var headers: [String: String] = [:]
                    for (k, v) in m.headers { headers[k] = v.map { String(decoding: $0, as: UTF8.self) } }
                    out.append(Record(partition: m.partition, offset: m.offset, key: m.key.map { String(decoding: $0, as: UTF8.self) },
                                      value: Array(m.value), headers: headers))
                    if let high = remaining[m.partition], m.offset + 1 >= high { remaining[m.partition] = nil }
                }
            }
        } catch {
            logger.error("reading \(topic) failed: \(error)")
        }
        return out
    }

    static func cloudEventID(_ value: [UInt8]) -> String? {
        let text = String(decoding: value.prefix(600), as: UTF8.self)
        guard let r = text.range(of: "\"id\":\"") else { return nil }
        return String(text[r.upperBound...].prefix { $0 != "\"" })
    }
}
