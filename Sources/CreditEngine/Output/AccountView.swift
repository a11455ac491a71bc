/// An immutable, Sendable picture of one account (contract §11 reads): the account value
/// (copy-on-write, so taking it is cheap) with every partition-local reference resolved to
/// strings. The consuming thread builds one for a changed account (`PartitionLedger.view`)
/// and hands it to HTTP threads; nothing in it points into the ledger's mutable storage.
public struct AccountView: Sendable {
    public let account: String
    /// The account's state when the view was taken.
    public let state: Account
    public let config: EngineConfiguration
    public let lastEventID: String?
    /// This cycle's usage by capability and by member, sorted by name.
    public let byCapability: [NamedAmount]
    public let byMember: [NamedAmount]
    /// Allocation history, oldest first.
    public let history: [HistoryItem]
    /// This cycle's fired alerts, oldest first.
    public let alerts: [FiredAlert]
    /// Member budgets (§12), sorted by member.
    public let memberBudgets: [MemberBudgetItem]

    public struct FiredAlert: Sendable, Equatable {
        public var id: String
        public var type: String
        /// nil for the runway alert.
        public var thresholdPercent: Int64?
        public var time: Int64
    }

    public struct MemberBudgetItem: Sendable, Equatable {
        public var member: String
        public var budget: Int64
        public var used: Int64
    }

    public struct NamedAmount: Sendable, Equatable {
        public var name: String
        public var credits: Int64
    }

    /// A history entry with its strings.
    public struct HistoryItem: Sendable, Equatable {
        public var kind: HistoryKind
        public var time: Int64
        public var credits: Int64
        public var eventID: String
        public var at: Int64
        public var text: String?
        public var text2: String?
    }

    public var plan: String? {
        if state.plan >= 0 { return config.priceBook.plans[Int(state.plan)].id }
        return state.plan == Account.customPlan ? "custom" : nil
    }

    /// The low-balance thresholds in force for this account (§6, §16), high → low: its own
    /// (`credit.alerts.configured`), else the configured default.
    public var alertThresholds: [Int64] { state.alertThresholds(default: config.thresholds) }

    /// The rate-card version in force for this account at `time` (a pin counts while it holds).
    public func versionInForce(at time: Int64) -> Int? {
        if state.pinnedVersion >= 0 && time < state.pinUntil { return Int(state.pinnedVersion) }
        return config.rateCards.index(inForceAt: time)
    }

    /// The version in force at the account's latest event time (the document's `rate_card_version`).
    public var rateCardVersion: String? {
        guard state.clock != .min, let v = versionInForce(at: state.clock) else { return nil }
        return config.rateCards.version(v)
    }

    // MARK: Document

