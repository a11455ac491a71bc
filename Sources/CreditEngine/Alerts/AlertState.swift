/// Low-balance alert state of one account, as a state machine whose `evaluate` returns what
/// to publish (swift-nio style): edge-triggered per (cycle, threshold), most severe crossing
/// wins, re-armed on recovery and at each cycle start (contract §6).
public struct AlertState: Sendable, Equatable {
    public static let exhaustedBit: UInt16 = 0x8000
    public static let noEpisode: UInt8 = 0xFF

    /// Bit i: threshold i (thresholds sorted high → low) has fired; bit 15: exhausted.
    public var fired: UInt16 = 0
    /// Lowest threshold percent fired since the last recovery (0 = exhausted), or 0xFF.
    public var episodeLowest: UInt8 = AlertState.noEpisode
    /// Alerts published this cycle, per (type, threshold) — the `n` of alert ids. Layout for
    /// T thresholds: low[0..<T], exhausted, recovered[0..<T], recovered-from-exhausted.
    public var counts: [UInt16] = []

    public init() {}

    public enum Kind: UInt8, Sendable {
        case low, exhausted, recovered
        /// §12: member budgets and the runway alert.
        case memberLow, memberExhausted, runway

        public var type: String {
            switch self {
            case .low: return "credit.balance.low"
            case .exhausted: return "credit.balance.exhausted"
            case .recovered: return "credit.balance.recovered"
            case .memberLow: return "credit.member.budget.low"
            case .memberExhausted: return "credit.member.budget.exhausted"
            case .runway: return "credit.balance.runway"
            }
        }

        public var isMember: Bool { self == .memberLow || self == .memberExhausted }
    }

    /// An alert to publish: its kind, `threshold_percent` and `n`.
    public struct Action: Sendable, Equatable {
        public var kind: Kind
        public var thresholdPercent: Int
        public var sequence: Int
    }

    /// At a new cycle: everything re-arms and the per-cycle counters restart. Returns the
    /// episode still open from the previous cycle (a `recovered` is owed if the new cycle's
    /// balance is above every threshold).
    ///
    /// `continuingCounts`: a re-anchored cycle keeps counting `n` (its start may be one that
    /// alerts were already published under), so ids never repeat; a natural rollover starts a
    /// later cycle whose ids are all new, and counts restart.
    public mutating func startCycle(continuingCounts: Bool = false) -> UInt8 {
        let open = fired != 0 ? episodeLowest : Self.noEpisode
        fired = 0
        episodeLowest = Self.noEpisode
        if !continuingCounts && !counts.isEmpty { counts = [] }
        return open
    }

    private mutating func next(_ slot: Int, thresholds: Int) -> Int {
        if counts.isEmpty { counts = [UInt16](repeating: 0, count: 2 * thresholds + 2) }
        if counts[slot] < UInt16.max { counts[slot] += 1 }
        return Int(counts[slot])
    }

    /// Evaluates the balance after an event. `openFromPreviousCycle` is what `startCycle`
    /// returned if this event started a cycle. At most one recovery and one crossing.
    public mutating func evaluate(balance b: Int64, entitlement e: Int64, thresholds: [Int64],
                                  openFromPreviousCycle: UInt8 = AlertState.noEpisode) -> (recovered: Action?, crossed: Action?) {
        let t = thresholds.count
        @inline(__always) func below(_ percent: Int64) -> Bool {
            e > 0 && Int128(b) * 100 <= Int128(percent) * Int128(e)
        }
        // 1. Re-arm what the balance has climbed back above (with no entitlement there is no
        //    percentage to climb above: fired thresholds stay fired).
        var now = fired
        for i in 0..<t where now & (1 << i) != 0 && e > 0 && !below(thresholds[i]) { now &= ~(1 << i) }
        if now & Self.exhaustedBit != 0 && b > 0 { now &= ~Self.exhaustedBit }
        var recovered: Action?
        if fired != 0 && now == 0 {
            recovered = recoveredAction(episodeLowest, thresholds: thresholds)
            episodeLowest = Self.noEpisode
        }
        fired = now
        // 2. Crossings of armed thresholds: one alert, for the most severe.
        var crossed: Action?
        if b <= 0 && fired & Self.exhaustedBit == 0 {
            fired |= Self.exhaustedBit
            for i in 0..<t where below(thresholds[i]) { fired |= 1 << i }
            episodeLowest = 0
            crossed = Action(kind: .exhausted, thresholdPercent: 0, sequence: next(t, thresholds: t))
        } else {
            var lowest = -1
            for i in 0..<t where fired & (1 << i) == 0 && below(thresholds[i]) {
                fired |= 1 << i
                lowest = i  // thresholds are sorted high → low: the last one is the most severe
            }
            if lowest >= 0 {
                let percent = UInt8(thresholds[lowest])
                if episodeLowest == Self.noEpisode || percent < episodeLowest { episodeLowest = percent }
                crossed = Action(kind: .low, thresholdPercent: Int(percent), sequence: next(lowest, thresholds: t))
            }
        }
        // 3. A cycle that ended with thresholds fired recovers when the new one starts above them all.
        if openFromPreviousCycle != Self.noEpisode && crossed == nil && recovered == nil {
            recovered = recoveredAction(openFromPreviousCycle, thresholds: thresholds)
        }
        return (recovered, crossed)
    }

