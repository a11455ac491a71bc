import CoreMetrics
import CreditEngine
import Dispatch
package import Kafka
package import Logging

/// Proof that no snapshot write is in flight: everything handed to the writer before is
/// durable (or failed) and its offsets committed. Only `SnapshotWriter.drain()` and
/// `SnapshotWriter.writeNow` make one, and the loop's assignment changes only with one in hand
/// (`LoopStateMachine.assigned`, `revoked`, `finish`).
package struct WritesDrained: ~Copyable {
    fileprivate init() {}
}

/// Writes snapshots on its own serial worker: encode → local file → state-topic checkpoint →
/// group commit of what became durable. The consuming thread only captures. This is the only
/// code that commits group offsets, so they never get ahead of a durable snapshot (§8), and a
/// drain before each assignment change (`WritesDrained`) keeps commits from landing after a
/// revoke.
package final class SnapshotWriter {
    private struct Destinations: Sendable {
        let store: SnapshotStore?
        /// Partition state in Kafka (§13), when `kafka.state_topic` is set; the folder is then a cache.
        let stateTopic: StateTopic?
        let group: KafkaConsumer?
        let board: StatusBoard
        let metrics = ServiceMetrics()
        let wallClock: WallClock
        let logger: Logger
    }

    private struct Shared: Sendable {
        /// The first write that failed (a snapshot the service depends on is missing).
        var failure: String?
        /// Group offsets still to commit: partitions restored since the last snapshot (the
        /// previous owner's commit can fail mid-rebalance) and commits that failed (retried
        /// with the next snapshot, so lag tools catch up).
        var pendingCommits: [TopicPartition: Int64] = [:]
    }

    private let worker = DispatchQueue(label: "credit-meter.snapshots")
    private let destinations: Destinations
    private let shared = Locked(Shared())

    /// - Parameter group: the consumer whose group offsets follow the snapshots (nil: none).
    package init(store: SnapshotStore?, stateTopic: StateTopic?, group: KafkaConsumer?, board: StatusBoard,
                 wallClock: @escaping WallClock, logger: Logger) {
        destinations = Destinations(store: store, stateTopic: stateTopic, group: group, board: board, wallClock: wallClock, logger: logger)
    }

    /// Waits until every write handed over so far has ended.
    package func drain() -> WritesDrained {
        worker.sync {}
        return WritesDrained()
    }

    /// The first write failure, if any.
    var failure: String? { shared.withLock { $0.failure } }

    /// Captures `changed` (see `SnapshotCapture`), stamped with this writer's wall clock.
    func capture(_ changed: [PartitionState], covering: [TopicPartition], outputsBelow: UInt64,
                 pauseStarted: ContinuousClock.Instant, started: ContinuousClock.Instant) -> SnapshotCapture {
        SnapshotCapture(changed, covering: covering, outputsBelow: outputsBelow, wallMillis: destinations.wallClock() / 1_000_000,
                        pauseStarted: pauseStarted, started: started)
    }

    /// Writes on the worker, once the outputs the capture covers are acknowledged; the
    /// consuming thread goes on.
    func writeInBackground(_ capture: SnapshotCapture, after acknowledged: borrowing OutputsAcknowledged) {
        precondition(capture.outputsBelow <= acknowledged.below, "a snapshot handed over before its outputs were acknowledged")
        let commits = takePendingCommits(capture.covering)
        if capture.parts.isEmpty && commits.isEmpty { return }
        let (d, shared) = (destinations, shared)
        worker.async { Self.write(capture, commits: commits, to: d, shared: shared) }
    }

    /// Writes now, after everything handed over before (a revoke: done, and committed, before
    /// the partitions leave).
    func writeNow(_ capture: SnapshotCapture, after acknowledged: consuming OutputsAcknowledged) -> WritesDrained {
        precondition(capture.outputsBelow <= acknowledged.below, "a snapshot written before its outputs were acknowledged")
        let commits = takePendingCommits(capture.covering)
        let (d, shared) = (destinations, shared)
        worker.sync { Self.write(capture, commits: commits, to: d, shared: shared) }
        return WritesDrained()
    }

    /// `tp` was restored at `nextOffset` (nil: no position yet): whatever an earlier ownership
    /// left pending is superseded, and this offset is committed with the next snapshot.
    func restored(_ tp: TopicPartition, at nextOffset: Int64?) {
        shared.withLock { $0.pendingCommits[tp] = nextOffset }
    }

    /// Partitions leaving: nothing of theirs is committed any more.
    func forget(_ tps: [TopicPartition], after drained: borrowing WritesDrained) {
        shared.withLock { s in for tp in tps { s.pendingCommits[tp] = nil } }
    }

    private func takePendingCommits(_ covering: [TopicPartition]) -> [TopicPartition: Int64] {
        shared.withLock { s in
            var mine: [TopicPartition: Int64] = [:]
            for tp in covering { if let o = s.pendingCommits.removeValue(forKey: tp) { mine[tp] = o } }
            return mine
        }
    }

    // MARK: On the worker

    private static func write(_ c: SnapshotCapture, commits pending: [TopicPartition: Int64], to d: Destinations, shared: Locked<Shared>) {
        guard !c.parts.isEmpty else {
            if !pending.isEmpty { commit(pending, d, shared) }
            return
        }
        var commits = pending
        var anyDurable = false
        var bytesWritten = 0
        var longestEncode = Duration.zero
        func fail(_ tp: TopicPartition, _ error: any Error) {
            shared.withLock { if $0.failure == nil { $0.failure = "\(tp): \(error)" } }
        }
        for part in c.parts {
            let encodeStart = ContinuousClock.now
            let bytes = SnapshotCodec.encode(part.ledger, topic: part.tp.topic, partition: part.tp.partition,
                                             nextOffset: part.nextOffset, metadata: c.wallMillis)
            longestEncode = max(longestEncode, ContinuousClock.now - encodeStart)
            bytesWritten += bytes.count
            var durable = false
            if let store = d.store {
                do {
                    try store.write(bytes, for: part.tp, nextOffset: part.nextOffset)
                    durable = true
                } catch {
                    if d.stateTopic == nil {
                        d.logger.error("snapshot write failed", metadata: ["partition": "\(part.tp)", "error": "\(error)"])
                        fail(part.tp, error)
                    } else {
                        // With the state topic, the folder is a cache: say so, go on.
                        d.logger.warning("snapshot cache write failed (the state topic holds the state)",
                                         metadata: ["partition": "\(part.tp)", "error": "\(error)"])
                    }
                }
            }
            if let stateTopic = d.stateTopic {
                do {
                    try stateTopic.write(bytes, for: part.tp, nextOffset: part.nextOffset, wallMillis: c.wallMillis)
                    durable = true
                } catch {
                    durable = false
                    d.logger.error("state topic write failed", metadata: ["partition": "\(part.tp)", "error": "\(error)"])
                    fail(part.tp, error)
                }
            }
            if durable {
                commits[part.tp] = part.nextOffset
                anyDurable = true
            }
        }
        // The snapshot's age counts from when it became durable — before the commit, so
        // whoever sees the committed offsets sees this snapshot's age too.
        if anyDurable {
            let durableAt = d.wallClock() / 1_000_000
            d.board.update { $0.lastSnapshotWallMillis = durableAt }
        }
        commit(commits, d, shared)
        let elapsed = ContinuousClock.now - c.started
        d.metrics.snapshotDuration.recordNanoseconds(elapsed.nanoseconds)
        d.metrics.snapshotBytes.record(bytesWritten)
        d.board.update {
            $0.snapshotsWritten += Int64(c.parts.count)
            $0.lastSnapshotMillis = elapsed.milliseconds
            $0.lastSnapshotPauseMicros = c.pause.nanoseconds / 1_000
            $0.longestEncodeMillis = max($0.longestEncodeMillis, longestEncode.milliseconds)
        }
    }

    /// Commits; a failure is not fatal (offsets are for lag tools, the snapshot is the source of
    /// truth): the offsets are retried with the next snapshot.
    private static func commit(_ offsets: [TopicPartition: Int64], _ d: Destinations, _ shared: Locked<Shared>) {
        guard let group = d.group else { return }
        do { try group.commit(offsets) } catch {
            d.logger.warning("offset commit failed; retried with the next snapshot", metadata: ["error": "\(error)"])
            shared.withLock { s in for (tp, o) in offsets where (s.pendingCommits[tp] ?? .min) < o { s.pendingCommits[tp] = o } }
        }
    }
}
