/// Why a decoded event was refused (it goes to the dead-letter topic; nothing changes).
public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    case decode(DecodeFailure)
    case pricing(PricingFailure)
    case keyMismatch
    case futureTime
    case unknownPlan
    case unknownPack
    case unknownRateCardVersion
    case overflow

    public var description: String {
        switch self {
        case .decode(let f): return f.description
        case .pricing(let f): return f.description
        case .keyMismatch: return "record key differs from the event's subject"
        case .futureTime: return "event time is more than 24 h ahead of the record timestamp"
        case .unknownPlan: return "unknown plan (not in the price book)"
        case .unknownPack: return "unknown top-up pack (not in the price book)"
        case .unknownRateCardVersion: return "unknown rate-card version"
        case .overflow: return "amount overflow: the account's totals would exceed the ledger's limits"
        }
    }
}

/// What applying one record did.
public struct ApplyResult {
    public enum Outcome: Equatable {
        case applied
        case duplicate
        case rejected(Rejection)
    }

    public var outcome: Outcome
    /// The account touched (its index in the partition), or -1.
    public var account: Int = -1
    /// Millicredits charged (usage events).
    public var charged: Int64 = 0
    /// Rate-card version index that priced the event (usage), or -1.
    public var version: Int = -1
    /// Alerts to publish, in order: at most a recovery and a crossing.
    public var alerts: (Alert?, Alert?) = (nil, nil)

    public var alertCount: Int { (alerts.0 == nil ? 0 : 1) + (alerts.1 == nil ? 0 : 1) }

    public init(outcome: Outcome, account: Int = -1, charged: Int64 = 0, version: Int = -1) {
        self.outcome = outcome
        self.account = account
        self.charged = charged
        self.version = version
    }

    @inline(__always)
    static func rejected(_ r: Rejection) -> ApplyResult { ApplyResult(outcome: .rejected(r)) }
}

/// The ledger of one input partition: every account whose events live there, the dedupe
/// window, and the partition's event-time clock. A pure state machine: `apply` is a
/// function of the state and the record, with no I/O, no clock and no randomness, so the
/// same log always gives the same state.
public final class PartitionLedger {
    public let config: EngineConfiguration
    /// Account ids; an account's index is its id's index here.
    public internal(set) var ids = InternTable()
    public internal(set) var accounts: [Account] = []
    /// Each account's last event id, in a reusable arena.
    var lastIdRefs: [UInt64] = []
    var lastIds = SlotArena()
    public internal(set) var capabilities = InternTable()
    public internal(set) var members = InternTable()
    public internal(set) var dedupe: DedupeTable
    /// Event-time high-water mark: max over applied records of min(event time, record time).
    public internal(set) var watermark: Int64 = .min

    public internal(set) var counters = Counters()

    public struct Counters: Sendable, Equatable {
        public var applied: Int64 = 0
        public var priced: Int64 = 0
        public var duplicates: Int64 = 0
        public var rejected: Int64 = 0
        public var alerts: Int64 = 0
        public var chargedMillicredits: Int64 = 0
    }

    public init(config: EngineConfiguration) {
        self.config = config
        self.dedupe = DedupeTable(windowHours: config.dedupeWindowHours)
    }

    public var accountCount: Int { accounts.count }

    public func accountIndex(_ id: String) -> Int? { ids.find(id) }
    public func accountID(_ index: Int) -> String { ids.string(index) }
    public func account(_ id: String) -> Account? { ids.find(id).map { accounts[$0] } }
    public func lastEventID(_ index: Int) -> String? { lastIds.string(lastIdRefs[index]) }

    @inline(__always)
    static func fingerprint(subjectHash: UInt64, source: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) -> UInt64 {
        ByteHash.combine(ByteHash.combine(subjectHash, ByteHash.hash(source, seed: 0x5EED)), ByteHash.hash(id, seed: 0x1D))
    }

    @inline(__always)
    private var watermarkHour: Int64 {
        watermark == .min ? .min / 2 : EventTime.floorDiv(watermark, EventTime.nanosPerHour)
    }

    /// The rate-card version in force for an account at `time` (pins first).
    @inline(__always)
    public func versionInForce(_ account: Account?, at time: Int64) -> Int? {
        if let a = account, a.pinnedVersion >= 0, time < a.pinUntil { return Int(a.pinnedVersion) }
        return config.rateCards.index(inForceAt: time)
    }

