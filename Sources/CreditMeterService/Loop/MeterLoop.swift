import CreditConfig
import CreditEngine
import Kafka
import Logging

/// The consuming thread: Kafka records in, engine decisions out. Owns every held partition's
/// ledger; nothing else touches them while it runs. What happens when — polling, periodic
/// work, snapshots, what a revoke does, how a stop or a failure ends it — is decided by
/// `LoopStateMachine`; this class performs the actions, with one room per job:
/// `Assignment` (the held partitions), `Restorer` (where their state comes from),
/// `OutputCadence` (read views, positions, balances documents), `HoldExpiryPass` (the hold
/// expiries written to the input), `SnapshotWriter` (durable snapshots and the group commits
/// after them), `RecordCounts` (the service's counts).
///
/// Durability protocol (contract §8): a snapshot records next offset `o` only after every
/// alert, dead letter and balances record caused by records before `o` is acknowledged
/// (`OutputsAcknowledged`): a periodic snapshot is captured without stopping the loop and
/// handed to the writer once the acknowledged watermark of the numbered outputs
/// (`OutputSequence`) passes every output it covers (`PendingSnapshot`); group offsets are
/// committed only by the snapshot writer, after the snapshot is durable; the assignment changes
/// only once the captures are settled and the writes in flight drained (`WritesDrained`), so no
/// commit lands after a revoke.
final class MeterLoop {
    private let config: ServiceConfiguration
    private let logger: Logger
    private let model: ReadModel
    private let ownership: OwnershipDirectory?
    private let stopSignal: StopSignal

    private let consumer: KafkaConsumer
    private let output: OutputPublisher
    private let pipeline = RecordPipeline()
    private var machine: LoopStateMachine
    private var assignment = Assignment()
    private let restorer: Restorer
    private let cadence: OutputCadence
    private let writer: SnapshotWriter
    private let counts: RecordCounts
    /// Hold requests made over HTTP that wait for their event (§15).
    private let holdAnswers: HoldAnswers
    private let expiries: HoldExpiryPass
    /// Ledgers of the partitions handed over by the stop's revokes (the demo's final table, tests).
    private var finalStates: [TopicPartition: PartitionState] = [:]
    /// Snapshots captured and not yet handed to the writer, oldest first (as many as the
    /// state machine counts: `LoopStateMachine.capturesWaiting`).
    private var pending: [PendingSnapshot] = []
    private var profile = LoopProfile()
    /// The last pass published a full budget of balances documents: more may be due, so the
    /// next poll does not wait.
    private var balancesLeft = false
    /// The partitions whose views the current views round has yet to publish (see
    /// `OutputCadence.publishViews(round:state:budget:)`).
    private var viewsRound: ArraySlice<TopicPartition> = []
    /// Views fell due while a round was still going: the next round starts when it ends.
    private var viewsDueAgain = false
    /// How long one step of a views round may take before the loop polls again: at 50k events/s
    /// a round has a few thousand changed accounts (≈ 1.7 µs a view), 10–25 ms in one pass,
    /// which every record arriving meanwhile (and its alert) would wait for.
    static let viewsStepBudget = Duration.milliseconds(2)

