extension Rules {
    /// The account's policies (contract §12): `credit.autotopup.configured` sets or removes the
    /// auto top-up policy; `credit.member.budget.set` sets or removes one member's budget. Both
    /// are evaluated after every applied event (step 8 of `LedgerState.apply`): a top-up request
    /// when the balance falls to the policy's floor, member budget alerts after a usage event
    /// of the member or a budget set. Rejected: an unknown pack. (Field rules — `credits` > 0,
    /// `below_credits` ≥ 0, budgets > 0 — are the decoder's.)
    enum Policies {
        enum Change {
            /// The policy, or nil (`enabled: false`) to remove it.
            case autoTopup(AutoTopupPolicy?)
            /// The member's budget in millicredits, or nil to remove it; the member is the
            /// event's (interned in step 5).
            case memberBudget(Int64?)
        }

        @inline(__always)
        static func validate(_ e: DecodedEvent, config: EngineConfiguration) throws(Rejection) -> Change {
            guard e.type == .autoTopupConfigured else { return .memberBudget(e.monthlyCredits) }
            guard e.enabled else { return .autoTopup(nil) }
            var pack: Int32 = -1
            var packCredits: Int64 = 0
            if let p = e.pack {
                guard let i = config.priceBook.packIndex(p) else { throw .unknownPack }
                pack = Int32(i)
                packCredits = config.priceBook.packs[i].credits
            }
            return .autoTopup(AutoTopupPolicy(pack: pack, credits: e.credits ?? packCredits, below: e.belowCredits ?? 0,
                                              maxPerCycle: e.maxPerCycle))
        }

        /// `member`: the budget's member (its index in the partition's member table).
        @inline(__always)
        static func apply(_ c: Change, member: Int, to a: inout Account) {
            switch c {
            case .autoTopup(let policy):
                if policy != nil || !a.extras.isEmpty { a.withExtras { $0.autoTopup = policy } }
            case .memberBudget(let budget):
                a.setMemberBudget(Int32(member), budget)
            }
            a.refreshActivePolicies()
        }
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
    /// The last `n` per (type, threshold) this cycle, 0 for none: low[0..<T], exhausted.
    public var counts: [Int64] = []
}

/// A member's alert counts kept after its budget was removed (§14: n never restarts within a
/// cycle).
public struct MemberCounts: Sendable, Equatable {
    /// Index in the partition's member table.
    public var member: Int32
    /// As `MemberBudget.counts`.
    public var counts: [Int64]
}

/// A member budget alert to publish: which budget, kind, threshold and `n`.
struct MemberAlertAction {
    var member: Int32
    var kind: AlertState.Kind
    var thresholdPercent: Int
    var sequence: Int
}

extension Account {
    /// `credit.member.budget.set`: sets (or, with nil, removes) one member's budget. Its alert
    /// state is kept: the evaluation that follows re-arms what the new budget lifts. A removed
    /// budget's alert counts are kept for the cycle, and a budget set again continues them.
    mutating func setMemberBudget(_ member: Int32, _ budget: Int64?) {
        if budget == nil && extras.isEmpty { return }
        withExtras { x in
            if let i = x.budgets.firstIndex(where: { $0.member == member }) {
                if let budget {
                    x.budgets[i].budget = budget
                } else {
                    let removed = x.budgets.remove(at: i)
                    if !removed.counts.isEmpty { x.removedBudgetCounts.append(MemberCounts(member: member, counts: removed.counts)) }
                }
            } else if let budget {
                var b = MemberBudget(member: member, budget: budget)
                if let k = x.removedBudgetCounts.firstIndex(where: { $0.member == member }) {
                    b.counts = x.removedBudgetCounts.remove(at: k).counts
                }
                x.budgets.append(b)
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
            if b.counts.isEmpty { b.counts = [Int64](repeating: 0, count: t + 1) }
            b.counts[slot] = nextSequence(after: b.counts[slot])
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
    /// `below_credits`, none pending, and fewer than `max_per_cycle` made this cycle. Returns the
    /// `n` of its id and its `request_number` (its place among this cycle's requests: the same
    /// number unless the account was re-anchored).
    mutating func evaluateAutoTopup() -> (sequence: Int64, number: Int64)? {
        guard let p = extras[0].autoTopup, balance <= p.below, !extras[0].requestPending,
              extras[0].requestsInCycle < p.maxPerCycle else { return nil }
        let n = nextSequence(after: extras[0].requestSequence)
        extras[0].requestPending = true
        extras[0].requestsInCycle += 1
        extras[0].requestSequence = n
        return (n, extras[0].requestsInCycle)
    }
}
