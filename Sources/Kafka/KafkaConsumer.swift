import Crdkafka
public import Logging

/// A group rebalance, delivered on the polling thread *before* librdkafka applies it, so the
/// caller can act (snapshot what it is losing, restore what it gains) while it still can.
public enum RebalanceEvent: Sendable {
    case assigned([TopicPartition])
    case revoked([TopicPartition], lost: Bool)
}

/// A consumed record, borrowed from librdkafka: valid only inside the poll callback.
/// Nothing is copied; key, value and headers point into librdkafka's buffers.
public struct KafkaMessage {
    let pointer: UnsafeMutablePointer<rd_kafka_message_t>

    /// Set when this is an error event rather than a record (e.g. partition EOF).
    public var error: KafkaError? {
        let err = pointer.pointee.err
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        if let s = rd_kafka_message_errstr(pointer) { return KafkaError(code: err.rawValue, message: String(cString: s)) }
        return KafkaError(err)
    }

    public var isPartitionEOF: Bool { pointer.pointee.err == RD_KAFKA_RESP_ERR__PARTITION_EOF }

    /// librdkafka's topic handle: stable for the client's life, so callers can map it to their
    /// own topic index without building a String per record.
    public var topicHandle: OpaquePointer? { pointer.pointee.rkt }
    public var topic: String { pointer.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "" }
    public var partition: Int32 { pointer.pointee.partition }
    public var offset: Int64 { pointer.pointee.offset }

    public var key: UnsafeRawBufferPointer? {
        guard let k = pointer.pointee.key else { return nil }
        return UnsafeRawBufferPointer(start: k, count: pointer.pointee.key_len)
    }

    public var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer.pointee.payload, count: pointer.pointee.payload ==  nil ? 0 : pointer.pointee.len)
    }

    /// A tombstone: the record has no value at all (not an empty one).
    public var valueIsNull: Bool { pointer.pointee.payload == nil }

    /// Record timestamp in milliseconds (create or log-append time), if any.
    public var timestampMs: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(pointer, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? nil : ts
    }

    /// Calls `body` for each header (name, value; nil value for a null header).
    public func forEachHeader(_ body: (UnsafePointer<CChar>, UnsafeRawBufferPointer?) -> Void) {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(pointer, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return }
        var i = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            if let name { body(name, value.map { UnsafeRawBufferPointer(start: $0, count: size) }) }
            i += 1
        }
    }

    /// Headers copied out (for dead letters and tests).
    public var headers: [(String, [UInt8]?)] {
        var out: [(String, [UInt8]?)] = []
        forEachHeader { name, value in out.append((String(cString: name), value.map { Array($0) })) }
        return out
    }
}

