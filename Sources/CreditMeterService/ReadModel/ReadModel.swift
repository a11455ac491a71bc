public import CreditEngine
public import Kafka
import Synchronization

/// What HTTP readers see (contract §11): a consistent view that the consuming thread
/// publishes — account views of the accounts that changed, after their records were applied
/// and before their balances records are produced (a replaying partition, not readable, gets
/// them when its replay ends) — never the ledgers themselves. Readers and the loop share one
/// short lock: the loop holds it to insert a batch of views, a reader to look one up; nothing
/// is rendered or sorted under it, and no lock is held across an apply.
///
/// It is also the one place where the loop publishes whether it runs and each partition's
/// position (`ServiceStatus` reads them here). A position moves only in `restored` and
/// `publish`, together with the views of the records below it, so a position reached means
/// those records are visible to readers.
public final class ReadModel: Sendable {
    /// One input partition as readers see it.
    public struct PartitionStatus: Sendable, Equatable {
        /// Its state was restored (from a snapshot, or empty) and records are being applied.
        public var restored = false
        /// Next offset to apply (nil: not known yet — no snapshot and no record applied).
        public var position: Int64?
        /// Log start and end offsets last seen by the consumer (nil until a fetch answers).
        public var lowWatermark: Int64?
        public var highWatermark: Int64?
        /// The log end when the partition was assigned: balances records for everything below
        /// it may already be on the balances topic (a snapshot covers less than was produced),
        /// so reads wait until the partition has replayed that far (contract §11: a view is
        /// never older than its account's latest balances record). nil: not known.
        public var catchUpTo: Int64?

        /// The next offset to apply; before the first record of a partition with no snapshot,
        /// its log start.
        var effectivePosition: Int64? { position ?? lowWatermark }

        /// high watermark − position, when both are known.
        public var lag: Int64? {
            guard let high = highWatermark, let position = effectivePosition else { return nil }
            return max(0, high - position)
        }

        /// Restored and replayed past where the log ended at assignment.
        public var isReadable: Bool {
            guard restored else { return false }
            guard let target = catchUpTo else { return true }
            return (effectivePosition ?? 0) >= target
        }

        func notReadableReason(_ tp: TopicPartition) -> String {
            if !restored { return "\(tp) is being restored" }
            return "\(tp) is replaying (at \(effectivePosition ?? 0) of \(catchUpTo ?? 0))"
        }
    }

    /// Account ids compared byte for byte, as the ledger does (Swift's `String` equality is
    /// canonical equivalence: "é" and "e\u{301}" are one String but two accounts).
    struct AccountKey: Hashable {
        let utf8: [UInt8]
        init(_ id: String) { utf8 = Array(id.utf8) }
    }

    public enum Lookup: Sendable {
        case found(AccountView)
        /// No partition held here has this account (404).
        case notHeld
        /// Not every assigned partition is restored yet, so absence proves nothing (503).
        case notReady(String)
    }

    struct Partition {
        var status = PartitionStatus()
        /// Indexed by the ledger's account index (nil: no view yet), so that publishing the
        /// view of a changed account is an array store, not a hash of its id.
        var views: [AccountView?] = []
    }

    /// Where an account's view is: its partition and its index there.
    struct Owner: Equatable {
        var tp: TopicPartition
        var index: Int
    }

    struct State {
        var running = false
        var assignmentArrived = false
        var partitions: [TopicPartition: Partition] = [:]
        /// Account → the partition whose ledger holds it, and its index there.
        var owner: [AccountKey: Owner] = [:]
        /// Bumped whenever the set of accounts changes (the sorted listing is rebuilt then).
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    private let sorted = Mutex<(generation: UInt64, ids: [AccountKey])>((.max, []))

    public init() {}

    // MARK: Written by the consuming loop

    public func setRunning(_ running: Bool) {
        state.withLock { $0.running = running }
    }

    /// Partitions assigned to this instance: not readable until restored.
    public func assigned(_ tps: [TopicPartition]) {
        state.withLock { s in
            s.assignmentArrived = true
            for tp in tps where s.partitions[tp] == nil { s.partitions[tp] = Partition() }
        }
    }