    // MARK: Apply

    /// Applies one decoded event. `key` is the record key; `recordTime` the record's
    /// timestamp in nanoseconds (nil when the broker gave none).
    public func apply(_ e: DecodedEvent, key: UnsafeRawBufferPointer?, recordTime: Int64?) -> ApplyResult {
        guard let key, key.equals(e.subject) else { return reject(.keyMismatch) }
        if let recordTime, e.time > recordTime &+ config.maxFutureSkew { return reject(.futureTime) }

        let subjectHash = ByteHash.hash(e.subject)
        let existing = ids.find(e.subject, hash: subjectHash)
        let fp = Self.fingerprint(subjectHash: subjectHash, source: e.source, id: e.id)
        let newWatermark = max(watermark, recordTime.map { min($0, e.time) } ?? e.time)
        let nowHour = EventTime.floorDiv(newWatermark, EventTime.nanosPerHour)
        if existing != nil && dedupe.contains(fp, nowHour: nowHour) {
            counters.duplicates += 1
            return ApplyResult(outcome: .duplicate, account: existing!)
        }

        // Validate and price before anything changes.
        let current: Account? = existing.map { accounts[$0] }
        var price: Int64 = 0
        var version = -1
        var planIndex: Int32 = Account.noPlan
        var monthly: Int64 = 0
        var planPrice: Int64 = 0
        var pack: PriceBook.Pack?
        var amount: Int64 = 0
        var pinVersion: Int32 = -1
        let book = config.priceBook
        switch e.type {
        case .usage:
            guard let v = versionInForce(current, at: e.time) else { return reject(.pricing(.noRateCard)) }
            version = v
            do { price = try config.rateCards.price(e, version: v) } catch { return reject(.pricing(error)) }
            amount = price
        case .planAssigned:
            if let p = e.plan {
                guard let i = book.planIndex(p) else { return reject(.unknownPlan) }
                planIndex = Int32(i)
                monthly = e.monthlyCredits ?? book.plans[i].monthlyCredits
                planPrice = book.plans[i].priceMicros
            } else {
                planIndex = Account.customPlan
                monthly = e.monthlyCredits ?? 0
            }
            amount = monthly
        case .topupPurchased:
            if let p = e.pack {
                guard let i = book.packIndex(p) else { return reject(.unknownPack) }
                pack = book.packs[i]
            }
            amount = e.credits ?? pack?.credits ?? 0
        case .grantIssued, .adjusted:
            amount = e.credits ?? 0
        case .rateCardPinned:
            if let v = e.version {
                guard let i = config.rateCards.index(ofVersion: v) else { return reject(.unknownRateCardVersion) }
                pinVersion = Int32(i)
            }
        }
        if let a = current, !Self.fits(a, amount: amount, at: e.time, cost: e.costNanoUSD, money: planPrice + (pack?.priceMicros ?? 0), book: book) {
            return reject(.overflow)
        }

        // Commit.
        let index: Int
        if let existing {
            index = existing
        } else {
            index = ids.insert(e.subject, hash: subjectHash)
            accounts.append(Account())
            lastIdRefs.append(0)
        }
        watermark = newWatermark
        dedupe.insert(fp, seenHour: max(nowHour, EventTime.floorDiv(e.time, EventTime.nanosPerHour)),
                      forever: e.type == .adjusted, nowHour: nowHour)
        lastIds.store(e.id, in: &lastIdRefs[index])
        if lastIds.needsCompaction { lastIds.compact(&lastIdRefs) }

        var result = ApplyResult(outcome: .applied, account: index, charged: price, version: version)
        let openEpisode = advance(index, to: e.time)
        switch e.type {
        case .usage:
            accounts[index].burn(price)
            accounts[index].charged += price
            accounts[index].usedThisCycle += price
            accounts[index].costNanoUSD += e.costNanoUSD
            accounts[index].addDailyUsage(day: EventTime.day(of: e.time), price)
            if let c = e.capability {
                let id = capabilities.intern(c, hash: ByteHash.hash(c))
                accounts[index].addUsage(UsageCell.capabilityTag | UInt32(id), price)
            }
            if let m = e.member {
                let id = members.intern(m, hash: ByteHash.hash(m))
                accounts[index].addUsage(UsageCell.memberTag | UInt32(id), price)
            }
            counters.priced += 1
            counters.chargedMillicredits &+= price
        case .planAssigned:
            // A late plan event applies to the current cycle: its reference time is the clock.
            assignPlan(index, plan: planIndex, monthly: monthly, priceMicros: planPrice, anchor: e.cycleAnchor,
                       at: accounts[index].clock, eventTime: e.time)
        case .topupPurchased:
            accounts[index].granted += amount
            accounts[index].entitlement += amount
            accounts[index].creditsBought += amount
            accounts[index].moneyPaidMicros += pack?.priceMicros ?? 0
            accounts[index].addBlock(.topup, amount, expiresAt: .max)
        case .grantIssued:
            accounts[index].granted += amount
            accounts[index].entitlement += amount
            accounts[index].addBlock(.grant, amount, expiresAt: e.expiresAt ?? .max)
            // A late grant that has already expired on this account's clock is gone at once.
            accounts[index].expireBlocks(upTo: accounts[index].clock)
        case .adjusted:
            accounts[index].adjusted += amount
            if amount < 0 { accounts[index].burn(-amount) } else if amount > 0 { accounts[index].addBlock(.grant, amount, expiresAt: .max) }
        case .rateCardPinned:
            accounts[index].pinnedVersion = pinVersion
            accounts[index].pinUntil = pinVersion >= 0 ? (e.until ?? .max) : .max
        }
        accounts[index].events += 1
        counters.applied += 1

        // Alerts: only within a cycle.
        if accounts[index].hasPlan {
            let a = accounts[index]
            let decision = accounts[index].alerts.evaluate(balance: a.balance, entitlement: a.entitlement,
                                                           thresholds: config.thresholds, openFromPreviousCycle: openEpisode)
            if decision.recovered != nil || decision.crossed != nil {
                let account = ids.string(index)
                let trigger = e.id.utf8String
                let versionName = (version >= 0 ? version : versionInForce(a, at: e.time)).map { config.rateCards.version($0) }
                func make(_ action: AlertState.Action) -> Alert {
                    Alert(kind: action.kind, thresholdPercent: action.thresholdPercent, sequence: action.sequence,
                          account: account, remaining: a.balance, entitlement: a.entitlement,
                          cycleStart: a.cycleStart, cycleEnd: a.cycleEnd, triggeredBy: trigger,
                          rateCardVersion: versionName, time: e.time)
                }
                result.alerts = (decision.recovered.map(make), decision.crossed.map(make))
                counters.alerts += Int64(result.alertCount)
            }
        }
        return result
    }

