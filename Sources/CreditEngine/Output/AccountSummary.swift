/// A row of `/v1/accounts` (contract §11) with the status predicates.
public struct AccountSummary: Sendable, Equatable {
    public var account: String
    public var plan: String?
    public var balance: Int64
    /// §15: balance − Σ remaining of the active holds; the active holds' count and sums.
    public var available: Int64
    public var activeHolds: Int
    public var heldCredits: Int64
    public var remainingHeld: Int64
    public var remainingPermille: Int64?
    public var usedThisCycle: Int64
    public var runwayExhaustedAt: Int64?
    public var lastEventTime: Int64?
    /// balance > 0 and a low threshold fired and not recovered in the current cycle.
    public var isLow: Bool
    /// balance ≤ 0 (with or without a plan).
    public var isExhausted: Bool
    /// A plan and no usage in the current cycle.
    public var isIdle: Bool

    init(account: String, plan: String?, state a: Account) {
        self.account = account
        self.plan = plan
        self.balance = a.balance
        self.available = a.availableCredits
        let book = a.extras.first?.holds
        self.activeHolds = book?.activeCount ?? 0
        self.heldCredits = book?.activeHeld ?? 0
        self.remainingHeld = book?.activeRemaining ?? 0
        self.remainingPermille = a.entitlement > 0 ? Thresholds.remainingPermille(a.balance, of: a.entitlement) : nil
        self.usedThisCycle = a.usedThisCycle
        self.runwayExhaustedAt = a.runway.exhaustedAt
        self.lastEventTime = a.clock == .min ? nil : a.clock
        self.isLow = a.balance > 0 && a.alerts.fired & ~AlertState.exhaustedBit != 0
        self.isExhausted = a.balance <= 0
        self.isIdle = a.hasPlan && !a.hasUsageThisCycle
    }

    public func json(into w: inout JSONWriter) {
        w.beginObject()
        w.key("account"); w.string(account)
        w.key("plan"); if let plan { w.string(plan) } else { w.null() }
        w.key("balance_credits"); w.credits(balance)
        w.key("available_credits"); w.credits(available)
        w.key("holds"); w.beginObject()
        w.key("active"); w.integer(Int64(activeHolds))
        w.key("held_credits"); w.credits(heldCredits)
        w.key("remaining_credits"); w.credits(remainingHeld)
        w.endObject()
        w.key("remaining_percent"); if let p = remainingPermille { w.fixed(p, scale: 1, minFractionDigits: 1) } else { w.null() }
        w.key("used_this_cycle_credits"); w.credits(usedThisCycle)
        w.key("runway_exhausted_at"); w.optionalTime(runwayExhaustedAt)
        w.key("last_event_time"); w.optionalTime(lastEventTime)
        w.endObject()
    }
}
