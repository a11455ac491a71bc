/// Contract §12 state of one account, kept out of line (`Account.extras`, empty for an account
/// that uses none of it) so that an ordinary account stays small and its usage events touch
/// nothing new.
public struct AccountExtras: Sendable, Equatable {
    /// Fingerprints of (source, id) of this account's grant and top-up events, kept forever,
    /// sorted: `credit.grant.voided` must name one of them.
    public internal(set) var grantIDs: [UInt64] = []
    /// The current plan's rollover cap (millicredits; 0 = no rollover).
    public internal(set) var rolloverMax: Int64 = 0
    public internal(set) var autoTopup: AutoTopupPolicy?
    /// Requests made in the current cycle (against `max_per_cycle`); reset at every cycle start.
    public internal(set) var requestsInCycle: Int64 = 0
    /// The `n` of request ids: counts this cycle start's requests; kept across a re-anchor.
    public internal(set) var requestSequence: Int64 = 0
    /// A request is pending until the next credit-adding event or cycle start.
    public internal(set) var requestPending = false
    public internal(set) var budgets: [MemberBudget] = []
    /// Runway alert (§12): fired this cycle and not lifted out since; `n` of its ids.
    public internal(set) var runwayFired = false
    public internal(set) var runwaySequence: Int64 = 0

    public init() {}

    var isEmpty: Bool { self == AccountExtras() }

    func knowsGrant(_ fp: UInt64) -> Bool {
        var lo = 0, hi = grantIDs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if grantIDs[mid] < fp { lo = mid + 1 } else { hi = mid }
        }
        return lo < grantIDs.count && grantIDs[lo] == fp
    }

    mutating func rememberGrant(_ fp: UInt64) {
        var lo = 0, hi = grantIDs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if grantIDs[mid] < fp { lo = mid + 1 } else { hi = mid }
        }
        if lo < grantIDs.count && grantIDs[lo] == fp { return }
        grantIDs.insert(fp, at: lo)
    }
}

/// `credit.autotopup.configured` (§12).
public struct AutoTopupPolicy: Sendable, Equatable {
    /// Price-book pack index, or −1.
    public var pack: Int32
    /// Credits to request (the event's `credits`, else the pack's), millicredits.
    public var credits: Int64
    public var below: Int64
    public var maxPerCycle: Int64

    public init(pack: Int32, credits: Int64, below: Int64, maxPerCycle: Int64) {
        self.pack = pack; self.credits = credits; self.below = below; self.maxPerCycle = maxPerCycle
    }
}

/// A member's per-cycle sub-limit (§12) and its alert state.
public struct MemberBudget: Sendable, Equatable {
    /// Index in the partition's member table.
    public var member: Int32
    public var budget: Int64
    /// Bit i: threshold i fired; bit 15: exhausted.
    public var fired: UInt16 = 0
    /// `n` per (type, threshold): low[0..<T], exhausted.
    public var counts: [UInt16] = []
}

extension Account {
    /// Runs `body` on the account's §12 state, creating it if needed.
    @inline(__always)
    mutating func withExtras<R>(_ body: (inout AccountExtras) -> R) -> R {
        if extras.isEmpty { extras.append(AccountExtras()) }
        return body(&extras[0])
    }

    public var features: AccountExtras? { extras.first }

    /// Recomputes `featureFlags` from the §12 state (after a policy or budget change, a restore).
    mutating func refreshFeatureFlags() {
        guard let x = extras.first else { featureFlags = 0; return }
        featureFlags = (x.autoTopup != nil ? 1 : 0) | (x.budgets.isEmpty ? 0 : 2)
    }

    /// Removes what is left of the block that grant `origin` made (§12); returns the amount.
    mutating func voidBlock(origin: UInt64) -> Int64 {
        guard let i = blocks.firstIndex(where: { $0.origin == origin }) else { return 0 }
        let removed = blocks[i].remaining
        blocks.remove(at: i)
        blockCredits -= removed
        voided += removed
        entitlement -= removed
        return removed
    }

    /// A cycle start or a credit-adding event: no request is pending any more.
    @inline(__always)
    mutating func clearPendingRequest() {
        if !extras.isEmpty && extras[0].requestPending { extras[0].requestPending = false }
    }
}

/// A member budget alert to publish: which budget, kind, threshold and `n`.
struct MemberAlertAction {
    var member: Int32
    var kind: AlertState.Kind
    var thresholdPercent: Int
    var sequence: Int
}

