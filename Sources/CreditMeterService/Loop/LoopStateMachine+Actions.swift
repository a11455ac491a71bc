package import Kafka

/// What the state machine tells the loop to do, and what it reports.
extension LoopStateMachine {
    package enum Phase: Equatable, Sendable {
        /// Not consuming yet.
        case idle
        /// Polling records; periodic work is due by its deadlines.
        case consuming
        /// A clean stop: leaving the group, each revoke snapshots and hands its ledger over.
        case stopping
        /// A failure: leaving the group without snapshots; the loop ends with the failure.
        case abandoning
        /// The consumer is closed; nothing more happens.
        case closed
    }

    package enum StepAction {
        /// Poll the next records, then do what `due(now:)` says.
        case poll
        /// Leave the group cleanly (`leaveStep`), then `finish`.
        case leaveGroup
        /// Leave the group without snapshots (`leaveStep`); the loop ends with this error.
        case abandon(any Error)
    }

    /// What is due after a poll.
    package struct Due: OptionSet, Sendable {
        package let rawValue: UInt8
        package init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Start a views round: the read views of changed accounts and every partition's
        /// position, a few partitions per loop iteration, each step then those partitions' counts.
        package static let views = Due(rawValue: 1 << 0)
        /// The coalesced balances documents of non-replaying partitions become due, and the
        /// hold expiries of those partitions are produced (`HoldExpiryPass`): the one-second tick.
        package static let balances = Due(rawValue: 1 << 1)
        /// … and those of replaying partitions too (always with `balances`).
        package static let replayBalances = Due(rawValue: 1 << 2)
        /// Capture every changed partition (copy-on-write) and make its pending balances
        /// documents due, then tell `captured()`; the loop goes on, and the capture is handed to
        /// the writer (which commits after it is durable) once its outputs are acknowledged.
        package static let snapshot = Due(rawValue: 1 << 3)
        package static let progress = Due(rawValue: 1 << 4)
        /// The oldest capture waited `flushWait` for its outputs: settle the captures now
        /// (`settle()`), with a flush bounded by `overdueFlushWait`.
        package static let overdueCapture = Due(rawValue: 1 << 5)
    }

    /// What the oldest capture waits for.
    package enum CaptureStage: Equatable, Sendable {
        /// The balances documents of its partitions that were pending when it was captured,
        /// published 250 at a time between polls (`OutputCadence.balancesBudget`).
        case publishingBalances
        /// The acknowledgement of every output numbered below this (`OutputSequence`).
        case awaitingAcknowledgement(outputsBelow: UInt64)
    }

    /// Where a capture goes (`captured()`).
    package enum CaptureAction: Equatable, Sendable {
        /// It is the oldest: it waits for its balances documents, then its outputs.
        case startOldest
        /// The oldest still waits: it starts the newest.
        case startNewest
        /// It joins the newest, replacing the parts of the partitions it captured again.
        case mergeIntoNewest
    }

    /// What to do with the captures not yet handed to the writer.
    package enum SnapshotAction: Equatable, Sendable {
        case none
        /// Hand the oldest to the writer: every output numbered below this is acknowledged.
        case handOverOldest(outputsBelow: UInt64)
        /// Publish the pending balances documents of their partitions, flush the producer, and
        /// hand them all to the writer, oldest first.
        case flushAndHandOverAll
        /// Remove the partitions being lost from them; they keep waiting (`losing()`).
        case removeLost
        /// Drop them all (a failure was seen, or the consumer is closed).
        case discardAll
    }

    package enum AssignAction: Equatable {
        /// Restore each partition (the newest of its snapshot and its state-topic checkpoint,
        /// or empty from the beginning).
        case restore([TopicPartition])
    }

    package enum RevokeAction: Equatable {
        /// Publish pending balances, flush, snapshot these partitions synchronously, then drop
        /// them (keeping their ledgers as the final state when `keepFinal`).
        case snapshotAndDrop([TopicPartition], keepFinal: Bool)
        /// Drop them without a snapshot (lost, or a failure was seen).
        case drop([TopicPartition], keepFinal: Bool)
    }

    package enum LeaveAction: Equatable {
        /// Poll once more: records still delivered are applied (a clean stop) or ignored.
        case poll(applying: Bool)
        /// Unsubscribe (then report `unsubscribed` or `unsubscribeFailed`).
        case unsubscribe
        /// Close the consumer (its final revoke, if any, arrives in the close); then `finish`.
        case close
        /// Leave the consumer open as the process ends (see `Settings.firstAssignmentIsFragile`); then `finish`.
        case abandonConsumer
    }

    package enum FailureAction {
        /// Leave the group without snapshots and end with this error (a callback, which cannot
        /// unwind the poll, leaves it to the next `step`).
        case abandon(any Error)
        /// Already leaving: recorded (if first), reported when the stop ends.
        case none
    }

    package enum FinishAction {
        case stoppedCleanly
        case fail(any Error)
    }
}
