import CreditMeterService
import Kafka
import Logging
import Testing

/// The consuming loop's lifecycle, driven through every transition with no broker and no
/// waiting: the time is an input.
@Suite struct LoopStateMachineTests {
    typealias Machine = LoopStateMachine
    let p0 = TopicPartition("ai.usage", 0)
    let p1 = TopicPartition("ai.usage", 1)
    let t0 = ContinuousClock.now
    /// A writer with nowhere to write: its drains are the only source of `WritesDrained`.
    let writer = SnapshotWriter(store: nil, stateTopic: nil, group: nil, board: StatusBoard(), wallClock: systemWallClock,
                                logger: Logger(label: "test"))
    static let snapshotInterval = Duration.seconds(3)

    func machine(stopAfterProcessed: Int64? = nil, fragile: Bool = false) -> Machine {
        Machine(.init(snapshotInterval: Self.snapshotInterval, stopAfterProcessed: stopAfterProcessed, firstAssignmentIsFragile: fragile))
    }

    func consuming(stopAfterProcessed: Int64? = nil, fragile: Bool = false) -> Machine {
        var m = machine(stopAfterProcessed: stopAfterProcessed, fragile: fragile)
        m.start(now: t0)
        return m
    }

    /// A timed snapshot handed to the writer (its deadline passed).
    func snapshotDue(_ m: inout Machine) -> Bool { m.due(now: t0 + Self.snapshotInterval).contains(.snapshot) }

    func drained() -> WritesDrained { writer.drain() }

    func reason(_ error: (any Error)?) -> String? { error.map { String(describing: $0) } }

    func isPoll(_ a: Machine.StepAction) -> Bool { if case .poll = a { true } else { false } }
    func isLeave(_ a: Machine.StepAction) -> Bool { if case .leaveGroup = a { true } else { false } }
    func abandoned(_ a: Machine.StepAction) -> String? { if case .abandon(let e) = a { reason(e) } else { nil } }
    func abandoned(_ a: Machine.FailureAction) -> String? { if case .abandon(let e) = a { reason(e) } else { nil } }
    func failed(_ a: Machine.FinishAction) -> String? { if case .fail(let e) = a { reason(e) } else { nil } }

    // MARK: Lifecycle and rebalances

    @Test func startsIdleThenConsumesAndPolls() {
        var m = machine()
        #expect(m.phase == .idle)
        m.start(now: t0)
        #expect(m.phase == .consuming)
        #expect(isPoll(m.step(stopRequested: false, processed: 0)))
        #expect(m.failure == nil && !m.snapshotInFlight)
    }

    @Test func assignmentRestoresOnceTheWritesInFlightAreDrained() {
        var m = consuming()
        #expect(!m.snapshotInFlight)
        #expect(m.assigned([p0, p1], after: drained()) == .restore([p0, p1]))
        #expect(snapshotDue(&m))
        #expect(m.snapshotInFlight)  // carried by the consuming state until a drain
        #expect(m.assigned([p1], after: drained()) == .restore([p1]))
        #expect(!m.snapshotInFlight)
    }

    @Test func revokeWhileConsumingSnapshotsAndDropsWithoutKeeping() {
        var m = consuming()
        #expect(!m.snapshotInFlight)
        #expect(m.revoked([p0], lost: false, after: drained()) == .snapshotAndDrop([p0], keepFinal: false))
        #expect(m.phase == .consuming)
    }

    @Test func lostPartitionsAreDroppedWithoutASnapshot() {
        var m = consuming()
        #expect(m.revoked([p0], lost: true, after: drained()) == .drop([p0], keepFinal: false))
    }