    private mutating func recoveredAction(_ lowest: UInt8, thresholds: [Int64]) -> Action {
        let t = thresholds.count
        let slot: Int
        if lowest == 0 { slot = 2 * t + 1 } else { slot = t + 1 + (thresholds.firstIndex(of: Int64(lowest)) ?? 0) }
        return Action(kind: .recovered, thresholdPercent: Int(lowest == Self.noEpisode ? 0 : lowest),
                      sequence: next(slot, thresholds: t))
    }
}

/// A published alert (contract §6). `id` is deterministic:
/// `<account>/<cycle_start>/<type>/<threshold_percent>/<n>`.
public struct Alert: Sendable, Equatable {
    public var kind: AlertState.Kind
    public var thresholdPercent: Int
    public var sequence: Int
    public var account: String
    public var remaining: Int64
    public var entitlement: Int64
    public var cycleStart: Int64
    public var cycleEnd: Int64
    public var triggeredBy: String
    public var rateCardVersion: String?
    public var time: Int64
    /// Member budget alerts (§12): the member, its index in the partition, budget and used.
    public var member: String?
    var memberIndex: Int32 = -1
    public var budget: Int64 = 0
    public var used: Int64 = 0
    /// Runway alert (§12): `alerts.runway_days` and the runway.
    public var runwayDays: Int64?
    public var runway: Runway?

    public init(kind: AlertState.Kind, thresholdPercent: Int, sequence: Int, account: String, remaining: Int64,
                entitlement: Int64, cycleStart: Int64, cycleEnd: Int64, triggeredBy: String, rateCardVersion: String?, time: Int64) {
        self.kind = kind
        self.thresholdPercent = thresholdPercent
        self.sequence = sequence
        self.account = account
        self.remaining = remaining
        self.entitlement = entitlement
        self.cycleStart = cycleStart
        self.cycleEnd = cycleEnd
        self.triggeredBy = triggeredBy
        self.rateCardVersion = rateCardVersion
        self.time = time
    }

    public var type: String { kind.type }

    public var id: String {
        switch kind {
        case .memberLow, .memberExhausted:
            return "\(account)/\(EventTime.format(cycleStart))/\(member ?? "")/\(type)/\(thresholdPercent)/\(sequence)"
        case .runway:
            return "\(account)/\(EventTime.format(cycleStart))/\(type)/\(runwayDays ?? 0)/\(sequence)"
        default:
            return "\(account)/\(EventTime.format(cycleStart))/\(type)/\(thresholdPercent)/\(sequence)"
        }
    }

    /// floor(remaining / entitlement × 1000) in tenths of a percent, nil when entitlement is 0.
    public var remainingPermille: Int64? {
        guard entitlement > 0 else { return nil }
        let num = Int128(remaining) * 1000
        let den = Int128(entitlement)
        var q = num / den
        if num % den != 0 && num < 0 { q -= 1 }
        return Int64(clamping: q)
    }

    /// The CloudEvents JSON record.
    public func json() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("specversion"); w.string("1.0")
        w.key("id"); w.string(id)
        w.key("source"); w.string("credit-meter")
        w.key("type"); w.string(type)
        w.key("subject"); w.string(account)
        w.key("time"); w.time(time)
        w.key("datacontenttype"); w.string("application/json")
        w.key("data"); w.beginObject()
        w.key("account"); w.string(account)
        if kind.isMember {
            w.key("member"); w.string(member ?? "")
            w.key("threshold_percent"); w.integer(Int64(thresholdPercent))
            w.key("budget_credits"); w.credits(budget)
            w.key("used_credits"); w.credits(used)
            w.key("remaining_credits"); w.credits(budget - used)
            w.key("cycle_start"); w.time(cycleStart)
            w.key("cycle_end"); w.time(cycleEnd)
            w.key("triggered_by"); w.string(triggeredBy)
            w.endObject()
            w.endObject()
            return w.bytes
        }
        w.key("threshold_percent"); if kind == .runway { w.null() } else { w.integer(Int64(thresholdPercent)) }
        w.key("remaining_credits"); w.credits(remaining)
        w.key("entitlement_credits"); w.credits(entitlement)
        w.key("remaining_percent")
        if let p = remainingPermille { w.fixed(p, scale: 1, minFractionDigits: 1) } else { w.null() }
        w.key("cycle_start"); w.time(cycleStart)
        w.key("cycle_end"); w.time(cycleEnd)
        w.key("triggered_by"); w.string(triggeredBy)
        w.key("rate_card_version"); if let v = rateCardVersion { w.string(v) } else { w.null() }
        if kind == .runway, let runwayDays, let runway {
            w.key("runway_days"); w.integer(runwayDays)
            w.key("runway"); runway.json(into: &w)
        }
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
