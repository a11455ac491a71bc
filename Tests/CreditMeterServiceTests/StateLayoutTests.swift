import CreditConfig
import CreditEngine
import CreditMeterService
import Kafka
import Testing

/// The state topic's layout, without a broker: what a restore puts together from the records
/// a compacted (or never compacted) topic holds.
@Suite struct StateLayoutTests {
    let tp = TopicPartition("ai.usage", 3)

    func bytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1  // xorshift64: arbitrary, repeatable bytes
        return (0..<n).map { _ in
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
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

    /// A checkpoint is the snapshot's bytes (format 6 and later hold each account's holds and
    /// the hold counters, §15), so holds travel with a partition's state: a ledger with an
    /// active, a released, a denied and an expired hold, cut into records (over several chunks,
    /// with other accounts' holds) and put back together, restores to the same holds, available
    /// credits and counters, and encodes to the same bytes.
    @Test func holdsTravelWithThePartitionsState() throws {
        let engine = try ShippedConfiguration.load(environment: [:]).engine
        let ledger = PartitionLedger(config: engine)
        let decoder = EventDecoder()
        func apply(_ account: String, _ id: String, _ type: String, _ time: String, _ data: String) throws {
            let json = #"{"specversion":"1.0","id":"\#(id)","source":"s","type":"\#(type)","subject":"\#(account)","time":"\#(time)","data":{\#(data)}}"#
            let bytes = Array(json.utf8), key = Array(account.utf8)
            let result = try bytes.withUnsafeBytes { v in try key.withUnsafeBytes { k in ledger.apply(try decoder.decode(v), key: k, recordTime: nil) } }
            #expect(result.outcome == .applied, "\(id): \(result.outcome)")
        }
        try apply("acme", "p", "credit.plan.assigned", "2026-11-01T00:00:00Z", #""plan":"pro""#)
        try apply("acme", "r1", "credit.hold.requested", "2026-11-02T00:00:00Z",
                  #""hold_id":"run-1","credits":50,"ttl_seconds":86400,"member":"ana","workflow":"agent run""#)
        try apply("acme", "u1", "ai.usage", "2026-11-02T00:01:00Z", #""action":"web_research","hold_id":"run-1""#)
        try apply("acme", "r2", "credit.hold.requested", "2026-11-02T00:02:00Z", #""hold_id":"run-2","action":"doc_search","multiplier":4"#)
        try apply("acme", "x2", "credit.hold.released", "2026-11-02T00:03:00Z", #""hold_id":"run-2""#)
        try apply("acme", "r3", "credit.hold.requested", "2026-11-02T00:04:00Z", #""hold_id":"too-big","credits":5000"#)
        try apply("acme", "r4", "credit.hold.requested", "2026-11-02T00:05:00Z", #""hold_id":"short","credits":1,"ttl_seconds":60"#)
        try apply("acme", "u2", "ai.usage", "2026-11-02T00:07:00Z", #""action":"chat""#)
        // Enough other accounts with an active hold each that the checkpoint needs several chunks.
        for i in 0..<3_000 {
            try apply("a\(i)", "p\(i)", "credit.plan.assigned", "2026-11-01T00:00:00Z", #""plan":"trial""#)
            try apply("a\(i)", "h\(i)", "credit.hold.requested", "2026-11-03T00:00:00Z",
                      #""hold_id":"hold-of-account-\#(i)-with-a-long-id-\#(String(repeating: "x", count: 60))","credits":\#(1 + i % 90)"#)
        }
        let bytes = SnapshotCodec.encode(ledger, topic: tp.topic, partition: tp.partition, nextOffset: 8_008, metadata: 0)
        let records = StateLayout.records(bytes, tp: tp, nextOffset: 8_008, slot: 1, writtenAtMillis: 0)
        #expect(records.count >= 3)  // chunks and the manifest
        var a = StateAssembler([tp])
        ingest(records, into: &a)
        guard case .complete(_, let back) = a.outcome(tp) else { Issue.record("not complete: \(a.outcome(tp))"); return }
        let (restored, header) = try SnapshotCodec.decode(back, config: engine)
        #expect(header.nextOffset == 8_008)
        let holds = try #require(restored.account("acme")?.holdBook?.holds)
        #expect(holds.map(\.id) == ["run-1", "run-2", "too-big", "short"])
        #expect(holds.map(\.status) == [.active, .released, .denied, .expired])
        #expect(holds.map(\.denial) == [nil, nil, .insufficientCredits, nil])
        #expect(holds.map(\.held) == [50_000, 12_000, 5_000_000, 1_000] && holds.map(\.settled) == [10_000, 0, 0, 0])
        #expect(holds[0].member == "ana" && holds[0].workflow == "agent run")
        #expect(holds == ledger.account("acme")?.holdBook?.holds)
        #expect(restored.account("acme")!.availableCredits == restored.account("acme")!.balance - 40_000)
        #expect(restored.accounts.map(\.availableCredits) == ledger.accounts.map(\.availableCredits))
        #expect(restored.accounts.map { $0.holdBook?.holds } == ledger.accounts.map { $0.holdBook?.holds })
        #expect(restored.counters == ledger.counters)
        #expect(restored.counters.holdsGranted == 3_003 && restored.counters.holdsDenied == 1)
        #expect(restored.counters.holdsReleased == 1 && restored.counters.holdsExpired == 1)
        #expect(SnapshotCodec.encode(restored, topic: tp.topic, partition: tp.partition, nextOffset: 8_008, metadata: 0) == bytes)
    }
}

extension StateLayout {
    static func decodeManifestForTests(_ v: [UInt8]) -> Manifest? { decodeManifest(v) }
}