    @Test func revokeDuringASnapshotDrainsTheWriteThenSnapshots() {
        var m = consuming()
        #expect(snapshotDue(&m))
        #expect(m.snapshotInFlight)
        #expect(m.revoked([p0, p1], lost: false, after: drained()) == .snapshotAndDrop([p0, p1], keepFinal: false))
        // The drain emptied the writer: nothing is in flight for the next rebalance.
        #expect(!m.snapshotInFlight)
        #expect(m.revoked([p0], lost: false, after: drained()) == .snapshotAndDrop([p0], keepFinal: false))
    }

    @Test func cleanStopLeavesTheGroupSnapshotsEachRevokeAndKeepsTheLedgers() {
        var m = consuming()
        #expect(snapshotDue(&m))
        #expect(isLeave(m.step(stopRequested: true, processed: 0)))
        #expect(m.phase == .stopping)
        #expect(m.snapshotInFlight)  // the stop in progress carries the write in flight
        #expect(m.due(now: t0 + .seconds(3600)).isEmpty)  // no timed work while stopping
        #expect(m.revoked([p0, p1], lost: false, after: drained()) == .snapshotAndDrop([p0, p1], keepFinal: true))
        #expect(!m.snapshotInFlight)
        #expect(isLeave(m.stopRequested()))  // asking again changes nothing
        guard case .stoppedCleanly = m.finish(after: drained(), writeFailure: nil) else { Issue.record("expected a clean stop"); return }
        #expect(m.phase == .closed)
    }

    @Test func deliveryFailureWhileConsumingAbandonsWithoutFurtherSnapshots() {
        var m = consuming()
        let action = m.deliveryFailed("Broker: Not enough in-sync replicas")
        #expect(abandoned(action)?.hasPrefix("a record could not be delivered (Broker: Not enough in-sync replicas)") == true)
        #expect(m.phase == .abandoning)
        #expect(!snapshotDue(&m))
        #expect(abandoned(m.step(stopRequested: false, processed: 0)) == reason(m.failure))
        #expect(abandoned(m.step(stopRequested: true, processed: 0)) == reason(m.failure))  // a stop does not turn it into a clean one
        // Leaving the group: revokes drop, never snapshot (the state may be ahead of the acks).
        #expect(m.revoked([p0], lost: false, after: drained()) == .drop([p0], keepFinal: true))
        #expect(failed(m.finish(after: drained(), writeFailure: nil)) == reason(action.error))
    }

    @Test func deliveryFailureDuringARevokeSkipsTheRemainingSnapshotsAndFailsTheStop() {
        var m = consuming()
        #expect(isLeave(m.stopRequested()))
        #expect(m.revoked([p0], lost: false, after: drained()) == .snapshotAndDrop([p0], keepFinal: true))
        // The revoke's flush reports a failed delivery: recorded, nothing to unwind (already stopping).
        guard case .none = m.deliveryFailed("Local: Message timed out") else { Issue.record("expected .none"); return }
        #expect(m.phase == .stopping)
        #expect(m.revoked([p1], lost: false, after: drained()) == .drop([p1], keepFinal: true))
        #expect(failed(m.finish(after: drained(), writeFailure: nil))?.hasPrefix("a record could not be delivered (Local: Message timed out)") == true)
    }

    @Test func deliveryFailureDuringARevokeWhileConsumingAbandonsAtTheNextStep() {
        var m = consuming()
        #expect(m.revoked([p0], lost: false, after: drained()) == .snapshotAndDrop([p0], keepFinal: false))
        // Inside the rebalance callback the loop cannot unwind; the next step does.
        _ = m.deliveryFailed("Local: Message timed out")
        #expect(m.assigned([p0], after: drained()) == .restore([p0]))
        #expect(abandoned(m.step(stopRequested: false, processed: 0))?.hasPrefix("a record could not be delivered") == true)
    }

    @Test func restoreFailureAbandons() {
        var m = consuming()
        _ = m.assigned([p0], after: drained())
        #expect(abandoned(m.failed(ServiceError("cannot restore ai.usage/0"))) == "cannot restore ai.usage/0")
        #expect(abandoned(m.step(stopRequested: false, processed: 0)) == "cannot restore ai.usage/0")
    }

