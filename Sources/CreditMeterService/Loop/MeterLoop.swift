import CreditConfig
import CreditEngine
import Dispatch
import Foundation
import Kafka
import Logging
import CoreMetrics

/// The consuming thread: Kafka records in, engine decisions out. Owns every partition's
/// ledger; nothing else touches them while it runs. Its lifecycle — when to snapshot, what a
/// revoke does, how a failure ends it — is decided by `LoopStateMachine`; this class performs
/// the actions (Kafka, files, outputs).
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
    /// Partition state in Kafka (§13), when `kafka.state_topic` is set; the snapshot folder is
    /// then a cache.
    private var stateTopic: StateTopic?
    let stopFlag: StopSignal
    /// What HTTP readers see; the loop publishes into it and never reads it.
    let model: ReadModel
    /// Announces the partitions restored here and releases those revoked (§13); nil: one instance.
    var ownership: OwnershipDirectory?
    private let metrics = ServiceMetrics()

    private var consumer: KafkaConsumer!
    private var output: OutputPublisher!
    private let pipeline = RecordPipeline()
    private var machine = LoopStateMachine()
    private var states: [TopicPartition: PartitionState] = [:]
    private var cached: (handle: OpaquePointer?, partition: Int32, state: PartitionState?) = (nil, -1, nil)
    /// The group's first assignment arrived (see `leaveGroup`).
    private var sawAssignment = false
    /// Group offsets still to commit: partitions restored since the last snapshot (the previous
    /// owner's commit can fail mid-rebalance) and commits that failed (retried with the next
    /// snapshot, so lag tools catch up). Shared with the writer queue.
    private let uncommitted = Locked<[TopicPartition: Int64]>([:])
    /// Ledgers as they were when the loop stopped (the demo's final table, tests).
    private(set) var finalStates: [TopicPartition: PartitionState] = [:]
    /// Per partition, the offset up to which this process has counted records (status and
    /// `/metrics`), kept across ownerships: a partition lost without a snapshot and restored
    /// from an older one applies the records in between again, and they are not counted twice.
    private var countedThrough: [TopicPartition: Int64] = [:]
    /// When the newest replay began (the coalescing window of `replayBalancesInterval` counts
    /// from there, not from the loop's start: the group join takes seconds of it).
    private var replayBalancesSince = ContinuousClock.now

    // Snapshot writer: one serial queue; commits follow durable writes.
    private let writer = DispatchQueue(label: "credit-meter.snapshots")
    private let pendingWrites = DispatchGroup()
    private let writeFailure = Locked<String?>(nil)

    // Per-batch counters, folded into status and metrics.
    private var batch = ServiceStatus()

    let wallClock: WallClock

    init(config: ServiceConfiguration, bootstrap: String, logger: Logger, board: StatusBoard, stopFlag: StopSignal, model: ReadModel,
         wallClock: @escaping WallClock) {
        self.wallClock = wallClock
        self.model = model
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
        if let topic = config.kafka.stateTopic {
            let st = try StateTopic(topic: topic, kafka: config.kafka, bootstrap: bootstrap, logger: logger)
            _ = try st.statePartitions()  // a missing state topic stops the start, with its name
            stateTopic = st
        }
        consumer = try KafkaConsumer(properties: KafkaSettings.consumer(config.kafka, bootstrap: bootstrap), logger: logger) {
            [unowned self] event in self.rebalance(event)
        }
        try consumer.subscribe(config.kafka.inputTopics)
        machine.start()
        board.update { $0.running = true }
        model.setRunning(true)
        logger.info("credit-meter consuming", metadata: ["topics": "\(config.kafka.inputTopics)", "group": "\(config.kafka.groupID)"])
        let clock = ContinuousClock()
        var lastBalances = clock.now
        var lastSnapshot = clock.now
        var lastProgress = clock.now
        var lastViews = clock.now
        let snapshotEvery = Duration.seconds(config.snapshots.intervalSeconds)
        defer {
            board.update { $0.running = false }
            model.setRunning(false)
        }
        do {
            steps: while true {
                switch machine.step(stopRequested: stopFlag.isRequested) {
                case .poll: break
                case .leaveGroup: break steps
                case .abandon(let error): throw error
                }
                try consumer.poll(timeoutMs: 50, max: 2048) { m throws in try process(m) }
                output.producer.poll(timeoutMs: 0)
                try checkHealth()
                let now = clock.now
                let tick = now - lastBalances >= Self.balancesInterval
                // Read views first: a view is never older than its account's balances record.
                if tick || now - lastViews >= Self.viewsInterval {
                    publishViews(states.values)
                    lastViews = now
                }
                if tick {
                    // A replaying partition's balances records are coalesced over 10 s instead of
                    // 1 s (a replay is one burst; a snapshot publishes them all first, §8), then
                    // drained at the same 1,000 per pass.
                    let replayTick = now - replayBalancesSince >= Self.replayBalancesInterval
                    for st in states.values where !st.isReplaying || replayTick { st.tick() }
                    if replayTick { replayBalancesSince = now }
                    lastBalances = now
                }
                try publishDueBalances(budget: 1_000)
                if now - lastSnapshot >= snapshotEvery {
                    if case .snapshotInBackground = machine.snapshotDue() {
                        try snapshot(Array(states.values), synchronous: false)
                    }
                    lastSnapshot = now
                }
                if now - lastProgress >= .seconds(5) {
                    logProgress()
                    lastProgress = now
                }
                foldBatch()
                let stopAt = stopFlag.processedThreshold
                if stopAt != .max && board.current.processed >= stopAt { stopFlag.request() }
            }
        } catch {
            // Leave the group without snapshotting: the state may be ahead of what was acknowledged.
            _ = machine.failed(error)
            leaveGroup(applying: false)
            throw error
        }
        // Clean stop: leaving the group revokes every partition, which snapshots and commits it.
        leaveGroup(applying: true)
        try output.producer.flush(timeoutMs: 30_000)
        pendingWrites.wait()
        foldBatch()
        switch machine.finish(writeFailure: writeFailure.value) {
        case .stoppedCleanly: logger.info("credit-meter stopped cleanly")
        case .fail(let error): throw error
        }
    }

    /// Leaves the group, then closes the consumer. The loop never closes with partitions
    /// assigned (a close in the middle of a cooperative rebalance is fragile in librdkafka
    /// 2.0.2): it unsubscribes and polls — revocations snapshot (or, after a failure, drop)
    /// their partitions — until nothing is assigned, and only then closes. `applying`: records still delivered meanwhile are
    /// applied (a clean stop; the revocation's snapshot covers them) or ignored (a failure:
    /// nothing will be snapshotted).
    private func leaveGroup(applying: Bool) {
        // A user who sets cooperative-sticky with librdkafka before 2.3.0: it asserts when such
        // a consumer is destroyed before its first assignment (librdkafka#4312), so a stop that
        // early waits for it (a few seconds: the group is forming); if it never comes, the
        // handle is left open as the process exits.
        let fragile = KafkaSettings.effectiveAssignmentStrategy(config.kafka).contains("cooperative-sticky")
            && !KafkaConsumer.cooperativeStickyIsSafe
        let firstDeadline = ContinuousClock.now + .seconds(20)
        while !sawAssignment && fragile && ContinuousClock.now < firstDeadline {
            guard pollWhileLeaving(applying: applying) else { break }
        }
        if !sawAssignment && fragile {
            logger.warning("stopping before the group's first assignment: the consumer is left open (librdkafka#4312)")
            consumer.abandon()
            return
        }
        do { try consumer.unsubscribe() } catch {
            logger.warning("unsubscribe failed; closing directly", metadata: ["error": "\(error)"])
            consumer.close()
            return
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if states.isEmpty, (try? consumer.assignment())?.isEmpty ?? true { break }
            guard pollWhileLeaving(applying: applying) else { break }
        }
        consumer.close()
    }

    /// One poll while leaving the group: records applied (a clean stop) or ignored (after a
    /// failure). False when applying failed (recorded as the loop's failure).
    private func pollWhileLeaving(applying: Bool) -> Bool {
        do {
            if applying {
                try consumer.poll(timeoutMs: 50, max: 2048) { m throws in try process(m) }
            } else {
                consumer.poll(timeoutMs: 50, max: 2048) { _ in }
            }
        } catch {
            _ = machine.failed(error)
            logger.error("could not apply records while leaving the group", metadata: ["error": "\(error)"])
            return false
        }
        output.producer.poll(timeoutMs: 0)
        return true
    }

    /// Balances records are coalesced per account over this interval (and flushed before
    /// every snapshot and at shutdown, so the last record per key is always current).
    static let balancesInterval = Duration.seconds(1)
    /// The same for a partition that replays (see `PartitionState.replayingUntil`).
    static let replayBalancesInterval = Duration.seconds(10)
    /// Read views of changed accounts are published at least this often (a view costs a copy
    /// of the account and its strings: coalescing matters at high rates).
    static let viewsInterval = Duration.milliseconds(100)

    // MARK: Read views (contract §11)

    /// Publishes the views of the accounts changed since the last call, with each partition's
    /// position. Views are copies (copy-on-write for the account value), built here on the
    /// consuming thread; HTTP threads only ever see finished views.
    /// Also publishes the watermarks from the consumer's last fetch responses (cached by
    /// librdkafka, no request), so lag in `/readyz` and `/metrics` uses positions and log ends
    /// of the same moment.
    private func publishViews<Parts: Sequence<PartitionState>>(_ parts: Parts) {
        var marks: [TopicPartition: (low: Int64, high: Int64)] = [:]
        for st in parts {
            if let w = consumer.cachedWatermarks(st.tp) { marks[st.tp] = w }
            guard st.hasViewsToPublish || st.viewPosition != st.nextOffset else { continue }
            // Still replaying: not readable, so only the position (see `replayingUntil`).
            let changed = st.isReplaying ? [] : st.takeViewDirty()
            batch.viewsBuilt += Int64(changed.count)
            model.publish(st.tp, indices: changed, views: changed.map { st.ledger.view($0) },
                          position: st.nextOffset >= 0 ? st.nextOffset : nil)
            st.viewPosition = st.nextOffset
        }
        if !marks.isEmpty { model.watermarks(marks) }
    }

    private func checkHealth() throws {
        if let failure = machine.failure { throw failure }
        if let fatal = consumer.fatalError ?? output.producer.fatalError { throw fatal }
        if output.deliveries.failed > 0 {
            _ = machine.deliveryFailed(output.deliveries.firstFailure?.message ?? "unknown")
            throw machine.failure!
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
                _ = machine.failed(ServiceError("\(m.topic)/\(m.partition): the position to resume from is no longer in the topic "
                                                + "(\(error.message)); records would be skipped — restore a snapshot the topic still covers"))
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
        // Applied again after a lost assignment, but counted once per process (see `countedThrough`).
        let reread = offset < st.countedThrough
        let countersBefore = reread ? st.ledger.counters : nil
        if reread { batch.reread += 1 } else { batch.consumed += 1 }
        // Outcomes are counted by the ledger (see `collectCounts`), nowhere else.
        switch pipeline.process(m, into: st.ledger) {
        case .applied(_, let result):
            st.markDirty(result.account)
            if result.alertCount > 0 {
                for a in result.alerts {
                    try output.publish(a)
                    if !reread { batch.alertsByType[a.kind.type, default: 0] += 1 }
                }
            }
            if result.requestCount > 0 { for r in result.requests { try output.publish(r) } }
        case .duplicate:
            break
        case .deadLetter(let reason):
            // The one exit for bad input: decode failures and ledger rejections alike.
            try deadLetter(m, reason: reason)
        }
        if let countersBefore { st.uncount(since: countersBefore) }
        st.nextOffset = offset + 1
    }

    private func deadLetter(_ m: KafkaMessage, reason: String) throws {
        try output.deadLetter(m, reason: reason)
        logger.debug("dead-lettered", metadata: ["partition": "\(m.topic)/\(m.partition)", "offset": "\(m.offset)", "reason": "\(reason)"])
    }

    // MARK: Balances, snapshots, rebalances

    /// Republishes due balances documents, at most `budget` per pass, so that a burst of them
    /// never holds up incoming records for long.
    private func publishDueBalances(budget: Int) throws {
        guard output.balances != nil else { return }
        var left = budget
        for st in states.values where st.hasDue {
            let due = st.takeDue(limit: left)
            // An account whose records changed it since its view was published is about to
            // reach the balances topic: its view goes first (only those, not the partition's) —
            // unless the partition replays: not readable, its views wait for the replay's end.
            let changed = st.isReplaying ? [] : due.filter { st.takeViewMark($0) }
            batch.viewsBuilt += Int64(changed.count)
            if !changed.isEmpty { model.publish(st.tp, indices: changed, views: changed.map { st.ledger.view($0) }, position: nil) }
            for i in due {
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
        publishViews(parts)
        guard output.balances != nil else { return }
        for st in parts {
            st.tick()
            for i in st.takeDue(limit: nil) {
                try output.publishBalance(st.ledger, i)
                batch.balancesPublished += 1
            }
        }
    }

    /// Flushes outputs, then captures each partition's state and next offset: a frozen copy of
    /// its ledger (copy-on-write, so capturing costs no encoding on this thread). Encoding, the
    /// file write, the state-topic checkpoint and the group commit after them happen on the
    /// writer queue, unless `synchronous` (a revocation: done before the partition leaves).
    private func snapshot(_ parts: [PartitionState], synchronous: Bool) throws {
        let changed = parts.filter { $0.nextOffset != $0.snapshotOffset }
        // Restored partitions whose group offset may trail their state (the previous owner's
        // commit can fail mid-rebalance): committed with the next snapshot, so lag tools agree.
        let owned = Set(parts.map(\.tp))
        let restoredOffsets = uncommitted.withLock { u in
            let mine = u.filter { owned.contains($0.key) }
            for tp in mine.keys { u[tp] = nil }
            return mine
        }
        let uncommitted = self.uncommitted
        guard !changed.isEmpty, store != nil || stateTopic != nil else {
            if !restoredOffsets.isEmpty, let consumer {
                let commit: @Sendable () -> Void = { [logger] in
                    do { try consumer.commit(restoredOffsets) } catch {
                        logger.warning("offset commit failed; retried with the next snapshot", metadata: ["error": "\(error)"])
                        uncommitted.withLock { u in for (tp, o) in restoredOffsets where (u[tp] ?? .min) < o { u[tp] = o } }
                    }
                }
                // A revocation commits before it completes: no commit may land after it.
                if synchronous { pendingWrites.wait(); commit() } else { writer.async(group: pendingWrites, execute: commit) }
            }
            return
        }
        // The pause counts the pending balances records too (up to 10 s of them during a replay).
        let pauseStarted = ContinuousClock.now
        try publishAllBalances(changed)
        let started = ContinuousClock.now
        try output.producer.flush(timeoutMs: 60_000)
        try checkHealth()
        let wallMillis = wallClock() / 1_000_000
        var jobs: [SnapshotJob] = []
        for st in changed {
            jobs.append(SnapshotJob(tp: st.tp, nextOffset: st.nextOffset, ledger: st.ledger.frozenCopy()))
            st.snapshotOffset = st.nextOffset
        }
        let captured = ContinuousClock.now - pauseStarted
        let consumer = self.consumer!
        let logger = self.logger
        let board = self.board
        let metrics = self.metrics
        let writeFailure = self.writeFailure
        let wallClock = self.wallClock
        let store = self.store
        let stateTopic = self.stateTopic
        let jobsToWrite = jobs
        let work: @Sendable () -> Void = {
            var commits: [TopicPartition: Int64] = restoredOffsets
            var anyDurable = false
            var bytesWritten = 0
            var longestEncode = Duration.zero
            for job in jobsToWrite {
                let encodeStart = ContinuousClock.now
                let bytes = SnapshotCodec.encode(job.ledger, topic: job.tp.topic, partition: job.tp.partition,
                                                 nextOffset: job.nextOffset, metadata: wallMillis)
                longestEncode = max(longestEncode, ContinuousClock.now - encodeStart)
                bytesWritten += bytes.count
                var durable = false
                if let store {
                    do {
                        try store.write(bytes, for: job.tp, nextOffset: job.nextOffset)
                        durable = true
                    } catch {
                        if stateTopic == nil {
                            logger.error("snapshot write failed", metadata: ["partition": "\(job.tp)", "error": "\(error)"])
                            writeFailure.withLock { if $0 == nil { $0 = "\(job.tp): \(error)" } }
                        } else {
                            // With the state topic, the folder is a cache: say so, go on.
                            logger.warning("snapshot cache write failed (the state topic holds the state)",
                                           metadata: ["partition": "\(job.tp)", "error": "\(error)"])
                        }
                    }
                }
                if let stateTopic {
                    do {
                        try stateTopic.write(bytes, for: job.tp, nextOffset: job.nextOffset, wallMillis: wallMillis)
                        durable = true
                    } catch {
                        durable = false
                        logger.error("state topic write failed", metadata: ["partition": "\(job.tp)", "error": "\(error)"])
                        writeFailure.withLock { if $0 == nil { $0 = "\(job.tp): \(error)" } }
                    }
                }
                if durable { commits[job.tp] = job.nextOffset; anyDurable = true }
            }
            // The snapshot's age counts from when it became durable — before the commit, so
            // whoever sees the committed offsets sees this snapshot's age too.
            if anyDurable {
                let durableAt = wallClock() / 1_000_000
                board.update { $0.lastSnapshotWallMillis = durableAt }
            }
            do { try consumer.commit(commits) } catch {
                // Not fatal: offsets are for lag tools; the snapshot is the source of truth.
                logger.warning("offset commit failed; retried with the next snapshot", metadata: ["error": "\(error)"])
                uncommitted.withLock { u in for (tp, o) in commits where (u[tp] ?? .min) < o { u[tp] = o } }
            }
            let elapsed = ContinuousClock.now - started
            metrics.snapshotDuration.recordNanoseconds(elapsed.nanoseconds)
            metrics.snapshotBytes.record(bytesWritten)
            board.update {
                $0.snapshotsWritten += Int64(jobsToWrite.count)
                $0.lastSnapshotMillis = elapsed.milliseconds
                $0.lastSnapshotPauseMicros = captured.nanoseconds / 1_000
                $0.longestEncodeMillis = max($0.longestEncodeMillis, longestEncode.milliseconds)
            }
        }
        if synchronous {
            pendingWrites.wait()
            work()
        } else {
            writer.async(group: pendingWrites, execute: work)
        }
    }

    private func rebalance(_ event: RebalanceEvent) -> [TopicPartition: Int64] {
        switch event {
        case .assigned(let tps):
            sawAssignment = true
            guard case .restore(let tps, let waitForWrites) = machine.assigned(tps) else { return [:] }
            // Snapshot writes (and their commits) in flight finish first: a partition restored
            // now must see the newest snapshot and the newest state-topic checkpoint.
            if waitForWrites { pendingWrites.wait() }
            model.assigned(tps)
            var found: [TopicPartition: StateTopic.Found] = [:]
            if let stateTopic {
                do {
                    found = try stateTopic.read(tps)
                } catch {
                    _ = machine.failed(error)
                    logger.critical("cannot read the state topic", metadata: ["error": "\(error)"])
                    return [:]
                }
            }
            var offsets: [TopicPartition: Int64] = [:]
            for tp in tps {
                do {
                    // Where the log starts and ends now. Records below the end may have balances
                    // records already (produced before a crash), so reads wait until the replay
                    // passes it; state below the start would skip records, so it is refused.
                    let marks = try? consumer.watermarks(tp, timeoutMs: 5_000)
                    if marks == nil { logger.warning("log start and end unknown at assignment; reads will not wait for the replay", metadata: ["partition": "\(tp)"]) }
                    let st = try restore(tp, found: found[tp], logStart: marks?.low)
                    st.countedThrough = countedThrough[tp] ?? .min
                    states[tp] = st
                    offsets[tp] = st.nextOffset
                    // Whatever an earlier owner-ship left here is superseded by this restore.
                    uncommitted.withLock { $0[tp] = st.nextOffset >= 0 ? st.nextOffset : nil }
                    // The one replay rule, for the loop and the read model alike: nothing to replay
                    // when the log ends where consumption starts (an empty partition starts at its
                    // log start).
                    let from = st.nextOffset >= 0 ? st.nextOffset : (marks?.low ?? 0)
                    st.replayingUntil = marks.flatMap { $0.high > from ? $0.high : nil } ?? .min
                    // Views wait for the replay when there is one (they could not be read before).
                    var views: [AccountView] = []
                    if st.isReplaying {
                        st.markAllViews()
                    } else {
                        let ledger = st.ledger
                        views = (0..<ledger.accountCount).map { ledger.view($0) }
                        batch.viewsBuilt += Int64(views.count)
                    }
                    model.restored(tp, position: st.nextOffset >= 0 ? st.nextOffset : nil,
                                   catchUpTo: st.isReplaying ? st.replayingUntil : nil, views: views)
                    st.viewPosition = st.nextOffset
                } catch {
                    _ = machine.failed(error)
                    logger.critical("cannot restore partition", metadata: ["partition": "\(tp)", "error": "\(error)"])
                }
            }
            ownership?.announce(tps.filter { states[$0] != nil }, partitionCounts: (try? consumer.partitionCounts(config.kafka.inputTopics, timeoutMs: 5_000)) ?? [:])
            cached = (nil, -1, nil)
            // A replay starts: the coalescing window of its balances counts from now.
            if tps.contains(where: { states[$0]?.isReplaying == true }) { replayBalancesSince = .now }
            logger.info("partitions assigned", metadata: ["partitions": "\(tps.map(\.description))"])
            foldBatch()
            return offsets
        case .revoked(let tps, let lost):
            let action = machine.revoked(tps, lost: lost)
            let (waitForWrites, keepFinal, snapshotFirst): (Bool, Bool, Bool)
            switch action {
            case .snapshotAndDrop(_, let w, let k): (waitForWrites, keepFinal, snapshotFirst) = (w, k, true)
            case .drop(_, let w, let k): (waitForWrites, keepFinal, snapshotFirst) = (w, k, false)
            }
            // No commit may land after a revocation.
            if waitForWrites { pendingWrites.wait() }
            let parts = tps.compactMap { states[$0] }
            if snapshotFirst {
                do {
                    try snapshot(parts, synchronous: true)
                } catch {
                    _ = machine.failed(error)
                    logger.error("could not snapshot revoked partitions", metadata: ["error": "\(error)"])
                }
            }
            collectCounts(parts)
            for st in parts { countedThrough[st.tp] = max(countedThrough[st.tp] ?? .min, st.nextOffset, st.countedThrough) }
            uncommitted.withLock { u in for tp in tps { u[tp] = nil } }
            model.revoked(tps)
            if !lost { ownership?.release(tps) }
            if keepFinal { for st in parts { finalStates[st.tp] = st } }
            for tp in tps { states[tp] = nil }
            cached = (nil, -1, nil)
            logger.info("partitions revoked", metadata: ["partitions": "\(tps.map(\.description))", "lost": "\(lost)"])
            foldBatch()
            return [:]
        }
    }

    /// A partition's state: the newest of the state topic's checkpoint and the local snapshot
    /// folder (a cache when the state topic is set; used when at least as new), else empty
    /// from the beginning of the input. State that would resume below the input's log start
    /// is refused: the records in between are gone, and skipping them would be silent loss.
    private func restore(_ tp: TopicPartition, found: StateTopic.Found?, logStart: Int64?) throws -> PartitionState {
        var restored: PartitionState?
        var fromCache = false
        // The local folder first: its newest valid snapshot (damaged files fall back to older ones).
        var cacheLine: Logger.Metadata = [:]
        if let store, let (ledger, header, path) = try store.restore(tp, config: engine, logger: logger) {
            restored = PartitionState(tp: tp, ledger: ledger, nextOffset: header.nextOffset)
            fromCache = true
            cacheLine = ["partition": "\(tp)", "next_offset": "\(header.nextOffset)", "accounts": "\(header.accounts)", "path": "\(path)"]
        }
        // The state topic's checkpoint when it is newer than what the folder gave.
        if let found, let m = found.manifest {
            if let problem = found.problem {
                logger.error("state topic checkpoint unusable", metadata: [
                    "partition": "\(tp)", "next_offset": "\(m.nextOffset)", "reason": "\(problem)"])
            } else if let bytes = found.bytes, m.nextOffset > (restored?.nextOffset ?? .min),
                      let st = try decodeCheckpoint(bytes, tp: tp, nextOffset: m.nextOffset) {
                restored = st
                fromCache = false
            }
        }
        if let restored {
            if fromCache {
                logger.info("restored from snapshot", metadata: cacheLine)
                board.update { $0.restoredFromSnapshot += 1 }
                // The folder was newer than the state topic (a crash between the two writes, or
                // the state topic just turned on): checkpoint it with the next snapshot even if
                // no record arrives, so the state is never only on this instance's disk.
                if stateTopic != nil, (found?.manifest?.nextOffset ?? .min) < restored.nextOffset || found?.bytes == nil {
                    restored.snapshotOffset = .min
                }
            }
            if let logStart, restored.nextOffset < logStart {
                throw ServiceError("\(tp): the newest state covers the input up to offset \(restored.nextOffset), but the topic now "
                                   + "starts at \(logStart) (records \(restored.nextOffset)..<\(logStart) were deleted); refusing to skip "
                                   + "them — restore newer state or raise the input's retention")
            }
            return restored
        }
        if let logStart, logStart > 0 {
            throw ServiceError("\(tp): no state found (state topic or snapshots) and the input topic starts at offset \(logStart), "
                               + "not 0: rebuilding from it would skip records 0..<\(logStart); refusing")
        }
        logger.info("no snapshot: starting from the beginning", metadata: ["partition": "\(tp)"])
        board.update { $0.restoredFromBeginning += 1 }
        let st = PartitionState(tp: tp, ledger: PartitionLedger(config: engine), nextOffset: KafkaOffset.beginning)
        st.snapshotOffset = KafkaOffset.beginning
        return st
    }

    /// A checkpoint read from the state topic; a damaged one is reported and skipped, one
    /// refused for a configuration reason (a changed rate card) stops the service.
    private func decodeCheckpoint(_ bytes: [UInt8], tp: TopicPartition, nextOffset: Int64) throws -> PartitionState? {
        do {
            let (ledger, header) = try SnapshotCodec.decode(bytes, config: engine)
            guard header.topic == tp.topic, header.partition == tp.partition, header.nextOffset == nextOffset else {
                logger.error("state topic checkpoint names another partition or offset, skipped", metadata: [
                    "partition": "\(tp)", "names": "\(header.topic)/\(header.partition)@\(header.nextOffset)"])
                return nil
            }
            logger.info("restored from the state topic", metadata: ["partition": "\(tp)", "next_offset": "\(nextOffset)",
                                                                  "accounts": "\(header.accounts)", "bytes": "\(bytes.count)"])
            board.update { $0.restoredFromStateTopic += 1 }
            return PartitionState(tp: tp, ledger: ledger, nextOffset: nextOffset)
        } catch {
            guard error.isDamage else { throw error }
            logger.error("state topic checkpoint is corrupt, skipped", metadata: ["partition": "\(tp)", "reason": "\(error)"])
            return nil
        }
    }

    /// Adds what the partitions' ledgers counted since the last call to this batch.
    private func collectCounts<Parts: Sequence<PartitionState>>(_ parts: Parts) {
        for st in parts {
            let now = st.ledger.counters
            let d = now - st.reported
            batch.applied += d.applied
            batch.priced += d.priced
            batch.duplicates += d.duplicates
            batch.deadLettered += d.rejected
            batch.alertsPublished += d.alerts
            batch.creditsChargedMillicredits &+= d.chargedMillicredits
            st.reported = now
        }
    }

    private func foldBatch() {
        collectCounts(states.values)
        let b = batch
        batch = ServiceStatus()
        var positions: [TopicPartition: Int64] = [:]
        for (tp, st) in states { positions[tp] = st.nextOffset }
        let failures = output?.deliveries.failed ?? 0
        board.update { s in
            s.consumed += b.consumed; s.reread += b.reread; s.applied += b.applied; s.priced += b.priced; s.duplicates += b.duplicates
            s.deadLettered += b.deadLettered; s.alertsPublished += b.alertsPublished; s.balancesPublished += b.balancesPublished; s.viewsBuilt += b.viewsBuilt
            s.creditsChargedMillicredits &+= b.creditsChargedMillicredits
            for (type, n) in b.alertsByType { s.alertsByType[type, default: 0] += n }
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

/// One partition's state captured for the writer queue: a frozen copy of its ledger that no
/// other code holds (the consuming thread goes on with the original).
private struct SnapshotJob: @unchecked Sendable {
    let tp: TopicPartition
    let nextOffset: Int64
    let ledger: PartitionLedger
}

extension Duration {
    package var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
    package var milliseconds: Int64 { nanoseconds / 1_000_000 }
}
