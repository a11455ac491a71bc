import CreditEngine
import Kafka

/// One owned input partition: its ledger, the next offset to process, and the accounts whose
/// documents must be republished on the balances topic (coalesced).
final class PartitionState {
    let tp: TopicPartition
    let ledger: PartitionLedger
    var nextOffset: Int64
    /// The next offset covered by the last snapshot handed to the writer.
    var snapshotOffset: Int64
    private var dirtyFlags: [Bool] = []
    private(set) var dirty: [Int] = []

    init(tp: TopicPartition, ledger: PartitionLedger, nextOffset: Int64) {
        self.tp = tp
        self.ledger = ledger
        self.nextOffset = nextOffset
        self.snapshotOffset = nextOffset
    }

    @inline(__always)
    func markDirty(_ account: Int) {
        if account >= dirtyFlags.count { dirtyFlags.append(contentsOf: repeatElement(false, count: account - dirtyFlags.count + 1024)) }
        if !dirtyFlags[account] {
            dirtyFlags[account] = true
            dirty.append(account)
        }
    }

    func takeDirty() -> [Int] {
        let out = dirty
        for i in out { dirtyFlags[i] = false }
        dirty.removeAll(keepingCapacity: true)
        return out
    }
}