    @Test func aStopAskedForWhileAbandoningStillAbandons() {
        var m = consuming()
        _ = m.failed(ServiceError("fatal: broker refused the producer"))
        #expect(abandoned(m.stopRequested()) == "fatal: broker refused the producer")
        #expect(m.phase == .abandoning)
    }

    @Test func aFailureBeforeTheStartAbandons() {
        var m = machine()
        #expect(abandoned(m.failed(ServiceError("early"))) == "early")
        #expect(m.phase == .abandoning)
        #expect(!snapshotDue(&m))
        #expect(failed(m.finish(after: drained(), writeFailure: nil)) == "early")
        #expect(m.phase == .closed && !m.snapshotInFlight)
    }

    @Test func theFirstFailureWins() {
        var m = consuming()
        _ = m.failed(ServiceError("first"))
        _ = m.deliveryFailed("second")
        _ = m.failed(ServiceError("third"))
        #expect(reason(m.failure) == "first")
        #expect(failed(m.finish(after: drained(), writeFailure: "fourth")) == "first")
    }

    @Test func aWriteFailureFailsAnOtherwiseCleanStop() {
        var m = consuming()
        _ = m.stopRequested()
        #expect(failed(m.finish(after: drained(), writeFailure: "ai.usage/0: No space left on device")) == "ai.usage/0: No space left on device")
    }

    @Test func aFailureWhileStoppingKeepsTheStopButReportsIt() {
        var m = consuming()
        _ = m.stopRequested()
        guard case .none = m.failed(ServiceError("snapshot write failed")) else { Issue.record("expected .none"); return }
        #expect(m.phase == .stopping)
        #expect(m.revoked([p0], lost: false, after: drained()) == .drop([p0], keepFinal: true))
        #expect(failed(m.finish(after: drained(), writeFailure: nil)) == "snapshot write failed")
    }

    // MARK: Snapshots that do not stop the loop

    @Test func aCaptureWaitsForItsBalancesDocumentsThenForItsOutputs() {
        var m = consuming()
        #expect(snapshotDue(&m))
        #expect(m.captured() == .startOldest)
        #expect(m.capturesWaiting == 1 && m.oldestCapture == .publishingBalances)
        // Its outputs are not known while its balances documents are still being produced.
        #expect(m.acknowledged(below: .max) == Machine.SnapshotAction.none)
        m.capturedBalancesPublished(outputsBelow: 10)
        #expect(m.oldestCapture == .awaitingAcknowledgement(outputsBelow: 10))
        #expect(m.acknowledged(below: 9) == Machine.SnapshotAction.none)
        #expect(m.acknowledged(below: 10) == .handOverOldest(outputsBelow: 10))
        #expect(m.capturesWaiting == 0 && m.oldestCapture == nil)
        #expect(m.snapshotInFlight)  // in the writer until a drain
        #expect(m.acknowledged(below: 11) == Machine.SnapshotAction.none)
        #expect(m.assigned([p0], after: drained()) == .restore([p0]))
        #expect(!m.snapshotInFlight)
    }

    @Test func capturesTakenWhileTheOldestWaitsJoinTheNewest() {
        var m = consuming()
        #expect(m.captured() == .startOldest)
        #expect(m.captured() == .startNewest)
        #expect(m.captured() == .mergeIntoNewest)
        #expect(m.captured() == .mergeIntoNewest)
        #expect(m.capturesWaiting == 2)
        m.capturedBalancesPublished(outputsBelow: 5)
        #expect(m.acknowledged(below: 7) == .handOverOldest(outputsBelow: 5))
        // The newest is now the oldest: it waits for its own balances documents.
        #expect(m.capturesWaiting == 1 && m.oldestCapture == .publishingBalances)
        #expect(m.acknowledged(below: 7) == Machine.SnapshotAction.none)
        #expect(m.captured() == .startNewest)
        m.capturedBalancesPublished(outputsBelow: 9)
        #expect(m.acknowledged(below: 9) == .handOverOldest(outputsBelow: 9))
        #expect(m.capturesWaiting == 1)
    }

