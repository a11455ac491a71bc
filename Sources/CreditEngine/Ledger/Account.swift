/// Kinds of credit blocks (contract §5).
public enum BlockKind: UInt8, Sendable {
    case allowance = 0, grant = 1, topup = 2

    public var name: String {
        switch self {
        case .allowance: return "allowance"
        case .grant: return "grant"
        case .topup: return "topup"
        }
    }
}

/// A grant or top-up block. `expiresAt == .max` means never. `origin`: fingerprint of the
/// (source, id) of the grant or top-up event that made it (0: an adjustment or rollover,
/// which cannot be voided).
public struct Block: Sendable, Equatable {
    public var kind: BlockKind
    public var remaining: Int64
    public var expiresAt: Int64
    public var origin: UInt64

    public init(kind: BlockKind, remaining: Int64, expiresAt: Int64 = .max, origin: UInt64 = 0) {
        self.kind = kind
        self.remaining = remaining
        self.expiresAt = expiresAt
        self.origin = origin
    }
}

/// One usage breakdown cell: key tag (top 2 bits: 0 event day — the last 7 UTC days, for the
/// runway; 1 capability, 2 member, 3 cycle day — this cycle, for `by_day`) and value.
public struct UsageCell: Sendable, Equatable {
    public static let dayTag: UInt32 = 0
    public static let capabilityTag: UInt32 = 1 << 30
    public static let memberTag: UInt32 = 2 << 30
    public static let cycleDayTag: UInt32 = 3 << 30
    public static let tagMask: UInt32 = 3 << 30
    public var key: UInt32
    public var amount: Int64
}