    /// The full account document (contract §6 fields, byte-identical to the balances-topic
    /// document, then §11's `usage`, `runway`, `money`, `alerts`, §16's `alert_thresholds_percent`
    /// and more).
    public func document() -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        write(into: &w)
        return w.bytes
    }

    public func write(into w: inout JSONWriter) {
        let a = state
        w.beginObject()
        // §6 fields, in the balances document's order and format.
        w.key("account"); w.string(account)
        w.key("balance_credits"); w.credits(a.balance)
        w.key("overage_credits"); w.credits(a.overage)
        w.key("entitlement_credits"); w.credits(a.entitlement)
        w.key("used_this_cycle_credits"); w.credits(a.usedThisCycle)
        w.key("plan"); if let p = plan { w.string(p) } else { w.null() }
        w.key("monthly_credits"); w.credits(a.monthly)
        w.key("cycle_start"); w.optionalTime(a.hasPlan ? a.cycleStart : nil)
        w.key("cycle_end"); w.optionalTime(a.hasPlan ? a.cycleEnd : nil)
        w.key("blocks"); w.beginArray()
        if a.hasPlan {
            w.beginObject(); w.key("kind"); w.string("allowance"); w.key("credits"); w.credits(a.allowance)
            w.key("expires_at"); w.time(a.cycleEnd); w.endObject()
        }
        for b in a.blocks {
            w.beginObject(); w.key("kind"); w.string(b.kind.name); w.key("credits"); w.credits(b.remaining)
            w.key("expires_at"); w.optionalTime(b.expiresAt == .max ? nil : b.expiresAt); w.endObject()
        }
        w.endArray()
        w.key("rate_card_version"); if let v = rateCardVersion { w.string(v) } else { w.null() }
        w.key("last_event_id"); if let id = lastEventID { w.string(id) } else { w.null() }
        w.key("available_credits"); w.credits(a.availableCredits)
        writeHoldSums(&w)
        // Extensions.
        w.key("remaining_percent"); writePercent(&w)
        w.key("pinned_rate_card_version")
        if a.pinnedVersion >= 0 { w.string(config.rateCards.version(Int(a.pinnedVersion))) } else { w.null() }
        w.key("pinned_until"); w.optionalTime(a.pinnedVersion >= 0 && a.pinUntil != .max ? a.pinUntil : nil)
        w.key("events"); w.integer(a.events)
        w.key("last_event_time"); w.optionalTime(a.clock == .min ? nil : a.clock)
        w.key("usage"); w.beginObject()
        w.key("by_capability"); w.beginObject()
        for c in byCapability { w.key(c.name); w.credits(c.credits) }
        w.endObject()
        w.key("by_member"); w.beginObject()
        for m in byMember { w.key(m.name); w.credits(m.credits) }
        w.endObject()
        w.key("by_day"); w.beginObject()
        for (day, amount) in a.usageByDay { w.key(EventTime.formatDay(day)); w.credits(amount) }
        w.endObject()
        w.endObject()
        let r = a.runway
        w.key("runway"); w.beginObject()
        w.key("credits_per_day"); w.credits(r.creditsPerDay)
        w.key("exhausted_at"); w.optionalTime(r.exhaustedAt)
        w.key("before_cycle_end"); if let b = r.beforeCycleEnd { w.bool(b) } else { w.null() }
        w.endObject()
        let book = config.priceBook
        w.key("money"); w.beginObject()
        w.key("currency"); w.string(book.currency)
        w.key("credits_bought"); w.credits(a.creditsBought)
        w.key("paid"); w.decimalString(a.moneyPaidMicros, scale: 6)
        w.key("price_per_credit")
        if a.creditsBought > 0 {
            // micro-money per credit = paid(µ) × 1000 / bought(mc), floor, shown to 6 digits
            w.decimalString(Int64(clamping: Int128(a.moneyPaidMicros) * 1000 / Int128(a.creditsBought)), scale: 6)
        } else { w.null() }
        w.key("provider_cost"); w.decimalString(a.costNanoUSD, scale: 9)
        // margin in nano-units: paid × 1000 − cost
        w.key("margin"); w.decimalString(Int64(clamping: Int128(a.moneyPaidMicros) * 1000 - Int128(a.costNanoUSD)), scale: 9)
        w.endObject()
        w.key("alerts"); w.beginArray()
        for f in alerts {
            w.beginObject()
            w.key("id"); w.string(f.id)
            w.key("type"); w.string(f.type)
            w.key("threshold_percent"); if let t = f.thresholdPercent { w.integer(t) } else { w.null() }
            w.key("time"); w.time(f.time)
            w.endObject()
        }
        w.endArray()
        w.key("alert_thresholds_percent"); w.beginArray()
        for t in alertThresholds { w.integer(t) }
        w.endArray()
        if let x = a.features {
            if let p = x.autoTopup {
                w.key("auto_topup"); w.beginObject()
                w.key("pack"); if p.pack >= 0 { w.string(config.priceBook.packs[Int(p.pack)].id) } else { w.null() }
                w.key("credits"); w.credits(p.credits)
                w.key("below_credits"); w.credits(p.below)
                w.key("max_per_cycle"); w.integer(p.maxPerCycle)
                w.key("requests_this_cycle"); w.integer(x.requestsInCycle)
                w.key("pending"); w.bool(x.requestPending)
                w.endObject()
            }
            if !memberBudgets.isEmpty {
                w.key("member_budgets"); w.beginObject()
                for b in memberBudgets {
                    w.key(b.member); w.beginObject()
                    w.key("budget_credits"); w.credits(b.budget)
                    w.key("used_credits"); w.credits(b.used)
                    w.key("remaining_credits"); w.credits(b.budget - b.used)
                    w.endObject()
                }
                w.endObject()
            }
            if x.rolloverMax > 0 { w.key("rollover_max_credits"); w.credits(x.rolloverMax) }
        }
        w.key("audit"); w.beginObject()
        w.key("granted_credits"); w.credits(a.granted)
        w.key("charged_credits"); w.credits(a.charged)
        w.key("expired_credits"); w.credits(a.expired)
        w.key("voided_credits"); w.credits(a.voided)
        w.key("adjusted_credits"); w.credits(a.adjusted)
        w.endObject()
        w.endObject()
    }

    /// `holds`: the active holds' count and sums (§15).
    func writeHoldSums(_ w: inout JSONWriter) {
        let book = state.extras.first?.holds
        w.key("holds"); w.beginObject()
        w.key("active"); w.integer(Int64(book?.activeCount ?? 0))
        w.key("held_credits"); w.credits(book?.activeHeld ?? 0)
        w.key("remaining_credits"); w.credits(book?.activeRemaining ?? 0)
        w.endObject()
    }

    /// `remaining_percent`: balance / entitlement rounded down to 0.1 (as in alerts), null
    /// without entitlement.
    public var remainingPermille: Int64? {
        state.entitlement > 0 ? Thresholds.remainingPermille(state.balance, of: state.entitlement) : nil
    }

    private func writePercent(_ w: inout JSONWriter) {
        if let p = remainingPermille { w.fixed(p, scale: 1, minFractionDigits: 1) } else { w.null() }
    }


    // MARK: History

    /// `{"account", "entries": […]}`, newest first, at most `limit` entries.
    public func history(limit: Int) -> [UInt8] {
        var w = JSONWriter(capacity: 256 + 160 * min(max(limit, 0), history.count))
        w.beginObject()
        w.key("account"); w.string(account)
        w.key("entries"); w.beginArray()
        for item in history.reversed().prefix(max(0, limit)) {
            w.beginObject()
            w.key("time"); w.time(item.time)
            w.key("kind"); w.string(item.kind.name)
            w.key("credits"); w.credits(item.credits)
            w.key("event_id"); w.string(item.eventID)
            w.key("detail"); w.beginObject()
            func text(_ key: String, _ s: String?) { w.key(key); if let s { w.string(s) } else { w.null() } }
            func time(_ key: String, _ t: Int64) { w.key(key); w.optionalTime(t == .max || t == .min ? nil : t) }
            switch item.kind {
            case .cycleStarted: time("cycle_end", item.at); text("plan", item.text)
            case .allowanceForfeited: break
            case .rollover: time("expires_at", item.at)
            case .topup: text("pack", item.text); text("ref", item.text2)
            case .grant: time("expires_at", item.at); text("reason", item.text)
            case .grantExpired: break
            case .grantVoided: text("grant_id", item.text2); text("reason", item.text)
            case .adjusted: text("reason", item.text); text("ref", item.text2)
            case .planAssigned: text("plan", item.text); w.key("monthly_credits"); w.credits(item.at)
            }
            w.endObject()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }

    // MARK: Summary

    public var summary: AccountSummary {
        AccountSummary(account: account, plan: plan, state: state)
    }
}

