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

/// The account's usage breakdowns: this cycle's by capability, member and day (`by_day`),
/// and the last 7 UTC days by event day, for the runway.
extension Account {
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

    /// Credits charged this cycle by usage events with `member`.
    public func memberUsed(_ member: Int32) -> Int64 {
        let key = UsageCell.memberTag | UInt32(member)
        for cell in usage where cell.key == key { return cell.amount }
        return 0
    }
}