    /// A partition's restored state: every account it holds, and the log end it must replay
    /// to before its accounts are read (see `PartitionStatus.catchUpTo`).
    public func restored(_ tp: TopicPartition, position: Int64?, catchUpTo: Int64? = nil, views: [AccountView]) {
        state.withLock { s in
            var p = Partition()
            p.status.restored = true
            p.status.position = position
            p.status.catchUpTo = catchUpTo
            p.status.highWatermark = s.partitions[tp]?.status.highWatermark
            p.status.lowWatermark = s.partitions[tp]?.status.lowWatermark
            p.views.reserveCapacity(views.count)
            for (i, v) in views.enumerated() {
                p.views.append(v)
                s.owner[AccountKey(v.account)] = Owner(tp: tp, index: i)
            }
            s.partitions[tp] = p
            s.generation &+= 1
        }
    }

    /// Views of the accounts that changed since the last publish, and the partition's position.
    /// `indices[k]` is the ledger's index of the account of `views[k]` (the loop passes them:
    /// an account already held is then updated without hashing its id); without them each
    /// view's slot is looked up by id, or appended.
    public func publish(_ tp: TopicPartition, indices: [Int]? = nil, views: [AccountView], position: Int64?) {
        precondition(indices == nil || indices!.count == views.count)
        state.withLock { s in
            guard var p = s.partitions.removeValue(forKey: tp) else { return }
            var added = false
            for (k, v) in views.enumerated() {
                let i: Int
                if let indices {
                    i = indices[k]
                } else if let o = s.owner[AccountKey(v.account)], o.tp == tp {
                    i = o.index
                } else {
                    i = p.views.count
                }
                if i >= p.views.count { p.views.append(contentsOf: repeatElement(nil, count: i - p.views.count + 1)) }
                if p.views[i] == nil {
                    s.owner[AccountKey(v.account)] = Owner(tp: tp, index: i)
                    added = true
                }
                p.views[i] = v
            }
            if let position { p.status.position = position }
            s.partitions[tp] = p
            if added { s.generation &+= 1 }
        }
    }

    /// Watermarks as the consumer last saw them.
    public func watermarks(_ marks: [TopicPartition: (low: Int64, high: Int64)]) {
        state.withLock { s in
            for (tp, w) in marks {
                s.partitions[tp]?.status.lowWatermark = w.low
                s.partitions[tp]?.status.highWatermark = w.high
            }
        }
    }

    /// Partitions leaving this instance: their accounts are no longer served here.
    public func revoked(_ tps: [TopicPartition]) {
        state.withLock { s in
            for tp in tps {
                guard let p = s.partitions.removeValue(forKey: tp) else { continue }
                for case let v? in p.views {
                    let key = AccountKey(v.account)
                    if s.owner[key]?.tp == tp { s.owner[key] = nil }
                }
            }
            s.generation &+= 1
        }
    }

    // MARK: Read by HTTP handlers

    public var isRunning: Bool { state.withLock { $0.running } }

    /// Every assigned partition with its status.
    public var partitions: [TopicPartition: PartitionStatus] {
        state.withLock { $0.partitions.mapValues(\.status) }
    }

    /// Whether `tp` is assigned here (restored or not): one lookup, no copy.
    public func holds(_ tp: TopicPartition) -> Bool {
        state.withLock { $0.partitions[tp] != nil }
    }

    public var accountCount: Int { state.withLock { $0.owner.count } }

    /// Ready (contract §11): the first assignment arrived, and every assigned partition is
    /// restored with lag ≤ `maxLag`. Otherwise the first reason found.
    public func readiness(maxLag: Int64) -> String? {
        let (running, arrived, parts) = state.withLock { ($0.running, $0.assignmentArrived, $0.partitions.mapValues(\.status)) }
        guard running else { return "the consuming loop is not running" }
        guard arrived else { return "waiting for the first partition assignment" }
        for (tp, p) in parts.sorted(by: { $0.key < $1.key }) {
            guard p.isReadable else { return p.notReadableReason(tp) }
            guard let lag = p.lag else { return "\(tp): lag not known yet" }
            if lag > maxLag { return "\(tp) lags by \(lag) records (ready_max_lag \(maxLag))" }
        }
        return nil
    }

