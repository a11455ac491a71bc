import CreditEngine
import Kafka

/// Partitions' state captured for the writer: a frozen copy of each changed ledger (copy-on-
/// write, so capturing costs no encoding on the consuming thread) with its next offset, and
/// the output number (`OutputSequence`) below which every record that those offsets cover
/// produced — alerts, dead letters, requests, balances documents — is numbered. The writer
/// takes it only with proof that those outputs are acknowledged (`OutputsAcknowledged`,
/// contract §8).
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
    /// Every output the captured records caused is numbered below this: at capture, the
    /// number the next output was to get; raised (`seal`) once the balances documents the
    /// capture waits for are produced too.
    private(set) var outputsBelow: UInt64
    /// How long the consuming thread paused for it (the capture; for a revoke also the pending
    /// balances documents and the flush before it).
    let pause: Duration
    /// Its duration counts from here (the first capture it holds; a revoke's flush).
    let started: ContinuousClock.Instant

    /// Nothing changed since the last snapshot of `covering`: only their pending commits.
    static func nothingChanged(covering: [TopicPartition]) -> SnapshotCapture {
        SnapshotCapture(covering: covering, parts: [], wallMillis: 0, outputsBelow: 0, pause: .zero, started: .now)
    }

    private init(covering: [TopicPartition], parts: [Part], wallMillis: Int64, outputsBelow: UInt64, pause: Duration,
                 started: ContinuousClock.Instant) {
        self.covering = covering
        self.parts = parts
        self.wallMillis = wallMillis
        self.outputsBelow = outputsBelow
        self.pause = pause
        self.started = started
    }

    /// Captures `changed` at their next offsets; `outputsBelow`: the number the loop's next
    /// output gets.
    init(_ changed: [PartitionState], covering: [TopicPartition], outputsBelow: UInt64, wallMillis: Int64,
         pauseStarted: ContinuousClock.Instant, started: ContinuousClock.Instant) {
        var parts: [Part] = []
        parts.reserveCapacity(changed.count)
        for st in changed {
            parts.append(Part(tp: st.tp, nextOffset: st.nextOffset, ledger: st.ledger.frozenCopy()))
            st.captured()
        }
        self.init(covering: covering, parts: parts, wallMillis: wallMillis, outputsBelow: outputsBelow,
                  pause: ContinuousClock.now - pauseStarted, started: started)
    }

    /// The outputs it waits for are all produced: every one is numbered below `n`.
    mutating func seal(outputsBelow n: UInt64) {
        precondition(n >= outputsBelow, "a capture's outputs cannot end before it was taken")
        outputsBelow = n
    }

    /// This capture taken after `older` (which was not handed to the writer): `older`'s parts
    /// of partitions this one did not capture are kept, so nothing `older` held is lost.
    func merging(older: SnapshotCapture) -> SnapshotCapture {
        let mine = Dictionary(parts.map { ($0.tp, $0.nextOffset) }, uniquingKeysWith: { a, _ in a })
        let known = Set(covering)
        for p in older.parts { precondition(p.nextOffset <= mine[p.tp] ?? .max, "\(p.tp): a newer capture cannot be behind an older one") }
        return SnapshotCapture(covering: covering + older.covering.filter { !known.contains($0) },
                               parts: parts + older.parts.filter { mine[$0.tp] == nil }, wallMillis: wallMillis,
                               outputsBelow: max(outputsBelow, older.outputsBelow), pause: pause, started: min(started, older.started))
    }

    /// Without these partitions (they were lost: this instance must not write or commit them).
    func removing(_ tps: Set<TopicPartition>) -> SnapshotCapture {
        SnapshotCapture(covering: covering.filter { !tps.contains($0) }, parts: parts.filter { !tps.contains($0.tp) },
                        wallMillis: wallMillis, outputsBelow: outputsBelow, pause: pause, started: started)
    }
}
