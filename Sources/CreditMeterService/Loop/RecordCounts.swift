import CreditEngine
import Kafka

/// The service's counts (status, `/metrics`), kept by the consuming thread.
///
/// Each record is counted once per process, in one bucket decided before it is applied: the
/// ledger counts every outcome (applied, duplicate, dead-lettered, credits, alerts), and its
/// counter deltas are folded here per partition — except for records below what this process
/// already counted for that partition (`PartitionState.isRereading`), which are counted only as
/// re-read. `countedThrough` remembers, across ownerships, how far each partition was counted.
///
/// A partition's counts are folded only as far as its last published views and position
/// (`PartitionState.viewedCounters`) and published right after them (see `MeterLoop.perform`),
/// so whoever sees a count sees the views of the records it counts.
final class RecordCounts {
    private let board: StatusBoard
    /// Folded, not yet published.
    private var pending = ServiceStatus()
    /// Records processed by this loop so far (the total the stop-after-n rule compares with).
    private(set) var processed: Int64 = 0
    private var countedThrough: [TopicPartition: Int64] = [:]
    /// Ids each held partition remembers, as last collected (a gauge: replaced, not added).
    private var remembered: [TopicPartition: (window: Int, purchases: Int)] = [:]

    init(board: StatusBoard) {
        self.board = board
    }

    // MARK: Partitions

    /// A partition restored here: records below what an earlier ownership counted are re-read.
    func adopt(_ st: PartitionState) {
        if let through = countedThrough[st.tp] { st.reread(until: through) }
    }

    /// Partitions leaving: their last counts are folded, and how far they were counted is kept.
    func release(_ parts: [PartitionState]) {
        noteProcessed(parts)
        collect(parts, through: .now)
        for st in parts {
            countedThrough[st.tp] = max(countedThrough[st.tp] ?? .min, st.nextOffset, st.rereadUntil ?? .min)
            remembered[st.tp] = nil
        }
    }

    /// Adds the records the partitions' ledgers counted since the last call to `processed`
    /// (after every poll: the stop-after-n rule reads it).
    func noteProcessed<Parts: Sequence<PartitionState>>(_ parts: Parts) {
        for st in parts {
            let records = st.ledger.counters.records
            if !st.isRereading { processed += records - st.processedSeen }
            st.processedSeen = records
        }
    }

    /// Counts of one partition the ledger does not keep: re-read records, alerts by type.
    struct Tally {
        var reread: Int64 = 0
        var alertsByType: [String: Int64] = [:]

        mutating func add(_ other: Tally) {
            reread += other.reread
            for (type, n) in other.alertsByType { alertsByType[type, default: 0] += n }
        }
    }

    /// How far `collect` folds: up to each partition's last published views (while consuming),
    /// or everything (partitions leaving, the loop's end).
    enum Through { case views, now }

    /// Folds what the partitions' ledgers counted since the last call, up to `through`.
    func collect<Parts: Sequence<PartitionState>>(_ parts: Parts, through: Through) {
        for st in parts {
            remembered[st.tp] = st.ledger.rememberedIDs
            if through == .now { st.tallyViewed.add(st.tallySinceViews); st.tallySinceViews = Tally() }
            pending.reread += st.tallyViewed.reread
            for (type, n) in st.tallyViewed.alertsByType { pending.alertsByType[type, default: 0] += n }
            st.tallyViewed = Tally()
            let now = through == .views ? st.viewedCounters : st.ledger.counters
            defer { st.reported = now }
            guard !st.isRereading else { continue }  // re-read records: in no count but `reread`
            let d = now - st.reported
            assert(d.records >= 0, "counts folded backwards")
            let records = d.records
            pending.consumed += records
            pending.applied += d.applied
            pending.priced += d.priced
            pending.duplicates += d.duplicates
            pending.deadLettered += d.rejected
            pending.alertsPublished += d.alerts
            pending.creditsChargedMillicredits &+= d.chargedMillicredits
            pending.holds += ServiceStatus.HoldCounts(granted: d.holdsGranted, denied: d.holdsDenied, released: d.holdsReleased,
                                                      expired: d.holdsExpired, usageUnheld: d.usageUnheld)
        }
    }

    // MARK: Events the ledger does not count

    func reread(in st: PartitionState) { st.tallySinceViews.reread += 1 }
    func alertPublished(_ type: String, in st: PartitionState) { st.tallySinceViews.alertsByType[type, default: 0] += 1 }
    func viewsBuilt(_ n: Int) { pending.viewsBuilt += Int64(n) }
    func balancePublished() { pending.balancesPublished += 1 }
    func holdExpiryProduced() { pending.holdExpiriesProduced += 1 }

    enum Source { case stateTopic, snapshot, beginning }
    func restored(from source: Source) {
        switch source {
        case .stateTopic: pending.restoredFromStateTopic += 1
        case .snapshot: pending.restoredFromSnapshot += 1
        case .beginning: pending.restoredFromBeginning += 1
        }
    }

    // MARK: Publishing

    /// What was published so far.
    var published: ServiceStatus { board.current }

    /// Adds what was folded since the last call to the status board.
    func publish(deliveryFailures: Int64) {
        let b = pending
        pending = ServiceStatus()
        let ids = remembered.values.reduce(into: ServiceStatus.RememberedIDs()) { $0.window += Int64($1.window); $0.purchases += Int64($1.purchases) }
        board.update { s in
            s.rememberedIDs = ids
            s.consumed += b.consumed; s.reread += b.reread; s.applied += b.applied; s.priced += b.priced; s.duplicates += b.duplicates
            s.deadLettered += b.deadLettered; s.alertsPublished += b.alertsPublished; s.balancesPublished += b.balancesPublished
            s.viewsBuilt += b.viewsBuilt; s.holdExpiriesProduced += b.holdExpiriesProduced
            s.creditsChargedMillicredits &+= b.creditsChargedMillicredits
            s.holds += b.holds
            s.restoredFromStateTopic += b.restoredFromStateTopic; s.restoredFromSnapshot += b.restoredFromSnapshot
            s.restoredFromBeginning += b.restoredFromBeginning
            for (type, n) in b.alertsByType { s.alertsByType[type, default: 0] += n }
            s.deliveryFailures = deliveryFailures
        }
    }
}
