public import Kafka

/// Reads one state partition's records (in offset order) and keeps, for each input
/// partition asked about, the latest manifest and the latest chunk per key — what a
/// compacted topic would keep. Then says what the newest checkpoint is.
public struct StateAssembler {
    public enum Outcome: Equatable {
        /// No manifest for this partition.
        case none
        /// The newest manifest and its checkpoint's bytes, complete and verified.
        case complete(StateLayout.Manifest, [UInt8])
        /// A manifest whose checkpoint cannot be put together (a chunk missing, from another
        /// checkpoint, or bytes that do not match): why.
        case incomplete(StateLayout.Manifest, String)
    }

    private struct Partial {
        var manifest: StateLayout.Manifest?
        var chunks: [String: StateLayout.Chunk] = [:]
    }

    private var prefixes: [String: TopicPartition] = [:]
    private var partial: [TopicPartition: Partial] = [:]
    /// Records read (any key) and bytes of the ones kept.
    public private(set) var recordsRead = 0
    public private(set) var bytesKept = 0

    public init(_ tps: [TopicPartition]) {
        for tp in tps {
            prefixes[StateLayout.prefix(tp)] = tp
            partial[tp] = Partial()
        }
    }

    /// One record of the state partition. Records of other partitions, owner records and
    /// unreadable values are skipped (a null value deletes the key, as compaction would).
    public mutating func ingest(key: [UInt8], value: [UInt8]?) {
        recordsRead += 1
        guard let k = String(validating: key, as: UTF8.self), k.hasPrefix("state/") else { return }
        // state/<topic>/<partition>/<rest>
        let parts = k.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, let tp = prefixes["state/\(parts[1])/\(parts[2])/"] else { return }
        let rest = String(parts[3])
        if rest == "manifest" {
            partial[tp]!.manifest = value.flatMap(StateLayout.decodeManifest)
        } else if let value, let chunk = StateLayout.decodeChunk(value) {
            if let old = partial[tp]!.chunks[rest] { bytesKept -= old.payload.count }
            partial[tp]!.chunks[rest] = chunk
            bytesKept += chunk.payload.count
        } else {
            if let old = partial[tp]!.chunks.removeValue(forKey: rest) { bytesKept -= old.payload.count }
        }
    }

    public func outcome(_ tp: TopicPartition) -> Outcome {
        guard let p = partial[tp], let m = p.manifest else { return .none }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(m.bytes)
        for k in 0..<m.chunks {
            let name = (m.slot == 0 ? "a/" : "b/") + String(k)
            guard let c = p.chunks[name] else {
                return .incomplete(m, "chunk \(k) of \(m.chunks) is missing (below the state topic's log start?)")
            }
            guard c.nextOffset == m.nextOffset, c.count == m.chunks, c.index == k else {
                return .incomplete(m, "chunk \(k) belongs to another checkpoint (next offset \(c.nextOffset), not \(m.nextOffset))")
            }
            bytes.append(contentsOf: c.payload)
        }
        guard bytes.count == m.bytes, StateLayout.checksum(bytes) == m.checksum else {
            return .incomplete(m, "the checkpoint's bytes do not match its manifest (\(bytes.count) of \(m.bytes) bytes, or a checksum mismatch)")
        }
        return .complete(m, bytes)
    }
}
