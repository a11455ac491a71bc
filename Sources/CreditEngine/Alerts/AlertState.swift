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
        // 1. Re-arm what the balance has climbed back above.
        var now = Thresholds.rearmed(fired, remaining: b, of: e, thresholds: thresholds)
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
            Thresholds.markCrossed(&fired, remaining: b, of: e, thresholds: thresholds)
            episodeLowest = 0
            crossed = Action(kind: .exhausted, thresholdPercent: 0, sequence: next(t, thresholds: t))
        } else if let lowest = Thresholds.fireNewlyCrossed(&fired, remaining: b, of: e, thresholds: thresholds) {
            let percent = UInt8(thresholds[lowest])
            if episodeLowest == Self.noEpisode || percent < episodeLowest { episodeLowest = percent }
            crossed = Action(kind: .low, thresholdPercent: Int(percent), sequence: next(lowest, thresholds: t))
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
