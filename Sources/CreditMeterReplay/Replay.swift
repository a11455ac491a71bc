public import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
public import Kafka
public import Logging

/// `credit-meter replay`: re-rates an event-time range of the inbound topics under another
/// rate-card version and reports (and optionally publishes) per-account corrections.
///
/// "As charged" is what the ledger charged: each partition is run through a real
/// `PartitionLedger` through the service's own `RecordPipeline`, so pins, duplicates and bad
/// records are treated exactly as the live service treated them. Reading starts at the beginning of each partition, or — when the
/// broker answers offsets-for-times correctly — at `from − 48 h − dedupe window`, with a
/// pins-only pass over what comes before. Its own consumer, no group, nothing committed.
public struct ReplayOptions: Sendable {
    /// Event-time range [from, to); nil `from` = beginning, nil `to` = the run's start.
    public var from: Int64?
    public var to: Int64?
    public var version: String
    public var publishAdjustments = false
    /// Tests: a start offset per partition instead of asking the broker (what a broker with a
    /// correct time index would answer; the development brokers answer wrongly).
    package var forcedSeek: [TopicPartition: Int64]?

    public init(from: Int64?, to: Int64?, version: String) {
        self.from = from
        self.to = to
        self.version = version
    }
}

public struct ReplayReport: Sendable {
    public struct Row: Sendable, Equatable {
        public var account: String
        public var partition: TopicPartition
        public var events: Int64 = 0
        public var charged: Int64 = 0
        public var rerated: Int64 = 0
        public var delta: Int64 { rerated - charged }
    }

    public struct Unpriceable: Sendable, Equatable {
        public var account: String
        public var events: Int64
        public var charged: Int64
        public var reason: String
    }

    public var version: String
    public var from: Int64?
    public var to: Int64
    public var rows: [Row] = []
    public var unpriceable: [Unpriceable] = []
    public var modes: [TopicPartition: String] = [:]
    public var recordsRead: Int64 = 0
    public var published: [String] = []
    public var alreadyPublished: [String] = []

    public var fromText: String { from.map(EventTime.format) ?? "beginning" }
    public var toText: String { EventTime.format(to) }

    public var totals: Row {
        var t = Row(account: "", partition: TopicPartition("", 0))
        for r in rows { t.events += r.events; t.charged += r.charged; t.rerated += r.rerated }
        return t
    }

    public func adjustmentID(_ account: String) -> String { "replay/\(account)/\(fromText)/\(toText)/\(version)" }

