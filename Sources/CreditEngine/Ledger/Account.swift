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

/// A grant or top-up block. `expiresAt == .max` means never.
public struct Block: Sendable, Equatable {
    public var kind: BlockKind
    public var remaining: Int64
    public var expiresAt: Int64

    public init(kind: BlockKind, remaining: Int64, expiresAt: Int64 = .max) {
        self.kind = kind
        self.remaining = remaining
        self.expiresAt = expiresAt
    }
}

/// One usage breakdown cell: key tag (top 2 bits: 0 day, 1 capability, 2 member) and value.
public struct UsageCell: Sendable, Equatable {
    public static let dayTag: UInt32 = 0
    public static let capabilityTag: UInt32 = 1 << 30
    public static let memberTag: UInt32 = 2 << 30
    public var key: UInt32
    public var amount: Int64
}

/// The credit state of one account. All amounts are millicredits, money micro-units,
/// provider cost nano-dollars. Mutated only by `PartitionLedger`.
public struct Account: Sendable, Equatable {
    // Plan and cycle
    /// Price-book plan index; `noPlan` before any plan, `customPlan` for monthly_credits alone.
    public internal(set) var plan: Int32 = Account.noPlan
    public internal(set) var monthly: Int64 = 0
    public internal(set) var anchor: Int64 = 0
    public internal(set) var cycleIndex: Int64 = 0
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

    // Lifetime flows, for the conservation audit
    public internal(set) var granted: Int64 = 0
    public internal(set) var charged: Int64 = 0
    public internal(set) var expired: Int64 = 0
    public internal(set) var adjusted: Int64 = 0

    // Money
    public internal(set) var creditsBought: Int64 = 0
    public internal(set) var moneyPaidMicros: Int64 = 0
    public internal(set) var costNanoUSD: Int64 = 0

    // Rate-card pin
    public internal(set) var pinnedVersion: Int32 = -1
    public internal(set) var pinUntil: Int64 = .max

    // Alerts and breakdowns
    public internal(set) var alerts = AlertState()
    public internal(set) var usage: [UsageCell] = []
    public internal(set) var events: Int64 = 0

    public static let noPlan: Int32 = -1
    public static let customPlan: Int32 = -2

    public init() {}

    public var hasPlan: Bool { plan != Account.noPlan }

    /// balance = sum of blocks − overage.
    public var balance: Int64 { allowance + blockCredits - overage }

    /// Conservation: granted − charged − expired + adjustments = balance.
    public var isConserved: Bool { granted - charged - expired + adjusted == balance }

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
    mutating func addBlock(_ kind: BlockKind, _ credits: Int64, expiresAt: Int64) {
        let rest = payOverage(credits)
        guard rest > 0 else { return }
        let block = Block(kind: kind, remaining: rest, expiresAt: expiresAt)
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
            blocks.removeFirst()
        }
    }

    /// Starts a cycle with `monthly` allowance (no rollover of the old one).
    mutating func beginCycle(_ cycle: BillingCycle, planPriceMicros: Int64) {
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
        usage.removeAll { $0.key & UsageCell.memberTag != 0 || $0.key & UsageCell.capabilityTag != 0 }
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
            beginCycle(BillingCycle.containing(time, anchor: newAnchor ?? eventTime), planPriceMicros: priceMicros)
            return alerts.startCycle()
        }
        let cycle = BillingCycle.containing(time, anchor: newAnchor ?? anchor)
        if cycle.start != cycleStart {
            plan = newPlan
            monthly = newMonthly
            beginCycle(cycle, planPriceMicros: priceMicros)
            return alerts.startCycle(continuingCounts: true)
        }
        anchor = cycle.anchor
        cycleIndex = cycle.index
        cycleEnd = cycle.end
        let newRemaining = max(0, newMonthly - allowanceUsed)
        let delta = newRemaining - allowance
        if delta > 0 {
            granted += delta
            creditsBought += delta
            let rest = payOverage(delta)
            allowanceUsed += delta - rest
            allowance += rest
        } else if delta < 0 {
            expired += -delta
            allowance = newRemaining
        }
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

    /// Usage on `day`, keeping only the last 35 days of daily cells.
    @inline(__always)
    mutating func addDailyUsage(day: Int64, _ amount: Int64) {
        let key = UInt32(truncatingIfNeeded: max(0, day)) & 0x3FFF_FFFF
        if let last = usage.lastIndex(where: { $0.key & 0xC000_0000 == 0 }), usage[last].key == key {
            usage[last].amount += amount
            return
        }
        for i in usage.indices where usage[i].key == key {
            usage[i].amount += amount
            return
        }
        usage.removeAll { $0.key & 0xC000_0000 == 0 && Int64($0.key) < day - 34 }
        usage.append(UsageCell(key: key, amount: amount))
    }

    /// Daily usage cells (day number, millicredits), oldest first.
    public var dailyUsage: [(day: Int64, amount: Int64)] {
        usage.filter { $0.key & 0xC000_0000 == 0 }.map { (Int64($0.key), $0.amount) }.sorted { $0.day < $1.day }
    }

    /// Recent pace (millicredits per day over the 7 days ending on the clock's day) and the
    /// day the balance reaches 0 at that pace (nil: no usage; the clock's day if already ≤ 0).
    public var runway: (pacePerDay: Int64, zeroDay: Int64?) {
        guard clock != .min else { return (0, nil) }
        let today = EventTime.day(of: clock)
        let recent = usage.reduce(Int64(0)) { sum, cell in
            guard cell.key & 0xC000_0000 == 0 else { return sum }
            let d = Int64(cell.key)
            return d > today - 7 && d <= today ? sum + cell.amount : sum
        }
        let pace = recent / 7
        if balance <= 0 { return (pace, today) }
        guard pace > 0 else { return (pace, nil) }
        return (pace, today + (balance + pace - 1) / pace)
    }
}
