import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Testing

/// The state topic over the Kafka wire protocol (librdkafka's mock cluster, in process).
@Suite(.serialized, .timeLimit(.minutes(5)))
struct StateTopicTests {
    static func workload(seed: UInt64, accounts: Int, usage: Int, prefix: String = "evt-") -> [WorkloadRecord] {
        var spec = WorkloadSpec()
        spec.seed = seed
        spec.accounts = accounts
        spec.usageEvents = usage
        spec.duplicateEvery = 25
        spec.malformed = 3
        spec.idPrefix = prefix
        return Workload.generate(spec)
    }

    static func documents(_ ledgers: [PartitionLedger]) -> [String: String] {
        var out: [String: String] = [:]
        for l in ledgers {
            for i in 0..<l.accountCount { out[l.accountID(i)] = String(decoding: l.accountDocument(i), as: UTF8.self) }
        }
        return out
    }

    @Test func aFreshInstanceWithNoSnapshotFolderRestoresEveryPartitionFromTheStateTopic() async throws {
        let h = try ServiceHarness(partitions: 4, stateTopic: true)
        let first = Self.workload(seed: 11, accounts: 40, usage: 1_500)
        try h.produce(first)
        let one = try await h.runService(until: Int64(first.count))
        #expect(one.status.restoredFromBeginning == 4)
        #expect(one.status.restoredFromStateTopic == 0)

        // The state topic holds a checkpoint of every partition, at the offsets the run ended at.
        let tps = (0..<4).map { TopicPartition("ai.usage", Int32($0)) }
        let checkpoints = try StateTopic.checkpoints(try h.config(), bootstrap: h.bootstrap, partitions: tps, logger: h.logger)
        #expect(checkpoints.count == 4)
        let (_, ends) = try h.committedAndEnds()
        #expect(Dictionary(uniqueKeysWithValues: checkpoints.map { ($0.key.partition, $0.value.nextOffset) }) == ends)

        // The only instance is gone with its disk; a fresh one restores from Kafka and reads only
        // what arrived since — never the input from the beginning.
        try FileManager.default.removeItem(atPath: h.dir + "/snapshots")
        let second = Self.workload(seed: 12, accounts: 40, usage: 300, prefix: "more-")
            .filter { $0.kind == .usage }
        try h.produce(second)
        let two = try await h.runService(until: Int64(second.count))
        #expect(two.status.restoredFromStateTopic == 4)
        #expect(two.status.restoredFromBeginning == 0 && two.status.restoredFromSnapshot == 0)
        #expect(two.status.consumed == Int64(second.count), "consumed \(two.status.consumed), expected only the \(second.count) new records")

        // Exactly the balances of one uninterrupted run over everything.
        let reference = Reference(records: first + second, config: try h.config().engine)
        let documents = Self.documents(Array(two.finalLedgers().values))
        #expect(documents.count == reference.documents.count)
        #expect(reference.documents.filter { documents[$0.key] != $0.value }.isEmpty)
    }

