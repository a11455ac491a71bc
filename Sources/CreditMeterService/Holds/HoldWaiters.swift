public import CreditEngine
import Dispatch
public import Kafka
import Synchronization

/// Hold requests (contract §15) waiting for the decision on the event they produced, keyed by
/// that event's `id`. Thread-safe: an HTTP handler registers before it produces and then
/// suspends (never blocking a thread) until one of these resolves it — the consuming loop
/// once the event is applied or dead-lettered, the producer's delivery report when the broker
/// did not take it, the loop again when the event's partition is revoked, or the handler's
/// own deadline. The first resolution wins; the others find nothing to resolve.
///
/// Deadlines are kept in one heap, swept by one timer (at most every `sweepInterval`), not a
/// sleeping task per request: a task and a timer per request measured ≈ 5 % of the service's
/// CPU per hold decision (docs/performance.md, Holds). A request is answered `.timedOut` at its
/// deadline or up to `sweepInterval` after it.
public final class HoldWaiters: Sendable {
    public enum Outcome: Sendable {
        /// The loop applied the event: the engine's report on it.
        case applied(HoldReport)
        /// The loop dead-lettered the event (`.holdConflict`: the account remembers the
        /// `hold_id` with other data).
        case rejected(Rejection)
        /// The broker did not take the event (the reason).
        case notDelivered(String)
        /// The event's partition left this instance before the event was applied.
        case revoked
        /// Not applied before the deadline.
        case timedOut
    }

    private struct Waiter {
        let partition: TopicPartition
        let tag: UInt64
        var continuation: CheckedContinuation<Outcome, Never>?
        /// Resolved before anyone waited.
        var outcome: Outcome?
    }

    private struct State {
        var byID: [String: Waiter] = [:]
        var idByTag: [UInt64: String] = [:]
        var nextTag: UInt64 = 1
        /// The deadlines of waiting requests, by tag (an entry outlives its request: skipped
        /// when its tag is gone by the time it is swept).
        var deadlines = DeadlineHeap()
        /// When the timer fires next (nil: not armed).
        var armed: ContinuousClock.Instant?

        mutating func remove(_ id: String) -> Waiter? {
            guard let w = byID.removeValue(forKey: id) else { return nil }
            idByTag[w.tag] = nil
            return w
        }
    }

    private let state = Mutex(State())
    /// Fires the sweep; armed for the earliest deadline (`arm`).
    private nonisolated(unsafe) let timer: any DispatchSourceTimer
    static let sweepInterval: Duration = .milliseconds(10)

    public init() {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "credit-meter-hold-deadlines"))
        timer.setEventHandler { [weak self] in self?.sweep() }
        timer.activate()
    }

    deinit { timer.cancel() }

    /// Requests waiting now.
    public var count: Int { state.withLock { $0.byID.count } }

    /// Whether a request waits for the event `id`.
    public func isWaiting(_ id: String) -> Bool { state.withLock { $0.byID[id] != nil } }

    /// Registers a request for the event `id` on `partition`, before it is produced; returns
    /// the tag to produce it with (its delivery report names it).
    public func register(_ id: String, partition: TopicPartition) -> UInt64 {
        state.withLock { s in
            let tag = s.nextTag
            s.nextTag += 1
            s.byID[id] = Waiter(partition: partition, tag: tag)
            s.idByTag[tag] = id
            return tag
        }
    }

    /// Forgets a registration whose event was never produced.
    public func cancel(_ id: String) {
        _ = state.withLock { $0.remove(id) }
    }

    /// Waits until the event `id` is resolved, at the latest until `deadline` (then
    /// `.timedOut`); the registration is gone afterwards.
    public func wait(_ id: String, until deadline: ContinuousClock.Instant) async -> Outcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Outcome, Never>) in
                let ready = state.withLock { s -> Outcome? in
                    guard var w = s.byID[id] else { return .timedOut }
                    if let o = w.outcome {
                        _ = s.remove(id)
                        return o
                    }
                    let now = ContinuousClock.now
                    if deadline <= now {
                        _ = s.remove(id)
                        return .timedOut
                    }
                    w.continuation = c
                    s.byID[id] = w
                    s.deadlines.push(deadline, tag: w.tag)
                    if s.armed.map({ deadline < $0 }) ?? true { arm(&s, at: deadline, now: now) }
                    return nil
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            self.resolve(id, .timedOut)
        }
    }

    /// Sets the timer to fire at `at`, or `sweepInterval` from now if that is later.
    private func arm(_ s: inout State, at: ContinuousClock.Instant, now: ContinuousClock.Instant) {
        let fire = max(at, now + Self.sweepInterval)
        s.armed = fire
        timer.schedule(deadline: .now() + .nanoseconds(Int((fire - now).nanoseconds)), leeway: .milliseconds(1))
    }

    /// Times out every request whose deadline has passed; arms the timer for the next one.
    private func sweep() {
        let due = state.withLock { s -> [String] in
            let now = ContinuousClock.now
            var due: [String] = []
            while let (deadline, tag) = s.deadlines.first, deadline <= now {
                s.deadlines.removeFirst()
                if let id = s.idByTag[tag] { due.append(id) }
            }
            s.armed = nil
            if let (next, _) = s.deadlines.first { arm(&s, at: next, now: now) }
            return due
        }
        for id in due { resolve(id, .timedOut) }
    }

    /// Resolves the request for the event `id`, if one waits and is not resolved yet.
    @discardableResult
    public func resolve(_ id: String, _ outcome: Outcome) -> Bool {
        let (found, continuation) = state.withLock { s -> (Bool, CheckedContinuation<Outcome, Never>?) in
            guard var w = s.byID[id], w.outcome == nil else { return (false, nil) }
            if let c = w.continuation {
                _ = s.remove(id)
                return (true, c)
            }
            w.outcome = outcome
            s.byID[id] = w
            return (true, nil)
        }
        continuation?.resume(returning: outcome)
        return found
    }

    /// Resolves the request whose event was produced with `tag`.
    public func resolve(tag: UInt64, _ outcome: Outcome) {
        guard let id = state.withLock({ $0.idByTag[tag] }) else { return }
        resolve(id, outcome)
    }

    /// Every request waiting on one of these partitions: `.revoked`.
    public func revoked(_ tps: [TopicPartition]) {
        guard !tps.isEmpty else { return }
        let gone = Set(tps)
        let ids = state.withLock { s in s.byID.compactMap { gone.contains($0.value.partition) ? $0.key : nil } }
        for id in ids { resolve(id, .revoked) }
    }
}

/// A binary min-heap of (deadline, tag).
private struct DeadlineHeap {
    private var items: [(ContinuousClock.Instant, UInt64)] = []

    var first: (ContinuousClock.Instant, UInt64)? { items.first }

    mutating func push(_ deadline: ContinuousClock.Instant, tag: UInt64) {
        items.append((deadline, tag))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].0 < items[parent].0 else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func removeFirst() {
        let last = items.removeLast()
        guard !items.isEmpty else { return }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var least = i
            if l < items.count && items[l].0 < items[least].0 { least = l }
            if r < items.count && items[r].0 < items[least].0 { least = r }
            guard least != i else { return }
            items.swapAt(i, least)
            i = least
        }
    }
}