    public func json() -> String {
        var w = JSONWriter(capacity: 4096 + rows.count * 128)
        w.beginObject()
        w.key("rate_card_version"); w.string(version)
        w.key("from"); w.string(fromText)
        w.key("to"); w.string(toText)
        func figures(_ r: Row) {
            w.key("events"); w.integer(r.events)
            w.key("charged_credits"); w.credits(r.charged)
            w.key("rerated_credits"); w.credits(r.rerated)
            w.key("delta_credits"); w.credits(r.delta)
        }
        w.key("accounts"); w.beginArray()
        for r in rows {
            w.beginObject()
            w.key("account"); w.string(r.account)
            figures(r)
            w.endObject()
        }
        w.endArray()
        w.key("totals"); w.beginObject()
        figures(totals)
        w.endObject()
        w.key("unpriceable"); w.beginArray()
        for u in unpriceable {
            w.beginObject()
            w.key("account"); w.string(u.account)
            w.key("events"); w.integer(u.events)
            w.key("charged_credits"); w.credits(u.charged)
            w.key("reason"); w.string(u.reason)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.string
    }

    public func csv() -> String {
        var lines = ["account,events,charged_credits,rerated_credits,delta_credits"]
        for r in rows {
            let account = r.account.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                ? "\"" + r.account.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : r.account
            lines.append("\(account),\(r.events),\(Credits.format(r.charged)),\(Credits.format(r.rerated)),\(Credits.format(r.delta))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

public enum Replay {
    public static let adjustmentSource = "credit-meter/replay"

    public static func run(config: ServiceConfiguration, options: ReplayOptions, bootstrap: String? = nil, logger: Logger,
                           now: Int64, progress: @escaping @Sendable (String) -> Void) throws -> ReplayReport {
        let engine = config.engine
        guard let target = engine.rateCards.index(ofVersion: options.version) else {
            throw ServiceError("--rate-card \(options.version): no such rate-card version in \(config.rateCardsDir)")
        }
        let to = options.to ?? now
        if let from = options.from, from >= to { throw ServiceError("--from must be before --to") }
        let brokers = bootstrap ?? config.kafka.bootstrapServers
        // Partition EOF marks the end even when the last offsets hold no record (transaction markers).
        let consumer = try KafkaConsumer(properties: KafkaSettings.reader(config.kafka, bootstrap: brokers) + [("enable.partition.eof", "true")],
                                         logger: logger)
        var report = ReplayReport(version: options.version, from: options.from, to: to)

        // Partitions and where to start reading each.
        var partitions: [(tp: TopicPartition, low: Int64, high: Int64)] = []
        for topic in config.kafka.inputTopics {
            let n = try consumer.partitionCounts([topic])[topic] ?? 0
            for p in 0..<n {
                let tp = TopicPartition(topic, p)
                let w = try consumer.watermarks(tp)
                partitions.append((tp, w.low, w.high))
            }
        }
        var seekOffsets: [TopicPartition: Int64] = [:]
        if let forced = options.forcedSeek {
            seekOffsets = forced
            for (tp, _) in forced { report.modes[tp] = "seek (forced)" }
        } else if let from = options.from {
            let targetMs = (from - (48 + engine.dedupeWindowHours + 1) * EventTime.nanosPerHour) / 1_000_000
            let answers = try? consumer.offsetsForTimes(partitions.map(\.tp), timestampMs: targetMs)
            for (tp, low, high) in partitions {
                let plan = SeekPlan.decide(answer: answers?[tp], targetMs: targetMs, low: low, high: high) { offset in
                    readTimestamp(tp, offset: offset, config: config, bootstrap: brokers, logger: logger)
                }
                switch plan {
                case .seek(let o) where high <= low: seekOffsets[tp] = o; report.modes[tp] = "empty"
                case .seek(let o): seekOffsets[tp] = o; report.modes[tp] = "seek to \(o) of [\(low), \(high))"
                case .scan(let reason): report.modes[tp] = "scan from the beginning (\(reason))"
                }
            }
        }
        for (tp, low, high) in partitions where report.modes[tp] == nil { report.modes[tp] = high > low ? "scan from the beginning" : "empty" }

        // One ledger per partition, as in the service.
        var ledgers: [TopicPartition: PartitionLedger] = [:]
        var rows: [TopicPartition: [Int: ReplayReport.Row]] = [:]
        var unpriceable: [String: ReplayReport.Unpriceable] = [:]
        var priorAdjustments: Set<String> = []
        let pipeline = RecordPipeline()
        let total = partitions.reduce(Int64(0)) { $0 + ($1.high - $1.low) }
        var read: Int64 = 0
        var lastProgress = ContinuousClock.now

        var partitionEnd: [TopicPartition: Int64] = [:]
        for (tp, _, high) in partitions { partitionEnd[tp] = high }
        // Pass 1 (seeking only): pins before the seek point.
        // Pass 2: everything from the seek point (or the beginning) to the high watermark.
        for pass in [1, 2] {
            var ranges: [TopicPartition: (start: Int64, end: Int64)] = [:]
            for (tp, low, high) in partitions {
                let seek = min(max(seekOffsets[tp] ?? low, low), high)
                if pass == 1 { if seek > low { ranges[tp] = (low, seek) } } else if high > seek { ranges[tp] = (seek, high) }
            }
            if ranges.isEmpty { continue }
            try consumer.assign(ranges.mapValues(\.start))
            var remaining = ranges.filter { $0.value.end > $0.value.start }
            var cache: (handle: OpaquePointer?, partition: Int32, tp: TopicPartition?) = (nil, -1, nil)
            let deadline = ContinuousClock.now + .seconds(Int64(max(600, total / 10_000)))
            while !remaining.isEmpty {
                guard ContinuousClock.now < deadline else { throw ServiceError("replay timed out reading \(remaining.keys.sorted().map(\.description))") }
                consumer.poll(timeoutMs: 200, max: 2048) { m in
                    if m.isPartitionEOF {
                        let tp = TopicPartition(m.topic, m.partition)
                        if let range = remaining[tp], range.end == partitionEnd[tp] { remaining[tp] = nil }
                        return
                    }
                    guard m.error == nil else { return }
                    let tp: TopicPartition
                    if m.topicHandle == cache.handle && m.partition == cache.partition, let t = cache.tp { tp = t }
                    else { tp = TopicPartition(m.topic, m.partition); cache = (m.topicHandle, m.partition, tp) }
                    guard let range = remaining[tp], m.offset >= range.start, m.offset < range.end else { return }
                    if m.offset + 1 >= range.end { remaining[tp] = nil }
                    read += 1
                    let ledger = ledgers[tp] ?? PartitionLedger(config: engine)
                    ledgers[tp] = ledger
                    if pass == 1 {
                        // Pins only; a byte search skips everything else without decoding.
                        guard contains(m.value, "ratecard.pinned") || BinaryModeAttributes.fromHeaders({ m.forEachHeader($0) }) != nil else { return }
                    }
                    let event: DecodedEvent
                    do throws(DecodeFailure) {
                        event = try pipeline.decode(m)
                    } catch { return }  // the service dead-lettered it: nothing was charged
                    if pass == 1 && event.type != .rateCardPinned { return }
                    if event.type == .adjusted, event.source.equalsText(adjustmentSource) { priorAdjustments.insert(event.id.utf8String) }
                    // Duplicates and rejections (the service's dead letters) charged nothing.
                    guard case .applied(_, let result) = pipeline.apply(event, of: m, to: ledger) else { return }
                    guard pass == 2, event.type == .usage else { return }
                    guard event.time >= (options.from ?? .min), event.time < to else { return }
                    do throws(PricingFailure) {
                        let rerated = try engine.rateCards.price(event, version: target)
                        var row = rows[tp, default: [:]][result.account] ?? ReplayReport.Row(account: ledger.accountID(result.account), partition: tp)
                        row.events += 1
                        row.charged += result.charged
                        row.rerated += rerated
                        rows[tp, default: [:]][result.account] = row
                    } catch {
                        let account = ledger.accountID(result.account)
                        var u = unpriceable[account] ?? ReplayReport.Unpriceable(account: account, events: 0, charged: 0, reason: error.description)
                        u.events += 1
                        u.charged += result.charged
                        unpriceable[account] = u
                    }
                }
                if ContinuousClock.now - lastProgress >= .seconds(1) {
                    lastProgress = ContinuousClock.now
                    progress("replay: read \(read) of \(total) records (\(total > 0 ? 100 * read / total : 100)%)")
                }
            }
        }
        report.recordsRead = read
        report.rows = rows.values.flatMap(\.values).sorted { $0.account < $1.account }
        report.unpriceable = unpriceable.values.sorted { $0.account < $1.account }
        progress("replay: read \(read) records; \(report.rows.count) accounts with events in range")

        // Overlapping corrections already published under other ids would correct twice.
        let mine = Set(report.rows.map { report.adjustmentID($0.account) })
        let overlapping = priorAdjustments.filter { id in
            guard !mine.contains(id), let other = parseAdjustmentID(id), other.version == options.version else { return false }
            let otherFrom = other.from ?? .min
            return otherFrom < to && (options.from ?? .min) < other.to
        }.sorted()
        if options.publishAdjustments {
            guard to <= now + 60 * EventTime.nanosPerSecond else {
                throw ServiceError("--to \(EventTime.format(to)) is in the future: adjustments are dated --to, so publish them once the range has passed")
            }
            guard overlapping.isEmpty else {
                throw ServiceError("replay adjustments for an overlapping range were already published (\(overlapping.first!)); "
                                   + "publishing these would correct the same events twice — choose a range that does not overlap")
            }
            try publish(&report, already: priorAdjustments, config: config, bootstrap: brokers, logger: logger, now: now)
        } else if !overlapping.isEmpty {
            progress("replay: note: \(overlapping.count) adjustments for an overlapping range were already published (e.g. \(overlapping[0]))")
        }
        return report
    }

    /// One `credit.adjusted` per account with a non-zero delta, into the partition its events
    /// came from; ids already in the log are not produced again.
    static func publish(_ report: inout ReplayReport, already: Set<String>, config: ServiceConfiguration, bootstrap: String,
                        logger: Logger, now: Int64) throws {
        // Record time: now (never before the event's time, which is --to).
        let timestampMs = max(now, report.to) / 1_000_000
        let failures = Locked(0)
        let producer = try KafkaProducer(properties: KafkaSettings.producer(config.kafka, bootstrap: bootstrap), logger: logger) { r in
            if r.error != nil { failures.withLock { $0 += 1 } }
        }
        for row in report.rows where row.delta != 0 {
            let id = report.adjustmentID(row.account)
            if already.contains(id) { report.alreadyPublished.append(id); continue }
            let value = CloudEventEnvelope(id: id, source: adjustmentSource, type: EventType.adjusted.name, subject: row.account,
                                           time: report.to).json { w in
                w.key("credits"); w.credits(-row.delta)
                w.key("reason"); w.string("rerate")
                w.key("ref"); w.string(id)
            }
            let key = Array(row.account.utf8)
            try key.withUnsafeBytes { k in
                try value.withUnsafeBytes { v in
                    try producer.produce(producer.topic(row.partition.topic), partition: row.partition.partition, key: k, value: v,
                                         timestampMs: timestampMs)
                }
            }
            report.published.append(id)
        }
        try producer.flush(timeoutMs: 60_000)
        guard failures.value == 0 else { throw ServiceError("\(failures.value) adjustments were not acknowledged by the broker") }
    }

    static func parseAdjustmentID(_ id: String) -> (from: Int64?, to: Int64, version: String)? {
        // replay/<account>/<from>/<to>/<version>: the account may itself contain '/', so read from the end.
        let parts = id.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 5, parts[0] == "replay" else { return nil }
        let version = parts[parts.count - 1]
        guard let to = EventTime.parse(parts[parts.count - 2]) else { return nil }
        let fromText = parts[parts.count - 3]
        let from: Int64? = fromText == "beginning" ? nil : EventTime.parse(fromText)
        if from == nil && fromText != "beginning" { return nil }
        return (from, to, version)
    }

    /// The timestamp of the record at `offset` (for checking the broker's time index).
    static func readTimestamp(_ tp: TopicPartition, offset: Int64, config: ServiceConfiguration, bootstrap: String, logger: Logger) -> Int64? {
        guard let c = try? KafkaConsumer(properties: KafkaSettings.reader(config.kafka, bootstrap: bootstrap), logger: logger),
              (try? c.assign([tp: offset])) != nil else { return nil }
        var found: Int64?
        let deadline = ContinuousClock.now + .seconds(10)
        while found == nil && ContinuousClock.now < deadline {
            c.poll(timeoutMs: 100, max: 1) { m in
                if m.error == nil && m.offset == offset { found = m.timestampMs }
            }
        }
        return found
    }

    static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
        let n = needle.utf8CodeUnitCount
        guard haystack.count >= n, n > 0 else { return false }
        let first = needle.utf8Start.pointee
        var i = 0
        while i + n <= haystack.count {
            if haystack[i] == first && memcmp(haystack.baseAddress! + i, needle.utf8Start, n) == 0 { return true }
            i += 1
        }
        return false
    }
}

extension UnsafeRawBufferPointer {
    func equalsText(_ s: String) -> Bool {
        var copy = s
        return copy.withUTF8 { Array(UnsafeRawBufferPointer($0)) == Array(self) }
    }
}