    @Test func aDeliveryFailureDiscardsTheCapturesNotHandedOver() {
        var m = consuming()
        #expect(m.captured() == .startOldest)
        m.capturedBalancesPublished(outputsBelow: 3)
        #expect(m.captured() == .startNewest)
        _ = m.deliveryFailed("Broker: Message size too large")
        #expect(m.phase == .abandoning && m.capturesWaiting == 2)
        // Even with every output before it acknowledged: nothing is handed over after a failure.
        #expect(m.acknowledged(below: 100) == .discardAll)
        #expect(m.capturesWaiting == 0)

        var revoking = consuming()
        _ = revoking.captured()
        _ = revoking.deliveryFailed("Local: Message timed out")
        #expect(revoking.settle() == .discardAll)
        #expect(revoking.revoked([p0], lost: false, after: drained()) == .drop([p0], keepFinal: true))
        #expect(failed(revoking.finish(after: drained(), writeFailure: nil))?.hasPrefix("a record could not be delivered") == true)
    }

    @Test func theAssignmentChangesOnlyOnceTheCapturesAreSettled() {
        var m = consuming()
        #expect(m.settle() == Machine.SnapshotAction.none)
        _ = m.captured()
        _ = m.captured()
        #expect(m.snapshotInFlight)
        // Flushed and handed over, both, before the rebalance goes on.
        #expect(m.settle() == .flushAndHandOverAll)
        #expect(m.capturesWaiting == 0 && m.snapshotInFlight)
        #expect(m.revoked([p0], lost: true, after: drained()) == .drop([p0], keepFinal: false))
        #expect(!m.snapshotInFlight)
        _ = m.captured()
        #expect(m.settle() == .flushAndHandOverAll)
        #expect(m.assigned([p1], after: drained()) == .restore([p1]))
        #expect(m.phase == .consuming)
    }

    @Test func aCleanStopSettlesItsCapturesAtTheRevokesAndDiscardsWhatTheClosedConsumerLeft() {
        var m = consuming()
        _ = m.captured()
        #expect(isLeave(m.step(stopRequested: true, processed: 0)))
        #expect(m.capturesWaiting == 1)  // carried by the stop to the revokes
        #expect(m.settle() == .flushAndHandOverAll)
        #expect(m.revoked([p0], lost: false, after: drained()) == .snapshotAndDrop([p0], keepFinal: true))

        var closed = consuming()
        _ = closed.captured()
        _ = closed.stopRequested()
        #expect(closed.settle(consumerClosed: true) == .discardAll)
        guard case .stoppedCleanly = closed.finish(after: drained(), writeFailure: nil) else { Issue.record("expected a clean stop"); return }
    }

