public import Kafka

/// The consuming loop's lifecycle, as a value: events in (`assigned`, `revoked`,
/// `snapshotDue`, `stopRequested`, `deliveryFailed`, …), actions out, which `MeterLoop`
/// performs. No I/O, no threads: every transition is unit-tested without a broker (in the
/// style of swift-nio's and swift-kafka-client's state machines).
///
///     idle ──start──▶ consuming ──stopRequested──▶ stopping ──finish──▶ closed
///                         │                           │ (a failure here is recorded and
///                      failure                        │  reported by `finish`)
///                         ▼                           │
///                     abandoning ───────finish────────┘
///
/// Rules (contract §8):
/// - A snapshot is taken only while no failure has been seen: after a failure the state may
///   be ahead of what the broker acknowledged, so it is abandoned, never recorded.
/// - A revoked partition is snapshotted (synchronously) unless it was lost or a failure was seen.
/// - Snapshot writes in flight finish before any rebalance changes the assignment, so a
///   partition restored now sees the newest snapshot and no commit lands after a revoke.
/// - The first failure wins; it is what the loop reports.
package struct LoopStateMachine {
    package enum Phase: Equatable, Sendable {
        /// Not consuming yet.
        case idle
        /// Polling records; timed snapshots are taken.
        case consuming
        /// A clean stop: leaving the group, each revoke snapshots and hands its ledger over.
        case stopping
        /// A failure: leaving the group without snapshots; the loop ends with the failure.
        case abandoning
        /// The consumer is closed; nothing more happens.
        case closed
    }

    package private(set) var phase: Phase = .idle
    /// The first failure seen (in a callback, a health check, a snapshot, a delivery report).
    package private(set) var failure: (any Error)?
    /// A snapshot was handed to the writer queue and may not be on disk yet.
    package private(set) var writeInFlight = false

    package init() {}

    // MARK: Actions

    package enum StepAction {
        /// Poll the next records.
        case poll
        /// Leave the group cleanly: close the consumer (its revokes snapshot), flush, then `finish`.
        case leaveGroup
        /// Leave the group without snapshots and end with this error.
        case abandon(any Error)
    }

    package enum AssignAction: Equatable {
        /// Restore each partition (from its newest snapshot, or from the beginning), after
        /// waiting for the snapshot writes in flight when `waitForWrites`.
        case restore([TopicPartition], waitForWrites: Bool)
    }

    package enum RevokeAction: Equatable {
        /// Publish pending balances, flush, snapshot these partitions synchronously, then drop
        /// them (keeping their ledgers as the final state when `keepFinal`).
        case snapshotAndDrop([TopicPartition], waitForWrites: Bool, keepFinal: Bool)
        /// Drop them without a snapshot (lost, or a failure was seen).
        case drop([TopicPartition], waitForWrites: Bool, keepFinal: Bool)
    }

    package enum SnapshotAction: Equatable {
        /// Flush and capture the changed partitions; write them on the writer queue.
        case snapshotInBackground
        case none
    }

    package enum FailureAction {
        /// Leave the group without snapshots and end with this error (a callback, which cannot
        /// unwind the poll, leaves it to the next `step`).
        case abandon(any Error)
        /// Already stopping or abandoning: recorded, reported when the stop ends.
        case none
    }

    package enum FinishAction {
        case stoppedCleanly
        case fail(any Error)
    }

    // MARK: Events

    /// The consumer subscribed.
    package mutating func start() {
        precondition(phase == .idle, "the loop starts once")
        phase = .consuming
    }

    /// Before each poll. `stopRequested`: the service was asked to stop.
    package mutating func step(stopRequested: Bool) -> StepAction {
        switch phase {
        case .consuming:
            return stopRequested ? self.stopRequested() : .poll
        case .abandoning:
            return .abandon(failure ?? ServiceError("abandoned"))
        case .stopping, .closed, .idle:
            return .leaveGroup
        }
    }

    /// A stop was asked for (SIGTERM, graceful shutdown, a test).
    package mutating func stopRequested() -> StepAction {
        switch phase {
        case .idle, .consuming:
            phase = .stopping
            return .leaveGroup
        case .abandoning:
            return .abandon(failure ?? ServiceError("abandoned"))
        case .stopping, .closed:
            return .leaveGroup
        }
    }

    /// The group assigned partitions (in the rebalance callback, before positions are set).
    package mutating func assigned(_ partitions: [TopicPartition]) -> AssignAction {
        let wait = writeInFlight
        writeInFlight = false
        return .restore(partitions, waitForWrites: wait)
    }

    /// The group revoked partitions (`lost`: they already belong to someone else).
    package mutating func revoked(_ partitions: [TopicPartition], lost: Bool) -> RevokeAction {
        let wait = writeInFlight
        writeInFlight = false
        let keepFinal = phase == .stopping || phase == .abandoning
        let snapshot = !lost && failure == nil && (phase == .consuming || phase == .stopping)
        return snapshot ? .snapshotAndDrop(partitions, waitForWrites: wait, keepFinal: keepFinal)
                        : .drop(partitions, waitForWrites: wait, keepFinal: keepFinal)
    }

    /// The snapshot interval passed.
    package mutating func snapshotDue() -> SnapshotAction {
        guard phase == .consuming, failure == nil else { return .none }
        writeInFlight = true
        return .snapshotInBackground
    }

    /// The producer reported a record it could not deliver.
    package mutating func deliveryFailed(_ reason: String) -> FailureAction {
        failed(ServiceError("a record could not be delivered (\(reason)); "
                            + "stopping without a snapshot so that a restart replays and re-produces it"))
    }

    /// Anything else that must stop the service: a restore, a fatal client error, a snapshot
    /// write, a position the topic no longer holds.
    package mutating func failed(_ error: any Error) -> FailureAction {
        if failure == nil { failure = error }
        switch phase {
        case .idle, .consuming:
            phase = .abandoning
            return .abandon(failure!)
        case .abandoning, .stopping, .closed:
            return .none
        }
    }

    /// The consumer is closed, the producer flushed and the writes waited for.
    /// `writeFailure`: what the writer queue reported, if anything.
    package mutating func finish(writeFailure: String?) -> FinishAction {
        phase = .closed
        writeInFlight = false
        if let failure { return .fail(failure) }
        if let writeFailure { return .fail(ServiceError(writeFailure)) }
        return .stoppedCleanly
    }
}
