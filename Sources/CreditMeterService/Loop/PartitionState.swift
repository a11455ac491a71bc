import CreditEngine
import Kafka

/// One held input partition: its ledger, the next offset to apply, and the accounts whose read
/// views and balances documents must be republished (each coalesced).
final class PartitionState {
    let tp: TopicPartition
    let ledger: PartitionLedger
    /// The next offset to apply; `KafkaOffset.beginning` for a partition with no state and
    /// nothing applied yet (consumption starts at the log start).
    var nextOffset: Int64
    /// The position last published to the read model (nil: none yet).
    var viewPosition: Int64?
    /// The next offset covered by the last snapshot handed to the writer; nil when the state
    /// must be checkpointed even if no record arrives (see `requireCheckpoint`).
    private(set) var snapshotOffset: Int64?
    /// The ledger's counters as last folded into the service's counts (see `RecordCounts`).
    var reported: PartitionLedger.Counters
    /// The ledger's counters when this partition's views and position were last published
    /// (`OutputCadence.publishViews`): the counts may go this far and no further, so that
    /// whoever sees a count sees the views of the records it counts.
    var viewedCounters: PartitionLedger.Counters
    /// Records (applied, duplicate or dead-lettered) as last added to `RecordCounts.processed`.
    var processedSeen: Int64
    /// What the service counts beside the ledger's counters (re-read records, alerts by type),
    /// since this partition's views were last published, and up to then (see `viewedCounters`).
    var tallySinceViews = RecordCounts.Tally()
    var tallyViewed = RecordCounts.Tally()
    /// Records below `rereadUntil` were counted by this process under an earlier ownership of
    /// the partition (an assignment lost without a snapshot, then restored from older state):
    /// they are applied again but counted only as re-read. Read once per record, so a flag.
    private(set) var isRereading = false
    private(set) var rereadUntil: Int64?

    init(tp: TopicPartition, ledger: PartitionLedger, nextOffset: Int64) {
        self.tp = tp
        self.ledger = ledger
        self.nextOffset = nextOffset
        self.snapshotOffset = nextOffset
        self.reported = ledger.counters
        self.viewedCounters = ledger.counters
        self.processedSeen = ledger.counters.records
    }

    /// The next offset to apply, when one is known (not before the first record of a partition
    /// with no state).
    var position: Int64? { nextOffset >= 0 ? nextOffset : nil }

    // MARK: Snapshots

    /// Records were applied since the last snapshot handed to the writer (or a checkpoint is
    /// required).
    var needsSnapshot: Bool { snapshotOffset != nextOffset }

    /// The next snapshot must include this partition even if no record arrives (its state is
    /// only in the local folder, not yet on the state topic).
    func requireCheckpoint() { snapshotOffset = nil }

    /// The state up to `nextOffset` was captured for the writer.
    func captured() { snapshotOffset = nextOffset }

    // MARK: Counting

    /// Records below `offset` are re-read (see `isRereading`).
    func reread(until offset: Int64) {
        guard offset > nextOffset else { return }
        rereadUntil = offset
        isRereading = true
    }

    /// The first record at or past `rereadUntil` is about to be applied: what the ledger counted
    /// for the re-read records before it is left out of the service's counts.
    func resumeCounting() {
        isRereading = false
        rereadUntil = nil
        reported = ledger.counters
        viewedCounters = reported
        processedSeen = reported.records
    }

    // MARK: Replay

    /// Until `nextOffset` reaches this offset (the log end when the partition was assigned),
    /// readers get 503 for its accounts (contract §11: balances records below it may be newer
    /// than the state): views of the accounts it changes meanwhile would never be read, so
    /// they are only marked, and the publish that moves the position past it carries them all.
    private(set) var replayingUntil: Int64?
    var isReplaying: Bool { replayingUntil.map { nextOffset < $0 } ?? false }

    /// The one replay rule, for the loop and the read model alike: replay up to the log end seen
    /// at assignment, unless the log ends where consumption starts (a partition with no state
    /// starts at its log start). Unknown marks: no replay to wait for.
    func replay(toLogEndOf marks: (low: Int64, high: Int64)?) {
        guard let marks else { replayingUntil = nil; return }
        let from = position ?? marks.low
        replayingUntil = marks.high > from ? marks.high : nil
    }

    // MARK: Dirty accounts

    /// Accounts whose balances document must be republished, each at most once in the list.
    /// `[head, due)` is due now; what was dirtied after the last tick waits for the next one.
    private var dirtyFlags: [Bool] = []
    private var dirty: [Int] = []
    private var head = 0
    private var due = 0
    /// Accounts whose read view must be republished (contract §11), each at most once.
    private var viewFlags: [Bool] = []
    private var viewDirty: [Int] = []

    @inline(__always)
    func markDirty(_ account: Int) {
        if account >= viewFlags.count { viewFlags.append(contentsOf: repeatElement(false, count: account - viewFlags.count + 1024)) }
        if !viewFlags[account] {
            viewFlags[account] = true
            viewDirty.append(account)
        }
        if account >= dirtyFlags.count { dirtyFlags.append(contentsOf: repeatElement(false, count: account - dirtyFlags.count + 1024)) }
        if !dirtyFlags[account] {
            dirtyFlags[account] = true
            dirty.append(account)
        }
    }

    var hasDue: Bool { head < due }

    var hasViewsToPublish: Bool { !viewDirty.isEmpty }

    /// Marks the view of every account of the ledger as due (a restore whose views wait for
    /// the replay).
    func markAllViews() {
        let n = ledger.accountCount
        if viewFlags.count < n { viewFlags.append(contentsOf: repeatElement(false, count: n - viewFlags.count)) }
        viewDirty.reserveCapacity(n)
        for i in 0..<n where !viewFlags[i] {
            viewFlags[i] = true
            viewDirty.append(i)
        }
    }

    /// The accounts changed since their view was last published (their views are rebuilt).
    func takeViewDirty() -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(viewDirty.count)
        for i in viewDirty where viewFlags[i] {
            viewFlags[i] = false
            out.append(i)
        }
        viewDirty.removeAll(keepingCapacity: true)
        return out
    }

    /// Whether account `i` changed since its view was last published; clears the mark (its
    /// view is about to be published).
    func takeViewMark(_ i: Int) -> Bool {
        guard i < viewFlags.count, viewFlags[i] else { return false }
        viewFlags[i] = false
        return true
    }

    /// Balances documents taken for publishing since the partition was restored (only grows).
    private(set) var balancesTaken = 0

    /// Everything dirty so far becomes due.
    func tick() { due = dirty.count }

    /// Everything dirty so far becomes due; returns the value `balancesTaken` reaches once all
    /// of it is taken (the accounts are taken in the order they became dirty): a snapshot
    /// captured now covers their records, so it waits for their documents (contract §8).
    func tickForCapture() -> Int {
        tick()
        return balancesTaken + (due - head)
    }

    /// Takes up to `limit` due accounts (all due ones when nil).
    func takeDue(limit: Int?) -> ArraySlice<Int> {
        let end = limit.map { min(due, head + $0) } ?? due
        let out = dirty[head..<end]
        for i in out { dirtyFlags[i] = false }
        balancesTaken += out.count
        head = end
        if head == dirty.count {
            dirty.removeAll(keepingCapacity: true)
            head = 0
            due = 0
        } else if head > 4096 && head * 2 > dirty.count {
            dirty.removeFirst(head)
            due -= head
            head = 0
        }
        return out
    }
}
