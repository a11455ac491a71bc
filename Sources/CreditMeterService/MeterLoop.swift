import CreditConfig
import CreditEngine
import Dispatch
import Foundation
import Kafka
import Logging
import CoreMetrics

/// The consuming thread: Kafka records in, engine decisions out. Owns every partition's
/// ledger; nothing else touches them while it runs.
///
/// Durability protocol (contract §8): a snapshot of a partition records next offset `o` only
/// after the producer has been flushed, i.e. every alert, dead letter and balances record
/// caused by records before `o` is acknowledged (acks=all). Group offsets are committed only
/// after that snapshot is on disk.
final class MeterLoop {
    let config: ServiceConfiguration
    let engine: EngineConfiguration
    let bootstrap: String
    let logger: Logger
    let board: StatusBoard
    let store: SnapshotStore?
    let stopFlag: StopSignal
    private let metrics = ServiceMetrics()

    private var consumer: KafkaConsumer!
    private var output: OutputPublisher!
    private let decoder = EventDecoder()
    private var states: [TopicPartition: PartitionState] = [:]
    private var cached: (handle: OpaquePointer?, partition: Int32, state: PartitionState?) = (nil, -1, nil)
    /// A failure found inside a callback, surfaced by the loop.
    private var failure: (any Error)?
    private var stopping = false
    /// Ledgers as they were when the loop stopped (the demo's final table, tests).
    private(set) var finalStates: [TopicPartition: PartitionState] = [:]

    // Snapshot writer: one serial queue; commits follow durable writes.
    private let writer = DispatchQueue(label: "credit-meter.snapshots")
    private let pendingWrites = DispatchGroup()
    private let writeFailure = Locked<String?>(nil)

    // Per-batch counters, folded into status and metrics.
    private var batch = ServiceStatus()

    init(config: ServiceConfiguration, bootstrap: String, logger: Logger, board: StatusBoard, stopFlag: StopSignal) {
        self.config = config
        self.engine = config.engine
        self.bootstrap = bootstrap
        self.logger = logger
        self.board = board
        self.stopFlag = stopFlag
        self.store = SnapshotStore(dir: config.snapshots.dir, keep: config.snapshots.keep)
    }

    // MARK: Run

    func run() throws {
        output = try OutputPublisher(kafka: config.kafka, bootstrap: bootstrap, logger: logger)
        consumer = try KafkaConsumer(properties: KafkaSettings.consumer(config.kafka, bootstrap: bootstrap), logger: logger) {
            [unowned self] event in self.rebalance(event)
        }
        try consumer.subscribe(config.kafka.inputTopics)
        board.update { $0.running = true }
        logger.info("credit-meter consuming", metadata: ["topics": "\(config.kafka.inputTopics)", "group": "\(config.kafka.groupID)"])
        let clock = ContinuousClock()
        var lastBalances = clock.now
        var lastSnapshot = clock.now
        var lastProgress = clock.now
        let snapshotEvery = Duration.seconds(config.snapshots.intervalSeconds)
        defer { board.update { $0.running = false } }
        do {
            while !stopFlag.isRequested {
                try consumer.poll(timeoutMs: 50, max: 2048) { m throws in try process(m) }
                output.producer.poll(timeoutMs: 0)
                try checkHealth()
                let now = clock.now
                if now - lastBalances >= Self.balancesInterval {
                    for st in states.values { st.tick() }
                    lastBalances = now
                }
                try publishDueBalances(budget: 1_000)
                if now - lastSnapshot >= snapshotEvery {
                    try snapshot(Array(states.values), synchronous: false)
                    lastSnapshot = now
                }
                if now - lastProgress >= .seconds(5) {
                    logProgress()
                    lastProgress = now
                }
                foldBatch()
            }
        } catch {
            // Leave the group without snapshotting: the state may be ahead of what was acknowledged.
            stopping = true
            abandon = true
            consumer.close()
            throw error
        }
        // Clean stop: leaving the group revokes every partition, which snapshots and commits it.
        stopping = true
        consumer.close()
        try output.producer.flush(timeoutMs: 30_000)
        pendingWrites.wait()
        foldBatch()
        if let failure { throw failure }
        if let message = writeFailure.value { throw ServiceError(message) }
        logger.info("credit-meter stopped cleanly")
    }