    /// Connects the producers and the consumer (a missing state topic stops the start, with
    /// its name).
    init(config: ServiceConfiguration, bootstrap: String, logger: Logger, board: StatusBoard, stopSignal: StopSignal,
         stopAfterProcessed: Int64?, model: ReadModel, ownership: OwnershipDirectory?, holds: HoldWaiters,
         wallClock: @escaping WallClock) throws {
        self.config = config
        self.logger = logger
        self.model = model
        self.ownership = ownership
        self.stopSignal = stopSignal
        let output = try OutputPublisher(kafka: config.kafka, bootstrap: bootstrap, logger: logger)
        var stateTopic: StateTopic?
        if let topic = config.kafka.stateTopic {
            let st = try StateTopic(topic: topic, kafka: config.kafka, bootstrap: bootstrap, logger: logger)
            _ = try st.statePartitions()
            stateTopic = st
        }
        // The rebalance callback is given to the consumer before this loop exists: it goes
        // through a relay that the loop joins below.
        let relay = RebalanceRelay()
        let consumer = try KafkaConsumer(properties: KafkaSettings.consumer(config.kafka, bootstrap: bootstrap), logger: logger) {
            event in relay.handle(event)
        }
        let counts = RecordCounts(board: board)
        let store = SnapshotStore(dir: config.snapshots.dir, keep: config.snapshots.keep)
        self.output = output
        self.consumer = consumer
        self.counts = counts
        holdAnswers = HoldAnswers(waiters: holds)
        writer = SnapshotWriter(store: store, stateTopic: stateTopic, group: consumer, board: board, wallClock: wallClock, logger: logger)
        restorer = Restorer(store: store, stateTopic: stateTopic, engine: config.engine, counts: counts, logger: logger)
        cadence = OutputCadence(output: output, model: model, consumer: consumer, counts: counts)
        expiries = HoldExpiryPass(output: output, wallClock: wallClock, counts: counts, logger: logger)
        let fragile = KafkaSettings.effectiveAssignmentStrategy(config.kafka).contains("cooperative-sticky")
            && !KafkaConsumer.cooperativeStickyIsSafe
        machine = LoopStateMachine(.init(snapshotInterval: .seconds(config.snapshots.intervalSeconds),
                                         stopAfterProcessed: stopAfterProcessed, firstAssignmentIsFragile: fragile))
        relay.loop = self
    }

    // MARK: Run

    /// Consumes until a stop or a failure, leaves the group, and returns the ledgers the stop
    /// handed over — or throws the first failure.
    func run() throws -> [TopicPartition: PartitionLedger] {
        try consumer.subscribe(config.kafka.inputTopics)
        machine.start(now: .now)
        model.setRunning(true)
        defer { model.setRunning(false) }
        logger.info("credit-meter consuming", metadata: ["topics": "\(config.kafka.inputTopics)", "group": "\(config.kafka.groupID)"])
        consume()
        leaveGroup()
        // A clean stop flushes what is still queued (the revokes flushed what they covered).
        if machine.phase == .stopping {
            do { _ = try output.flush(timeoutMs: 30_000, republish: republishBalance) } catch { _ = machine.failed(error) }
        }
        settleSnapshots(consumerClosed: true)
        let drained = writer.drain()
        counts.noteProcessed(assignment.states)
        counts.collect(assignment.states, through: .now)
        counts.publish(deliveryFailures: output.deliveries.failed)
        switch machine.finish(after: drained, writeFailure: writer.failure) {
        case .stoppedCleanly:
            logger.info("credit-meter stopped cleanly")
            return finalStates.mapValues(\.ledger)
        case .fail(let error):
            throw error
        }
    }

    /// Polls until the state machine says to leave: one poll of up to 2048 records, then what
    /// is due. A failure is handed to the machine, which then says to abandon.
    private func consume() {
        while true {
            switch machine.step(stopRequested: stopSignal.isRequested, processed: counts.processed) {
            case .poll: break
            case .leaveGroup, .abandon: return
            }
            do {
                // The wait for a first record, then the rest of what is queued (see `LoopProfile`).
                let started = ContinuousClock.now
                var seenMs: Int64 = 0
                func take(_ m: KafkaMessage) throws {
                    if let ts = m.timestampMs { profile.age.add(timestampMs: ts, seenMs: seenMs) }
                    try process(m)
                }
                var n = try consumer.poll(timeoutMs: balancesLeft || !viewsRound.isEmpty ? 0 : 50, max: 1) { m throws in
                    seenMs = systemWallClock() / 1_000_000  // the producers' clock, not a test's
                    try take(m)
                }
                let waited = ContinuousClock.now
                if n > 0 { n += try consumer.poll(timeoutMs: 0, max: 2047) { m throws in try take(m) } }
                if holdAnswers.hasDue { holdAnswers.answer(cadence) }
                let applied = ContinuousClock.now
                profile.wait.add(waited - started)
                if n > 0 { profile.apply.add(applied - waited); profile.records += n }
                output.producer.poll(timeoutMs: 0)
                _ = try output.produceUnconfirmedAgain(republish: republishBalance)
                try checkHealth()
                profile.outputs.add(ContinuousClock.now - applied)
                try perform(machine.due(now: .now))
                try advanceSnapshots()
                counts.noteProcessed(assignment.states)
                profile.endIteration(waitEnded: waited, now: .now)
            } catch {
                _ = machine.failed(error)
            }
        }
    }

