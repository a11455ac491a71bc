import CreditEngine
import Kafka

/// Partitions' state captured for the writer: a frozen copy of each changed ledger (copy-on-
/// write, so capturing costs no encoding on the consuming thread) with its next offset. Made
/// only after the outputs of every record before those offsets were acknowledged
/// (`OutputsAcknowledged`, contract §8), or with nothing captured at all.
struct SnapshotCapture: @unchecked Sendable {
    struct Part {
        let tp: TopicPartition
        let nextOffset: Int64
        /// No other code holds it (the consuming thread goes on with the original).
        let ledger: PartitionLedger
    }

    /// The partitions the snapshot is about; their pending group commits ride along.
    let covering: [TopicPartition]
    let parts: [Part]
    /// The snapshot's write stamp (ms since 1970).
    let wallMillis: Int64
    /// How long the consuming thread paused for it (pending balances, flush, capture).
    let pause: Duration
    /// Its duration counts from the flush.
    let flushStarted: ContinuousClock.Instant

    /// Nothing changed since the last snapshot of `covering`: only their pending commits.
    static func nothingChanged(covering: [TopicPartition]) -> SnapshotCapture {
        SnapshotCapture(covering: covering, parts: [], wallMillis: 0, pause: .zero, flushStarted: .now)
    }

    private init(covering: [TopicPartition], parts: [Part], wallMillis: Int64, pause: Duration, flushStarted: ContinuousClock.Instant) {
        self.covering = covering
        self.parts = parts
        self.wallMillis = wallMillis
        self.pause = pause
        self.flushStarted = flushStarted
    }

    /// Captures `changed` at their next offsets, after `acknowledged`.
    init(_ changed: [PartitionState], covering: [TopicPartition], after acknowledged: consuming OutputsAcknowledged,
         wallMillis: Int64, pauseStarted: ContinuousClock.Instant, flushStarted: ContinuousClock.Instant) {
        var parts: [Part] = []
        parts.reserveCapacity(changed.count)
        for st in changed {
            parts.append(Part(tp: st.tp, nextOffset: st.nextOffset, ledger: st.ledger.frozenCopy()))
            st.captured()
        }
        self.init(covering: covering, parts: parts, wallMillis: wallMillis, pause: ContinuousClock.now - pauseStarted,
                  flushStarted: flushStarted)
    }
}
