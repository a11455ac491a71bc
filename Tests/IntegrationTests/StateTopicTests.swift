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
