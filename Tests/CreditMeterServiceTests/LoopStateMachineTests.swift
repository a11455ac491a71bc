import CreditMeterService
import Kafka
import Testing

/// The consuming loop's lifecycle, driven through every transition with no broker.
@Suite struct LoopStateMachineTests {
    typealias Machine = LoopStateMachine
    let p0 = TopicPartition("ai.usage", 0)
    let p1 = TopicPartition("ai.usage", 1)

    func consuming() -> Machine {
        var m = Machine()
        m.start()
        return m
    }

    func reason(_ error: (any Error)?) -> String? { error.map { String(describing: $0) } }

    func isPoll(_ a: Machine.StepAction) -> Bool { if case .poll = a { true } else { false } }
    func isLeave(_ a: Machine.StepAction) -> Bool { if case .leaveGroup = a { true } else { false } }
    func abandoned(_ a: Machine.StepAction) -> String? { if case .abandon(let e) = a { reason(e) } else { nil } }
    func abandoned(_ a: Machine.FailureAction) -> String? { if case .abandon(let e) = a { reason(e) } else { nil } }
    func failed(_ a: Machine.FinishAction) -> String? { if case .fail(let e) = a { reason(e) } else { nil } }

    @Test func startsIdleThenConsumesAndPolls() {
        var m = Machine()
        #expect(m.phase == .idle)
        m.start()
        #expect(m.phase == .consuming)
        #expect(isPoll(m.step(stopRequested: false)))
        #expect(m.failure == nil && !m.writeInFlight)
    }

    @Test func assignmentRestoresAndWaitsOnlyForWritesInFlight() {
        var m = consuming()
        #expect(m.assigned([p0, p1]) == .restore([p0, p1], waitForWrites: false))
        #expect(m.snapshotDue() == .snapshotInBackground)
        #expect(m.writeInFlight)
        #expect(m.assigned([p1]) == .restore([p1], waitForWrites: true))
        #expect(!m.writeInFlight)
    }

    @Test func revokeWhileConsumingSnapshotsAndDropsWithoutKeeping() {
        var m = consuming()
        #expect(m.revoked([p0], lost: false) == .snapshotAndDrop([p0], waitForWrites: false, keepFinal: false))
        #expect(m.phase == .consuming)
    }

    @Test func lostPartitionsAreDroppedWithoutASnapshot() {
        var m = consuming()
        #expect(m.revoked([p0], lost: true) == .drop([p0], waitForWrites: false, keepFinal: false))
    }

    @Test func revokeDuringASnapshotWaitsForTheWriteThenSnapshots() {
        var m = consuming()
        #expect(m.snapshotDue() == .snapshotInBackground)
        #expect(m.revoked([p0, p1], lost: false) == .snapshotAndDrop([p0, p1], waitForWrites: true, keepFinal: false))
        // The wait drained the writer: the next rebalance need not wait again.
        #expect(m.revoked([p0], lost: false) == .snapshotAndDrop([p0], waitForWrites: false, keepFinal: false))
    }

    @Test func cleanStopLeavesTheGroupSnapshotsEachRevokeAndKeepsTheLedgers() {
        var m = consuming()
        #expect(m.snapshotDue() == .snapshotInBackground)
        #expect(isLeave(m.step(stopRequested: true)))
        #expect(m.phase == .stopping)
        #expect(m.snapshotDue() == .none)  // no timed snapshots while stopping
        #expect(m.revoked([p0, p1], lost: false) == .snapshotAndDrop([p0, p1], waitForWrites: true, keepFinal: true))
        #expect(isLeave(m.stopRequested()))  // asking again changes nothing
        guard case .stoppedCleanly = m.finish(writeFailure: nil) else { Issue.record("expected a clean stop"); return }
        #expect(m.phase == .closed)
    }