    @inline(__always)
    private func reject(_ r: Rejection) -> ApplyResult {
        counters.rejected += 1
        return .rejected(r)
    }

    /// Moves an account's clock to `time`: starts every cycle that began by then (each one
    /// forfeits the old allowance, grants the monthly one, pays overage) and expires grants.
    /// Returns the alert episode left open by the previous cycle, if a cycle started.
    private func advance(_ index: Int, to time: Int64) -> UInt8 {
        var open = AlertState.noEpisode
        if time <= accounts[index].clock { return open }  // late or same time: nothing moves
        if accounts[index].hasPlan {
            let price = planPrice(accounts[index].plan)
            while time >= accounts[index].cycleEnd {
                accounts[index].expireBlocks(upTo: accounts[index].cycleEnd)
                let a = accounts[index]
                accounts[index].beginCycle(BillingCycle.at(index: a.cycleIndex + 1, anchor: a.anchor), planPriceMicros: price)
                let o = accounts[index].alerts.startCycle()
                if open == AlertState.noEpisode { open = o }
            }
        }
        accounts[index].expireBlocks(upTo: time)
        accounts[index].clock = time
        return open
    }

    private func planPrice(_ plan: Int32) -> Int64 {
        plan >= 0 ? config.priceBook.plans[Int(plan)].priceMicros : 0
    }