    private var abandon = false
    /// Balances records are coalesced per account over this interval (and flushed before
    /// every snapshot and at shutdown, so the last record per key is always current).
    static let balancesInterval = Duration.seconds(1)

    private func checkHealth() throws {
        if let failure { throw failure }
        if let fatal = consumer.fatalError ?? output.producer.fatalError { throw fatal }
        if output.deliveries.failed > 0 {
            throw ServiceError("a record could not be delivered (\(output.deliveries.firstFailure?.message ?? "unknown")); "
                               + "stopping without a snapshot so that a restart replays and re-produces it")
        }
        if let message = writeFailure.value { throw ServiceError("snapshot write failed: \(message)") }
    }

    // MARK: Records

    @inline(__always)
    private func state(for m: KafkaMessage) -> PartitionState? {
        let handle = m.topicHandle
        let partition = m.partition
        if handle == cached.handle && partition == cached.partition, let s = cached.state { return s }
        let s = states[TopicPartition(m.topic, partition)]
        cached = (handle, partition, s)
        return s
    }

    private func process(_ m: KafkaMessage) throws {
        if let error = m.error {
            if KafkaConsumer.isOffsetOutOfRange(error) {
                // Skipping ahead (or starting over) would lose or double records silently.
                failure = failure ?? ServiceError("\(m.topic)/\(m.partition): the position to resume from is no longer in the topic "
                                                  + "(\(error.message)); records would be skipped — restore a snapshot the topic still covers")
                return
            }
            if !m.isPartitionEOF { logger.warning("consumer error", metadata: ["error": "\(error)"]) }
            return
        }
        guard let st = state(for: m) else {
            logger.warning("record from an unassigned partition ignored", metadata: ["partition": "\(m.topic)/\(m.partition)"])
            return
        }
        let offset = m.offset
        if offset < st.nextOffset { return }  // already applied (redelivery after a seek)
        batch.consumed += 1
        let recordTime = m.timestampMs.map { $0 * 1_000_000 }
        let result: ApplyResult
        do throws(DecodeFailure) {
            let event: DecodedEvent
            if let attributes = Self.binaryAttributes(m) {
                event = try decoder.decode(m.value, binary: attributes)
            } else {
                event = try decoder.decode(m.value)
            }
            result = st.ledger.apply(event, key: m.key, recordTime: recordTime)
        } catch {
            try deadLetter(m, reason: error.description)
            st.nextOffset = offset + 1
            return
        }
        switch result.outcome {
        case .applied:
            batch.applied += 1
            if result.version >= 0 { batch.priced += 1; batch.creditsChargedMillicredits &+= result.charged }
            st.markDirty(result.account)
            if result.alertCount > 0 {
                for a in result.alerts { try output.publish(a) }
                batch.alertsPublished += Int64(result.alertCount)
            }
            if result.requestCount > 0 { for r in result.requests { try output.publish(r) } }
        case .duplicate:
            batch.duplicates += 1
        case .rejected(let reason):
            try deadLetter(m, reason: reason.description)
        }
        st.nextOffset = offset + 1
    }

    private func deadLetter(_ m: KafkaMessage, reason: String) throws {
        batch.deadLettered += 1
        try output.deadLetter(m, reason: reason)
        logger.debug("dead-lettered", metadata: ["partition": "\(m.topic)/\(m.partition)", "offset": "\(m.offset)", "reason": "\(reason)"])
    }

