/// The account document (contract §6 "Balances"): published on the balances topic, printed
/// by `snapshot inspect`, served later over HTTP. Deterministic bytes for a given state.
extension PartitionLedger {
    public func accountDocument(_ index: Int) -> [UInt8] {
        var w = JSONWriter()
        writeAccountDocument(index, into: &w)
        return w.bytes
    }

    public func writeAccountDocument(_ index: Int, into w: inout JSONWriter) {
        let a = accounts[index]
        let book = config.priceBook
        w.beginObject()
        w.key("account"); w.string(ids.string(index))
        w.key("balance_credits"); w.credits(a.balance)
        w.key("overage_credits"); w.credits(a.overage)
        w.key("entitlement_credits"); w.credits(a.entitlement)
        w.key("used_this_cycle_credits"); w.credits(a.usedThisCycle)
        w.key("plan")
        if a.plan >= 0 { w.string(book.plans[Int(a.plan)].id) } else if a.plan == Account.customPlan { w.string("custom") } else { w.null() }
        w.key("monthly_credits"); w.credits(a.monthly)
        w.key("cycle_start"); w.optionalTime(a.hasPlan ? a.cycleStart : nil)
        w.key("cycle_end"); w.optionalTime(a.hasPlan ? a.cycleEnd : nil)
        w.key("blocks"); w.beginArray()
        if a.hasPlan {
            w.beginObject(); w.key("kind"); w.string("allowance"); w.key("credits"); w.credits(a.allowance)
            w.key("expires_at"); w.optionalTime(a.cycleEnd); w.endObject()
        }
        for b in a.blocks {
            w.beginObject(); w.key("kind"); w.string(b.kind.name); w.key("credits"); w.credits(b.remaining)
            w.key("expires_at"); w.optionalTime(b.expiresAt == .max ? nil : b.expiresAt); w.endObject()
        }
        w.endArray()
        w.key("rate_card_version")
        if a.clock != .min, let v = versionInForce(a, at: a.clock) { w.string(config.rateCards.version(v)) } else { w.null() }
        w.key("pinned_rate_card_version")
        if a.pinnedVersion >= 0 { w.string(config.rateCards.version(Int(a.pinnedVersion))) } else { w.null() }
        w.key("last_event_id"); if let id = lastEventID(index) { w.string(id) } else { w.null() }
        w.key("events"); w.integer(a.events)
        // Breakdowns (this cycle) and daily usage.
        // Breakdowns by name (intern ids are partition-local: the document must not depend on them).
        w.key("used_by_capability"); w.beginObject()
        for (name, amount) in breakdown(a, tag: UsageCell.capabilityTag, names: capabilities) { w.key(name); w.credits(amount) }
        w.endObject()
        w.key("used_by_member"); w.beginObject()
        for (name, amount) in breakdown(a, tag: UsageCell.memberTag, names: members) { w.key(name); w.credits(amount) }
        w.endObject()
        w.key("daily_usage"); w.beginArray()
        for (day, amount) in a.dailyUsage {
            w.beginObject(); w.key("day"); w.string(EventTime.formatDay(day)); w.key("credits"); w.credits(amount); w.endObject()
        }
        w.endArray()
        let runway = a.runway
        w.key("runway"); w.beginObject()
        w.key("pace_credits_per_day"); w.credits(runway.pacePerDay)
        w.key("zero_on"); if let d = runway.zeroDay { w.string(EventTime.formatDay(d)) } else { w.null() }
        w.endObject()
        w.key("alerts_fired"); w.beginArray()
        for (i, t) in config.thresholds.enumerated() where a.alerts.fired & (1 << i) != 0 { w.integer(t) }
        if a.alerts.fired & AlertState.exhaustedBit != 0 { w.integer(0) }
        w.endArray()
        w.key("money"); w.beginObject()
        w.key("currency"); w.string(book.currency)
        w.key("credits_bought"); w.credits(a.creditsBought)
        w.key("paid"); w.fixed(a.moneyPaidMicros, scale: 6)
        w.key("price_per_credit")
        if a.creditsBought > 0 {
            // micro-money per credit = paid(µ) × 1000 / bought(mc), floor, shown to 6 digits
            w.fixed(Int64(clamping: Int128(a.moneyPaidMicros) * 1000 / Int128(a.creditsBought)), scale: 6)
        } else { w.null() }
        w.key("provider_cost_usd"); w.fixed(a.costNanoUSD, scale: 9)
        // margin in nano-units: paid×1000 − cost
        w.key("margin"); w.fixed(Int64(clamping: Int128(a.moneyPaidMicros) * 1000 - Int128(a.costNanoUSD)), scale: 9)
        w.endObject()
        w.key("audit"); w.beginObject()
        w.key("granted_credits"); w.credits(a.granted)
        w.key("charged_credits"); w.credits(a.charged)
        w.key("expired_credits"); w.credits(a.expired)
        w.key("adjusted_credits"); w.credits(a.adjusted)
        w.endObject()
        w.endObject()
    }

    /// This cycle's usage cells of one kind, by name.
    func breakdown(_ a: Account, tag: UInt32, names: InternTable) -> [(String, Int64)] {
        a.usage.filter { $0.key & 0xC000_0000 == tag }
            .map { (names.string(Int($0.key & 0x3FFF_FFFF)), $0.amount) }
            .sorted { $0.0 < $1.0 }
    }
}