/// The credit state of one account. All amounts are millicredits, money micro-units,
/// provider cost nano-dollars. Mutated only by `PartitionLedger`.
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
    /// Latest event time applied (event-time clock of this account).
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
    public internal(set) var usage: [UsageCell] = []
    public internal(set) var events: Int64 = 0
    /// Day number of the earliest usage event (runway's D), `.max` before any.
    public internal(set) var firstUsageDay: Int64 = .max
    /// §12 state (auto top-up, member budgets, rollover, remembered grant ids), 0 or 1 element.
    public internal(set) var extras: [AccountExtras] = []
    /// Entries appended by the event being applied whose strings are not stored yet.
    var pendingHistory: UInt8 = 0
    /// Which §12 evaluations an applied event needs (bit 0: an auto top-up policy, bit 1:
    /// member budgets), so that a usage event of an account with neither reads no §12 state.
    var featureFlags: UInt8 = 0

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

    // MARK: Mechanics (internal)

    /// Burns `amount` in burn order: allowance, grants by soonest expiry, top-ups oldest
    /// first; what they cannot cover becomes overage.
    @inline(__always)
    mutating func burn(_ amount: Int64) {
        var rest = amount
        if allowance > 0 {
            let take = min(allowance, rest)
            allowance -= take
            allowanceUsed += take
            rest -= take
            if rest == 0 { return }
        }
        if !blocks.isEmpty {
            var i = 0
            while rest > 0 && i < blocks.count {
                let take = min(blocks[i].remaining, rest)
                blocks[i].remaining -= take
                blockCredits -= take
                rest -= take
                i += 1
            }
            blocks.removeAll { $0.remaining == 0 }
        }
        overage += rest
    }

    /// Credits arriving pay overage off first; returns what is left for the block.
    @inline(__always)
    mutating func payOverage(_ amount: Int64) -> Int64 {
        let paid = min(overage, amount)
        overage -= paid
        return amount - paid
    }

    /// Adds a grant or top-up block in burn order.
    mutating func addBlock(_ kind: BlockKind, _ credits: Int64, expiresAt: Int64, origin: UInt64 = 0) {
        let rest = payOverage(credits)
        guard rest > 0 else { return }
        let block = Block(kind: kind, remaining: rest, expiresAt: expiresAt, origin: origin)
        let position: Int
        if kind == .topup {
            position = blocks.count
        } else {
            position = blocks.firstIndex { $0.kind == .topup || $0.expiresAt > expiresAt } ?? blocks.count
        }
        blocks.insert(block, at: position)
        blockCredits += rest
    }

    /// Grants that expire at or before `time` are gone.
    mutating func expireBlocks(upTo time: Int64) {
        while let first = blocks.first, first.expiresAt <= time {
            expired += first.remaining
            blockCredits -= first.remaining
            record(HistoryEntry(.grantExpired, time: first.expiresAt, credits: -first.remaining))
            blocks.removeFirst()
        }
    }

    /// Appends a history entry for the event being applied.
    @inline(__always)
    mutating func record(_ entry: HistoryEntry) {
        if history.capacity == 0 { history.reserveCapacity(2) }  // a plan assignment records two: no slack beyond them
        history.append(entry)
        pendingHistory &+= 1
    }

    /// Starts a cycle with `monthly` allowance (no rollover of the old one). `endsCycle`: a
    /// previous cycle ends here, its unused allowance forfeited (history).
    /// `continuingCounts`: a re-anchored cycle keeps counting the `n` of ids (as alerts do).
    mutating func beginCycle(_ cycle: BillingCycle, planPriceMicros: Int64, endsCycle: Bool = true, continuingCounts: Bool = false) {
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
            // runway alert re-arm.
            extras[0].requestPending = false
            extras[0].requestsInCycle = 0
            extras[0].runwayFired = false
            if !continuingCounts { extras[0].requestSequence = 0; extras[0].runwaySequence = 0 }
            for i in extras[0].budgets.indices {
                extras[0].budgets[i].fired = 0
                if !continuingCounts { extras[0].budgets[i].counts = [] }
            }
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

    /// Moves the clock to `time`: starts every cycle that began by then (each one forfeits the
    /// old allowance, grants the monthly one, pays overage) and expires grants. Returns the
    /// alert episode left open by the previous cycle, if a cycle started.
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

    /// A plan assignment (contract §5): the first plan starts a cycle; a change mid-cycle
    /// re-sizes the allowance to the new monthly credits minus what was used (not below 0);
    /// a `cycle_anchor` that moves the current cycle starts a fresh one on the new plan.
    /// Returns the alert episode left open by the cycle it replaced, if it started one.
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
            plan = newPlan
            monthly = newMonthly
            beginCycle(cycle, planPriceMicros: priceMicros, continuingCounts: true)
            record(HistoryEntry(.planAssigned, time: eventTime, credits: 0, at: newMonthly, aux: newPlan))
            return alerts.startCycle(continuingCounts: true)
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

    /// Adds `amount` to a breakdown cell.
    @inline(__always)
    mutating func addUsage(_ key: UInt32, _ amount: Int64) {
        for i in usage.indices where usage[i].key == key {
            usage[i].amount += amount
            return
        }
        usage.append(UsageCell(key: key, amount: amount))
    }

    /// Usage on its event day (the last 7 UTC days before the clock's day are kept, for the
    /// runway) and on its cycle day, max(event time, cycle start) (this cycle, for `by_day`).
    /// Allocates only when a day starts.
    @inline(__always)
    mutating func addDayUsage(eventTime: Int64, _ amount: Int64) {
        let eventDay = EventTime.day(of: eventTime)
        if eventDay < firstUsageDay { firstUsageDay = eventDay }
        // One division in the usual case (the event is the latest and inside the cycle).
        let clockDay = clock == eventTime ? eventDay : EventTime.day(of: clock)
        let cycleDay = eventTime >= cycleStart ? eventDay : EventTime.day(of: cycleStart)
        let cycleKey = UsageCell.cycleDayTag | (UInt32(truncatingIfNeeded: max(0, cycleDay)) & 0x3FFF_FFFF)
        let keepDay = eventDay > clockDay - 7
        let dayKey = UInt32(truncatingIfNeeded: max(0, eventDay)) & 0x3FFF_FFFF
        var foundDay = !keepDay
        var foundCycle = false
        var i = usage.count - 1
        while i >= 0 && !(foundDay && foundCycle) {
            let k = usage[i].key
            if !foundCycle && k == cycleKey { usage[i].amount += amount; foundCycle = true }
            else if !foundDay && k == dayKey { usage[i].amount += amount; foundDay = true }
            i -= 1
        }
        if !foundDay {
            usage.removeAll { $0.key & UsageCell.tagMask == UsageCell.dayTag && Int64($0.key) <= clockDay - 7 }
            usage.append(UsageCell(key: dayKey, amount: amount))
        }
        if !foundCycle { usage.append(UsageCell(key: cycleKey, amount: amount)) }
    }

    /// Whether a usage event was applied in the current cycle (`idle` is its negation).
    public var hasUsageThisCycle: Bool {
        usedThisCycle != 0 || usage.contains { $0.key & UsageCell.tagMask == UsageCell.cycleDayTag }
    }

    /// This cycle's usage by UTC day of max(event time, cycle start): (day number, millicredits), oldest first.
    public var usageByDay: [(day: Int64, amount: Int64)] {
        usage.filter { $0.key & UsageCell.tagMask == UsageCell.cycleDayTag }
            .map { (Int64($0.key & 0x3FFF_FFFF), $0.amount) }.sorted { $0.day < $1.day }
    }

    /// The runway (contract §11): t = the account's maximum event time; D = the UTC days from
    /// max(day(t) − 6, day of the first usage event) to day(t), n of them; C = usage charged
    /// on those days. credits_per_day = C ÷ n half up; exhausted_at = t (whole seconds) +
    /// ⌊balance × n × 86400 ÷ C⌋ s, nil when C = 0, balance ≤ 0, or past what a time can hold.
    public var runway: Runway {
        guard clock != .min, firstUsageDay != .max else { return Runway(creditsPerDay: 0, exhaustedAt: nil, beforeCycleEnd: nil) }
        let today = EventTime.day(of: clock)
        // A first usage day after the account's clock cannot come from any log (found by the
        // snapshot fuzzer in a crafted snapshot: n = 0 divided by zero); clamped so the document
        // of any state that decodes can be written.
        let from = min(max(today - 6, firstUsageDay), today)
        let n = Int128(today - from + 1)
        var c: Int128 = 0
        for cell in usage where cell.key & UsageCell.tagMask == UsageCell.dayTag {
            let d = Int64(cell.key)
            if d >= from && d <= today { c += Int128(cell.amount) }
        }
        let perDay = Int64(clamping: (2 * c + n) / (2 * n))
        guard c > 0, balance > 0 else { return Runway(creditsPerDay: perDay, exhaustedAt: nil, beforeCycleEnd: nil) }
        let seconds = Int128(EventTime.floorDiv(clock, EventTime.nanosPerSecond)) + Int128(balance) * n * 86_400 / c
        guard seconds <= Int128(Int64.max / EventTime.nanosPerSecond), seconds >= Int128(Int64.min / EventTime.nanosPerSecond) else {
            return Runway(creditsPerDay: perDay, exhaustedAt: nil, beforeCycleEnd: nil)
        }
        let at = Int64(seconds) * EventTime.nanosPerSecond
        return Runway(creditsPerDay: perDay, exhaustedAt: at, beforeCycleEnd: hasPlan ? at < cycleEnd : nil)
    }
}

/// The account's runway (contract §11).
public struct Runway: Sendable, Equatable {
    /// Millicredits per day, half up.
    public var creditsPerDay: Int64
    public var exhaustedAt: Int64?
    public var beforeCycleEnd: Bool?

    /// `{"credits_per_day", "exhausted_at", "before_cycle_end"}`.
    public func json(into w: inout JSONWriter) {
        w.beginObject()
        w.key("credits_per_day"); w.credits(creditsPerDay)
        w.key("exhausted_at"); w.optionalTime(exhaustedAt)
        w.key("before_cycle_end"); if let b = beforeCycleEnd { w.bool(b) } else { w.null() }
        w.endObject()
    }
}

/// One alert fired in the current cycle, for the account document's `alerts`.
public struct CycleAlert: Sendable, Equatable {
    /// Kept per cycle, newest; older ones drop out of the document (the alerts topic has them all).
    public static let capacity = 50
    public var time: Int64
    public var kind: AlertState.Kind
    /// `threshold_percent`.
    public var threshold: Int32
    /// The `n` of its id.
    public var sequence: Int32
    /// Member budget alerts: the member's index in the partition's member table, else −1.
    public var member: Int32 = -1
}