    /// The oldest capture waits `flushWait` (counted from the first `due` that sees it) for
    /// its outputs; then it is overdue, and the captures are settled with a bounded flush.
    @Test func anOldestCaptureOverdueIsSettledWithAFlush() {
        var m = consuming()
        let ms = { (n: Int) in self.t0 + .milliseconds(n) }
        #expect(m.due(now: ms(3_000)).contains(.snapshot))
        #expect(m.captured() == .startOldest)
        #expect(m.oldestCaptureDeadline == nil)
        #expect(!m.due(now: ms(3_050)).contains(.overdueCapture))
        #expect(m.oldestCaptureDeadline == ms(3_050) + Machine.flushWait)
        m.capturedBalancesPublished(outputsBelow: 10)
        // A stage reached does not move the deadline; a newest capture does not either.
        #expect(m.due(now: ms(6_000)).contains(.snapshot))
        #expect(m.captured() == .startNewest)
        #expect(m.acknowledged(below: 9) == Machine.SnapshotAction.none)
        #expect(m.oldestCaptureDeadline == ms(3_050) + Machine.flushWait)
        #expect(!m.due(now: ms(3_049) + Machine.flushWait).contains(.overdueCapture))
        #expect(m.due(now: ms(3_050) + Machine.flushWait).contains(.overdueCapture))
        #expect(m.settle() == .flushAndHandOverAll)
        #expect(m.capturesWaiting == 0 && m.oldestCaptureDeadline == nil && m.snapshotInFlight)
        #expect(!m.due(now: ms(3_060) + Machine.flushWait).contains(.overdueCapture))
        #expect(m.phase == .consuming)

        // An overdue capture whose flush fails: the failure discards it and stops the loop.
        var failing = consuming()
        _ = failing.captured()
        _ = failing.due(now: ms(100))
        #expect(failing.due(now: ms(100) + Machine.flushWait).contains(.overdueCapture))
        #expect(abandoned(failing.failed(ServiceError("flush: Local: Timed out"))) == "flush: Local: Timed out")
        #expect(failing.settle() == .discardAll)
        #expect(failing.due(now: ms(200) + Machine.flushWait).isEmpty)
    }

    /// A capture handed over in time: the next oldest gets its own deadline.
    @Test func eachOldestCaptureGetsItsOwnDeadline() {
        var m = consuming()
        let ms = { (n: Int) in self.t0 + .milliseconds(n) }
        _ = m.captured()
        _ = m.captured()
        _ = m.due(now: ms(100))
        m.capturedBalancesPublished(outputsBelow: 4)
        #expect(m.acknowledged(below: 4) == .handOverOldest(outputsBelow: 4))
        #expect(m.oldestCaptureDeadline == nil && m.oldestCapture == .publishingBalances)
        #expect(!m.due(now: ms(100) + Machine.flushWait).contains(.overdueCapture))
        #expect(m.oldestCaptureDeadline == ms(100) + Machine.flushWait * 2)
        #expect(!m.due(now: ms(99) + Machine.flushWait * 2).contains(.overdueCapture))
        #expect(m.due(now: ms(100) + Machine.flushWait * 2).contains(.overdueCapture))
    }

    /// Partitions lost while captures wait: nothing is flushed in the rebalance; the captures
    /// (without the lost partitions) keep waiting, and are handed over once acknowledged.
    @Test func lostPartitionsLeaveTheWaitingCapturesWithoutAFlush() {
        var m = consuming()
        #expect(m.losing() == Machine.SnapshotAction.none)
        _ = m.captured()
        m.capturedBalancesPublished(outputsBelow: 6)
        _ = m.captured()
        _ = m.due(now: t0)
        let deadline = m.oldestCaptureDeadline
        #expect(m.losing() == .removeLost)
        #expect(m.capturesWaiting == 2)
        #expect(m.revoked([p0], lost: true, after: drained()) == .drop([p0], keepFinal: false))
        #expect(m.capturesWaiting == 2 && m.oldestCapture == .awaitingAcknowledgement(outputsBelow: 6))
        #expect(m.oldestCaptureDeadline == deadline && m.snapshotInFlight)
        #expect(m.acknowledged(below: 6) == .handOverOldest(outputsBelow: 6))
        #expect(m.capturesWaiting == 1)
        // A revoke that is not lost still settles first.
        #expect(m.settle() == .flushAndHandOverAll)
        #expect(m.revoked([p1], lost: false, after: drained()) == .snapshotAndDrop([p1], keepFinal: false))

        // While leaving cleanly too.
        var stopping = consuming()
        _ = stopping.captured()
        _ = stopping.stopRequested()
        #expect(stopping.losing() == .removeLost)
        #expect(stopping.revoked([p0], lost: true, after: drained()) == .drop([p0], keepFinal: true))
        #expect(stopping.capturesWaiting == 1)
        #expect(stopping.settle(consumerClosed: true) == .discardAll)

        // After a failure the captures are discarded instead.
        var failed = consuming()
        _ = failed.captured()
        _ = failed.deliveryFailed("Local: Message timed out")
        #expect(failed.losing() == .discardAll)
        #expect(failed.capturesWaiting == 0)
        #expect(failed.revoked([p0], lost: true, after: drained()) == .drop([p0], keepFinal: true))
    }

