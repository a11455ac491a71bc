import Kafka

/// A snapshot captured and not yet handed to the writer (`LoopStateMachine.captured()`): the
/// capture, and for each partition it captured the `PartitionState.balancesTaken` value at
/// which the balances documents pending at the capture are all produced — a snapshot covers
/// their records, so it waits for their documents too (contract §8: a restore does not publish
/// them again).
struct PendingSnapshot {
    private(set) var capture: SnapshotCapture
    private var owed: [(state: PartitionState, through: Int)]

    init(_ capture: SnapshotCapture, owed: [(state: PartitionState, through: Int)]) {
        self.capture = capture
        self.owed = owed
    }

    /// The balances documents it waits for are all taken for publishing (and so produced).
    var balancesPublished: Bool { owed.allSatisfy { $0.state.balancesTaken >= $0.through } }

    /// The partitions it captured (whose balances documents it may still wait for).
    var states: [PartitionState] { owed.map(\.state) }

    /// Every output it covers is numbered below `n`.
    mutating func seal(outputsBelow n: UInt64) {
        capture.seal(outputsBelow: n)
    }

    /// `newer`, captured while this one waited, joins it (see `SnapshotCapture.merging`).
    mutating func merge(_ newer: PendingSnapshot) {
        capture = newer.capture.merging(older: capture)
        owed = newer.owed + owed.filter { old in !newer.owed.contains { $0.state === old.state } }
    }

    /// Without these partitions (lost).
    mutating func remove(_ lost: Set<TopicPartition>) {
        guard !lost.isEmpty else { return }
        capture = capture.removing(lost)
        owed.removeAll { lost.contains($0.state.tp) }
    }
}
