import CreditEngine
import CreditMeterService
import Kafka
import Testing

/// The registry hold requests wait in (§15), alone: whoever resolves first wins, whether the
/// request already waits or not yet; a deadline, a revoke and a delivery report resolve too.
@Suite struct HoldWaitersTests {
    static let tp = TopicPartition("ai.usage", 1)

    func isConflict(_ o: HoldWaiters.Outcome) -> Bool { if case .rejected(.holdConflict) = o { return true } else { return false } }
    func isRevoked(_ o: HoldWaiters.Outcome) -> Bool { if case .revoked = o { return true } else { return false } }
    func isTimedOut(_ o: HoldWaiters.Outcome) -> Bool { if case .timedOut = o { return true } else { return false } }

    @Test func resolvedBeforeOrWhileWaitingAndOnlyOnce() async {
        let w = HoldWaiters()
        _ = w.register("a", partition: Self.tp)
        #expect(w.isWaiting("a") && w.count == 1)
        // Resolved before anyone waits: kept for the waiter; a later resolution is ignored.
        #expect(w.resolve("a", .rejected(.holdConflict)))
        #expect(!w.resolve("a", .revoked))
        #expect(isConflict(await w.wait("a", until: .now + .seconds(60))))
        #expect(!w.isWaiting("a") && w.count == 0)
        // Resolved while waiting.
        _ = w.register("b", partition: Self.tp)
        async let outcome = w.wait("b", until: .now + .seconds(60))
        while !w.resolve("b", .revoked) { await Task.yield() }
        #expect(isRevoked(await outcome))
        #expect(!w.resolve("unknown", .revoked))
    }

    @Test func aDeadlineRevokesAndDeliveryReports() async {
        let w = HoldWaiters()
        _ = w.register("late", partition: Self.tp)
        #expect(isTimedOut(await w.wait("late", until: .now)))
        #expect(w.count == 0)
        // A revoke resolves the requests of the revoked partitions only.
        _ = w.register("x", partition: Self.tp)
        _ = w.register("y", partition: TopicPartition("ai.usage", 2))
        w.revoked([Self.tp])
        #expect(isRevoked(await w.wait("x", until: .now + .seconds(60))))
        #expect(w.isWaiting("y"))
        // A delivery report names the request by its tag.
        let tag = w.register("z", partition: Self.tp)
        w.resolve(tag: tag, .notDelivered("Broker: Message size too large"))
        if case .notDelivered(let reason) = await w.wait("z", until: .now + .seconds(60)) {
            #expect(reason == "Broker: Message size too large")
        } else {
            Issue.record("not resolved by its delivery report")
        }
        w.cancel("y")
        #expect(w.count == 0)
    }

    /// Deadlines in any order, swept by one timer: each request is timed out at its own
    /// deadline or just after, never before; one answered first keeps its answer.
    @Test func deadlinesInAnyOrder() async {
        let w = HoldWaiters()
        let start = ContinuousClock.now
        // "answered" is resolved while the others wait: its deadline is far enough away that a
        // stalled machine cannot time it out first, and its heap entry outlives its request.
        let deadlines: [(String, Duration)] = [("d3", .milliseconds(90)), ("d1", .milliseconds(30)), ("d2", .milliseconds(60)),
                                               ("answered", .seconds(3600))]
        for (id, _) in deadlines { _ = w.register(id, partition: Self.tp) }
        await withTaskGroup(of: (String, HoldWaiters.Outcome, ContinuousClock.Instant).self) { group in
            for (id, after) in deadlines {
                group.addTask { (id, await w.wait(id, until: start + after), ContinuousClock.now) }
            }
            #expect(w.resolve("answered", .revoked))
            for await (id, outcome, at) in group {
                let deadline = start + deadlines.first { $0.0 == id }!.1
                if id == "answered" {
                    #expect(isRevoked(outcome))
                } else {
                    #expect(isTimedOut(outcome) && at >= deadline, "\(id)")
                }
            }
        }
        #expect(w.count == 0)
    }
}
