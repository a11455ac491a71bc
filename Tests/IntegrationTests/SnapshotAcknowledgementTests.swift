import CreditConfig
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import KafkaMockCluster
import Logging
import Testing

/// Contract §8 with snapshots that do not stop the loop: a snapshot is captured while the
/// outputs of the records it covers may still be on their way, and is written only once they
/// are acknowledged. Every input record here is bad input, so each causes exactly one dead
/// letter; the dead-letter partitions are led by broker 2, whose answers come late and fail
/// first. A snapshot file claiming next offset o for a partition must find, in the dead-letter
/// topic, the dead letter of every record of that partition below o.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct SnapshotAcknowledgementTests {
    static let partitions: Int32 = 2
    static let dlq = "ai.usage.dlq"

    /// Two brokers: the input, the group and every output but the dead letters on broker 1.
    static func harness() throws -> ServiceHarness {
        let h = try ServiceHarness(partitions: partitions, snapshotInterval: 1, kafkaProperties: ["batch.num.messages": "1"], brokers: 2)
        let cluster = try #require(h.cluster).cluster
        for p in 0..<partitions { try cluster.setPartitionLeader(topic: "ai.usage", partition: p, broker: 1) }
        for t in ["credit.alerts", "credit.balances", "credit.requests"] {
            for p in 0..<Int32(2) { try cluster.setPartitionLeader(topic: t, partition: p, broker: 1) }
        }
        for p in 0..<Int32(2) { try cluster.setPartitionLeader(topic: dlq, partition: p, broker: 2) }
        try cluster.setCoordinator(group: "test-group", broker: 1)
        return h
    }

    /// `count` malformed records into `partition`.
    static func produceBad(_ h: ServiceHarness, partition: Int32, count: Int, from: Int) throws {
        for i in from..<(from + count) { try h.produce("{\"not json \(partition)-\(i)", key: "acct-\(partition)-\(i)", partition: partition) }
    }

    /// The newest snapshot's next offset per partition (absent: none yet).
    static func newestSnapshots(_ h: ServiceHarness) throws -> [Int32: Int64] {
        let store = SnapshotStore(dir: try h.config().snapshots.dir, keep: 3)
        var out: [Int32: Int64] = [:]
        for p in 0..<partitions {
            if let f = store.files(TopicPartition("ai.usage", p)).first { out[p] = SnapshotRestoreTests.offset(ofFile: f) }
        }
        return out
    }

    /// Source offsets dead-lettered so far, per partition.
    static func deadLettered(_ h: ServiceHarness) throws -> [Int32: Set<Int64>] {
        var out: [Int32: Set<Int64>] = [:]
        for r in try h.readAll(dlq, timeout: .seconds(60)) {
            if let p = r.headers["source-partition"].flatMap({ Int32($0) }), let o = r.headers["source-offset"].flatMap({ Int64($0) }) {
                out[p, default: []].insert(o)
            }
        }
        return out
    }

    /// A running service, its log, and its mock cluster, once ten records of each partition are
    /// processed and snapshotted.
    struct Running {
        let h: ServiceHarness
        let cluster: MockCluster
        let service: MeterService
        let log: SnapshotRestoreTests.Capture
        let task: Task<Void, any Error>
    }

    static func startWithTheFirstRecordsSnapshotted() async throws -> Running {
        let h = try harness()
        let cluster = try #require(h.cluster).cluster
        for p in 0..<partitions { try produceBad(h, partition: p, count: 10, from: 0) }
        let log = SnapshotRestoreTests.Capture()
        log.logLevel = .debug
        let service = MeterService(config: try h.config(), logger: Logger(label: "test.snapshot-acks") { _ in log })
        let task = Task { try await service.run() }
        try await waitUntil("the first records are snapshotted") { try newestSnapshots(h) == [0: 10, 1: 10] }
        return Running(h: h, cluster: cluster, service: service, log: log, task: task)
    }

    static func waitUntil(_ what: String, timeout: Duration = .seconds(90), _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("timed out waiting until \(what)"); return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until both partitions' snapshots claim next offset 30, checking every snapshot
    /// that appears against what the dead-letter topic holds.
    static func checkEverySnapshotUntilAllThirty(_ h: ServiceHarness) async throws {
        var checked: [Int32: Int64] = [0: 10, 1: 10]
        try await waitUntil("every record is snapshotted") {
            let newest = try newestSnapshots(h)
            if newest.contains(where: { checked[$0.key] != $0.value }) {
                let held = try deadLettered(h)
                for (p, o) in newest where checked[p] != o {
                    let missing = (0..<o).filter { !(held[p] ?? []).contains($0) }
                    #expect(missing.isEmpty, "partition \(p): a snapshot claims next offset \(o), but the dead letters of offsets \(missing) are not in the topic")
                    checked[p] = o
                }
            }
            return checked == [0: 30, 1: 30]
        }
    }

    @Test func aSnapshotIsWrittenOnlyOnceTheOutputsBeforeItAreAcknowledged() async throws {
        let r = try await Self.startWithTheFirstRecordsSnapshotted()
        let (h, cluster, service, log, task) = (r.h, r.cluster, r.service, r.log, r.task)

        // Broker 2 answers 400 ms late and refuses its next requests (retriable): the dead
        // letters of the next records are unacknowledged for seconds, while a snapshot is due
        // every second.
        try cluster.setRoundTripTime(broker: 2, milliseconds: 400)
        try cluster.pushRequestErrors(.produce, [KafkaErrorCode.requestTimedOut, KafkaErrorCode.notEnoughReplicas,
                                                 KafkaErrorCode.requestTimedOut, KafkaErrorCode.notEnoughReplicas], broker: 2)
        let capturedBefore = log.lines("snapshot captured").count
        for p in 0..<Self.partitions { try Self.produceBad(h, partition: p, count: 20, from: 10) }

        // Every snapshot that appears is checked against what the dead-letter topic holds.
        try await Self.checkEverySnapshotUntilAllThirty(h)
        service.requestStop()
        try await task.value
        try cluster.setRoundTripTime(broker: 2, milliseconds: 0)

        // The snapshots were taken while outputs before them were unacknowledged.
        let captures = log.lines("snapshot captured").dropFirst(capturedBefore)
        #expect(captures.contains { Int($0.metadata["unacknowledged_outputs"] ?? "") ?? 0 > 0 },
                "no snapshot was captured with outputs unacknowledged: the test did not force what it is about")
        #expect(!log.lines("snapshot handed to the writer").isEmpty)
        let held = try Self.deadLettered(h)
        #expect(held == [0: Set(0..<30), 1: Set(0..<30)])
    }

    @Test func aDeliveryFailureDiscardsTheSnapshotWaitingForIt() async throws {
        let r = try await Self.startWithTheFirstRecordsSnapshotted()
        let (h, cluster, log, task) = (r.h, r.cluster, r.log, r.task)

        // Broker 2 answers a second late, and refuses the next dead letter for good: the
        // snapshots captured meanwhile must never be written.
        try cluster.setRoundTripTime(broker: 2, milliseconds: 1_500)
        try cluster.pushRequestErrors(.produce, [KafkaErrorCode.messageSizeTooLarge], broker: 2)
        let capturedBefore = log.lines("snapshot captured").count
        try Self.produceBad(h, partition: 0, count: 10, from: 10)

        let error = await #expect(throws: (any Error).self) { try await task.value }
        try cluster.setRoundTripTime(broker: 2, milliseconds: 0)
        #expect("\(error.map { "\($0)" } ?? "")".hasPrefix("a record could not be delivered"), "\(String(describing: error))")
        let captures = log.lines("snapshot captured").dropFirst(capturedBefore)
        #expect(captures.contains { Int($0.metadata["unacknowledged_outputs"] ?? "") ?? 0 > 0 },
                "no snapshot was captured with outputs unacknowledged: the test did not force what it is about")
        #expect(!log.lines("snapshots waiting for their outputs discarded").isEmpty)
        // The dead letter of offset 10 failed: no snapshot of partition 0 claims more.
        #expect(try Self.newestSnapshots(h)[0] == 10)
    }

    /// Partitions lost (the member expelled: a heartbeat answered UNKNOWN_MEMBER_ID) while
    /// snapshots wait for their outputs: the lost partitions only leave the waiting captures —
    /// the rebalance does not flush — and the service goes on: every snapshot written later
    /// still finds its dead letters in the topic.
    @Test func partitionsLostWhileSnapshotsWaitOnlyLeaveThem() async throws {
        let r = try await Self.startWithTheFirstRecordsSnapshotted()
        let (h, cluster, service, log, task) = (r.h, r.cluster, r.service, r.log, r.task)

        try cluster.setRoundTripTime(broker: 2, milliseconds: 1_000)
        let capturedBefore = log.lines("snapshot captured").count
        for p in 0..<Self.partitions { try Self.produceBad(h, partition: p, count: 20, from: 10) }
        try await Self.waitUntil("a snapshot waits for its outputs") {
            log.lines("snapshot captured").dropFirst(capturedBefore).contains { Int($0.metadata["unacknowledged_outputs"] ?? "") ?? 0 > 0 }
        }
        cluster.pushRequestErrors(.heartbeat, [KafkaErrorCode.unknownMemberID])
        try await Self.waitUntil("the partitions are lost") {
            log.lines("partitions revoked").contains { $0.metadata["lost"] == "true" }
        }
        try cluster.setRoundTripTime(broker: 2, milliseconds: 0)

        try await Self.checkEverySnapshotUntilAllThirty(h)
        service.requestStop()
        try await task.value
        #expect(!log.lines("lost partitions removed from the snapshots waiting for their outputs").isEmpty,
                "no snapshot waited when the partitions were lost: the test did not force what it is about")
        #expect(log.lines("could not settle the snapshots waiting for their outputs").isEmpty)
        #expect(log.lines("snapshots waiting for their outputs discarded").isEmpty)
        #expect(try Self.deadLettered(h) == [0: Set(0..<30), 1: Set(0..<30)])
    }
}