    // MARK: Deadlines

    @Test func periodicWorkIsDueByItsDeadlines() {
        var m = consuming()
        let ms = { (n: Int) in self.t0 + .milliseconds(n) }
        #expect(m.due(now: t0).isEmpty)
        #expect(m.due(now: ms(100)) == [.views])
        #expect(m.due(now: ms(150)).isEmpty)  // the next views count from the last
        #expect(m.due(now: ms(200)) == [.views])
        // Balances every second, with views first (a view is never older than its balances record).
        #expect(m.due(now: ms(1_000)) == [.views, .balances])
        #expect(m.due(now: ms(1_050)).isEmpty)
        #expect(m.due(now: ms(2_000)) == [.views, .balances])
        #expect(m.due(now: ms(3_000)) == [.views, .balances, .snapshot])
        #expect(m.snapshotInFlight)
        #expect(m.due(now: ms(5_000)) == [.views, .balances, .progress])
        #expect(m.due(now: ms(6_000)) == [.views, .balances, .snapshot])
        // A replaying partition's balances are coalesced over 10 s.
        #expect(m.due(now: ms(10_000)) == [.views, .balances, .replayBalances, .snapshot, .progress])
        #expect(m.due(now: ms(11_000)) == [.views, .balances])
        // A late wake-up does everything once, and counts from then.
        #expect(m.due(now: ms(60_000)) == [.views, .balances, .replayBalances, .snapshot, .progress])
        #expect(m.deadlines?.views == ms(60_100) && m.deadlines?.snapshot == ms(63_000))
    }

    @Test func aReplayCoalescesItsBalancesFromTheAssignmentThatStartedIt() {
        var m = consuming()
        m.replayStarted(now: t0 + .seconds(9))
        let atTen = m.due(now: t0 + .seconds(10))
        #expect(atTen.contains(.balances) && !atTen.contains(.replayBalances))  // not 10 s since the replay started
        #expect(m.due(now: t0 + .seconds(19)).contains(.replayBalances))
    }

    @Test func nothingIsDueOnceLeaving() {
        var m = consuming()
        _ = m.failed(ServiceError("x"))
        #expect(m.due(now: t0 + .seconds(3600)).isEmpty)
        m.replayStarted(now: t0)  // ignored
        #expect(m.deadlines == nil)
    }

    // MARK: Stop after n records

    @Test func theLoopStopsItselfOnceItProcessedEnough() {
        var m = consuming(stopAfterProcessed: 2_000)
        #expect(isPoll(m.step(stopRequested: false, processed: 1_999)))
        #expect(isLeave(m.step(stopRequested: false, processed: 2_048)))
        #expect(m.phase == .stopping)
        var unlimited = consuming()
        #expect(isPoll(unlimited.step(stopRequested: false, processed: .max)))
    }

    // MARK: Leaving the group

