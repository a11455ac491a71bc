public import CreditConfig
import CreditEngine
import Foundation
public import Kafka
public import Logging
import Synchronization

/// Which instance owns which input partition (contract §13), so that §11's redirects can find
/// an account's owner. Kept on the state topic, partition 0, next to the partition state:
///
/// - key `owner/<input topic>/<partition>`, value compact JSON
///   `{"url":<http.advertised_url or null>,"instance":"<host>-<pid>-<random>","time":<ms>}`;
/// - an instance announces each partition it gains once its state is restored, and writes the
///   same key with `"url":null` when the partition is revoked (not when it is lost: the next
///   owner's announcement replaces it);
/// - every instance tails partition 0 from the beginning on a thread of its own and keeps the
///   latest owner per input partition. Records with other keys (state chunks) are skipped
///   without decoding.
///
/// Announcements use a producer of their own (idempotent, acks=all), never the loop's output
/// producer, whose delivery callbacks belong to the consuming thread. The table is advisory:
/// a failure to announce is logged, never fatal to consumption.
public final class OwnershipDirectory: Sendable {
    /// What the state topic last said about one input partition.
    public struct Owner: Sendable, Equatable {
        /// The owner's `http.advertised_url`; nil when it has none, or the partition was released.
        public var url: String?
        /// The announcing instance (`<host>-<pid>-<random>`).
        public var instance: String
        /// When it was announced (ms since the epoch, the announcer's clock).
        public var timeMillis: Int64

        public init(url: String?, instance: String, timeMillis: Int64) {
            self.url = url
            self.instance = instance
            self.timeMillis = timeMillis
        }
    }

    public static let keyPrefix = "owner/"

    public let stateTopic: String
    /// The topic whose partitions redirects are computed for: the first input topic (records
    /// of every input topic are keyed by account, but one account may only be looked up in one).
    public let inputTopic: String
    public let advertisedURL: String?
    /// This instance in announcements.
    public let instance: String
    private let kafka: ServiceConfiguration.Kafka
    private let logger: Logger
    /// Stamps announcements (ms since 1970, the announcer's clock).
    private let wallClock: WallClock

    private struct Table {
        var owners: [TopicPartition: Owner] = [:]
        var partitionCount: Int32?
        var recordsRead = 0
        var recordsSkipped = 0
    }

    private let table = Mutex(Table())
    private let runner = Mutex<ProducerThread?>(nil)
    private let stopSignal = StopSignal()
    private let deliveryFailures = Locked<Int>(0)

    /// The directory of a service configuration; nil without `kafka.state_topic` (one instance:
    /// no redirects).
    public convenience init?(config: ServiceConfiguration, logger: Logger, wallClock: @escaping WallClock = systemWallClock) {
        guard let stateTopic = config.kafka.stateTopic, let input = config.kafka.inputTopics.first else { return nil }
        self.init(stateTopic: stateTopic, inputTopic: input, advertisedURL: config.http.advertisedURL, kafka: config.kafka, logger: logger,
                  wallClock: wallClock)
    }

    public init(stateTopic: String, inputTopic: String, advertisedURL: String?, kafka: ServiceConfiguration.Kafka, logger: Logger,
                wallClock: @escaping WallClock = systemWallClock) {
        self.stateTopic = stateTopic
        self.inputTopic = inputTopic
        self.advertisedURL = advertisedURL
        self.kafka = kafka
        self.logger = logger
        self.wallClock = wallClock
        instance = "\(ProcessIdentity.hostAndPID)-\(String(UInt32.random(in: 0 ... .max), radix: 16))"
    }

    // MARK: Lifecycle

    /// Connects its producer and starts tailing the state topic's partition 0.
    public func start(bootstrap: String) throws {
        try runner.withLock { current in
            guard current == nil else { return }
            let failures = deliveryFailures
            let logger = self.logger
            let producer = try KafkaProducer(properties: KafkaSettings.producer(kafka, bootstrap: bootstrap), logger: logger) { report in
                guard let error = report.error else { return }
                failures.withLock { $0 += 1 }
                logger.warning("ownership announcement failed", metadata: ["error": "\(error)"])
            }
            let consumer = try KafkaConsumer(properties: KafkaSettings.reader(kafka, bootstrap: bootstrap), logger: logger)
            try consumer.assign([TopicPartition(stateTopic, 0): KafkaOffset.beginning])
            let r = ProducerThread(producer: producer, topic: producer.topic(stateTopic))
            current = r
            let thread = Thread { [self] in
                defer { r.finished.signal() }
                // Until the loop's first assignment says otherwise, the partition count as the
                // metadata has it now (an instance holding no partition can still redirect).
                if table.withLock({ $0.partitionCount == nil }), let n = try? consumer.partitionCounts([inputTopic], timeoutMs: 5_000)[inputTopic], n > 0 {
                    table.withLock { if $0.partitionCount == nil { $0.partitionCount = n } }
                }
                while !stopSignal.isRequested {
                    consumer.poll(timeoutMs: 100, max: 1024) { m in self.read(m) }
                    r.producer.poll(timeoutMs: 0)
                }
                consumer.close()
            }
            thread.name = "credit-meter-owners"
            thread.start()
        }
    }

