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

extension PartitionLedger {
    /// The balances-topic document: the contract's fields (account, balance, overage,
    /// entitlement, used this cycle, cycle, blocks, rate card in force, last event id) plus
    /// plan and monthly credits — written straight into `out` (cleared first, capacity kept),
    /// so republishing hot accounts allocates nothing. `accountDocument` has the breakdowns.
    public func writeBalanceDocument(_ index: Int, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        let a = state.accounts[index]
        @inline(__always) func raw(_ s: StaticString) {
            out.append(contentsOf: UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
        }
        @inline(__always) func text(_ bytes: UnsafeRawBufferPointer) {
            out.append(UInt8(ascii: "\""))
            JSONText.appendEscaped(bytes, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        @inline(__always) func time(_ t: Int64) {
            out.append(UInt8(ascii: "\""))
            EventTime.append(t, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        raw("{\"account\":")
        state.ids.withBytes(of: index) { text($0) }
        raw(",\"balance_credits\":"); Credits.append(a.balance, to: &out)
        raw(",\"overage_credits\":"); Credits.append(a.overage, to: &out)
        raw(",\"entitlement_credits\":"); Credits.append(a.entitlement, to: &out)
        raw(",\"used_this_cycle_credits\":"); Credits.append(a.usedThisCycle, to: &out)
        raw(",\"plan\":")
        if a.plan >= 0 {
            var id = config.priceBook.plans[Int(a.plan)].id
            id.withUTF8 { text(UnsafeRawBufferPointer($0)) }
        } else if a.plan == Account.customPlan { raw("\"custom\"") } else { raw("null") }
        raw(",\"monthly_credits\":"); Credits.append(a.monthly, to: &out)
        if a.hasPlan {
            raw(",\"cycle_start\":"); time(a.cycleStart)
            raw(",\"cycle_end\":"); time(a.cycleEnd)
        } else {
            raw(",\"cycle_start\":null,\"cycle_end\":null")
        }
        raw(",\"blocks\":[")
        var first = true
        if a.hasPlan {
            raw("{\"kind\":\"allowance\",\"credits\":"); Credits.append(a.allowance, to: &out)
            raw(",\"expires_at\":"); time(a.cycleEnd); raw("}")
            first = false
        }
        for b in a.blocks {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            switch b.kind {
            case .grant: raw("{\"kind\":\"grant\",\"credits\":")
            case .topup: raw("{\"kind\":\"topup\",\"credits\":")
            case .allowance: raw("{\"kind\":\"allowance\",\"credits\":")
            }
            Credits.append(b.remaining, to: &out)
            raw(",\"expires_at\":")
            if b.expiresAt == .max { raw("null") } else { time(b.expiresAt) }
            raw("}")
        }
        raw("],\"rate_card_version\":")
        if a.clock != .min, let v = versionInForce(a, at: a.clock) {
            var name = config.rateCards.version(v)
            name.withUTF8 { text(UnsafeRawBufferPointer($0)) }
        } else { raw("null") }
        raw(",\"last_event_id\":")
        let ref = state.lastIdRefs[index]
        if ref == 0 { raw("null") } else { state.lastIds.withBytes(ref) { text($0) } }
        raw("}")
    }
}

/// JSON string escaping on bytes.
enum JSONText {
    @inline(__always)
    static func appendEscaped(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let hex: StaticString = "0123456789abcdef"
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): out.append(0x5C); out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(0x5C); out.append(UInt8(ascii: "u")); out.append(48); out.append(48)
                out.append(hex.utf8Start[Int(b >> 4)]); out.append(hex.utf8Start[Int(b & 0xF)])
            default: out.append(b)
            }
        }
    }
}