    private func perform(_ due: LoopStateMachine.Due) throws {
        var t = ContinuousClock.now
        func lap(_ span: inout LoopProfile.Span) {
            let now = ContinuousClock.now
            span.add(now - t)
            t = now
        }
        if due.contains(.views) || viewsDueAgain {
            if viewsRound.isEmpty {
                viewsDueAgain = false
                viewsRound = ArraySlice(assignment.states.map(\.tp).sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) })
            } else {
                viewsDueAgain = true
            }
        }
        if !viewsRound.isEmpty {
            let published = cadence.publishViews(round: &viewsRound, state: { assignment[$0] }, budget: Self.viewsStepBudget)
            // Counts after the views they count (see `RecordCounts`).
            counts.collect(published, through: .views)
            counts.publish(deliveryFailures: output.deliveries.failed)
            lap(&profile.views)
        } else if due.contains(.views) {
            // No partition held: what partitions leaving folded, restores, delivery failures.
            counts.publish(deliveryFailures: output.deliveries.failed)
        }
        if due.contains(.balances) {
            cadence.makeBalancesDue(assignment.states, replaying: due.contains(.replayBalances))
            expiries.run(assignment.states)
        }
        let published = try cadence.publishDueBalances(assignment.states)
        balancesLeft = published == OutputCadence.balancesBudget
        if published > 0 { lap(&profile.balances) }
        if due.contains(.overdueCapture) {
            // Before a new capture, which then starts the next oldest.
            settleOverdueSnapshots()
            try checkHealth()
        }
        if due.contains(.snapshot) {
            try captureInBackground()
            // Its balances documents are due now: the next poll does not wait.
            balancesLeft = true
            lap(&profile.snapshot)
        }
        if due.contains(.progress) {
            logProgress()
            profile.log(logger)
        }
    }

    /// Leaves the group as the state machine directs (see `LoopStateMachine.leaveStep`).
    private func leaveGroup() {
        while true {
            let holds = !assignment.isEmpty || !((try? consumer.assignment())?.isEmpty ?? true)
            switch machine.leaveStep(now: .now, holdsPartitions: holds) {
            case .poll(let applying):
                pollWhileLeaving(applying: applying)
            case .unsubscribe:
                do {
                    try consumer.unsubscribe()
                    machine.unsubscribed(now: .now)
                } catch {
                    logger.warning("unsubscribe failed; closing directly", metadata: ["error": "\(error)"])
                    machine.unsubscribeFailed()
                }
            case .close:
                consumer.close()
                return
            case .abandonConsumer:
                logger.warning("stopping before the group's first assignment: the consumer is left open (librdkafka#4312)")
                consumer.abandon()
                return
            }
        }
    }

    /// One poll while leaving: records applied (a clean stop; the revokes' snapshots cover
    /// them) or ignored (after a failure: nothing will be snapshotted).
    private func pollWhileLeaving(applying: Bool) {
        do {
            if applying {
                try consumer.poll(timeoutMs: 50, max: 2048) { m throws in try process(m) }
            } else {
                consumer.poll(timeoutMs: 50, max: 2048) { _ in }
            }
            if holdAnswers.hasDue { holdAnswers.answer(cadence) }
            output.producer.poll(timeoutMs: 0)
        } catch {
            logger.error("could not apply records while leaving the group", metadata: ["error": "\(error)"])
            machine.pollFailed(error, now: .now)
        }
    }

    private func checkHealth() throws {
        if let failure = machine.failure { throw failure }
        if let fatal = consumer.fatalError ?? output.producer.fatalError { throw fatal }
        if let failure = output.deliveryFailure { throw deliveryFailed(failure) }
        if let message = writer.failure { throw ServiceError("snapshot write failed: \(message)") }
    }

    /// Records a failed delivery; returns the failure the loop now reports.
    private func deliveryFailed(_ failure: OutputPublisher.DeliveryFailure) -> any Error {
        if case .abandon(let error) = machine.deliveryFailed(failure.reason) { return error }
        return machine.failure ?? ServiceError("a record could not be delivered (\(failure.reason))")
    }

    // MARK: Records

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
        guard let st = assignment.state(for: m) else {
            logger.warning("record from an unassigned partition ignored", metadata: ["partition": "\(m.topic)/\(m.partition)"])
            return
        }
        let offset = m.offset
        if offset < st.nextOffset { return }  // already applied (redelivery after a seek)
        // Its bucket is decided before it is applied (see `RecordCounts`).
        if _slowPath(st.isRereading) {
            if let until = st.rereadUntil, offset < until { counts.reread(in: st) } else { st.resumeCounting() }
        }
        let outcome = pipeline.process(m, into: st.ledger)
        switch outcome {
        case .applied(_, let result):
            if result.account >= 0 { st.markDirty(result.account) }  // -1: a hold event for an account with no state (§15)
            // Hold events alone (nil for every other event): one branch per record.
            if let hold = result.hold, case .applied(let event, _) = outcome {
                holdAnswers.applied(event, hold, account: result.account, in: st)
            }
            if result.alertCount > 0 {
                for a in result.alerts {
                    try output.publish(a)
                    if !st.isRereading { counts.alertPublished(a.kind.type, in: st) }
                }
            }
            if result.requestCount > 0 { for r in result.requests { try output.publish(r) } }
        case .duplicate:
            break
        case .deadLetter(let reason):
            // The one exit for bad input: decode failures and ledger rejections alike.
            try deadLetter(m, reason: reason)
        case .rejected(let event, let rejection):
            try deadLetter(m, reason: rejection.description)
            if event.type.isHold { holdAnswers.rejected(event, rejection, in: st) }
        }
        st.nextOffset = offset + 1
    }

    private func deadLetter(_ m: KafkaMessage, reason: String) throws {
        try output.deadLetter(m, reason: reason)
        logger.debug("dead-lettered", metadata: ["partition": "\(m.topic)/\(m.partition)", "offset": "\(m.offset)", "reason": "\(reason)"])
    }

    // MARK: Snapshots

    /// The periodic snapshot, without stopping: captures the changed partitions (copy-on-write)
    /// at their next offsets, with the number the next output gets, and makes their pending
    /// balances documents due — the budgeted passes publish them between polls (see
    /// `advanceSnapshots`), except those of replaying partitions, published now: a replay is
    /// one burst that nobody reads yet, coalesced over 10 s, and its snapshots must not wait
    /// for it at 250 documents per poll. Unchanged partitions only carry their pending commits.
    private func captureInBackground() throws {
        let started = ContinuousClock.now
        let parts = Array(assignment.states)
        let changed = parts.filter(\.needsSnapshot)
        let hasBalances = output.balances != nil
        if hasBalances { try cadence.publishAll(changed.filter(\.isReplaying)) }
        let owed = changed.map { st in (state: st, through: hasBalances ? st.tickForCapture() : st.balancesTaken) }
        let capture = writer.capture(changed, covering: parts.map(\.tp), outputsBelow: output.produced, pauseStarted: started,
                                     started: started)
        logger.debug("snapshot captured", metadata: ["partitions": "\(changed.count)",
                                                     "unacknowledged_outputs": "\(output.produced - output.watermark)"])
        let new = PendingSnapshot(capture, owed: owed)
        switch machine.captured() {
        case .startOldest, .startNewest: pending.append(new)
        case .mergeIntoNewest: pending[pending.count - 1].merge(new)
        }
        assertCapturesAgree()
    }

    /// After each poll's work: the oldest capture learns its outputs once the balances
    /// documents it waits for are produced, and goes to the writer once they are acknowledged
    /// (`LoopStateMachine.acknowledged`).
    private func advanceSnapshots() throws {
        guard !pending.isEmpty else { return }
        try checkHealth()
        if machine.oldestCapture == .publishingBalances, pending[0].balancesPublished {
            machine.capturedBalancesPublished(outputsBelow: output.produced)
        }
        switch machine.acknowledged(below: output.watermark) {
        case .none:
            break
        case .handOverOldest(let n):
            guard let acknowledged = output.acknowledged(below: n) else {
                preconditionFailure("outputs below \(n) handed over unacknowledged (watermark \(output.watermark))")
            }
            var oldest = pending.removeFirst()
            oldest.seal(outputsBelow: n)
            logger.debug("snapshot handed to the writer", metadata: [
                "partitions": "\(oldest.capture.parts.count)", "outputs_below": "\(n)",
                "waited_ms": "\((ContinuousClock.now - oldest.capture.started).milliseconds)"])
            writer.writeInBackground(oldest.capture, after: acknowledged)
        case .discardAll:
            discard()
        case .flushAndHandOverAll, .removeLost:
            preconditionFailure("only `settle` flushes, only `losing` removes")
        }
        assertCapturesAgree()
    }

    /// The captures the loop holds are the ones the state machine counts.
    private func assertCapturesAgree() {
        precondition(pending.count == machine.capturesWaiting, "the loop's captures and the state machine's disagree")
    }

    /// How long the oldest capture has waited for its outputs (nil: none waits).
    private var oldestCaptureWaited: Duration? { pending.first.map { ContinuousClock.now - $0.capture.started } }

    /// The oldest capture waited `LoopStateMachine.flushWait` for its outputs (an output
    /// partition without a leader stalls the watermark): the captures are settled with a
    /// bounded flush, whose timeout stops the service like any failed flush.
    private func settleOverdueSnapshots() {
        logger.warning("the oldest snapshot waited too long for its outputs; flushing the producer", metadata: [
            "waited_ms": "\(oldestCaptureWaited?.milliseconds ?? 0)", "unacknowledged_outputs": "\(output.produced - output.watermark)",
            "flush_timeout_ms": "\(LoopStateMachine.overdueFlushWait.milliseconds)"])
        settleSnapshots(flushWait: LoopStateMachine.overdueFlushWait)
    }

    /// Before the assignment changes, before the final drain, and once the oldest is overdue
    /// (see `LoopStateMachine.settle`): the captures still waiting are handed over once their
    /// balances are published and the producer flushed (up to `flushWait`) — or discarded.
    private func settleSnapshots(consumerClosed: Bool = false, flushWait: Duration = LoopStateMachine.flushWait) {
        defer {
            pending.removeAll()
            precondition(machine.capturesWaiting == 0, "captures left after settling")
        }
        switch machine.settle(consumerClosed: consumerClosed) {
        case .none:
            return
        case .discardAll:
            discard()
        case .flushAndHandOverAll:
            do {
                try cadence.publishAll(pending.flatMap(\.states))
                let acknowledged = try flushOutputs(within: flushWait)
                for var p in pending {
                    p.seal(outputsBelow: acknowledged.below)
                    writer.writeInBackground(p.capture, after: acknowledged)
                }
            } catch {
                _ = machine.failed(error)
                logger.error("could not settle the snapshots waiting for their outputs", metadata: ["error": "\(error)"])
            }
        case .handOverOldest, .removeLost:
            preconditionFailure("settling hands over all or nothing")
        }
    }

    /// Before a revoke of lost partitions (see `LoopStateMachine.losing`): the captures still
    /// waiting go on without them, and nothing is flushed — the partitions leave `assignment`
    /// before any flush or repeated produce, so no balances document of theirs is produced
    /// again after the new owner's (`republishBalance` finds nothing and the number counts as
    /// acknowledged). Their commits are forgotten by the revoke (`drop`).
    private func loseFromSnapshots(_ lost: [TopicPartition]) {
        switch machine.losing() {
        case .none:
            return
        case .discardAll:
            discard()
        case .removeLost:
            let lost = Set(lost)
            for i in pending.indices { pending[i].remove(lost) }
            logger.debug("lost partitions removed from the snapshots waiting for their outputs", metadata: [
                "partitions": "\(lost.map(\.description).sorted())", "snapshots": "\(pending.count)"])
        case .handOverOldest, .flushAndHandOverAll:
            preconditionFailure("losing partitions hands nothing over")
        }
        assertCapturesAgree()
    }

    /// The captures not handed over are dropped (a failure was seen, or the consumer closed).
    private func discard() {
        defer { pending.removeAll() }
        // Captures of no partition (taken before any assignment) only carry commits: nothing to say.
        guard pending.contains(where: { !$0.capture.parts.isEmpty }) else { return }
        logger.warning("snapshots waiting for their outputs discarded", metadata: [
            "snapshots": "\(pending.count)", "reason": "\(machine.failure.map { "\($0)" } ?? "the consumer is closed")"])
    }

    /// A revoke's snapshot, written before the partitions leave: publishes the pending views and
    /// balances of the changed partitions, flushes, captures them (see `SnapshotCapture`) and
    /// writes them now; unchanged partitions only carry their pending commits.
    private func snapshotNow(_ parts: [PartitionState]) throws -> WritesDrained {
        let covering = parts.map(\.tp)
        let changed = parts.filter(\.needsSnapshot)
        guard !changed.isEmpty else { return writer.writeNow(.nothingChanged(covering: covering), after: .nothing) }
        // The pause counts the pending balances records too (up to 10 s of them during a replay).
        let pauseStarted = ContinuousClock.now
        try cadence.publishAll(changed)
        let flushStarted = ContinuousClock.now
        let acknowledged = try flushOutputs()
        let capture = writer.capture(changed, covering: covering, outputsBelow: acknowledged.below, pauseStarted: pauseStarted,
                                     started: flushStarted)
        return writer.writeNow(capture, after: acknowledged)
    }

    /// Flushes the producer (up to `within`): every output so far acknowledged, or the failure.
    private func flushOutputs(within: Duration = LoopStateMachine.flushWait) throws -> OutputsAcknowledged {
        let acknowledged: OutputsAcknowledged
        do {
            acknowledged = try output.flush(timeoutMs: Int32(clamping: within.milliseconds), republish: republishBalance)
        } catch let failure as OutputPublisher.DeliveryFailure {
            throw deliveryFailed(failure)
        }
        try checkHealth()
        return acknowledged
    }

    /// A balances document reported delivered without an offset is replaced by its account's
    /// current one, under its number (see `OutputPublisher.produceUnconfirmedAgain`).
    private func republishBalance(_ account: [UInt8], tag: UInt64) throws -> Bool {
        try cadence.republishBalance(account: account, tag: tag, in: assignment.states)
    }

    // MARK: Rebalances (on the polling thread, before the change takes effect)

    fileprivate func rebalance(_ event: RebalanceEvent) -> [TopicPartition: Int64] {
        switch event {
        case .assigned(let tps):
            settleSnapshots()
            switch machine.assigned(tps, after: writer.drain()) {
            case .restore(let tps): return restore(tps)
            }
        case .revoked(let tps, let lost):
            if lost { loseFromSnapshots(tps) } else { settleSnapshots() }
            switch machine.revoked(tps, lost: lost, after: writer.drain()) {
            case .snapshotAndDrop(let tps, let keepFinal):
                do {
                    drop(tps, lost: lost, keepFinal: keepFinal, after: try snapshotNow(tps.compactMap { assignment[$0] }))
                } catch {
                    _ = machine.failed(error)
                    logger.error("could not snapshot revoked partitions", metadata: ["error": "\(error)"])
                    drop(tps, lost: lost, keepFinal: keepFinal, after: writer.drain())
                }
            case .drop(let tps, let keepFinal):
                drop(tps, lost: lost, keepFinal: keepFinal, after: writer.drain())
            }
            return [:]
        }
    }

    /// Restores the assigned partitions; returns the offset each starts at.
    private func restore(_ tps: [TopicPartition]) -> [TopicPartition: Int64] {
        model.assigned(tps)
        let found: [TopicPartition: StateTopic.Found]
        do {
            found = try restorer.readStateTopic(tps)
        } catch {
            _ = machine.failed(error)
            logger.critical("cannot read the state topic", metadata: ["error": "\(error)"])
            return [:]
        }
        var offsets: [TopicPartition: Int64] = [:]
        for tp in tps {
            do {
                // Where the log starts and ends now. Records below the end may have balances
                // records already (produced before a crash), so reads wait until the replay
                // passes it; state below the start would skip records, so it is refused.
                let marks = try? consumer.watermarks(tp, timeoutMs: 5_000)
                if marks == nil { logger.warning("log start and end unknown at assignment; reads will not wait for the replay", metadata: ["partition": "\(tp)"]) }
                let st = try restorer.restore(tp, found: found[tp], logStart: marks?.low)
                counts.adopt(st)
                writer.restored(tp, at: st.position)
                st.replay(toLogEndOf: marks)
                cadence.publishRestored(st)
                assignment.add(st)
                offsets[tp] = st.nextOffset
            } catch {
                _ = machine.failed(error)
                logger.critical("cannot restore partition", metadata: ["partition": "\(tp)", "error": "\(error)"])
            }
        }
        ownership?.announce(tps.filter { assignment[$0] != nil },
                            partitionCounts: (try? consumer.partitionCounts(config.kafka.inputTopics, timeoutMs: 5_000)) ?? [:])
        if tps.contains(where: { assignment[$0]?.isReplaying == true }) { machine.replayStarted(now: .now) }
        logger.info("partitions assigned", metadata: ["partitions": "\(tps.map(\.description))"])
        return offsets
    }

    /// The revoked partitions leave: counted, forgotten by the writer and the read model,
    /// released in the ownership directory (unless lost: the next owner's announcement
    /// replaces them), their ledgers kept as the final state when `keepFinal`.
    private func drop(_ tps: [TopicPartition], lost: Bool, keepFinal: Bool, after drained: consuming WritesDrained) {
        holdAnswers.revoked(tps, cadence)
        let parts = assignment.remove(tps)
        counts.release(parts)
        writer.forget(tps, after: drained)
        model.revoked(tps)
        if !lost { ownership?.release(tps) }
        if keepFinal { for st in parts { finalStates[st.tp] = st } }
        logger.info("partitions revoked", metadata: ["partitions": "\(tps.map(\.description))", "lost": "\(lost)"])
    }

    private func logProgress() {
        let s = counts.published
        var metadata: Logger.Metadata = ["consumed": "\(s.consumed)", "priced": "\(s.priced)", "duplicates": "\(s.duplicates)",
                                         "dead_lettered": "\(s.deadLettered)", "alerts": "\(s.alertsPublished)",
                                         "partitions": "\(assignment.count)"]
        if let waited = oldestCaptureWaited { metadata["snapshot_waiting_ms"] = "\(waited.milliseconds)" }
        logger.info("progress", metadata: metadata)
    }
}

/// Forwards the consumer's rebalance callbacks (on the polling thread) to the loop.
private final class RebalanceRelay {
    weak var loop: MeterLoop?

    func handle(_ event: RebalanceEvent) -> [TopicPartition: Int64] {
        loop?.rebalance(event) ?? [:]
    }
}