    /// CloudEvents binary mode: `ce_*` headers carry the attributes.
    static func binaryAttributes(_ m: KafkaMessage) -> BinaryModeAttributes? {
        var attrs = BinaryModeAttributes()
        var found = false
        m.forEachHeader { name, value in
            guard name[0] == 0x63, name[1] == 0x65, name[2] == 0x5F else { return }  // "ce_"
            let n = String(cString: name)
            switch n {
            case "ce_specversion": attrs.specversion = value; found = true
            case "ce_id": attrs.id = value
            case "ce_source": attrs.source = value
            case "ce_type": attrs.type = value
            case "ce_subject": attrs.subject = value
            case "ce_time": attrs.time = value
            default: break
            }
        }
        return found ? attrs : nil
    }

    // MARK: Balances, snapshots, rebalances

    /// Republishes due balances documents, at most `budget` per pass, so that a burst of them
    /// never holds up incoming records for long.
    private func publishDueBalances(budget: Int) throws {
        guard output.balances != nil else { return }
        var left = budget
        for st in states.values where st.hasDue {
            for i in st.takeDue(limit: left) {
                try output.publishBalance(st.ledger, i)
                batch.balancesPublished += 1
                left -= 1
            }
            if left == 0 { return }
        }
    }

    /// Every pending balances document of these partitions, now (before a snapshot or a
    /// revocation, so that the last record per key is current).
    private func publishAllBalances(_ parts: [PartitionState]) throws {
        guard output.balances != nil else { return }
        for st in parts {
            st.tick()
            for i in st.takeDue(limit: nil) {
                try output.publishBalance(st.ledger, i)
                batch.balancesPublished += 1
            }
        }
    }

    /// Flushes outputs, then captures each partition's state and next offset. The write (and
    /// the group commit after it) happens on the writer queue unless `synchronous`.
    private func snapshot(_ parts: [PartitionState], synchronous: Bool) throws {
        let changed = parts.filter { $0.nextOffset != $0.snapshotOffset }
        guard !changed.isEmpty, let store else { return }
        try publishAllBalances(changed)
        let started = ContinuousClock.now
        try output.producer.flush(timeoutMs: 60_000)
        try checkHealth()
        let wallMillis = Int64(Date().timeIntervalSince1970 * 1000)
        var jobs: [(TopicPartition, Int64, [UInt8])] = []
        for st in changed {
            let bytes = SnapshotCodec.encode(st.ledger, topic: st.tp.topic, partition: st.tp.partition,
                                             nextOffset: st.nextOffset, metadata: wallMillis)
            jobs.append((st.tp, st.nextOffset, bytes))
            st.snapshotOffset = st.nextOffset
        }
        let consumer = self.consumer!
        let logger = self.logger
        let board = self.board
        let metrics = self.metrics
        let writeFailure = self.writeFailure
        let jobsToWrite = jobs
        let work: @Sendable () -> Void = {
            var commits: [TopicPartition: Int64] = [:]
            for (tp, offset, bytes) in jobsToWrite {
                do {
                    try store.write(bytes, for: tp, nextOffset: offset)
                    commits[tp] = offset
                } catch {
                    logger.error("snapshot write failed", metadata: ["partition": "\(tp)", "error": "\(error)"])
                    writeFailure.withLock { if $0 == nil { $0 = "\(tp): \(error)" } }
                }
            }
            do { try consumer.commit(commits) } catch {
                // Not fatal: offsets are for lag tools; the snapshot is the source of truth.
                logger.warning("offset commit failed", metadata: ["error": "\(error)"])
            }
            let elapsed = ContinuousClock.now - started
            metrics.snapshotDuration.recordNanoseconds(elapsed.nanoseconds)
            board.update { $0.snapshotsWritten += Int64(jobsToWrite.count); $0.lastSnapshotMillis = elapsed.milliseconds }
        }
        if synchronous {
            pendingWrites.wait()
            work()
        } else {
            writer.async(group: pendingWrites, execute: work)
        }
    }