    /// Stops tailing and flushes announcements still queued (the final releases). Idempotent.
    public func stop() {
        guard let r = runner.withLock({ $0 }) else { return }
        guard !stopSignal.isRequested else { return }
        stopSignal.request()
        r.finished.wait()
        do { try r.producer.flush(timeoutMs: 5_000) } catch {
            logger.warning("ownership announcements not flushed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Written by the consuming loop

    /// Announces these partitions as owned here (call after their state is restored).
    /// `partitionCounts` is the consumer's metadata at assignment time; the first input
    /// topic's count is what accounts are mapped with from now on.
    public func announce(_ tps: [TopicPartition], partitionCounts: [String: Int32]) {
        if let n = partitionCounts[inputTopic], n > 0 { table.withLock { $0.partitionCount = n } }
        write(tps, url: advertisedURL)
    }

    /// Releases partitions revoked (not lost) from this instance: `"url":null`, flushed before
    /// the revocation completes so that the release precedes the next owner's announcement.
    public func release(_ tps: [TopicPartition]) {
        write(tps, url: nil)
        guard !tps.isEmpty, let r = runner.withLock({ $0 }) else { return }
        do { try r.producer.flush(timeoutMs: 5_000) } catch {
            logger.warning("ownership release not flushed", metadata: ["error": "\(error)"])
        }
    }

    private func write(_ tps: [TopicPartition], url: String?) {
        guard !tps.isEmpty, let r = runner.withLock({ $0 }) else { return }
        let value = Self.value(url: url, instance: instance, timeMillis: wallClock() / 1_000_000)
        for tp in tps {
            let key = Array(Self.key(tp).utf8)
            do {
                try key.withUnsafeBytes { k in
                    try value.withUnsafeBytes { v in try r.producer.produce(r.topic, partition: 0, key: k, value: v) }
                }
            } catch {
                logger.warning("ownership announcement not queued", metadata: ["partition": "\(tp)", "error": "\(error)"])
            }
        }
        logger.debug(url == nil ? "partitions released" : "partitions announced", metadata: ["partitions": "\(tps.map(\.description))"])
    }

    // MARK: Read by HTTP handlers

    /// The input partition of an account (first input topic); nil while its partition count
    /// is not known.
    public func partition(of account: String) -> TopicPartition? {
        guard let n = table.withLock({ $0.partitionCount }) else { return nil }
        return TopicPartition(inputTopic, KeyPartitioner.partition(account: account, count: n))
    }

    /// What the state topic last said about `tp`; nil when nothing was announced.
    public func owner(of tp: TopicPartition) -> Owner? {
        table.withLock { $0.owners[tp] }
    }

    /// The whole table (tests).
    package var owners: [TopicPartition: Owner] { table.withLock { $0.owners } }

    /// Owner records applied and other records skipped so far (tests).
    package var counts: (read: Int, skipped: Int) { table.withLock { ($0.recordsRead, $0.recordsSkipped) } }

    /// Announcements the broker did not take (tests).
    package var failedAnnouncements: Int { deliveryFailures.value }

    // MARK: Records

    private static let prefixBytes = Array(keyPrefix.utf8)

    private func read(_ m: KafkaMessage) {
        guard m.error == nil else { return }
        guard let key = m.key, key.count > Self.prefixBytes.count, key.starts(with: Self.prefixBytes) else {
            table.withLock { $0.recordsSkipped += 1 }
            return
        }
        guard let tp = Self.parseKey(String(decoding: key, as: UTF8.self)) else {
            table.withLock { $0.recordsSkipped += 1 }
            return
        }
        let value = m.value
        let owner = value.isEmpty ? nil : Self.parseValue(Array(value))
        table.withLock { t in
            t.recordsRead += 1
            if value.isEmpty {  // a tombstone: nothing known
                t.owners[tp] = nil
                return
            }
            guard let owner else { return }
            // A release by an instance that no longer owns the entry (its record landed after
            // the next owner's announcement) changes nothing.
            if owner.url == nil, let current = t.owners[tp], current.url != nil, current.instance != owner.instance { return }
            t.owners[tp] = owner
        }
    }

    // MARK: Format

    public static func key(_ tp: TopicPartition) -> String { "\(keyPrefix)\(tp.topic)/\(tp.partition)" }

    /// `owner/<topic>/<partition>` (the topic may contain `/`: the partition follows the last one).
    public static func parseKey(_ key: String) -> TopicPartition? {
        guard key.hasPrefix(keyPrefix) else { return nil }
        let rest = key.dropFirst(keyPrefix.count)
        guard let slash = rest.lastIndex(of: "/") else { return nil }
        let topic = rest[..<slash]
        let digits = rest[rest.index(after: slash)...]
        guard !topic.isEmpty, !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let p = Int32(digits) else { return nil }
        return TopicPartition(String(topic), p)
    }

    public static func value(url: String?, instance: String, timeMillis: Int64) -> [UInt8] {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.key("url"); if let url { w.string(url) } else { w.null() }
        w.key("instance"); w.string(instance)
        w.key("time"); w.integer(timeMillis)
        w.endObject()
        return w.bytes
    }

    public static func parseValue(_ bytes: [UInt8]) -> Owner? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
        let url = object["url"] as? String
        guard url != nil || object["url"] is NSNull, let instance = object["instance"] as? String else { return nil }
        let time = (object["time"] as? NSNumber)?.int64Value ?? 0
        return Owner(url: url, instance: instance, timeMillis: time)
    }
}