    /// Holds (§15) are part of a partition's state in Kafka: a fresh instance with no snapshot
    /// folder restores them from the state topic and goes on from them — usage settling, a
    /// release and a new request after the move end with exactly the holds, available credits
    /// and hold counters of one uninterrupted run.
    @Test func holdsMoveWithThePartitionsStateThroughKafka() async throws {
        let h = try ServiceHarness(partitions: 1, stateTopic: true)
        // Times an hour before now and holds of 7 days: none falls due while the test runs.
        let start = (Int64(Date().timeIntervalSince1970) - 3_600) * EventTime.nanosPerSecond
        func at(_ seconds: Int64) -> String { EventTime.format(start + seconds * EventTime.nanosPerSecond) }
        let first = [
            ("acme", event("credit.plan.assigned", "acme", id: "p1", time: at(0), data: #"{"plan":"pro"}"#)),
            ("acme", event("credit.hold.requested", "acme", id: "r1", time: at(1),
                           data: #"{"hold_id":"run-1","credits":50,"ttl_seconds":604800,"member":"ana","workflow":"agent run"}"#)),
            ("acme", event("ai.usage", "acme", id: "u1", time: at(2), data: #"{"action":"web_research","hold_id":"run-1"}"#)),
            ("acme", event("credit.hold.requested", "acme", id: "r2", time: at(3), data: #"{"hold_id":"too-big","credits":5000}"#)),
            ("bo", event("credit.plan.assigned", "bo", id: "p2", time: at(0), data: #"{"plan":"trial"}"#)),
            ("bo", event("credit.hold.requested", "bo", id: "r3", time: at(4), data: #"{"hold_id":"b-1","credits":20,"ttl_seconds":604800}"#)),
        ]
        let second = [
            ("acme", event("ai.usage", "acme", id: "u2", time: at(10), data: #"{"action":"chat","hold_id":"run-1"}"#)),
            ("acme", event("credit.hold.released", "acme", id: "x1", time: at(11), data: #"{"hold_id":"run-1"}"#)),
            ("bo", event("credit.hold.requested", "bo", id: "r4", time: at(12), data: #"{"hold_id":"b-2","credits":60,"ttl_seconds":604800}"#)),
            ("bo", event("ai.usage", "bo", id: "u3", time: at(13), data: #"{"action":"doc_search","hold_id":"b-1"}"#)),
        ]
        /// The uninterrupted run's ledger over `records`.
        func reference(_ records: [(String, String)]) throws -> PartitionLedger {
            let ledger = PartitionLedger(config: try h.config().engine)
            let decoder = EventDecoder()
            for (account, json) in records {
                let bytes = Array(json.utf8), key = Array(account.utf8)
                _ = try bytes.withUnsafeBytes { v in try key.withUnsafeBytes { k in ledger.apply(try decoder.decode(v), key: k, recordTime: nil) } }
            }
            return ledger
        }
        func holds(_ ledgers: [PartitionLedger]) -> [String: [Hold]] {
            var out: [String: [Hold]] = [:]
            for l in ledgers { for i in 0..<l.accountCount { out[l.accountID(i)] = l.accounts[i].holdBook?.holds ?? [] } }
            return out
        }
        func available(_ ledgers: [PartitionLedger]) -> [String: Int64] {
            var out: [String: Int64] = [:]
            for l in ledgers { for i in 0..<l.accountCount { out[l.accountID(i)] = l.accounts[i].availableCredits } }
            return out
        }
        for (account, json) in first { try h.produce(json, key: account) }
        try await h.runService(until: Int64(first.count))

        // The state topic's checkpoints hold the holds as decided.
        let checkpoints = try StateTopic.checkpoints(try h.config(), bootstrap: h.bootstrap, partitions: [TopicPartition("ai.usage", 0)],
                                                     logger: h.logger)
        #expect(checkpoints.count == 1)
        let before = try reference(first)
        #expect(holds(checkpoints.values.map(\.ledger)) == holds([before]))
        #expect(holds([before])["acme"]?.map(\.status) == [.active, .denied] && holds([before])["bo"]?.map(\.status) == [.active])

        // A fresh instance without the disk restores from Kafka and goes on.
        try FileManager.default.removeItem(atPath: h.dir + "/snapshots")
        for (account, json) in second { try h.produce(json, key: account) }
        let two = try await h.runService(until: Int64(second.count))
        #expect(two.status.restoredFromStateTopic == 1 && two.status.restoredFromBeginning == 0)
        let after = try reference(first + second)
        let ledgers = Array(two.finalLedgers().values)
        #expect(holds(ledgers) == holds([after]))
        #expect(holds([after])["acme"]?.map(\.status) == [.released, .denied] && holds([after])["acme"]?.first?.settled == 11_000)
        #expect(holds([after])["bo"]?.map(\.status) == [.active, .active] && holds([after])["bo"]?.first?.settled == 3_000)
        #expect(available(ledgers) == available([after]))
        // The hold counters carried over the move: both runs' decisions, counted once.
        func holdCounters(_ c: PartitionLedger.Counters) -> [Int64] {
            [c.holdsGranted, c.holdsDenied, c.holdsReleased, c.holdsExpired, c.usageUnheld]
        }
        let summed = ledgers.map { holdCounters($0.counters) }.reduce([0, 0, 0, 0, 0]) { zip($0, $1).map { $0 + $1 } }
        #expect(summed == holdCounters(after.counters))
        #expect(holdCounters(after.counters) == [3, 1, 1, 0, 0])
    }

    @Test func stateBelowTheInputsLogStartIsRefusedNotSkipped() async throws {
        let h = try ServiceHarness(partitions: 1, stateTopic: true)
        for i in 0..<5 {
            try h.produce(event("ai.usage", "acme", id: "u\(i)", time: "2026-11-02T00:00:0\(i)Z", data: #"{"action":"chat"}"#), key: "acme")
        }
        try await h.runService(until: 5)
        // The mock cluster keeps ~5 MiB per partition: seven records of 900 kB push the log start
        // past the checkpoint's offset 5 (retention would do the same on a real broker).
        let big = String(repeating: "x", count: 900_000)
        for _ in 0..<7 { try h.produce(big, key: "acme", partition: 0) }
        let low = try KafkaConsumer(properties: [("bootstrap.servers", h.bootstrap)], logger: h.logger)
            .watermarks(TopicPartition("ai.usage", 0)).low
        try #require(low > 5, "the mock kept every record (log start \(low)); the test needs it to drop some")
        try FileManager.default.removeItem(atPath: h.dir + "/snapshots")
        let service = MeterService(config: try h.config(), logger: h.logger)
        do {
            try await service.run()
            Issue.record("the service started on state that skips records")
        } catch {
            #expect("\(error)".contains("ai.usage/0: the newest state covers the input up to offset 5, but the topic now starts at \(low)"), "\(error)")
        }
        #expect(service.status.consumed == 0)
    }
}
