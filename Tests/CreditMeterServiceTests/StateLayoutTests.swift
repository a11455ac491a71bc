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
}

extension StateLayout {
    static func decodeManifestForTests(_ v: [UInt8]) -> Manifest? { decodeManifest(v) }
}
