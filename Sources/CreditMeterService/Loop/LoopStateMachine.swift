package import Kafka

/// The consuming loop's lifecycle, as a value: events in (a step, the time, an assignment, a
/// revoke, a failure …), actions out, which `MeterLoop` performs (in the style of swift-nio's
/// `NIOAsyncWriter` and swift-kafka-client's consumer state machine). No I/O, no threads, no
/// clock of its own — the caller passes `now` — so every transition is unit-tested without a
/// broker.
///
///     idle ──start──▶ consuming ──stop──▶ leaving (clean) ──finish──▶ closed
///                         │                   │ a failure here is recorded
///                      failure                │ and reported by `finish`
///                         ▼                   │
///                     leaving (abandoning) ───┘
///
/// The states carry their resources: `consuming` the deadlines of the periodic work, the
/// snapshots captured and not yet handed to the writer, and the writes in flight; `leaving` the
/// stop in progress (clean or after a failure, its stage and deadlines, the failure). Rules
/// (contract §8):
/// - A snapshot is taken only while no failure has been seen: after a failure the state may
///   be ahead of what the broker acknowledged, so it is abandoned, never recorded.
/// - A periodic snapshot does not stop the loop: it is captured (copy-on-write ledgers, next
///   offsets), its partitions' pending balances documents become due, and the loop goes on;
///   once those are produced its outputs are known (every one numbered below some n, see
///   `OutputSequence`), and once every output below n is acknowledged it is handed to the
///   writer, which commits the group offsets after it is durable. A failure discards every
///   capture not handed over. At most two wait: the oldest, for its outputs; the newest takes
///   in every capture made meanwhile until it is the oldest — so a snapshot is always on its
///   way, and at most three copies of a ledger are held: the oldest's, the newest's and the
///   live one.
/// - The oldest waits at most `flushWait` (as long as a flush may take): then it is overdue
///   (`Due.overdueCapture`), and the loop settles the captures with a flush bounded by
///   `overdueFlushWait` — whose timeout stops the service like any failed flush — so a stalled
///   output partition cannot stop snapshots and commits silently.
/// - Captures waiting when the assignment changes are settled first: their balances published,
///   the producer flushed, and handed over — or discarded after a failure. Partitions lost
///   (they already belong to someone else) only leave the captures (`losing()`), which go on
///   waiting: nothing is flushed for a lost revoke.
/// - A revoked partition is snapshotted (synchronously) unless it was lost or a failure was seen.
/// - The assignment changes only with `WritesDrained` in hand (only `SnapshotWriter.drain()`
///   makes one): a partition restored now sees the newest snapshot, and no commit lands after
///   a revoke.
/// - The first failure wins; it is what the loop reports.
package struct LoopStateMachine {
    package typealias Instant = ContinuousClock.Instant

    package struct Settings: Sendable {
        package var snapshotInterval: Duration
        /// The loop asks for the stop itself once this many records are processed (tests: a
        /// stop at a point in the log, not at a moment); nil: never.
        package var stopAfterProcessed: Int64?
        /// A stop before the group's first assignment waits for it (up to
        /// `firstAssignmentWait`), then leaves the consumer open: cooperative-sticky on
        /// librdkafka before 2.3.0 asserts when such a consumer is destroyed (librdkafka#4312).
        package var firstAssignmentIsFragile: Bool

        package init(snapshotInterval: Duration, stopAfterProcessed: Int64? = nil, firstAssignmentIsFragile: Bool = false) {
            self.snapshotInterval = snapshotInterval
            self.stopAfterProcessed = stopAfterProcessed
            self.firstAssignmentIsFragile = firstAssignmentIsFragile
        }
    }

    /// Read views of changed accounts are published at least this often (a view costs a copy
    /// of the account and its strings: coalescing matters at high rates).
    package static let viewsInterval = Duration.milliseconds(100)
    /// Balances records are coalesced per account over this interval (and flushed before
    /// every snapshot and revoke, so the last record per key is always current).
    package static let balancesInterval = Duration.seconds(1)
    /// The same for a partition that replays (a replay is one burst; see
    /// `PartitionState.replayingUntil`), counted from the assignment that started the replay.
    package static let replayBalancesInterval = Duration.seconds(10)
    package static let progressInterval = Duration.seconds(5)
    package static let firstAssignmentWait = Duration.seconds(20)
    /// How long a stop polls for the revocation of what it holds before closing anyway.
    package static let leaveWait = Duration.seconds(30)
    /// How long a flush of the producer may take (a revoke's snapshot, settling the captures),
    /// and how long the oldest capture waits for its outputs before it is overdue.
    package static let flushWait = Duration.seconds(60)
    /// The flush that settles an overdue capture: its outputs have had `flushWait` already.
    package static let overdueFlushWait = Duration.seconds(5)

    // MARK: States

    enum State {
        case idle
        case consuming(Consuming)
        case leaving(Leaving)
        case closed
    }

    /// Polling records.
    struct Consuming {
        var deadlines: Deadlines
        var writes: Writes
        var captures = Captures()
    }

    /// A stop in progress: leaving the group, then closing the consumer.
    struct Leaving {
        /// A requested stop (revokes snapshot; records still delivered are applied), or
        /// abandoning after a failure (nothing more is snapshotted; records are ignored).
        let clean: Bool
        var failure: (any Error)?
        var writes: Writes
        var captures = Captures()
        var stage: LeaveStage
    }

    enum LeaveStage {
        case starting
        case awaitingFirstAssignment(until: Instant)
        case unsubscribing
        case draining(until: Instant)
        case closing
        case closed
    }

    /// Snapshots taken or handed to the writer since the last drain, perhaps not durable yet.
    enum Writes { case drained, inFlight }

    /// Snapshots captured and not yet handed to the writer: the oldest (with its stage) and
    /// whether a newest one takes in the captures made while the oldest waits.
    struct Captures: Equatable {
        var oldest: CaptureStage?
        var newest = false
        /// When the oldest is overdue: `flushWait` after the first `due(now:)` that saw it the
        /// oldest (the capture is taken right after a `due`, so at most one poll later).
        var oldestDeadline: Instant?

        var count: Int { (oldest == nil ? 0 : 1) + (newest ? 1 : 0) }
    }

    /// When each periodic task is next due.
    package struct Deadlines: Equatable, Sendable {
        package internal(set) var views: Instant
        package internal(set) var balances: Instant
        package internal(set) var replayBalances: Instant
        package internal(set) var snapshot: Instant
        package internal(set) var progress: Instant
    }

    private var state: State = .idle
    package let settings: Settings
    /// The group's first assignment arrived (see `Settings.firstAssignmentIsFragile`).
    package private(set) var sawAssignment = false
    /// Kept after `finish`, for whoever asks.
    private var finalFailure: (any Error)?

    package init(_ settings: Settings) {
        self.settings = settings
    }

    // MARK: Observed

    package var phase: Phase {
        switch state {
        case .idle: .idle
        case .consuming: .consuming
        case .leaving(let l): l.clean ? .stopping : .abandoning
        case .closed: .closed
        }
    }

    /// The first failure seen (in a callback, a health check, a snapshot, a delivery report).
    package var failure: (any Error)? {
        switch state {
        case .leaving(let l): l.failure
        case .closed: finalFailure
        case .idle, .consuming: nil
        }
    }

    /// A snapshot was taken or handed to the writer and may not be durable yet.
    package var snapshotInFlight: Bool {
        switch state {
        case .consuming(let c): c.writes == .inFlight || c.captures.count > 0
        case .leaving(let l): l.writes == .inFlight || l.captures.count > 0
        case .idle, .closed: false
        }
    }

    /// Snapshots captured and not yet handed to the writer (0, 1 or 2).
    package var capturesWaiting: Int { captures.count }

    /// What the oldest capture waits for (nil: none waits).
    package var oldestCapture: CaptureStage? { captures.oldest }

    /// When the oldest capture is overdue (nil: none waits, or no `due(now:)` has seen it yet).
    package var oldestCaptureDeadline: Instant? { captures.oldestDeadline }

    private var captures: Captures {
        get {
            switch state {
            case .consuming(let c): c.captures
            case .leaving(let l): l.captures
            case .idle, .closed: Captures()
            }
        }
        set {
            switch state {
            case .consuming(var c): c.captures = newValue; state = .consuming(c)
            case .leaving(var l): l.captures = newValue; state = .leaving(l)
            case .idle, .closed: precondition(newValue.count == 0, "no captures outside consuming and leaving")
            }
        }
    }

    /// The deadlines of the periodic work while consuming.
    package var deadlines: Deadlines? {
        if case .consuming(let c) = state { return c.deadlines }
        return nil
    }

    // MARK: Consuming

    /// The consumer subscribed; the periodic work counts from `now`.
    package mutating func start(now: Instant) {
        guard case .idle = state else { preconditionFailure("the loop starts once") }
        let i = settings.snapshotInterval
        state = .consuming(Consuming(
            deadlines: Deadlines(views: now + Self.viewsInterval, balances: now + Self.balancesInterval,
                                 replayBalances: now + Self.replayBalancesInterval, snapshot: now + i,
                                 progress: now + Self.progressInterval),
            writes: .drained))
    }

    /// Before each poll. `stopRequested`: the service was asked to stop; `processed`: records
    /// processed so far (for `Settings.stopAfterProcessed`).
    package mutating func step(stopRequested: Bool, processed: Int64) -> StepAction {
        switch state {
        case .consuming:
            let reached = settings.stopAfterProcessed.map { processed >= $0 } ?? false
            return stopRequested || reached ? self.stopRequested() : .poll
        case .leaving(let l):
            return l.clean ? .leaveGroup : .abandon(l.failure ?? ServiceError("abandoned"))
        case .idle, .closed:
            return .leaveGroup
        }
    }

    /// After a poll: what is due at `now`. Each task returned counts its next deadline from
    /// `now`. Nothing is due unless consuming.
    package mutating func due(now: Instant) -> Due {
        guard case .consuming(var c) = state else { return [] }
        var due: Due = []
        let balances = now >= c.deadlines.balances
        // Views with balances (the balances pass also publishes each due account's changed view
        // before its document: a view is never older than its account's balances record).
        if balances || now >= c.deadlines.views {
            due.insert(.views)
            c.deadlines.views = now + Self.viewsInterval
        }
        if balances {
            due.insert(.balances)
            if now >= c.deadlines.replayBalances {
                due.insert(.replayBalances)
                c.deadlines.replayBalances = now + Self.replayBalancesInterval
            }
            c.deadlines.balances = now + Self.balancesInterval
        }
        if now >= c.deadlines.snapshot {
            due.insert(.snapshot)
            c.writes = .inFlight
            c.deadlines.snapshot = now + settings.snapshotInterval
        }
        if now >= c.deadlines.progress {
            due.insert(.progress)
            c.deadlines.progress = now + Self.progressInterval
        }
        if c.captures.oldest != nil {
            if let deadline = c.captures.oldestDeadline {
                if now >= deadline { due.insert(.overdueCapture) }
            } else {
                c.captures.oldestDeadline = now + Self.flushWait
            }
        }
        state = .consuming(c)
        return due
    }

    /// A replay started at `now` (an assignment restored state behind the log end): the
    /// coalescing window of replaying partitions' balances counts from here, not from the
    /// loop's start (the group join takes seconds of it).
    package mutating func replayStarted(now: Instant) {
        guard case .consuming(var c) = state else { return }
        c.deadlines.replayBalances = now + Self.replayBalancesInterval
        state = .consuming(c)
    }

    // MARK: Rebalances (in the consumer's callback, before the change takes effect)

    /// The group assigned partitions. Snapshot writes in flight are finished (`drained`).
    package mutating func assigned(_ partitions: [TopicPartition], after drained: consuming WritesDrained) -> AssignAction {
        sawAssignment = true
        writesDrained(capturesMayWait: false)
        return .restore(partitions)
    }

    /// The group revoked partitions (`lost`: they already belong to someone else, and the
    /// captures still waiting went on without them: `losing()`). Snapshot writes in flight are
    /// finished (`drained`); no commit can land after the revoke.
    package mutating func revoked(_ partitions: [TopicPartition], lost: Bool, after drained: consuming WritesDrained) -> RevokeAction {
        writesDrained(capturesMayWait: lost)
        switch state {
        case .consuming:
            return lost ? .drop(partitions, keepFinal: false) : .snapshotAndDrop(partitions, keepFinal: false)
        case .leaving(let l):
            return !lost && l.clean && l.failure == nil ? .snapshotAndDrop(partitions, keepFinal: true) : .drop(partitions, keepFinal: true)
        case .idle, .closed:
            return .drop(partitions, keepFinal: false)
        }
    }

    private mutating func writesDrained(capturesMayWait: Bool) {
        precondition(capturesMayWait || captures.count == 0, "the assignment changes only once the captures are settled (`settle`)")
        switch state {
        case .consuming(var c): c.writes = .drained; state = .consuming(c)
        case .leaving(var l): l.writes = .drained; state = .leaving(l)
        case .idle, .closed: break
        }
    }

    // MARK: Snapshots that do not stop the loop

    /// The loop captured the changed partitions (`Due.snapshot`): where the capture goes.
    package mutating func captured() -> CaptureAction {
        guard case .consuming(var c) = state else { preconditionFailure("a snapshot is captured only while consuming") }
        defer { state = .consuming(c) }
        if c.captures.oldest == nil {
            precondition(!c.captures.newest)
            c.captures.oldest = .publishingBalances
            return .startOldest
        }
        if c.captures.newest { return .mergeIntoNewest }
        c.captures.newest = true
        return .startNewest
    }

    /// The balances documents the oldest capture waits for are produced: every output it
    /// covers is numbered below `n`.
    package mutating func capturedBalancesPublished(outputsBelow n: UInt64) {
        var c = captures
        precondition(c.oldest == .publishingBalances, "no capture is waiting for its balances documents")
        c.oldest = .awaitingAcknowledgement(outputsBelow: n)
        captures = c
    }

    /// Every output numbered below `watermark` is acknowledged (and none has failed): the
    /// oldest capture is handed over once its outputs are; after a failure every capture is
    /// discarded.
    package mutating func acknowledged(below watermark: UInt64) -> SnapshotAction {
        var c = captures
        guard c.count > 0 else { return .none }
        if failure != nil {
            captures = Captures()
            return .discardAll
        }
        guard case .awaitingAcknowledgement(let n) = c.oldest, n <= watermark else { return .none }
        c.oldest = c.newest ? .publishingBalances : nil
        c.newest = false
        c.oldestDeadline = nil
        captures = c
        wroteInBackground()
        return .handOverOldest(outputsBelow: n)
    }

    /// Before the assignment changes (`assigned`, `revoked` unless lost), before `finish`
    /// (`consumerClosed`), and once the oldest is overdue (`Due.overdueCapture`): the captures
    /// still waiting are handed over — their balances published and the producer flushed
    /// first — unless a failure was seen, or the consumer is closed (its final revoke settled
    /// what it held; a partition no longer held is neither written nor committed): then they
    /// are discarded.
    package mutating func settle(consumerClosed: Bool = false) -> SnapshotAction {
        guard captures.count > 0 else { return .none }
        captures = Captures()
        if failure != nil || consumerClosed { return .discardAll }
        wroteInBackground()
        return .flushAndHandOverAll
    }

    /// Before a revoke of lost partitions (they already belong to someone else): the captures
    /// still waiting go on waiting for their outputs without them — no flush in the rebalance
    /// callback — unless a failure was seen: then they are discarded.
    package mutating func losing() -> SnapshotAction {
        guard captures.count > 0 else { return .none }
        if failure != nil {
            captures = Captures()
            return .discardAll
        }
        return .removeLost
    }

    private mutating func wroteInBackground() {
        switch state {
        case .consuming(var c): c.writes = .inFlight; state = .consuming(c)
        case .leaving(var l): l.writes = .inFlight; state = .leaving(l)
        case .idle, .closed: break
        }
    }

    // MARK: Stopping

    /// A stop was asked for (SIGTERM, graceful shutdown, the stop-after-n rule).
    package mutating func stopRequested() -> StepAction {
        switch state {
        case .idle:
            state = .leaving(Leaving(clean: true, writes: .drained, stage: .starting))
            return .leaveGroup
        case .consuming(let c):
            state = .leaving(Leaving(clean: true, writes: c.writes, captures: c.captures, stage: .starting))
            return .leaveGroup
        case .leaving(let l):
            return l.clean ? .leaveGroup : .abandon(l.failure ?? ServiceError("abandoned"))
        case .closed:
            return .leaveGroup
        }
    }

    /// The next step of leaving the group. `holdsPartitions`: the loop or the consumer still
    /// holds an assignment. The loop never closes with partitions assigned (a close in the
    /// middle of a cooperative rebalance is fragile in librdkafka 2.0.2): it unsubscribes and
    /// polls — revokes snapshot (or, after a failure, drop) their partitions — until nothing is
    /// held or `leaveWait` passed, and only then closes.
    package mutating func leaveStep(now: Instant, holdsPartitions: Bool) -> LeaveAction {
        guard case .leaving(var l) = state else { return .close }
        defer { state = .leaving(l) }
        switch l.stage {
        case .starting:
            if settings.firstAssignmentIsFragile && !sawAssignment {
                l.stage = .awaitingFirstAssignment(until: now + Self.firstAssignmentWait)
                return .poll(applying: l.clean)
            }
            l.stage = .unsubscribing
            return .unsubscribe
        case .awaitingFirstAssignment(let until):
            if sawAssignment {
                l.stage = .unsubscribing
                return .unsubscribe
            }
            if now >= until {
                l.stage = .closed
                return .abandonConsumer
            }
            return .poll(applying: l.clean)
        case .unsubscribing, .closing, .closed:
            l.stage = .closed
            return .close
        case .draining(let until):
            if !holdsPartitions || now >= until {
                l.stage = .closed
                return .close
            }
            return .poll(applying: l.clean)
        }
    }

    /// The consumer unsubscribed at `now`: poll until the revokes have come.
    package mutating func unsubscribed(now: Instant) {
        guard case .leaving(var l) = state, case .unsubscribing = l.stage else { return }
        l.stage = .draining(until: now + Self.leaveWait)
        state = .leaving(l)
    }

    /// The unsubscribe failed: close directly.
    package mutating func unsubscribeFailed() {
        guard case .leaving(var l) = state, case .unsubscribing = l.stage else { return }
        l.stage = .closing
        state = .leaving(l)
    }

    /// Applying records while leaving failed: recorded (if first); polling ends — the wait for
    /// a first assignment as if it had timed out, the drain by closing.
    package mutating func pollFailed(_ error: any Error, now: Instant) {
        _ = failed(error)
        guard case .leaving(var l) = state else { return }
        switch l.stage {
        case .awaitingFirstAssignment: l.stage = .awaitingFirstAssignment(until: now)
        case .draining: l.stage = .closing
        case .starting, .unsubscribing, .closing, .closed: break
        }
        state = .leaving(l)
    }

    // MARK: Failures

    /// The producer reported a record it could not deliver.
    package mutating func deliveryFailed(_ reason: String) -> FailureAction {
        failed(ServiceError("a record could not be delivered (\(reason)); "
                            + "stopping without a snapshot so that a restart replays and re-produces it"))
    }

    /// Anything else that must stop the service: a restore, a fatal client error, a snapshot
    /// write, a position the topic no longer holds.
    package mutating func failed(_ error: any Error) -> FailureAction {
        switch state {
        case .idle:
            state = .leaving(Leaving(clean: false, failure: error, writes: .drained, stage: .starting))
            return .abandon(error)
        case .consuming(let c):
            // The captures stay until `acknowledged` or `settle` says to discard them.
            state = .leaving(Leaving(clean: false, failure: error, writes: c.writes, captures: c.captures, stage: .starting))
            return .abandon(error)
        case .leaving(var l):
            if l.failure == nil {
                l.failure = error
                state = .leaving(l)
            }
            return .none
        case .closed:
            return .none
        }
    }

    /// The consumer is closed, the producer flushed and the writes drained. `writeFailure`:
    /// what the snapshot writer reported, if anything.
    package mutating func finish(after drained: consuming WritesDrained, writeFailure: String?) -> FinishAction {
        precondition(captures.count == 0, "the captures are settled before the final drain")
        finalFailure = failure
        state = .closed
        if let finalFailure { return .fail(finalFailure) }
        if let writeFailure { return .fail(ServiceError(writeFailure)) }
        return .stoppedCleanly
    }
}
