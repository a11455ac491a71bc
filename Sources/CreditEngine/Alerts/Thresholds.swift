/// The threshold rule of §6 and §12, written once. `remaining` of `total` has crossed t % when
/// remaining × 100 ≤ t × total, in integers, and only when there is a total: balance alerts
/// compare the balance with the entitlement, member budget alerts what is left of a budget
/// with the budget.
///
/// Fired thresholds are bits of a `UInt16`: bit i for `thresholds[i]` (sorted high → low, so
/// the highest index is the most severe); bit 15 (`AlertState.exhaustedBit`) is exhaustion,
/// which the callers decide and these functions leave alone.
enum Thresholds {
    @inline(__always)
    static func crossed(_ percent: Int64, remaining: Int64, of total: Int64) -> Bool {
        total > 0 && Int128(remaining) * 100 <= Int128(percent) * Int128(total)
    }

    /// `fired` without the thresholds that `remaining` is back above (re-armed). With no total
    /// there is no percentage to climb above: fired thresholds stay fired.
    @inline(__always)
    static func rearmed(_ fired: UInt16, remaining: Int64, of total: Int64, thresholds: [Int64]) -> UInt16 {
        guard total > 0 else { return fired }
        var out = fired
        for i in thresholds.indices where out & (1 << i) != 0 && !crossed(thresholds[i], remaining: remaining, of: total) {
            out &= ~(1 << i)
        }
        return out
    }

    /// Marks every crossed threshold as fired (an exhaustion covers them all).
    @inline(__always)
    static func markCrossed(_ fired: inout UInt16, remaining: Int64, of total: Int64, thresholds: [Int64]) {
        for i in thresholds.indices where crossed(thresholds[i], remaining: remaining, of: total) { fired |= 1 << i }
    }

    /// Marks the crossed thresholds that had not fired; returns the index of the most severe of
    /// them (one event that crosses several alerts once, for the most severe), or nil.
    @inline(__always)
    static func fireNewlyCrossed(_ fired: inout UInt16, remaining: Int64, of total: Int64, thresholds: [Int64]) -> Int? {
        var lowest: Int?
        for i in thresholds.indices where fired & (1 << i) == 0 && crossed(thresholds[i], remaining: remaining, of: total) {
            fired |= 1 << i
            lowest = i
        }
        return lowest
    }

    /// ⌊remaining ÷ total × 1000⌋: the remaining percent in tenths, as alerts and account
    /// documents show it (`remaining_percent`, rounded down). `total` must be > 0.
    static func remainingPermille(_ remaining: Int64, of total: Int64) -> Int64 {
        let num = Int128(remaining) * 1000
        let den = Int128(total)
        var q = num / den
        if num % den != 0 && num < 0 { q -= 1 }
        return Int64(clamping: q)
    }
}
