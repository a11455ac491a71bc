public import CreditEngine
public import Kafka
import Synchronization

/// Hold requests (contract §15) waiting for the decision on the event they produced, keyed by
/// that event's `id`. Thread-safe: an HTTP handler registers before it produces and then
/// suspends (never blocking a thread) until one of these resolves it — the consuming loop
/// once the event is applied or dead-lettered, the producer's delivery report when the broker
/// did not take it, the loop again when the event's partition is revoked, or the handler's
/// own deadline. The first resolution wins; the others find nothing to resolve.
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

        mutating func remove(_ id: String) -> Waiter? {
            guard let w = byID.removeValue(forKey: id) else { return nil }
            idByTag[w.tag] = nil
            return w
        }
    }

    private let state = Mutex(State())

    public init() {}

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
        let timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            if !Task.isCancelled { self.resolve(id, .timedOut) }
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Outcome, Never>) in
                let ready = state.withLock { s -> Outcome? in
                    guard var w = s.byID[id] else { return .timedOut }
                    if let o = w.outcome {
                        _ = s.remove(id)
                        return o
                    }
                    w.continuation = c
                    s.byID[id] = w
                    return nil
                }
                if let ready { c.resume(returning: ready) }
            }
        } onCancel: {
            self.resolve(id, .timedOut)
        }
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
