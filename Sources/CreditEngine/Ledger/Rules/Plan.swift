extension Rules {
    /// `credit.plan.assigned` (contract §5, §12): the price-book plan's monthly credits, price
    /// and rollover cap (the event's `monthly_credits` and `rollover_max_credits` win), or a
    /// custom plan of `monthly_credits` alone. The first plan starts a cycle; a change
    /// mid-cycle takes effect at once; a `cycle_anchor` that moves the current cycle starts a
    /// fresh one (`Account.assignPlan`). Rejected: a plan the price book does not have.
    enum Plan {
        struct Change {
            /// Price-book plan index, or `Account.customPlan`.
            var plan: Int32
            var monthly: Int64
            var priceMicros: Int64
            var rolloverMax: Int64
        }

        @inline(__always)
        static func validate(_ e: DecodedEvent, config: EngineConfiguration) throws(Rejection) -> Change {
            guard let p = e.plan else {
                return Change(plan: Account.customPlan, monthly: e.monthlyCredits ?? 0, priceMicros: 0, rolloverMax: e.rolloverMaxCredits ?? 0)
            }
            let book = config.priceBook
            guard let i = book.planIndex(p) else { throw .unknownPlan }
            return Change(plan: Int32(i), monthly: e.monthlyCredits ?? book.plans[i].monthlyCredits, priceMicros: book.plans[i].priceMicros,
                          rolloverMax: e.rolloverMaxCredits ?? book.plans[i].rolloverMaxCredits)
        }

        /// Returns the alert episode left open by a cycle the plan replaced, if it started one.
        @inline(__always)
        static func apply(_ c: Change, _ e: DecodedEvent, to a: inout Account, config: EngineConfiguration) -> UInt8 {
            // A late plan event applies to the current cycle: its reference time is the clock.
            let oldPrice: Int64 = a.plan >= 0 ? config.priceBook.plans[Int(a.plan)].priceMicros : 0
            let replaced = a.assignPlan(c.plan, monthly: c.monthly, priceMicros: c.priceMicros, previousPriceMicros: oldPrice,
                                        anchor: e.cycleAnchor, at: a.clock, eventTime: e.time)
            if c.rolloverMax != 0 || !a.extras.isEmpty { a.withExtras { $0.rolloverMax = c.rolloverMax } }
            return replaced
        }
    }
}

extension Account {
    /// A plan assignment (contract §5): the first plan starts a cycle; a change mid-cycle
    /// re-sizes the allowance to the new monthly credits minus what was used (not below 0);
    /// a `cycle_anchor` that moves the current cycle starts a fresh one on the new plan (and
    /// marks the account re-anchored). Returns the alert episode left open by the cycle it
    /// replaced, if it started one.
    mutating func assignPlan(_ newPlan: Int32, monthly newMonthly: Int64, priceMicros: Int64, previousPriceMicros: Int64,
                             anchor newAnchor: Int64?, at time: Int64, eventTime: Int64) -> UInt8 {
        if !hasPlan {
            plan = newPlan
            monthly = newMonthly
            beginCycle(BillingCycle.containing(time, anchor: newAnchor ?? eventTime), planPriceMicros: priceMicros, endsCycle: false)
            record(HistoryEntry(.planAssigned, time: eventTime, credits: 0, at: newMonthly, aux: newPlan))
            return alerts.startCycle()
        }
        let cycle = BillingCycle.containing(time, anchor: newAnchor ?? anchor)
        if cycle.start != cycleStart {
            // A re-anchor: its cycle start may be one met before, so ids number above every n
            // used so far from now on (Sequences.swift).
            reanchored = true
            plan = newPlan
            monthly = newMonthly
            beginCycle(cycle, planPriceMicros: priceMicros)
            record(HistoryEntry(.planAssigned, time: eventTime, credits: 0, at: newMonthly, aux: newPlan))
            return alerts.startCycle()
        }
        anchor = cycle.anchor
        cycleIndex = cycle.index
        cycleEnd = cycle.end
        let newRemaining = max(0, newMonthly - allowanceUsed)
        let delta = newRemaining - allowance
        if delta > 0 {
            clearPendingRequest()
            granted += delta
            creditsBought += delta
            let rest = payOverage(delta)
            allowanceUsed += delta - rest
            allowance += rest
        } else if delta < 0 {
            expired += -delta
            allowance = newRemaining
        }
        record(HistoryEntry(.planAssigned, time: eventTime, credits: delta, at: newMonthly, aux: newPlan))
        entitlement += newMonthly - monthly
        moneyPaidMicros += max(0, priceMicros - previousPriceMicros)
        plan = newPlan
        monthly = newMonthly
        return AlertState.noEpisode
    }
}
