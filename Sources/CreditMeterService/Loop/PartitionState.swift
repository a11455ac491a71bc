import CreditEngine
import Kafka

/// One owned input partition: its ledger, the next offset to process, and the accounts whose
/// documents must be republished on the balances topic (coalesced).
final class PartitionState {
    let tp: TopicPartition
    let ledger: PartitionLedger
    var nextOffset: Int64
    /// The position last published to the read model.
    var viewPosition: Int64 = .min
    /// The next offset covered by the last snapshot handed to the writer.
    var snapshotOffset: Int64
    /// The ledger's counters as last folded into the service status.
    var reported: PartitionLedger.Counters
    /// Records below this offset were already counted by this process under an earlier
    /// ownership of the partition (an assignment lost without a snapshot, then restored from
    /// an older one): they are applied again, but not counted again.
    var countedThrough: Int64 = .min
    /// Accounts whose balances document must be republished, each at most once in the list.
    /// `[head, due)` is due now; what was dirtied after the last tick waits for the next one.
    private var dirtyFlags: [Bool] = []
    private var dirty: [Int] = []
    private var head = 0
    private var due = 0

    /// Leaves out of the service's counts what the ledger counted since `before` (one re-read record).
    func uncount(since before: PartitionLedger.Counters) {
        reported = reported + (ledger.counters - before)
    }

    init(tp: TopicPartition, ledger: PartitionLedger, nextOffset: Int64) {
        self.tp = tp
        self.ledger = ledger
        self.nextOffset = nextOffset
        self.snapshotOffset = nextOffset
        self.reported = ledger.counters
    }

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

    /// Until `nextOffset` reaches this offset (the log end when the partition was assigned),
    /// readers get 503 for its accounts (contract §11: balances records below it may be newer
    /// than the state): views of the accounts it changes meanwhile would never be read, so
    /// they are only marked, and the publish that moves the position past it carries them all.
    var replayingUntil: Int64 = .min
    var isReplaying: Bool { nextOffset < replayingUntil }

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

    /// Everything dirty so far becomes due.
    func tick() { due = dirty.count }

    /// Takes up to `limit` due accounts (all due ones when nil).
    func takeDue(limit: Int?) -> ArraySlice<Int> {
        let end = limit.map { min(due, head + $0) } ?? due
        let out = dirty[head..<end]
        for i in out { dirtyFlags[i] = false }
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
