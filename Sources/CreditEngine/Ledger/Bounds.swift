/// Step 4 of `LedgerState.apply`: the ledger's limits. Every credit total of an account stays
/// within ±2⁶⁰ millicredits (`SnapshotCodec.amountLimit`, the bound restore-time validation
/// applies, so every state the ledger holds is one its own snapshot accepts); money and
/// provider cost, which restore does not bound, within 2⁶² — so that no arithmetic of a
/// commit can overflow.
extension LedgerState {
    /// Whether applying `credits` (plus every cycle started by `time`) to account `i` keeps its
    /// totals within the limits.
    func fits(_ i: Int, credits amount: Int64, at time: Int64, cost: Int64, money: Int64) -> Bool {
        let limit = UInt64(SnapshotCodec.amountLimit)
        let moneyLimit = UInt64(1) << 62
        @inline(__always) func ok(_ base: Int64, _ x: Int64, _ y: Int64 = 0, _ z: Int64 = 0, limit: UInt64 = limit) -> Bool {
            let (s1, o1) = base.magnitude.addingReportingOverflow(x.magnitude)
            let (s2, o2) = s1.addingReportingOverflow(y.magnitude)
            let (s3, o3) = s2.addingReportingOverflow(z.magnitude)
            return !(o1 || o2 || o3) && s3 < limit
        }
        var recurring: Int64 = 0
        var recurringMoney: Int64 = 0
        if accounts[i].hasPlan && time >= accounts[i].cycleEnd {
            let cycles = BillingCycle.containing(time, anchor: accounts[i].anchor).index - accounts[i].cycleIndex
            let plan = accounts[i].plan
            let planPrice: Int64 = plan >= 0 ? config.priceBook.plans[Int(plan)].priceMicros : 0
            let (r, o1) = accounts[i].monthly.multipliedReportingOverflow(by: cycles)
            let (m, o2) = planPrice.multipliedReportingOverflow(by: cycles)
            if o1 || o2 { return false }
            recurring = r
            recurringMoney = m
        }
        let magnitude = amount.magnitude > limit ? Int64(limit) : Int64(amount.magnitude)
        return ok(accounts[i].granted, recurring, magnitude) && ok(accounts[i].charged, magnitude)
            && ok(accounts[i].expired, recurring, accounts[i].allowance, accounts[i].blockCredits)
            && ok(accounts[i].adjusted, magnitude) && ok(accounts[i].overage, magnitude)
            && ok(accounts[i].voided, accounts[i].blockCredits)
            // A block the event adds (a grant, a top-up, a positive adjustment — the last counts
            // as adjusted, not granted): the block total is bounded too.
            && ok(accounts[i].blockCredits, magnitude)
            && ok(accounts[i].entitlement, recurring, magnitude) && ok(accounts[i].creditsBought, recurring, magnitude)
            && ok(accounts[i].moneyPaidMicros, recurringMoney, money, limit: moneyLimit) && ok(accounts[i].costNanoUSD, cost, limit: moneyLimit)
    }
}
