import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging

/// Several instances (contract §13), measured: how long a partition takes to move from one
/// instance to another through the state topic, what the state costs on Kafka, and how long
/// a snapshot stops consumption now that encoding happens off the consuming thread.
enum MoveBench {
    /// Instance A consumes everything; instance B joins and half the partitions move to it
    /// (A checkpoints them as it lets go, B restores them from the state topic, then replays
    /// what arrived since). Both in this process, on an in-process mock cluster.
    static func run(accounts: Int, partitions: Int32, config base: ServiceConfiguration, scratch: String, logger: Logger,
                    say: @escaping @Sendable (String) -> Void) async throws {
        var config = base
        config.kafka.stateTopic = "credit.state"
        config.kafka.groupID = "bench-move"
        config.snapshots.intervalSeconds = 3_600  // only the revocation's checkpoint
        let cluster = try DevCluster(for: config.kafka, inputPartitions: partitions, outputPartitions: 4, logger: logger)
        var spec = WorkloadSpec()
        spec.accounts = accounts
        spec.usageEvents = accounts
        spec.malformed = 0
        spec.duplicateEvery = 1_000_000
        let records = Workload.generate(spec)
        try Demo.produce(records, to: config.kafka.inputTopics[0], bootstrap: cluster.bootstrapServers, logger: logger) { _ in }

        var a = config
        a.snapshots.dir = scratch + "/move-a"
        let first = MeterService(config: a, logger: logger, bootstrap: cluster.bootstrapServers)
        let firstTask = Task { try await first.run() }
        try await waitUntil(seconds: 600) { first.status.processed >= Int64(records.count) && first.readModel.readiness(maxLag: 0) == nil }

        var b = config
        b.snapshots.dir = scratch + "/move-b"
        let second = MeterService(config: b, logger: logger, bootstrap: cluster.bootstrapServers)
        let t0 = ContinuousClock.now
        let secondTask = Task { try await second.run() }
        var assignedAt: ContinuousClock.Instant?
        var restoredAt: ContinuousClock.Instant?
        var readyAt: ContinuousClock.Instant?
        let deadline = t0 + .seconds(600)
        while readyAt == nil && ContinuousClock.now < deadline {
            let parts = second.readModel.partitions
            let now = ContinuousClock.now
            if assignedAt == nil, !parts.isEmpty { assignedAt = now }
            if restoredAt == nil, !parts.isEmpty, parts.values.allSatisfy(\.restored) { restoredAt = now }
            if restoredAt != nil, second.readModel.readiness(maxLag: 0) == nil { readyAt = now }
            try await Task.sleep(for: .milliseconds(2))
        }
        guard let assignedAt, let restoredAt, let readyAt else { throw ServiceError("bench move: instance B did not get ready") }
        let revocation = first.status.lastSnapshotMillis  // A's checkpoint of what it let go
        let moved = second.readModel.accountCount
        let movedParts = second.readModel.partitions.count
        let reader = try KafkaConsumer(properties: [("bootstrap.servers", cluster.bootstrapServers)], logger: logger)
        var stateBytes: Int64 = 0
        var stateRecords: Int64 = 0
        for p in 0..<partitions {
            let w = try reader.watermarks(TopicPartition("credit.state", p))
            stateRecords += w.high - w.low
        }
        // Bytes: what one checkpoint of every partition takes (A's final one, read back).
        let tps = (0..<partitions).map { TopicPartition(config.kafka.inputTopics[0], $0) }
        first.requestStop()
        second.requestStop()
        try await firstTask.value
        try await secondTask.value
        let checkpoints = try StateTopic.checkpoints(config, bootstrap: cluster.bootstrapServers, partitions: tps, logger: logger)
        for (_, c) in checkpoints {
            stateBytes += Int64(SnapshotCodec.encode(c.ledger, topic: "t", partition: 0, nextOffset: c.nextOffset, metadata: 0).count)
        }
        let restoreSeconds = Double((restoredAt - assignedAt).nanoseconds) / 1e9
        say("partition move (\(fmt(accounts)) accounts on \(partitions) partitions; B joins, \(movedParts) partitions with "
            + "\(fmt(moved)) accounts move): join \(Bench.ms(assignedAt - t0)) (of which A's revocation checkpoint \(revocation) ms; the rest is the group protocol — \(KafkaSettings.assignmentStrategy) — with the mock's 3 s rebalance delay per round), restore from the state topic "
            + "\(Bench.ms(restoredAt - assignedAt)) (\(fmt(Int(Double(moved) / max(restoreSeconds, 1e-6)))) accounts/s), caught up "
            + "\(Bench.ms(readyAt - restoredAt)) later; total \(Bench.ms(readyAt - t0))")
        say("state topic: one checkpoint of every partition = \(fmt(Int(stateBytes))) B = \(stateBytes / Int64(max(accounts, 1))) B per account "
            + "(chunks ≤ \(StateLayout.chunkSize / 1024) KiB); \(fmt(Int(stateRecords))) records held after the run (the mock never compacts)")
        withExtendedLifetime(cluster) {}
    }

    /// The consuming thread's pause for one snapshot: before, it encoded every changed
    /// partition itself; now it takes a frozen copy (copy-on-write) and the first record
    /// applied to each partition afterwards copies that partition's storage once.
    static func pause(_ ledgers: [PartitionLedger], apply: (PartitionLedger) -> Void, say: (String) -> Void) {
        var encodeTotal = Duration.zero
        var longestEncode = Duration.zero
        var longestCopy = Duration.zero
        var copyTotal = Duration.zero
        var capture = Duration.zero
        for l in ledgers {
            let e0 = ContinuousClock.now
            _ = SnapshotCodec.encode(l, topic: "t", partition: 0, nextOffset: 0, metadata: 0)
            let e = ContinuousClock.now - e0
            encodeTotal += e
            longestEncode = max(longestEncode, e)
            let c0 = ContinuousClock.now
            let frozen = l.frozenCopy()
            capture += ContinuousClock.now - c0
            let a0 = ContinuousClock.now
            apply(l)  // the first record after the snapshot: copies what it touches
            let a = ContinuousClock.now - a0
            copyTotal += a
            longestCopy = max(longestCopy, a)
            withExtendedLifetime(frozen) {}
        }
        say("snapshot pause on the consuming thread (\(ledgers.count) partitions): encoding there took \(Bench.ms(encodeTotal)) in all "
            + "(longest partition \(Bench.ms(longestEncode))); now capture \(Bench.ms(capture)) + the first record after it per partition "
            + "(copy-on-write) \(Bench.ms(copyTotal)) in all, longest \(Bench.ms(longestCopy))")
    }

    static func waitUntil(seconds: Int, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            if ContinuousClock.now > deadline { throw ServiceError("bench move: timed out") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
