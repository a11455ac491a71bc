/// The credit state of one account. All amounts are millicredits, money micro-units,
/// provider cost nano-dollars. Changed only by the ledger's steps (Engine.swift): the
/// mechanics every event shares are in Blocks, Cycles, UsageCells and Runway.swift, each
/// family's effect in Rules/.
public struct Account: Sendable, Equatable {
    // Field order is layout order: what an ordinary usage event reads or writes comes first
    // (about three cache lines), the rest after it.

    // Plan, cycle position, pin
    /// Price-book plan index; `noPlan` before any plan, `customPlan` for monthly_credits alone.
    public internal(set) var plan: Int32 = Account.noPlan
    public internal(set) var pinnedVersion: Int32 = -1
    public internal(set) var pinUntil: Int64 = .max
    public internal(set) var cycleStart: Int64 = 0
    public internal(set) var cycleEnd: Int64 = 0
    /// The account clock: the maximum event time of its applied events (duplicates and dead
    /// letters do not move it). Cycles, expiries and the dedupe window (§14) run on it.
    public internal(set) var clock: Int64 = .min

    // Balance
    public internal(set) var allowance: Int64 = 0
    public internal(set) var allowanceUsed: Int64 = 0
    public internal(set) var blocks: [Block] = []
    public internal(set) var blockCredits: Int64 = 0
    public internal(set) var overage: Int64 = 0
    public internal(set) var entitlement: Int64 = 0
    public internal(set) var usedThisCycle: Int64 = 0
    public internal(set) var charged: Int64 = 0
    public internal(set) var costNanoUSD: Int64 = 0

    // Alerts and breakdowns
    public internal(set) var alerts = AlertState()
    // One-byte fields right after `alerts`, in the tail of its 16 bytes (Swift places a field
    // after the previous one's size, not its stride): the record stays 256 bytes.
    /// Entries appended by the event being applied whose strings are not stored yet.
    var pendingHistory: UInt8 = 0
    /// Which §12 evaluations an applied event needs (AccountExtras.swift).
    var activePolicies: ActivePolicies = []
    /// A `cycle_anchor` has started a fresh cycle (§14: ids number above `highestSequence`
    /// from then on; Sequences.swift).
    public internal(set) var reanchored = false
    public internal(set) var usage: [UsageCell] = []
    public internal(set) var events: Int64 = 0
    /// Day number of the earliest usage event (runway's D), `.max` before any.
    public internal(set) var firstUsageDay: Int64 = .max
    /// §12 state (auto top-up, member budgets, rollover, remembered grant ids), 0 or 1 element.
    public internal(set) var extras: [AccountExtras] = []

    // Colder: plan terms, lifetime flows for the conservation audit, money, history.
    public internal(set) var monthly: Int64 = 0
    public internal(set) var anchor: Int64 = 0
    public internal(set) var cycleIndex: Int64 = 0
    public internal(set) var granted: Int64 = 0
    public internal(set) var expired: Int64 = 0
    public internal(set) var adjusted: Int64 = 0
    /// Removed by `credit.grant.voided` (§12).
    public internal(set) var voided: Int64 = 0
    public internal(set) var creditsBought: Int64 = 0
    public internal(set) var moneyPaidMicros: Int64 = 0
    /// The highest `n` of any id the account has published (alerts, member alerts, runway
    /// alerts, top-up requests; Sequences.swift).
    public internal(set) var highestSequence: Int64 = 0

    // History (contract §11): newest last; the ledger stores the entries' strings and keeps
    // at most `History.capacity` (entries of the event being applied are `pending` until then).
    public internal(set) var history: [HistoryEntry] = []
    /// This cycle's fired alerts (at most `CycleAlert.capacity`, newest last).
    public internal(set) var cycleAlerts: [CycleAlert] = []

    public static let noPlan: Int32 = -1
    public static let customPlan: Int32 = -2

    public init() {}

    public var hasPlan: Bool { plan != Account.noPlan }

    /// balance = sum of blocks − overage.
    public var balance: Int64 { allowance + blockCredits - overage }

    /// Conservation: granted − charged − expired − voided + adjustments = balance.
    public var isConserved: Bool { granted - charged - expired - voided + adjusted == balance }

    /// Appends a history entry for the event being applied.
    @inline(__always)
    mutating func record(_ entry: HistoryEntry) {
        if history.capacity == 0 { history.reserveCapacity(2) }  // a plan assignment records two: no slack beyond them
        history.append(entry)
        pendingHistory &+= 1
    }
}