/// A Kafka consumer: in a group (subscribe) with manual offsets and a synchronous rebalance
/// hook, or on an explicit assignment (replay, benchmarks). Blocking calls, one polling
/// thread; librdkafka does the networking on its own threads.
public final class KafkaConsumer: @unchecked Sendable {
    let client: RDKafkaClient
    private var closed = false

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
        let context = ClientContext(logger: logger)
        var rebalanceResult: [TopicPartition: Int64] = [:]
        if let onRebalance {
            context.rebalance = { event in rebalanceResult = onRebalance(event) }
        }
        client = try RDKafkaClient(type: RD_KAFKA_CONSUMER, properties: defaults + properties, context: context) { conf in
            guard onRebalance != nil else { return }
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
                guard let rk, let partitions, let ctx = ClientContext.from(opaque) else { return }
                let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
                let entries = RDKafkaTopicPartitionList.entries(partitions).map(\.0)
                switch err {
                case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                    ctx.rebalance?(.assigned(entries))
                    _ = rebalanceApplyOffsets(partitions, ctx)
                    if cooperative {
                        if let e = rd_kafka_incremental_assign(rk, partitions) {
                            ctx.logger.error("incremental assign failed: \(KafkaError(error: e))")
                            ctx.rebalance?(.revoked(entries, lost: true))
                        }
                    } else {
                        let r = rd_kafka_assign(rk, partitions)
                        if r != RD_KAFKA_RESP_ERR_NO_ERROR { ctx.logger.error("assign failed: \(KafkaError(r))") }
                    }
                case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
                    ctx.rebalance?(.revoked(entries, lost: rd_kafka_assignment_lost(rk) != 0))
                    if cooperative {
                        if let e = rd_kafka_incremental_unassign(rk, partitions) {
                            ctx.logger.error("incremental unassign failed: \(KafkaError(error: e))")
                        }
                    } else {
                        _ = rd_kafka_assign(rk, nil)
                    }
                default:
                    // The assignment is dropped: tell the owner, as for a lost assignment.
                    ctx.logger.error("rebalance error: \(KafkaError(err))")
                    ctx.rebalance?(.revoked(entries, lost: true))
                    _ = rd_kafka_assign(rk, nil)
                }
            }
        }
        context.pendingOffsets = { rebalanceResult }
        rd_kafka_poll_set_consumer(client.handle)
    }

    deinit {
        close()
    }

    /// A fatal error librdkafka reported, if any.
    public var fatalError: KafkaError? { client.fatalError }

    public func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(topics.map { (TopicPartition($0, RD_KAFKA_PARTITION_UA), KafkaOffset.invalid) })
        let err = rd_kafka_subscribe(client.handle, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "subscribe") }
    }

    /// Leaves the subscription: the next polls revoke the assignment through the rebalance
    /// hook, and the member leaves the group.
    public func unsubscribe() throws(KafkaError) {
        let err = rd_kafka_unsubscribe(client.handle)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "unsubscribe") }
    }

    /// The group's rebalance protocol now: "COOPERATIVE", "EAGER", or "NONE" (not in a group yet).
    public var rebalanceProtocol: String {
        String(cString: rd_kafka_rebalance_protocol(client.handle))
    }

    /// Consumes exactly these partitions from these offsets (no group membership needed).
    public func assign(_ partitions: [TopicPartition: Int64]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(partitions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let err = rd_kafka_assign(client.handle, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "assign") }
    }

    /// Polls up to `max` records and calls `body` for each, in partition order: everything
    /// already fetched, at once; if nothing is, it waits at most `timeoutMs` for the first
    /// record. Rebalance callbacks run inside this call. Returns the number of records and
    /// error events delivered.
    ///
    /// Built on `rd_kafka_consumer_poll`, one record at a time: librdkafka 2.0.2's batch call
    /// can hand back records fetched before a seek or a rebalance (fixed upstream in 2.1), which
    /// would let a restored partition skip records; the single-record call drops those.
    @discardableResult
    public func poll(timeoutMs: Int32, max: Int = 1024, _ body: (KafkaMessage) throws -> Void) rethrows -> Int {
        var n = 0
        var wait = timeoutMs
        while n < max, let m = rd_kafka_consumer_poll(client.handle, wait) {
            defer { rd_kafka_message_destroy(m) }
            n += 1
            wait = 0
            try body(KafkaMessage(pointer: m))
        }
        return n
    }

    /// True for the consumer errors that mean records could be skipped silently: the stored
    /// position is out of range (retention deleted it, or the topic was recreated).
    public static func isOffsetOutOfRange(_ error: KafkaError) -> Bool {
        error.code == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET.rawValue || error.code == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE.rawValue
    }

    /// Commits these offsets (next offset to read) for the group, synchronously.
    public func commit(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        let err = rd_kafka_commit(client.handle, list.pointer, 0)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else { throw KafkaError(err, context: "commit") }
        for (tp, _, e) in list.entries where e != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(e, context: "commit \(tp)")
        }
    }

    /// The group's committed offsets for these partitions (-1001 where none).
    public func committed(_ partitions: [TopicPartition], timeoutMs: Int32) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = RDKafkaTopicPartitionList(partitions.map { ($0, KafkaOffset.invalid) })
        let err = rd_kafka_committed(client.handle, list.pointer, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "committed offsets") }
        var out: [TopicPartition: Int64] = [:]
        for (tp, offset, _) in list.entries { out[tp] = offset }
        return out
    }

    /// The current assignment.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let err = rd_kafka_assignment(client.handle, &list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { throw KafkaError(err, context: "assignment") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return RDKafkaTopicPartitionList.entries(list).map(\.0)
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

    /// Leaves the group (running the final revocation through the rebalance hook) and stops
    /// fetching. Safe to call twice.
    /// librdkafka before the fix for #4312 (PR #4381, merged September 2023: the first release
    /// after it is 2.3.0) fails an assertion when a cooperative-sticky consumer is destroyed
    /// while the sticky assignor has no state (before its first assignment; seen here too in
    /// other moments of a test process with many group members: an abort, not an error).
    public static var cooperativeStickyIsSafe: Bool { rd_kafka_version() >= 0x0203_00ff }

    /// Leaves the handle alive instead of closing and destroying it — the one safe way to stop
    /// a consumer that must not be closed now (see `cooperativeStickyIsSafe`). The
    /// member leaves the group when its session times out; the process is usually exiting.
    public func abandon() {
        closed = true
        client.leakOnDeinit = true
    }

    public func close() {
        guard !closed else { return }
        closed = true
        let err = rd_kafka_consumer_close(client.handle)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { client.context.logger.warning("consumer close: \(KafkaError(err))") }
    }
}

/// Writes the offsets chosen by the rebalance hook into librdkafka's list before assigning.
private func rebalanceApplyOffsets(_ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, _ ctx: ClientContext) -> Int {
    let offsets = ctx.pendingOffsets?() ?? [:]
    var applied = 0
    for i in 0..<Int(partitions.pointee.cnt) {
        let e = partitions.pointee.elems[i]
        let tp = TopicPartition(String(cString: e.topic), e.partition)
        if let o = offsets[tp] {
            partitions.pointee.elems[i].offset = o
            applied += 1
        }
    }
    return applied
}
