/// A snapshot is trusted only when its checksum holds *and* what it restores is a state the
/// ledger could have produced: amounts in range and conserved, blocks summing to their total.
/// The checksum catches corruption on disk; this catches a snapshot that is well-formed but
/// wrong (a writer bug, a hand-edited or crafted file), which would otherwise be trusted —
/// or trap on the first arithmetic that overflows. Found by fuzzing (scripts/fuzz.sh).
extension SnapshotCodec {
    /// Largest magnitude of any stored amount: far above any real ledger (2^60 millicredits
    /// ≈ 10^15 credits) and small enough that sums of a few amounts cannot overflow Int64.
    static let amountLimit: Int64 = 1 << 60
    /// Years 1690–2210: event times are 1700–2200; cycle ends may run a little past them.
    static let maxDay = Int(EventTime.daysFromCivil(year: 2210, month: 1, day: 1))
    static let timeRange: ClosedRange<Int64> =
        EventTime.daysFromCivil(year: 1690, month: 1, day: 1) * EventTime.nanosPerDay
        ... EventTime.daysFromCivil(year: 2210, month: 1, day: 1) * EventTime.nanosPerDay

    static func validateRestored(_ ledger: PartitionLedger) throws(SnapshotError) {
        for i in 0..<ledger.accountCount {
            let a = ledger.state.accounts[i]
            let amounts = [a.monthly, a.allowance, a.allowanceUsed, a.blockCredits, a.overage, a.entitlement,
                           a.usedThisCycle, a.granted, a.charged, a.expired, a.voided, a.adjusted, a.creditsBought]
            guard amounts.allSatisfy({ $0 > -amountLimit && $0 < amountLimit }),
                  a.blocks.allSatisfy({ $0.remaining >= 0 && $0.remaining < amountLimit }),
                  a.usage.allSatisfy({ $0.amount > -amountLimit && $0.amount < amountLimit }) else {
                throw SnapshotError("account \(i): amounts out of range (corrupt snapshot)")
            }
            // References into the tables the snapshot carries.
            guard a.plan == Account.noPlan || a.plan == Account.customPlan || (a.plan >= 0 && Int(a.plan) < ledger.config.priceBook.plans.count) else {
                throw SnapshotError("account \(i): plan reference out of range (corrupt snapshot)")
            }
            for cell in a.usage {
                let tag = cell.key & (3 << 30), index = Int(cell.key & ~(3 << 30))
                let ok = ((tag == UsageCell.dayTag || tag == UsageCell.cycleDayTag) && index <= maxDay)
                    || (tag == UsageCell.capabilityTag && index < ledger.state.capabilities.count)
                    || (tag == UsageCell.memberTag && index < ledger.state.members.count)
                guard ok else { throw SnapshotError("account \(i): usage cell reference out of range (corrupt snapshot)") }
            }
            guard a.alerts.counts.isEmpty || a.alerts.counts.count == 2 * ledger.config.thresholds.count + 2 else {
                throw SnapshotError("account \(i): alert counters do not match the thresholds (corrupt snapshot)")
            }
            // Times: within the calendar the ledger computes in (or the "none" sentinels).
            let times = [a.anchor, a.cycleStart, a.cycleEnd]
            guard times.allSatisfy(timeRange.contains), a.clock == .min || timeRange.contains(a.clock),
                  a.pinUntil == .max || timeRange.contains(a.pinUntil),  // .max: no end (never .min)
                  a.blocks.allSatisfy({ $0.expiresAt == .max || timeRange.contains($0.expiresAt) }) else {
                throw SnapshotError("account \(i): time out of range (corrupt snapshot)")
            }
            // The first usage day comes from an applied event, so never after the clock's day
            // (a crafted snapshot with one after it divided by zero in the runway).
            guard a.firstUsageDay == .max || (a.clock != .min && a.firstUsageDay <= EventTime.day(of: a.clock)) else {
                throw SnapshotError("account \(i): first usage day after the account's clock (corrupt snapshot)")
            }
            guard a.allowance >= 0, a.overage >= 0 else {
                throw SnapshotError("account \(i): negative allowance or overage (corrupt snapshot)")
            }
            var sum: Int64 = 0
            for b in a.blocks { sum += b.remaining }  // cannot overflow: decode summed them with overflow checks
            guard sum == a.blockCredits else { throw SnapshotError("account \(i): blocks do not sum to their total (corrupt snapshot)") }
            guard a.overage == 0 || (a.allowance == 0 && a.blockCredits == 0) else {
                throw SnapshotError("account \(i): overage beside unspent credits (corrupt snapshot)")
            }
            guard a.isConserved else {  // the amounts are in range, so this cannot overflow
                throw SnapshotError("account \(i): fails the conservation check (corrupt snapshot)")
            }
        }
    }
}