extension Account {
    /// Credits charged this cycle by usage events with `member`.
    public func memberUsed(_ member: Int32) -> Int64 {
        let key = UsageCell.memberTag | UInt32(member)
        for cell in usage where cell.key == key { return cell.amount }
        return 0
    }

    /// `credit.member.budget.set`: sets (or, with nil, removes) one member's budget. Its alert
    /// state is kept: the evaluation that follows re-arms what the new budget lifts.
    mutating func setMemberBudget(_ member: Int32, _ budget: Int64?) {
        if budget == nil && extras.isEmpty { return }
        withExtras { x in
            if let i = x.budgets.firstIndex(where: { $0.member == member }) {
                if let budget { x.budgets[i].budget = budget } else { x.budgets.remove(at: i) }
            } else if let budget {
                x.budgets.append(MemberBudget(member: member, budget: budget))
            }
        }
    }

    /// Member budget alerts (§12), after a usage event of the member or a budget set: low when
    /// (budget − used) × 100 ≤ t × budget, exhausted when used ≥ budget; edge-triggered, most
    /// severe only, re-armed when the budget lifts the member back above a threshold.
    mutating func evaluateMemberBudget(_ member: Int32, thresholds: [Int64]) -> MemberAlertAction? {
        guard hasPlan, !extras.isEmpty, let bi = extras[0].budgets.firstIndex(where: { $0.member == member }) else { return nil }
        let used = memberUsed(member)
        var b = extras[0].budgets[bi]
        let budget = b.budget
        let t = thresholds.count
        func next(_ slot: Int) -> Int {
            if b.counts.isEmpty { b.counts = [UInt16](repeating: 0, count: t + 1) }
            if b.counts[slot] < UInt16.max { b.counts[slot] += 1 }
            return Int(b.counts[slot])
        }
        b.fired = Thresholds.rearmed(b.fired, remaining: budget - used, of: budget, thresholds: thresholds)
        if b.fired & AlertState.exhaustedBit != 0 && used < budget { b.fired &= ~AlertState.exhaustedBit }
        var action: MemberAlertAction?
        if used >= budget && b.fired & AlertState.exhaustedBit == 0 {
            b.fired |= AlertState.exhaustedBit
            Thresholds.markCrossed(&b.fired, remaining: budget - used, of: budget, thresholds: thresholds)
            action = MemberAlertAction(member: member, kind: .memberExhausted, thresholdPercent: 0, sequence: next(t))
        } else if used < budget, let lowest = Thresholds.fireNewlyCrossed(&b.fired, remaining: budget - used, of: budget, thresholds: thresholds) {
            action = MemberAlertAction(member: member, kind: .memberLow, thresholdPercent: Int(thresholds[lowest]), sequence: next(lowest))
        }
        extras[0].budgets[bi] = b
        return action
    }

    /// Auto top-up (§12), after each applied event: a request iff a policy is enabled, balance ≤
    /// `below_credits`, none pending, and fewer than `max_per_cycle` made this cycle. Returns its `n`.
    mutating func evaluateAutoTopup() -> Int64? {
        guard let p = extras[0].autoTopup, balance <= p.below, !extras[0].requestPending,
              extras[0].requestsInCycle < p.maxPerCycle else { return nil }
        extras[0].requestPending = true
        extras[0].requestsInCycle += 1
        extras[0].requestSequence += 1
        return extras[0].requestSequence
    }

    /// Runway alert (§12): fires after a usage event whose runway runs out before the cycle
    /// ends and within `days` days of t; once per cycle, re-armed when an event lifts it out.
    mutating func evaluateRunwayAlert(days: Int64, usage: Bool) -> Int64? {
        let r = runway
        // In Int128: a late event leaves the clock where it was, which may lie far from the
        // exhaustion time (and `days` is configured).
        let inside = r.exhaustedAt.map { $0 < cycleEnd && Int128($0) - Int128(clock) < Int128(days) * Int128(EventTime.nanosPerDay) } ?? false
        let fired = extras.first?.runwayFired ?? false
        if fired && !inside { extras[0].runwayFired = false; return nil }
        guard !fired, inside, usage else { return nil }
        return withExtras { x in
            x.runwayFired = true
            x.runwaySequence += 1
            return x.runwaySequence
        }
    }
}