    private func rebalance(_ event: RebalanceEvent) -> [TopicPartition: Int64] {
        // Snapshot writes (and their commits) in flight finish first: a partition restored
        // now must see the newest snapshot, and no commit may land after a revocation.
        pendingWrites.wait()
        switch event {
        case .assigned(let tps):
            var offsets: [TopicPartition: Int64] = [:]
            for tp in tps {
                do {
                    let st = try restore(tp)
                    states[tp] = st
                    offsets[tp] = st.nextOffset
                } catch {
                    failure = failure ?? error
                    logger.critical("cannot restore partition", metadata: ["partition": "\(tp)", "error": "\(error)"])
                }
            }
            cached = (nil, -1, nil)
            logger.info("partitions assigned", metadata: ["partitions": "\(tps.map(\.description))"])
            foldBatch()
            return offsets
        case .revoked(let tps, let lost):
            let parts = tps.compactMap { states[$0] }
            if !lost && !abandon && failure == nil {
                do {
                    try snapshot(parts, synchronous: true)
                } catch {
                    failure = failure ?? error
                    logger.error("could not snapshot revoked partitions", metadata: ["error": "\(error)"])
                }
            }
            if stopping { for st in parts { finalStates[st.tp] = st } }
            for tp in tps { states[tp] = nil }
            cached = (nil, -1, nil)
            logger.info("partitions revoked", metadata: ["partitions": "\(tps.map(\.description))", "lost": "\(lost)"])
            foldBatch()
            return [:]
        }
    }

    private func restore(_ tp: TopicPartition) throws -> PartitionState {
        if let store, let (ledger, header, path) = try store.restore(tp, config: engine, logger: logger) {
            logger.info("restored from snapshot", metadata: ["partition": "\(tp)", "next_offset": "\(header.nextOffset)",
                                                             "accounts": "\(header.accounts)", "path": "\(path)"])
            return PartitionState(tp: tp, ledger: ledger, nextOffset: header.nextOffset)
        }
        logger.info("no snapshot: starting from the beginning", metadata: ["partition": "\(tp)"])
        let st = PartitionState(tp: tp, ledger: PartitionLedger(config: engine), nextOffset: KafkaOffset.beginning)
        st.snapshotOffset = KafkaOffset.beginning
        return st
    }

    private func foldBatch() {
        let b = batch
        batch = ServiceStatus()
        if b.consumed > 0 { metrics.consumed.increment(by: b.consumed) }
        if b.priced > 0 { metrics.priced.increment(by: b.priced) }
        if b.duplicates > 0 { metrics.duplicates.increment(by: b.duplicates) }
        if b.deadLettered > 0 { metrics.deadLettered.increment(by: b.deadLettered) }
        if b.creditsChargedMillicredits > 0 { metrics.charged.increment(by: b.creditsChargedMillicredits) }
        if b.alertsPublished > 0 { metrics.alerts.increment(by: b.alertsPublished) }
        var positions: [TopicPartition: Int64] = [:]
        for (tp, st) in states { positions[tp] = st.nextOffset }
        let failures = output?.deliveries.failed ?? 0
        board.update { s in
            s.consumed += b.consumed; s.applied += b.applied; s.priced += b.priced; s.duplicates += b.duplicates
            s.deadLettered += b.deadLettered; s.alertsPublished += b.alertsPublished; s.balancesPublished += b.balancesPublished
            s.creditsChargedMillicredits &+= b.creditsChargedMillicredits
            s.deliveryFailures = failures
            s.positions = positions
        }
    }

    private func logProgress() {
        let s = board.current
        logger.info("progress", metadata: ["consumed": "\(s.consumed)", "priced": "\(s.priced)", "duplicates": "\(s.duplicates)",
                                           "dead_lettered": "\(s.deadLettered)", "alerts": "\(s.alertsPublished)",
                                           "partitions": "\(states.count)"])
    }
}

public struct ServiceError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
    var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
