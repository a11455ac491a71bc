public import Logging

/// A Kafka consumer: in a group (subscribe) with manual offsets and a synchronous rebalance
/// hook, or on an explicit assignment (replay, benchmarks). Blocking calls, one polling
/// thread; librdkafka does the networking on its own threads.
public final class KafkaConsumer: @unchecked Sendable {
    let client: RDKafkaClient

    /// Open until it ends, once: closed (it left the group; the handle is destroyed with
    /// this object) or abandoned (the handle stays alive for the rest of the process). The
    /// transitions answer whether the caller must act on the handle.
    private enum Lifecycle {
        case open, closed, abandoned

        mutating func close() -> Bool { end(as: .closed) }
        mutating func abandon() -> Bool { end(as: .abandoned) }

        private mutating func end(as ending: Lifecycle) -> Bool {
            guard self == .open else { return false }
            self = ending
            return true
        }
    }
    private var lifecycle = Lifecycle.open

    /// - Parameters:
    ///   - properties: librdkafka properties (`bootstrap.servers`, `group.id`, security …),
    ///     applied after CreditMeter's defaults so the caller can override them.
    ///   - onRebalance: called on the polling thread before an assignment or revocation takes
    ///     effect. For `.assigned`, return the offset to start each partition at (missing:
    ///     the committed offset, else `auto.offset.reset`).
    public init(properties: [(String, String)], logger: Logger,
                onRebalance: ((RebalanceEvent) -> [TopicPartition: Int64])? = nil) throws(KafkaError) {
        let defaults: [(String, String)] = [
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
        ]
        // librdkafka's consumer queue (and assign) need a group id even when the caller only
        // assigns partitions; such consumers get a private one and never commit.
        var properties = properties
        if !properties.contains(where: { $0.0 == "group.id" }) {
            properties.append(("group.id", "credit-meter-private-\(UInt64.random(in: 0 ... .max))"))
        }
        client = try RDKafkaClient(.consumer(onRebalance: onRebalance), properties: defaults + properties, logger: logger)
    }

    deinit {
        close()
    }

    /// A fatal error librdkafka reported, if any.
    public var fatalError: KafkaError? { client.fatalError }

    public func subscribe(_ topics: [String]) throws(KafkaError) {
        try client.subscribe(topics)
    }

    /// Leaves the subscription: the next polls revoke the assignment through the rebalance
    /// hook, and the member leaves the group.
    public func unsubscribe() throws(KafkaError) {
        try client.unsubscribe()
    }

    /// Consumes exactly these partitions from these offsets (no group membership needed).
    public func assign(_ partitions: [TopicPartition: Int64]) throws(KafkaError) {
        try client.assign(partitions)
    }

    /// Polls up to `max` records and calls `body` for each, in partition order: everything
    /// already fetched, at once; if nothing is, it waits at most `timeoutMs` for the first
    /// record. Rebalance callbacks run inside this call. Returns the number of records and
    /// error events delivered.
    @discardableResult
    public func poll(timeoutMs: Int32, max: Int = 1024, _ body: (KafkaMessage) throws -> Void) rethrows -> Int {
        try client.poll(timeoutMs: timeoutMs, max: max) { try body(KafkaMessage($0)) }
    }

    /// True for the consumer errors that mean records could be skipped silently: the stored
    /// position is out of range (retention deleted it, or the topic was recreated).
    public static func isOffsetOutOfRange(_ error: KafkaError) -> Bool {
        error.isOffsetOutOfRange
    }

    /// Commits these offsets (next offset to read) for the group, synchronously.
    public func commit(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        try client.commit(offsets)
    }

    /// The group's committed offsets for these partitions (-1001 where none).
    public func committed(_ partitions: [TopicPartition], timeoutMs: Int32) throws(KafkaError) -> [TopicPartition: Int64] {
        try client.committed(partitions, timeoutMs: timeoutMs)
    }

    /// The current assignment.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        try client.assignment()
    }

    public func partitionCounts(_ topics: [String], timeoutMs: Int32 = 10_000) throws(KafkaError) -> [String: Int32] {
        try client.partitionCounts(topics, timeoutMs: timeoutMs)
    }

    public func watermarks(_ tp: TopicPartition, timeoutMs: Int32 = 10_000) throws(KafkaError) -> (low: Int64, high: Int64) {
        try client.watermarks(tp, timeoutMs: timeoutMs)
    }

    /// Watermarks from the consumer's last fetch response for `tp` (no broker request, never
    /// blocks); nil until one has arrived. For lag: high − position.
    public func cachedWatermarks(_ tp: TopicPartition) -> (low: Int64, high: Int64)? {
        client.cachedWatermarks(tp)
    }

    /// Offsets for a timestamp per partition (broker's ListOffsets by time).
    public func offsetsForTimes(_ partitions: [TopicPartition], timestampMs: Int64, timeoutMs: Int32 = 10_000) throws(KafkaError) -> [TopicPartition: Int64] {
        try client.offsetsForTimes(partitions, timestampMs: timestampMs, timeoutMs: timeoutMs)
    }

    /// Whether this librdkafka can destroy a cooperative-sticky consumer at any moment.
    /// Releases before 2.3.0 (without the fix for librdkafka#4312) fail an assertion — an
    /// abort, not an error — when such a consumer is destroyed while the sticky assignor has
    /// no state, e.g. before its first assignment; see `abandon()`.
    public static var cooperativeStickyIsSafe: Bool { RDKafkaClient.version >= 0x0203_00ff }

    /// Ends the consumer without closing or destroying its handle — the one safe way to stop
    /// a consumer that must not be closed now (see `cooperativeStickyIsSafe`). The member
    /// leaves the group when its session times out; the process is usually exiting.
    public func abandon() {
        if lifecycle.abandon() { client.leak() }
    }

    /// Leaves the group (running the final revocation through the rebalance hook) and stops
    /// fetching. Safe to call twice.
    public func close() {
        if lifecycle.close() { client.closeConsumer() }
    }
}
