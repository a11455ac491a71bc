/// Monthly billing cycles from an anchor: cycle k starts at anchor + k months (clamped to
/// the month's last day), always computed from the anchor, never from the previous cycle.
public struct BillingCycle: Sendable, Equatable {
    public var anchor: Int64
    public var index: Int64
    public var start: Int64
    public var end: Int64

    public static func containing(_ time: Int64, anchor: Int64) -> BillingCycle {
        var k = EventTime.monthDifference(from: anchor, to: time)
        while EventTime.addingMonths(k, to: anchor) > time { k -= 1 }
        while EventTime.addingMonths(k + 1, to: anchor) <= time { k += 1 }
        return at(index: k, anchor: anchor)
    }

    public static func at(index k: Int64, anchor: Int64) -> BillingCycle {
        BillingCycle(anchor: anchor, index: k,
                     start: EventTime.addingMonths(k, to: anchor),
                     end: EventTime.addingMonths(k + 1, to: anchor))
    }
}