    /// A plan assignment (contract §5): first plan starts a cycle; a change mid-cycle
    /// re-sizes the allowance to the new monthly credits minus what was used (not below 0).
    private func assignPlan(_ index: Int, plan: Int32, monthly newMonthly: Int64, priceMicros: Int64, anchor newAnchor: Int64?,
                            at time: Int64, eventTime: Int64) {
        var a = accounts[index]
        accounts[index] = Account()  // keep the array's storage unique while we work on `a`
        defer { accounts[index] = a }
        if !a.hasPlan {
            a.plan = plan
            a.monthly = newMonthly
            a.beginCycle(BillingCycle.containing(time, anchor: newAnchor ?? eventTime), planPriceMicros: priceMicros)
            _ = a.alerts.startCycle()
            return
        }
        let cycle = BillingCycle.containing(time, anchor: newAnchor ?? a.anchor)
        if cycle.start != a.cycleStart {
            // Re-anchored into another cycle: a fresh cycle on the new plan.
            a.plan = plan
            a.monthly = newMonthly
            a.beginCycle(cycle, planPriceMicros: priceMicros)
            _ = a.alerts.startCycle()
            return
        }
        a.anchor = cycle.anchor
        a.cycleIndex = cycle.index
        a.cycleEnd = cycle.end
        let newRemaining = max(0, newMonthly - a.allowanceUsed)
        let delta = newRemaining - a.allowance
        if delta > 0 {
            a.granted += delta
            a.creditsBought += delta
            let rest = a.payOverage(delta)
            a.allowanceUsed += delta - rest
            a.allowance += rest
        } else if delta < 0 {
            a.expired += -delta
            a.allowance = newRemaining
        }
        a.entitlement += newMonthly - a.monthly
        a.moneyPaidMicros += max(0, priceMicros - planPrice(a.plan))
        a.plan = plan
        a.monthly = newMonthly
    }

    /// Whether applying `amount` (plus any cycles started by `time`) keeps every total of the
    /// account within ±2⁶² — so no arithmetic during the commit can overflow.
    static func fits(_ a: Account, amount: Int64, at time: Int64, cost: Int64, money: Int64, book: PriceBook) -> Bool {
        let limit: Int64 = 1 << 62
        var cycles: Int64 = 0
        if a.hasPlan && time >= a.cycleEnd {
            cycles = BillingCycle.containing(time, anchor: a.anchor).index - a.cycleIndex
        }
        let planPrice = a.plan >= 0 ? book.plans[Int(a.plan)].priceMicros : 0
        let (recurring, o1) = a.monthly.multipliedReportingOverflow(by: cycles)
        let (recurringMoney, o2) = planPrice.multipliedReportingOverflow(by: cycles)
        if o1 || o2 { return false }
        let magnitude = amount.magnitude > UInt64(limit) ? limit : Int64(amount.magnitude)
        func ok(_ base: Int64, _ adds: Int64...) -> Bool {
            var total = base.magnitude
            for x in adds {
                let (s, o) = total.addingReportingOverflow(x.magnitude)
                if o { return false }
                total = s
            }
            return total < UInt64(limit)
        }
        return ok(a.granted, recurring, magnitude) && ok(a.charged, magnitude) && ok(a.expired, recurring, a.allowance, a.blockCredits)
            && ok(a.adjusted, magnitude) && ok(a.overage, magnitude) && ok(a.entitlement, recurring, magnitude)
            && ok(a.creditsBought, recurring, magnitude) && ok(a.moneyPaidMicros, recurringMoney, money) && ok(a.costNanoUSD, cost)
    }

    // MARK: Reading

    /// Conservation over every account: (accounts checked, first account that fails).
    public func audit() -> AuditReport {
        var report = AuditReport()
        for i in accounts.indices {
            let a = accounts[i]
            report.granted += Int128(a.granted)
            report.charged += Int128(a.charged)
            report.expired += Int128(a.expired)
            report.adjusted += Int128(a.adjusted)
            report.balance += Int128(a.balance)
            if !a.isConserved { report.failures.append(ids.string(i)) }
            if a.overage > 0 && (a.allowance > 0 || a.blockCredits > 0) { report.failures.append(ids.string(i) + " (overage beside credits)") }
            if a.blockCredits != a.blocks.reduce(0, { $0 + $1.remaining }) { report.failures.append(ids.string(i) + " (block sum)") }
        }
        report.accounts = accounts.count
        return report
    }
}

/// Result of the conservation audit: granted − charged − expired + adjustments = balance,
/// per account and in total, to the millicredit.
public struct AuditReport: Sendable, Equatable {
    public var accounts = 0
    public var granted: Int128 = 0
    public var charged: Int128 = 0
    public var expired: Int128 = 0
    public var adjusted: Int128 = 0
    public var balance: Int128 = 0
    public var failures: [String] = []

    public init() {}

    public var totalConserved: Bool { granted - charged - expired + adjusted == balance }
    public var isClean: Bool { failures.isEmpty && totalConserved }
}
