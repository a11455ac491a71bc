import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Testing

/// The state topic's layout, without a broker: what a restore puts together from the records
/// a compacted (or never compacted) topic holds.
@Suite struct StateLayoutTests {
    let tp = TopicPartition("ai.usage", 3)

    func bytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    func ingest(_ records: [(key: String, value: [UInt8])], into a: inout StateAssembler) {
        for r in records { a.ingest(key: Array(r.key.utf8), value: r.value) }
    }

    @Test func aCheckpointOfSeveralChunksIsPutBackTogetherExactly() {
        let snapshot = bytes(StateLayout.chunkSize * 2 + 1234, seed: 1)
        let records = StateLayout.records(snapshot, tp: tp, nextOffset: 4242, slot: 0, writtenAtMillis: 7)
        #expect(records.map(\.key) == ["state/ai.usage/3/a/0", "state/ai.usage/3/a/1", "state/ai.usage/3/a/2", "state/ai.usage/3/manifest"])
        #expect(records.allSatisfy { $0.value.count <= StateLayout.chunkSize + 64 })
        var a = StateAssembler([tp, TopicPartition("ai.usage", 5)])
        // Another partition's records and owner records share the state partition: skipped.
        ingest(StateLayout.records(bytes(10, seed: 9), tp: TopicPartition("ai.usage", 1), nextOffset: 1, slot: 0, writtenAtMillis: 0), into: &a)
        a.ingest(key: Array("owner/ai.usage/3".utf8), value: Array(#"{"url":null}"#.utf8))
        ingest(records, into: &a)
        guard case .complete(let m, let back) = a.outcome(tp) else { Issue.record("not complete: \(a.outcome(tp))"); return }
        #expect(back == snapshot)
        #expect(m.nextOffset == 4242 && m.slot == 0 && m.chunks == 3 && m.bytes == snapshot.count && m.writtenAtMillis == 7)
        #expect(a.outcome(TopicPartition("ai.usage", 5)) == .none)
    }

    @Test func aWriteCutShortLeavesThePreviousCheckpointWhole() {
        let first = bytes(StateLayout.chunkSize + 10, seed: 2)
        let second = bytes(StateLayout.chunkSize * 3, seed: 3)
        var a = StateAssembler([tp])
        ingest(StateLayout.records(first, tp: tp, nextOffset: 100, slot: 0, writtenAtMillis: 0), into: &a)
        // The next checkpoint goes to the other slot; the writer dies before its manifest.
        ingest(Array(StateLayout.records(second, tp: tp, nextOffset: 200, slot: 1, writtenAtMillis: 0).prefix(2)), into: &a)
        guard case .complete(let m, let back) = a.outcome(tp) else { Issue.record("\(a.outcome(tp))"); return }
        #expect(m.nextOffset == 100)
        #expect(back == first)
    }

    @Test func compactionKeepsTheNewestCheckpointAndAMissingChunkIsNeverSkipped() {
        let g1 = bytes(StateLayout.chunkSize * 3, seed: 4)
        let g2 = bytes(StateLayout.chunkSize * 2, seed: 5)
        let g3 = bytes(100, seed: 6)
        let all = StateLayout.records(g1, tp: tp, nextOffset: 10, slot: 0, writtenAtMillis: 0)
            + StateLayout.records(g2, tp: tp, nextOffset: 20, slot: 1, writtenAtMillis: 0)
            + StateLayout.records(g3, tp: tp, nextOffset: 30, slot: 0, writtenAtMillis: 0)
        // What log compaction keeps: the latest record per key, in offset order.
        var latest: [String: Int] = [:]
        for (i, r) in all.enumerated() { latest[r.key] = i }
        let compacted = all.indices.filter { latest[all[$0].key] == $0 }.map { all[$0] }
        var a = StateAssembler([tp])
        ingest(compacted, into: &a)
        guard case .complete(let m, let back) = a.outcome(tp) else { Issue.record("\(a.outcome(tp))"); return }
        #expect(m.nextOffset == 30 && back == g3)
        // Slot a still holds g1's chunks 1 and 2 (g3 has one chunk): ignored, not appended.
        #expect(compacted.contains { $0.key == "state/ai.usage/3/a/2" })

        // A chunk that fell below the log start: the checkpoint is refused, with the reason.
        var b = StateAssembler([tp])
        ingest(StateLayout.records(g2, tp: tp, nextOffset: 20, slot: 1, writtenAtMillis: 0).dropFirst().map { $0 }, into: &b)
        guard case .incomplete(let m2, let why) = b.outcome(tp) else { Issue.record("\(b.outcome(tp))"); return }
        #expect(m2.nextOffset == 20)
        #expect(why == "chunk 0 of 2 is missing (below the state topic's log start?)")
    }

    @Test func chunksOfAnotherCheckpointOrBadBytesMakeItIncomplete() {
        let g1 = bytes(StateLayout.chunkSize + 5, seed: 7)
        var records = StateLayout.records(g1, tp: tp, nextOffset: 10, slot: 0, writtenAtMillis: 0)
        var a = StateAssembler([tp])
        // Chunk 1 from another checkpoint (same slot and index, another next offset).
        let other = StateLayout.records(bytes(StateLayout.chunkSize + 5, seed: 8), tp: tp, nextOffset: 11, slot: 0, writtenAtMillis: 0)
        ingest([records[0], other[1], records[2]], into: &a)
        #expect(a.outcome(tp) == .incomplete(StateLayout.decodeManifestForTests(records[2].value)!,
                                             "chunk 1 belongs to another checkpoint (next offset 11, not 10)"))
        // A flipped byte in a chunk: the checksum refuses it.
        records[1].value[records[1].value.count - 1] ^= 1
        var b = StateAssembler([tp])
        ingest(records, into: &b)
        guard case .incomplete(_, let why) = b.outcome(tp) else { Issue.record("\(b.outcome(tp))"); return }
        #expect(why.contains("do not match its manifest"))
        // A tombstone deletes a chunk, as compaction would.
        var c = StateAssembler([tp])
        ingest(StateLayout.records(g1, tp: tp, nextOffset: 10, slot: 0, writtenAtMillis: 0), into: &c)
        c.ingest(key: Array("state/ai.usage/3/a/0".utf8), value: nil)
        guard case .incomplete = c.outcome(tp) else { Issue.record("\(c.outcome(tp))"); return }
    }
}

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

extension StateLayout {
    static func decodeManifestForTests(_ v: [UInt8]) -> Manifest? { decodeManifest(v) }
}