    @Test func aCleanStopUnsubscribesAppliesWhatIsDeliveredThenClosesOnceNothingIsHeld() {
        var m = consuming()
        _ = m.assigned([p0], after: drained())
        _ = m.stopRequested()
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .unsubscribe)
        m.unsubscribed(now: t0)
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .poll(applying: true))
        #expect(m.leaveStep(now: t0 + .seconds(1), holdsPartitions: true) == .poll(applying: true))
        #expect(m.revoked([p0], lost: false, after: drained()) == .snapshotAndDrop([p0], keepFinal: true))
        #expect(m.leaveStep(now: t0 + .seconds(2), holdsPartitions: false) == .close)
        guard case .stoppedCleanly = m.finish(after: drained(), writeFailure: nil) else { Issue.record("expected a clean stop"); return }
    }

    @Test func leavingClosesWhenTheRevokeDoesNotComeInTime() {
        var m = consuming()
        _ = m.stopRequested()
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .unsubscribe)
        m.unsubscribed(now: t0)
        #expect(m.leaveStep(now: t0 + Machine.leaveWait - .milliseconds(1), holdsPartitions: true) == .poll(applying: true))
        #expect(m.leaveStep(now: t0 + Machine.leaveWait, holdsPartitions: true) == .close)
    }

    @Test func abandoningPollsWithoutApplying() {
        var m = consuming()
        _ = m.failed(ServiceError("fatal"))
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .unsubscribe)
        m.unsubscribed(now: t0)
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .poll(applying: false))
        #expect(m.revoked([p0], lost: false, after: drained()) == .drop([p0], keepFinal: true))
        #expect(m.leaveStep(now: t0, holdsPartitions: false) == .close)
        #expect(failed(m.finish(after: drained(), writeFailure: nil)) == "fatal")
    }

    @Test func aFailedUnsubscribeClosesDirectly() {
        var m = consuming()
        _ = m.stopRequested()
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .unsubscribe)
        m.unsubscribeFailed()
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .close)
    }

    @Test func aRecordThatCannotBeAppliedWhileLeavingEndsTheDrainAndFailsTheStop() {
        var m = consuming()
        _ = m.stopRequested()
        _ = m.leaveStep(now: t0, holdsPartitions: true)
        m.unsubscribed(now: t0)
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .poll(applying: true))
        m.pollFailed(ServiceError("Local: Queue full"), now: t0)
        #expect(m.phase == .stopping)  // the final revoke drops: a failure was seen
        #expect(m.leaveStep(now: t0, holdsPartitions: true) == .close)
        #expect(m.revoked([p0], lost: false, after: drained()) == .drop([p0], keepFinal: true))
        #expect(failed(m.finish(after: drained(), writeFailure: nil)) == "Local: Queue full")
    }

    /// librdkafka#4312: with a fragile assignor, a stop before the first assignment waits for
    /// it, and leaves the consumer open if it never comes.
    @Test func aFragileStopBeforeTheFirstAssignmentWaitsForItThenLeavesTheConsumerOpen() {
        var m = consuming(fragile: true)
        _ = m.stopRequested()
        #expect(m.leaveStep(now: t0, holdsPartitions: false) == .poll(applying: true))
        #expect(m.leaveStep(now: t0 + Machine.firstAssignmentWait - .milliseconds(1), holdsPartitions: false) == .poll(applying: true))
        #expect(m.leaveStep(now: t0 + Machine.firstAssignmentWait, holdsPartitions: false) == .abandonConsumer)

        var arrives = consuming(fragile: true)
        _ = arrives.stopRequested()
        #expect(arrives.leaveStep(now: t0, holdsPartitions: false) == .poll(applying: true))
        _ = arrives.assigned([p0], after: drained())
        #expect(arrives.leaveStep(now: t0 + .seconds(1), holdsPartitions: true) == .unsubscribe)

        var after = consuming(fragile: true)
        _ = after.assigned([p0], after: drained())
        _ = after.stopRequested()
        #expect(after.leaveStep(now: t0, holdsPartitions: true) == .unsubscribe)  // already assigned once: no wait

        var failing = consuming(fragile: true)
        _ = failing.stopRequested()
        #expect(failing.leaveStep(now: t0, holdsPartitions: false) == .poll(applying: true))
        failing.pollFailed(ServiceError("x"), now: t0 + .seconds(1))
        #expect(failing.leaveStep(now: t0 + .seconds(1), holdsPartitions: false) == .abandonConsumer)
    }
}

extension LoopStateMachine.FailureAction {
    var error: (any Error)? { if case .abandon(let e) = self { e } else { nil } }
}
