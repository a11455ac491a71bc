/// Step 6 of `LedgerState.apply`: the account's clock. Every event first moves the clock to
/// its time through each cycle start on the way (contract §5: cycle k starts at anchor + k
/// months; §12: rollover under the ending cycle's plan) and each grant expiry; a late event
/// moves nothing and applies to the current cycle.
extension Account {
    /// Moves the clock to `time`: starts every cycle that began by then (each one rolls over or
    /// forfeits the old allowance, grants the monthly one, pays overage) and expires grants.
    /// Returns the alert episode left open by the previous cycle, if a cycle started.
    mutating func advance(to time: Int64, planPriceMicros: Int64) -> UInt8 {
        var open = AlertState.noEpisode
        if time <= clock { return open }  // late or same time: nothing moves
        if hasPlan {
            while time >= cycleEnd {
                expireBlocks(upTo: cycleEnd)
                beginCycle(BillingCycle.at(index: cycleIndex + 1, anchor: anchor), planPriceMicros: planPriceMicros)
                let o = alerts.startCycle()
                if open == AlertState.noEpisode { open = o }
            }
        }
        expireBlocks(upTo: time)
        clock = time
        return open
    }

    /// Starts a cycle with the plan's `monthly` allowance. `endsCycle`: a previous cycle ends
    /// here, and what its allowance left rolls over up to the cap or is forfeited (history).
    mutating func beginCycle(_ cycle: BillingCycle, planPriceMicros: Int64, endsCycle: Bool = true) {
        var rolled: Int64 = 0
        if endsCycle {
            // Rollover under the ending cycle's plan (§12): min(unused allowance, cap) becomes a
            // grant expiring at the new cycle's end; the rest is forfeited. (Unused allowance is
            // 0 whenever there is overage.)
            let cap = extras.first?.rolloverMax ?? 0
            rolled = min(allowance, cap)
            record(HistoryEntry(.allowanceForfeited, time: cycle.start, credits: -(allowance - rolled)))
            if cap > 0 { record(HistoryEntry(.rollover, time: cycle.start, credits: rolled, at: cycle.end)) }
            if rolled > 0 {
                allowance -= rolled
                addBlock(.grant, rolled, expiresAt: cycle.end)
            }
        }
        record(HistoryEntry(.cycleStarted, time: cycle.start, credits: monthly, at: cycle.end, aux: plan))
        if !cycleAlerts.isEmpty { cycleAlerts.removeAll() }
        if !extras.isEmpty {
            // A cycle start: no request pending, the count restarts; member budgets and the
            // runway alert re-arm; every id counter restarts (Sequences.swift).
            extras[0].requestPending = false
            extras[0].requestsInCycle = 0
            extras[0].runwayFired = false
            extras[0].requestSequence = 0
            extras[0].runwaySequence = 0
            for i in extras[0].budgets.indices {
                extras[0].budgets[i].fired = 0
                extras[0].budgets[i].counts = []
            }
            if !extras[0].removedBudgetCounts.isEmpty { extras[0].removedBudgetCounts = [] }
            if !extras[0].retiredAlertCounts.isEmpty { extras[0].retiredAlertCounts = [] }
        }
        expired += allowance
        cycleIndex = cycle.index
        cycleStart = cycle.start
        cycleEnd = cycle.end
        anchor = cycle.anchor
        granted += monthly
        creditsBought += monthly
        moneyPaidMicros += planPriceMicros
        allowanceUsed = 0
        let rest = payOverage(monthly)
        allowanceUsed = monthly - rest
        allowance = rest
        entitlement = monthly + blockCredits
        usedThisCycle = 0
        usage.removeAll { $0.key & UsageCell.tagMask != 0 }
    }
}