    @Test func deliveryFailureWhileConsumingAbandonsWithoutFurtherSnapshots() {
        var m = consuming()
        let action = m.deliveryFailed("Broker: Not enough in-sync replicas")
        #expect(abandoned(action)?.hasPrefix("a record could not be delivered (Broker: Not enough in-sync replicas)") == true)
        #expect(m.phase == .abandoning)
        #expect(m.snapshotDue() == .none)
        #expect(abandoned(m.step(stopRequested: false)) == reason(m.failure))
        #expect(abandoned(m.step(stopRequested: true)) == reason(m.failure))  // a stop does not turn it into a clean one
        // Leaving the group: revokes drop, never snapshot (the state may be ahead of the acks).
        #expect(m.revoked([p0], lost: false) == .drop([p0], waitForWrites: false, keepFinal: true))
        #expect(failed(m.finish(writeFailure: nil)) == reason(action.error))
    }

    @Test func deliveryFailureDuringARevokeSkipsTheRemainingSnapshotsAndFailsTheStop() {
        var m = consuming()
        #expect(isLeave(m.stopRequested()))
        #expect(m.revoked([p0], lost: false) == .snapshotAndDrop([p0], waitForWrites: false, keepFinal: true))
        // The revoke's flush reports a failed delivery: recorded, nothing to unwind (already stopping).
        guard case .none = m.deliveryFailed("Local: Message timed out") else { Issue.record("expected .none"); return }
        #expect(m.phase == .stopping)
        #expect(m.revoked([p1], lost: false) == .drop([p1], waitForWrites: false, keepFinal: true))
        #expect(failed(m.finish(writeFailure: nil))?.hasPrefix("a record could not be delivered (Local: Message timed out)") == true)
    }

    @Test func deliveryFailureDuringARevokeWhileConsumingAbandonsAtTheNextStep() {
        var m = consuming()
        #expect(m.revoked([p0], lost: false) == .snapshotAndDrop([p0], waitForWrites: false, keepFinal: false))
        // Inside the rebalance callback the loop cannot unwind; the next step does.
        _ = m.deliveryFailed("Local: Message timed out")
        #expect(m.assigned([p0]) == .restore([p0], waitForWrites: false))
        #expect(abandoned(m.step(stopRequested: false))?.hasPrefix("a record could not be delivered") == true)
    }

    @Test func restoreFailureAbandons() {
        var m = consuming()
        _ = m.assigned([p0])
        #expect(abandoned(m.failed(ServiceError("cannot restore ai.usage/0"))) == "cannot restore ai.usage/0")
        #expect(abandoned(m.step(stopRequested: false)) == "cannot restore ai.usage/0")
    }

    @Test func aStopAskedForWhileAbandoningStillAbandons() {
        var m = consuming()
        _ = m.failed(ServiceError("fatal: broker refused the producer"))
        #expect(abandoned(m.stopRequested()) == "fatal: broker refused the producer")
        #expect(m.phase == .abandoning)
    }

    @Test func aFailureBeforeTheStartAbandons() {
        var m = Machine()
        #expect(abandoned(m.failed(ServiceError("early"))) == "early")
        #expect(m.phase == .abandoning)
        #expect(m.snapshotDue() == .none)
        #expect(failed(m.finish(writeFailure: nil)) == "early")
        #expect(m.phase == .closed && !m.writeInFlight)
    }

    @Test func theFirstFailureWins() {
        var m = consuming()
        _ = m.failed(ServiceError("first"))
        _ = m.deliveryFailed("second")
        _ = m.failed(ServiceError("third"))
        #expect(reason(m.failure) == "first")
        #expect(failed(m.finish(writeFailure: "fourth")) == "first")
    }

    @Test func aWriteFailureFailsAnOtherwiseCleanStop() {
        var m = consuming()
        _ = m.stopRequested()
        #expect(failed(m.finish(writeFailure: "ai.usage/0: No space left on device")) == "ai.usage/0: No space left on device")
    }

    @Test func aFailureWhileStoppingKeepsTheStopButReportsIt() {
        var m = consuming()
        _ = m.stopRequested()
        guard case .none = m.failed(ServiceError("snapshot write failed")) else { Issue.record("expected .none"); return }
        #expect(m.phase == .stopping)
        #expect(m.revoked([p0], lost: false) == .drop([p0], waitForWrites: false, keepFinal: true))
        #expect(failed(m.finish(writeFailure: nil)) == "snapshot write failed")
    }
}

extension LoopStateMachine.FailureAction {
    var error: (any Error)? { if case .abandon(let e) = self { e } else { nil } }
}