extension PartitionLedger {
    /// The read view of account `index` (see `AccountView`).
    public func view(_ index: Int) -> AccountView {
        let a = state.accounts[index]
        func named(_ tag: UInt32) -> [AccountView.NamedAmount] {
            var out: [AccountView.NamedAmount] = []
            for cell in a.usage where cell.key & 0xC000_0000 == tag {
                let i = Int(cell.key & 0x3FFF_FFFF)
                out.append(.init(name: tag == UsageCell.capabilityTag ? capabilityName(i) : memberName(i), credits: cell.amount))
            }
            // By UTF-8 bytes, compared in place (no array per comparison), sorted in place.
            out.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            return out
        }
        var history: [AccountView.HistoryItem] = []
        history.reserveCapacity(a.history.count)
        for e in a.history {
            history.append(.init(kind: e.kind, time: e.time, credits: e.credits, eventID: state.texts.string(e.idRef) ?? "",
                                 at: e.at, text: state.texts.string(e.textRef), text2: state.texts.string(e.text2Ref)))
        }
        let account = ids.string(index)
        // Formatted only when there is an alert to name (most views have none).
        let cycle = a.cycleAlerts.isEmpty ? "" : EventTime.format(a.cycleStart)
        let alerts = a.cycleAlerts.map { f -> AccountView.FiredAlert in
            let id: String
            switch f.kind {
            case .memberLow, .memberExhausted:
                id = "\(account)/\(cycle)/\(f.member >= 0 ? memberName(Int(f.member)) : "")/\(f.kind.type)/\(f.threshold)/\(f.sequence)"
            default:
                id = "\(account)/\(cycle)/\(f.kind.type)/\(f.threshold)/\(f.sequence)"
            }
            return AccountView.FiredAlert(id: id, type: f.kind.type, thresholdPercent: f.kind == .runway ? nil : Int64(f.threshold), time: f.time)
        }
        var budgets = (a.features?.budgets ?? []).map {
            AccountView.MemberBudgetItem(member: memberName(Int($0.member)), budget: $0.budget, used: a.memberUsed($0.member))
        }
        budgets.sort { $0.member.utf8.lexicographicallyPrecedes($1.member.utf8) }
        return AccountView(account: account, state: a, config: config, lastEventID: lastEventID(index),
                           byCapability: named(UsageCell.capabilityTag), byMember: named(UsageCell.memberTag),
                           history: history, alerts: alerts, memberBudgets: budgets)
    }

    /// Capability `i`'s name, made once per ledger and kept (rather than decoded from the
    /// table's bytes again, one `String` per usage cell per view).
    func capabilityName(_ i: Int) -> String {
        while nameCache.capabilities.count <= i { nameCache.capabilities.append(state.capabilities.string(nameCache.capabilities.count)) }
        return nameCache.capabilities[i]
    }

    /// Member `i`'s name (see `capabilityName`).
    func memberName(_ i: Int) -> String {
        while nameCache.members.count <= i { nameCache.members.append(state.members.string(nameCache.members.count)) }
        return nameCache.members[i]
    }

    /// The view of the account with this id, nil when this partition holds no state for it.
    public func view(account id: String) -> AccountView? { accountIndex(id).map { view($0) } }

    /// The `/v1/accounts` row of account `index`, without building a whole view.
    public func summary(_ index: Int) -> AccountSummary {
        let a = state.accounts[index]
        let plan: String? = a.plan >= 0 ? config.priceBook.plans[Int(a.plan)].id : (a.plan == Account.customPlan ? "custom" : nil)
        return AccountSummary(account: ids.string(index), plan: plan, state: a)
    }

    /// The full account document (the one renderer: `AccountView.write`).
    public func accountDocument(_ index: Int) -> [UInt8] { view(index).document() }

    public func writeAccountDocument(_ index: Int, into w: inout JSONWriter) { view(index).write(into: &w) }
}