    /// Whether reads can be answered: the first assignment arrived and every assigned
    /// partition is restored (lag does not matter for reads). Otherwise the reason.
    public var readableReason: String? {
        state.withLock { Self.unreadable($0) }
    }

    /// Why reads cannot be answered now: the loop is not running (starting or stopping — a
    /// revoked partition must not look like an unknown account), no assignment yet, or a
    /// partition still restoring or replaying.
    private static func unreadable(_ s: State) -> String? {
        guard s.running else { return "the consuming loop is not running" }
        guard s.assignmentArrived else { return "waiting for the first partition assignment" }
        if let (tp, p) = s.partitions.first(where: { !$0.value.status.isReadable }) { return p.status.notReadableReason(tp) }
        return nil
    }

    public func account(_ id: String) -> Lookup {
        let key = AccountKey(id)
        return state.withLock { s in
            guard s.running else { return .notReady("the consuming loop is not running") }
            if let o = s.owner[key], let p = s.partitions[o.tp], o.index < p.views.count, let v = p.views[o.index] {
                return p.status.isReadable ? .found(v) : .notReady(p.status.notReadableReason(o.tp))
            }
            if let reason = Self.unreadable(s) { return .notReady(reason) }
            return .notHeld
        }
    }

    /// Up to `limit` accounts after `after` (by the id's UTF-8 bytes) that satisfy `include`,
    /// and the id to continue after (nil when the listing is complete).
    public func page(after: String?, limit: Int, include: (AccountView) -> Bool) -> (views: [AccountView], next: String?) {
        let ids = sortedIDs()
        var start = 0
        if let after {
            // First id whose bytes sort after `after`.
            let bytes = Array(after.utf8)
            var lo = 0, hi = ids.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if bytes.lexicographicallyPrecedes(ids[mid].utf8) { hi = mid } else { lo = mid + 1 }
            }
            start = lo
        }
        var out: [AccountView] = []
        out.reserveCapacity(min(limit, 1024))
        var i = start
        while i < ids.count && out.count < limit {
            let end = min(ids.count, i + 256)
            // A short lock per chunk, so that a filtered scan never holds up the loop for long.
            let views: [AccountView?] = state.withLock { s in
                ids[i..<end].map { id in
                    s.owner[id].flatMap { o in s.partitions[o.tp].flatMap { o.index < $0.views.count ? $0.views[o.index] : nil } }
                }
            }
            for v in views {
                i += 1
                guard let v, include(v) else { continue }
                out.append(v)
                if out.count == limit { break }
            }
        }
        let more = out.count == limit && i < ids.count
        return (out, more ? out.last?.account : nil)
    }

    /// The summary row of every account held here that satisfies `include` (unordered). The
    /// partitions' view arrays are taken under the lock (copy-on-write: O(1)) and read
    /// outside it.
    public func summaries(_ include: (AccountSummary) -> Bool) -> [AccountSummary] {
        let parts = state.withLock { $0.partitions.values.map(\.views) }
        var out: [AccountSummary] = []
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for views in parts {
            for case let v? in views {
                let s = v.summary
                if include(s) { out.append(s) }
            }
        }
        return out
    }

    /// Account ids sorted by UTF-8 bytes; re-sorted (outside the state lock) only when the
    /// set of accounts changed.
    private func sortedIDs() -> [AccountKey] {
        let current = state.withLock { $0.generation }
        if let cached = sorted.withLock({ $0.generation == current ? $0.ids : nil }) { return cached }
        // Copying the dictionary is O(1) here (copy-on-write); the loop pays one copy of it at
        // its next new account — only after the set of accounts changed and someone listed.
        let (generation, owner) = state.withLock { ($0.generation, $0.owner) }
        let ids = owner.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        sorted.withLock { $0 = (generation, ids) }
        return ids
    }
}
