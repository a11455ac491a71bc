extension PartitionLedger {
    /// The balances-topic document: the contract's fields (account, balance, overage,
    /// entitlement, used this cycle, cycle, blocks, rate card in force, last event id, available
    /// credits and the active holds' sums of §15) plus plan and monthly credits — written straight into `out` (cleared first, capacity kept),
    /// so republishing hot accounts allocates nothing. `AccountView.document()` (what `accountDocument`
    /// returns) starts with exactly these fields, in this order and format, then adds the rest.
    public func writeBalanceDocument(_ index: Int, into out: inout [UInt8]) {
        state.writeBalanceDocument(index, into: &out)
    }
}

extension LedgerState {
    /// `PartitionLedger.writeBalanceDocument`, on the state accessed once, in place: a method
    /// of the ledger class, or a non-mutating call on the class's `state`, copies the whole
    /// `LedgerState` (a retain and release of each of its arrays) per document. `mutating`
    /// only for that in-place access: it changes nothing.
    mutating func writeBalanceDocument(_ index: Int, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        let a = accounts[index]
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
        ids.withBytes(of: index) { text($0) }
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
        let ref = lastIdRefs[index]
        if ref == 0 { raw("null") } else { lastIds.withBytes(ref) { text($0) } }
        // §15: available = balance − Σ remaining of the active holds; the holds' sums.
        let book = a.extras.first?.holds
        raw(",\"available_credits\":"); Credits.append(a.availableCredits, to: &out)
        raw(",\"holds\":{\"active\":"); FixedPoint.appendSigned(Int64(book?.activeCount ?? 0), to: &out)
        raw(",\"held_credits\":"); Credits.append(book?.activeHeld ?? 0, to: &out)
        raw(",\"remaining_credits\":"); Credits.append(book?.activeRemaining ?? 0, to: &out)
        raw("}}")
    }
}
