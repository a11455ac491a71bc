/// Low-balance alert state of one account, as a state machine whose `evaluate` returns what
/// to publish (swift-nio style): edge-triggered per (cycle, threshold), most severe crossing
/// wins, re-armed on recovery and at each cycle start (contract §6).
public struct AlertState: Sendable, Equatable {
    public static let exhaustedBit: UInt16 = 0x8000
    public static let noEpisode: UInt8 = 0xFF

    // Field order: the counts first, so that the flags after them leave room in the struct's
    // tail for the account's own one-byte fields (Account.swift).

    /// The last `n` of each (type, threshold) this cycle, 0 for none yet — the `n` of alert ids
    /// (`Account.nextSequence`). Layout for T thresholds: low[0..<T], exhausted,
    /// recovered[0..<T], recovered-from-exhausted.
    public var counts: [Int64] = []
    /// Bit i: threshold i (thresholds sorted high → low) has fired; bit 15: exhausted.
    public var fired: UInt16 = 0
    /// Lowest threshold percent fired since the last recovery (0 = exhausted), or 0xFF.
    public var episodeLowest: UInt8 = AlertState.noEpisode

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
        /// Its (type, threshold) in `counts` (balance alerts), −1 otherwise.
        var slot = -1

        init(kind: Kind, thresholdPercent: Int, sequence: Int, slot: Int = -1) {
            self.kind = kind
            self.thresholdPercent = thresholdPercent
            self.sequence = sequence
            self.slot = slot
        }
    }

    /// At a new cycle: everything re-arms and the per-cycle counters restart. Returns the
    /// episode still open from the previous cycle (a `recovered` is owed if the new cycle's
    /// balance is above every threshold).
    public mutating func startCycle() -> UInt8 {
        let open = fired != 0 ? episodeLowest : Self.noEpisode
        fired = 0
        episodeLowest = Self.noEpisode
        if !counts.isEmpty { counts = [] }
        return open
    }

    /// The thresholds change from `old` to `new` (both high → low; §16, an account's own list):
    /// fired marks and this cycle's counts follow their threshold's value — a kept threshold
    /// keeps both, a removed one's mark is dropped and its counts go to `retired` (so that, set
    /// again this cycle, it continues them: ids never repeat), an added one starts unfired with
    /// the counts `retired` holds for it. Exhaustion stays. An episode whose lowest threshold
    /// was removed continues from the lowest threshold still fired, and ends when none is (a
    /// `recovered` names a threshold that fired).
    mutating func rethreshold(from old: [Int64], to new: [Int64], retired: inout [RetiredAlertCounts]) {
        guard old != new else { return }
        var marks = fired & Self.exhaustedBit
        for (i, p) in old.enumerated() where fired & (1 << i) != 0 {
            if let j = new.firstIndex(of: p) { marks |= 1 << j }
        }
        fired = marks
        settleEpisode(new)
        guard !counts.isEmpty else {
            resume(&retired, thresholds: new)
            return
        }
        let t = old.count, u = new.count
        var out = [Int64](repeating: 0, count: 2 * u + 2)
        out[u] = counts[t]
        out[2 * u + 1] = counts[2 * t + 1]
        for (i, p) in old.enumerated() {
            let low = counts[i], recovered = counts[t + 1 + i]
            if let j = new.firstIndex(of: p) {
                out[j] = low
                out[u + 1 + j] = recovered
            } else if low != 0 || recovered != 0 {
                retired.append(RetiredAlertCounts(percent: p, low: low, recovered: recovered))
            }
        }
        counts = out.allSatisfy { $0 == 0 } ? [] : out
        resume(&retired, thresholds: new)
    }

    /// After `fired` was moved to `thresholds`: an episode whose lowest threshold is not among
    /// them continues from the lowest threshold still fired, and ends when none is (so a
    /// `recovered` names a threshold in force, with that threshold's n).
    mutating func settleEpisode(_ thresholds: [Int64]) {
        if fired == 0 {
            episodeLowest = Self.noEpisode
        } else if episodeLowest != Self.noEpisode && episodeLowest != 0 && !thresholds.contains(Int64(episodeLowest)) {
            let lowest = thresholds.indices.last { fired & (1 << $0) != 0 }
            episodeLowest = lowest.map { UInt8(thresholds[$0]) } ?? 0
        }
    }

    /// Moves the counts `retired` holds for any of `thresholds` (the list in force, `counts`'s
    /// layout) back into `counts`: a threshold set again continues its n this cycle.
    mutating func resume(_ retired: inout [RetiredAlertCounts], thresholds: [Int64]) {
        let u = thresholds.count
        for (j, p) in thresholds.enumerated() {
            guard let k = retired.firstIndex(where: { $0.percent == p }) else { continue }
            let r = retired.remove(at: k)
            if counts.isEmpty { counts = [Int64](repeating: 0, count: 2 * u + 2) }
            counts[j] = r.low
            counts[u + 1 + j] = r.recovered
        }
    }

    /// This cycle's counts (layout as `counts`) for thresholds `new`, remapped by threshold
    /// value from `old`; a threshold not in `new` loses its counts. (Restoring a snapshot
    /// written with other configured thresholds.)
    static func remapCounts(_ counts: [Int64], from old: [Int64], to new: [Int64]) -> [Int64] {
        guard !counts.isEmpty else { return [] }
        if old == new { return counts }
        let t = old.count
        var out = [Int64](repeating: 0, count: 2 * new.count + 2)
        for (i, v) in old.enumerated() {
            guard let j = new.firstIndex(of: v) else { continue }
            if i < counts.count { out[j] = counts[i] }
            if t + 1 + i < counts.count { out[new.count + 1 + j] = counts[t + 1 + i] }
        }
        if t < counts.count { out[new.count] = counts[t] }
        if 2 * t + 1 < counts.count { out[2 * new.count + 1] = counts[2 * t + 1] }
        return out
    }

    /// Gives a decided action its `n` (off the hot path: only when an alert fires).
    mutating func number(_ action: inout Action, thresholds: Int, _ numbering: inout SequenceNumbering) {
        if counts.isEmpty { counts = [Int64](repeating: 0, count: 2 * thresholds + 2) }
        let n = numbering.next(after: counts[action.slot])
        counts[action.slot] = n
        action.sequence = Int(n)
    }

    /// Evaluates the balance after an event. `openFromPreviousCycle` is what `startCycle`
    /// returned if this event started a cycle. At most one recovery and one crossing, decided
    /// here and numbered by `number`.
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
            crossed = Action(kind: .exhausted, thresholdPercent: 0, sequence: 0, slot: t)
        } else if let lowest = Thresholds.fireNewlyCrossed(&fired, remaining: b, of: e, thresholds: thresholds) {
            let percent = UInt8(thresholds[lowest])
            if episodeLowest == Self.noEpisode || percent < episodeLowest { episodeLowest = percent }
            crossed = Action(kind: .low, thresholdPercent: Int(percent), sequence: 0, slot: lowest)
        }
        // 3. A cycle that ended with thresholds fired recovers when the new one starts above them all.
        if openFromPreviousCycle != Self.noEpisode && crossed == nil && recovered == nil {
            recovered = recoveredAction(openFromPreviousCycle, thresholds: thresholds)
        }
        return (recovered, crossed)
    }

    private func recoveredAction(_ lowest: UInt8, thresholds: [Int64]) -> Action {
        let t = thresholds.count
        let slot: Int
        if lowest == 0 { slot = 2 * t + 1 } else { slot = t + 1 + (thresholds.firstIndex(of: Int64(lowest)) ?? 0) }
        return Action(kind: .recovered, thresholdPercent: Int(lowest == Self.noEpisode ? 0 : lowest), sequence: 0, slot: slot)
    }
}
