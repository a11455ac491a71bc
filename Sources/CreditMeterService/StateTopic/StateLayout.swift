import CreditEngine
public import Kafka

/// How partition state is laid out on `kafka.state_topic` (contract §13: "its layout is the
/// service's own"). Pure: keys and values in, checkpoints out; no Kafka, no clock.
///
/// A checkpoint is one snapshot (the bytes `SnapshotCodec` writes to disk), cut into chunks
/// below the broker's record size limit and written to one of two **slots**, then named by a
/// **manifest** record:
///
///     state/<topic>/<partition>/a/<k>      chunk k of the checkpoint in slot a (binary)
///     state/<topic>/<partition>/b/<k>      … slot b
///     state/<topic>/<partition>/manifest   which slot holds the newest complete checkpoint
///
/// A writer fills the slot the current manifest does *not* name, then writes the manifest.
/// Log compaction keeps the latest record per key, so the slot a manifest names is never
/// overwritten before a newer manifest exists: a crash mid-write leaves the previous
/// checkpoint intact. Every chunk carries its checkpoint's next offset; a restore takes a
/// manifest only if every chunk it names is present with that offset and the bytes hash to
/// the manifest's checksum — a chunk that fell below the log start (retention, the mock
/// cluster's size limit) makes the checkpoint incomplete, never silently partial.
///
/// Records go to state partition `input partition % state partitions`; keys carry the input
/// topic and partition, so several input partitions may share one state partition.
public enum StateLayout {
    /// Chunk payload size: under Kafka's default `message.max.bytes` (1 MiB) with room for
    /// the key, the chunk header and the record batch overhead.
    public static let chunkSize = 512 * 1024

    static let chunkMagic: [UInt8] = Array("CMSC".utf8)
    static let manifestMagic: [UInt8] = Array("CMSM".utf8)
    static let formatVersion: UInt8 = 1

    public static func prefix(_ tp: TopicPartition) -> String { "state/\(tp.topic)/\(tp.partition)/" }
    public static func manifestKey(_ tp: TopicPartition) -> String { prefix(tp) + "manifest" }
    public static func chunkKey(_ tp: TopicPartition, slot: UInt8, index: Int) -> String {
        prefix(tp) + (slot == 0 ? "a/" : "b/") + String(index)
    }

    /// The state partition that holds an input partition's records.
    public static func statePartition(_ tp: TopicPartition, stateParts: Int32) -> Int32 {
        precondition(stateParts > 0)
        return tp.partition % stateParts
    }

    public struct Manifest: Sendable, Equatable {
        public var nextOffset: Int64
        public var slot: UInt8
        public var chunks: Int
        public var bytes: Int
        public var checksum: UInt64
        public var writtenAtMillis: Int64
    }

    /// The records of one checkpoint, in the order they must be produced (chunks, then the
    /// manifest).
    public static func records(_ snapshot: [UInt8], tp: TopicPartition, nextOffset: Int64, slot: UInt8,
                               writtenAtMillis: Int64) -> [(key: String, value: [UInt8])] {
        let count = max(1, (snapshot.count + chunkSize - 1) / chunkSize)
        var out: [(String, [UInt8])] = []
        out.reserveCapacity(count + 1)
        for k in 0..<count {
            let lo = k * chunkSize
            let hi = min(snapshot.count, lo + chunkSize)
            var v = chunkMagic
            v.append(formatVersion)
            put(&v, UInt64(bitPattern: nextOffset))
            put(&v, UInt64(k))
            put(&v, UInt64(count))
            v.append(contentsOf: snapshot[lo..<hi])
            out.append((chunkKey(tp, slot: slot, index: k), v))
        }
        let m = Manifest(nextOffset: nextOffset, slot: slot, chunks: count, bytes: snapshot.count,
                         checksum: checksum(snapshot), writtenAtMillis: writtenAtMillis)
        out.append((manifestKey(tp), encode(m)))
        return out
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { ByteHash.hash($0, seed: 0x57A7E) }
    }

    static func encode(_ m: Manifest) -> [UInt8] {
        var v = manifestMagic
        v.append(formatVersion)
        put(&v, UInt64(bitPattern: m.nextOffset))
        v.append(m.slot)
        put(&v, UInt64(m.chunks))
        put(&v, UInt64(m.bytes))
        put(&v, m.checksum)
        put(&v, UInt64(bitPattern: m.writtenAtMillis))
        return v
    }

    package static func decodeManifest(_ v: [UInt8]) -> Manifest? {
        guard v.count == 4 + 1 + 8 + 1 + 8 + 8 + 8 + 8, Array(v[0..<4]) == manifestMagic, v[4] == formatVersion else { return nil }
        let slot = v[13]
        guard slot <= 1 else { return nil }
        let chunks = get(v, 14), bytes = get(v, 22)
        guard chunks >= 1, chunks <= 1 << 20, bytes <= UInt64(chunks) * UInt64(chunkSize) else { return nil }
        return Manifest(nextOffset: Int64(bitPattern: get(v, 5)), slot: slot, chunks: Int(chunks), bytes: Int(bytes),
                        checksum: get(v, 30), writtenAtMillis: Int64(bitPattern: get(v, 38)))
    }

    package struct Chunk {
        var nextOffset: Int64
        var index: Int
        var count: Int
        var payload: ArraySlice<UInt8>
    }

    package static func decodeChunk(_ v: [UInt8]) -> Chunk? {
        let header = 4 + 1 + 24
        guard v.count >= header, Array(v[0..<4]) == chunkMagic, v[4] == formatVersion else { return nil }
        let index = get(v, 13), count = get(v, 21)
        guard count >= 1, count <= 1 << 20, index < count else { return nil }
        return Chunk(nextOffset: Int64(bitPattern: get(v, 5)), index: Int(index), count: Int(count), payload: v[header...])
    }

    private static func put(_ v: inout [UInt8], _ x: UInt64) {
        for i in (0..<8).reversed() { v.append(UInt8(truncatingIfNeeded: x >> (UInt64(i) * 8))) }
    }

    private static func get(_ v: [UInt8], _ at: Int) -> UInt64 {
        var x: UInt64 = 0
        for i in 0..<8 { x = x << 8 | UInt64(v[at + i]) }
        return x
    }
}
