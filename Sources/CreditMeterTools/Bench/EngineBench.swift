import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging

/// Figure 2: the engine alone, on one core, with records in memory (decode → price → apply → alerts),
/// and decoding alone on the generator's and on varied input.
extension Bench {
    // MARK: Engine alone

    static func engine(_ records: [WorkloadRecord], config: EngineConfiguration, say: (String) -> Void) {
        let decoder = EventDecoder()
        var best = Double.infinity
        var bestDecode = Double.infinity
        for _ in 0..<3 {
            // Decode only.
            // The records are read in place (`rs[i]`): iterating `for r in records` copied each
            // one, retaining and releasing its arrays — bench overhead, not the engine's.
            var t0 = ProcessStats.threadCPUSeconds()
            var sink: Int64 = 0
            records.withUnsafeBufferPointer { rs in
                for i in rs.indices {
                    rs[i].value.withUnsafeBytes { v in if let e = try? decoder.decode(v) { sink &+= e.time } }
                }
            }
            bestDecode = min(bestDecode, ProcessStats.threadCPUSeconds() - t0)
            // Decode → price → apply → alerts.
            let ledger = PartitionLedger(config: config)
            t0 = ProcessStats.threadCPUSeconds()
            records.withUnsafeBufferPointer { rs in
                for i in rs.indices {
                    // As `RecordPipeline.process` does: the key's id slot is prefetched before decoding.
                    rs[i].key!.withUnsafeBytes { ledger.prefetch(key: $0) }
                    rs[i].value.withUnsafeBytes { v in
                        guard let e = try? decoder.decode(v) else { return }
                        let result = rs[i].key!.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: rs[i].timestampMs &* 1_000_000) }
                        sink &+= result.charged
                    }
                }
            }
            best = min(best, ProcessStats.threadCPUSeconds() - t0)
            if sink == 42 { say("") }
        }
        say("engine alone (one core, records in memory): \(fmt(Int(Double(records.count) / best))) events/s decode+price+apply+alerts "
            + "(\(Int(best * 1e9 / Double(records.count))) ns/event); decode alone \(fmt(Int(Double(records.count) / bestDecode))) events/s")
        variedDecode(records, say: say)
    }

    /// Decode alone on varied input (see `VariedRecord`): every record must decode to the same
    /// id and time as the generator's original, or the figure is refused.
    static func variedDecode(_ records: [WorkloadRecord], say: (String) -> Void) {
        let decoder = EventDecoder()
        var varied: [VariedRecord] = []
        var expected: [(Int, Int64)] = []
        for (i, r) in records.prefix(200_000).enumerated() {
            guard let v = VariedRecord.make(r.value, variant: i % 4, seed: UInt64(i)),
                  let e = r.value.withUnsafeBytes({ try? decoder.decode($0) }) else { continue }
            expected.append((e.id.count, e.time))
            varied.append(v)
        }
        for (v, x) in zip(varied, expected) {
            guard let e = v.decode(decoder), e.id.count == x.0, e.time == x.1 else {
                say("decode, varied input: a varied record did not decode like its original — figure refused")
                return
            }
        }
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = ProcessStats.threadCPUSeconds()
            var sink: Int64 = 0
            varied.withUnsafeBufferPointer { vs in
                for i in vs.indices { if let e = vs[i].decode(decoder) { sink &+= e.time } }
            }
            best = min(best, ProcessStats.threadCPUSeconds() - t0)
            if sink == 42 { say("") }
        }
        let bytes = varied.reduce(0) { $0 + $1.value.count + $1.headers.count } / max(1, varied.count)
        say("decode alone, varied input (\(fmt(varied.count)) records, ~\(bytes) B: shuffled keys, escapes, unknown attributes, binary mode, "
            + "one in four each): \(fmt(Int(Double(varied.count) / best))) events/s (\(Int(best * 1e9 / Double(varied.count))) ns/event)")
    }
}
