/// Numbers every record the loop produces that a snapshot waits for — alerts, dead letters,
/// balances documents, top-up requests; not the hold expiries written to the input — in the
/// order it produces them, and tracks the acknowledged watermark: the lowest number not yet
/// acknowledged. Delivery reports carry the number back
/// (`OutputPublisher.tag`) and arrive out of order across partitions; every number below the
/// watermark is acknowledged. A snapshot captured when `next` was n may be written once the
/// watermark reaches n (contract §8; see `LoopStateMachine.acknowledged(below:)`).
///
/// A bitmap ring over `[watermark, next)`, grown by doubling: one bit set per report, no
/// allocation per record once the ring fits what is in flight.
struct OutputSequence {
    /// The number the next record gets.
    private(set) var next: UInt64 = 0
    /// Every record numbered below it is acknowledged; it itself is not (unless it is `next`).
    private(set) var watermark: UInt64 = 0
    /// Bit (n mod capacity) is set when record n (watermark ≤ n < next) is acknowledged.
    private var done = [UInt64](repeating: 0, count: 64)

    /// How many numbers the ring holds (a power of two, at least 4096).
    var capacity: UInt64 { UInt64(done.count) * 64 }

    /// Numbers the record about to be produced.
    @inline(__always)
    mutating func issue() -> UInt64 {
        if _slowPath(next - watermark == capacity) { grow() }
        defer { next += 1 }
        return next
    }

    /// The record numbered `n`, the last one issued, was not produced after all (its produce
    /// call failed): nothing will report it.
    mutating func retract(_ n: UInt64) {
        precondition(n + 1 == next && n >= watermark, "output \(n) retracted, but \(next - 1) was the last issued")
        next = n
    }

    /// Record `n` was acknowledged (with its offset), or needs no acknowledgement any more.
    /// Returns what contradicts the numbering — `n` was not issued, or is acknowledged
    /// already — and then changes nothing: the caller (inside librdkafka's delivery callback)
    /// records it as a failure rather than crashing there.
    @inline(__always) @discardableResult
    mutating func acknowledge(_ n: UInt64) -> Contradiction? {
        guard n >= watermark && n < next else { return .outside(n, watermark: watermark, next: next) }
        let (word, bit) = slot(n)
        guard done[word] & bit == 0 else { return .twice(n) }
        done[word] |= bit
        while watermark < next {
            let (w, b) = slot(watermark)
            guard done[w] & b != 0 else { break }
            done[w] &= ~b
            watermark += 1
        }
        return nil
    }

    /// An acknowledgement the numbering refutes (a bug in the service or the client).
    enum Contradiction: Error, Equatable, CustomStringConvertible {
        case outside(UInt64, watermark: UInt64, next: UInt64)
        case twice(UInt64)

        var description: String {
            switch self {
            case .outside(let n, let watermark, let next): "output \(n) acknowledged outside [\(watermark), \(next))"
            case .twice(let n): "output \(n) acknowledged twice"
            }
        }
    }

    @inline(__always)
    private func slot(_ n: UInt64) -> (word: Int, bit: UInt64) {
        let i = Int(truncatingIfNeeded: n & (capacity - 1))
        return (i >> 6, 1 << UInt64(i & 63))
    }

    private mutating func grow() {
        let old = self
        done = [UInt64](repeating: 0, count: old.done.count * 2)
        for n in watermark..<next {
            let (w, b) = old.slot(n)
            if old.done[w] & b != 0 {
                let (nw, nb) = slot(n)
                done[nw] |= nb
            }
        }
    }
}
