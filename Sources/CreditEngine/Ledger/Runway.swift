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

extension Account {
    /// The runway (contract §11): t = the account's maximum event time; D = the UTC days from
    /// max(day(t) − 6, day of the first usage event) to day(t), n of them; C = usage charged
    /// on those days. credits_per_day = C ÷ n half up; exhausted_at = t (whole seconds) +
    /// ⌊balance × n × 86400 ÷ C⌋ s, nil when C = 0, balance ≤ 0, or past what a time can hold.
    public var runway: Runway {
        guard clock != .min, firstUsageDay != .max else { return Runway(creditsPerDay: 0, exhaustedAt: nil, beforeCycleEnd: nil) }
        let today = EventTime.day(of: clock)
        // A first usage day after the clock's day comes from no log (restore refuses one);
        // clamped all the same, so that n ≥ 1 whatever the state.
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
        let n = nextSequence(after: extras.first?.runwaySequence ?? 0)
        return withExtras { x in
            x.runwayFired = true
            x.runwaySequence = n
            return n
        }
    }
}
