/// Why a decoded event was refused (it goes to the dead-letter topic; nothing changes).
public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    case decode(DecodeFailure)
    case pricing(PricingFailure)
    case keyMismatch
    case missingKey
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
        case .missingKey: return "record has no key (the key must be the account id, equal to the event's subject)"
        case .futureTime: return "event time is more than 24 h ahead of the record timestamp"
        case .unknownPlan: return "unknown plan (not in the price book)"
        case .unknownPack: return "unknown top-up pack (not in the price book)"
        case .unknownRateCardVersion: return "unknown rate-card version"
        case .overflow: return "amount overflow: the account's totals would exceed the ledger's limits"
        }
    }
}

/// What applying one record did.
/// The alerts one event fired (allocated only when one fires).
final class FiredAlerts {
    let alerts: [Alert]
    init(_ alerts: [Alert]) { self.alerts = alerts }
}

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
    /// Alerts to publish, in order: at most a recovery and a crossing. Kept out of line (they
    /// are rare) so that the result of an ordinary event stays small and cheap to copy.
    public var alerts: [Alert] { fired?.alerts ?? [] }
    var fired: FiredAlerts?

    public var alertCount: Int { fired?.alerts.count ?? 0 }

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
    /// Everything the ledger holds, as one value: `apply` mutates it through a single
    /// exclusive access (a struct's `mutating` method), not one per field.
    var state: LedgerState

    public var config: EngineConfiguration { state.config }
    /// Account ids; an account's index is its id's index here.
    public var ids: InternTable { state.ids }
    public var accounts: [Account] { state.accounts }
    public var capabilities: InternTable { state.capabilities }
    public var members: InternTable { state.members }
    public var dedupe: DedupeTable { state.dedupe }
    /// Event-time high-water mark: max over applied records of min(event time, record time).
    public var watermark: Int64 { state.watermark }
    public var counters: Counters { state.counters }

    public struct Counters: Sendable, Equatable {
        public var applied: Int64 = 0
        public var priced: Int64 = 0
        public var duplicates: Int64 = 0
        public var rejected: Int64 = 0
        public var alerts: Int64 = 0
        public var chargedMillicredits: Int64 = 0
    }

    public init(config: EngineConfiguration) {
        state = LedgerState(config: config)
    }

    /// Applies one decoded event. `key` is the record key; `recordTime` the record's
    /// timestamp in nanoseconds (nil when the broker gave none).
    @inline(__always)
    public func apply(_ e: DecodedEvent, key: UnsafeRawBufferPointer?, recordTime: Int64?) -> ApplyResult {
        state.apply(e, key: key, recordTime: recordTime)
    }

    public var accountCount: Int { accounts.count }

    public func accountIndex(_ id: String) -> Int? { ids.find(id) }
    public func accountID(_ index: Int) -> String { ids.string(index) }
    public func account(_ id: String) -> Account? { ids.find(id).map { accounts[$0] } }
    public func lastEventID(_ index: Int) -> String? { state.lastIds.string(state.lastIdRefs[index]) }

    @inline(__always)
    static func fingerprint(subjectHash: UInt64, source: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) -> UInt64 {
        ByteHash.combine(ByteHash.combine(subjectHash, ByteHash.hash(source, seed: 0x5EED)), ByteHash.hash(id, seed: 0x1D))
    }

    /// The rate-card version in force for an account at `time` (pins first).
    @inline(__always)
    public func versionInForce(_ account: Account?, at time: Int64) -> Int? {
        state.versionInForce(account, at: time)
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

/// The ledger's state: accounts, their ids, the dedupe window, the event-time clock.
struct LedgerState {
    let config: EngineConfiguration
    var ids = InternTable()
    var accounts: [Account] = []
    /// Each account's last event id, in a reusable arena.
    var lastIdRefs: [UInt64] = []
    var lastIds = SlotArena()
    var capabilities = InternTable()
    var members = InternTable()
    var dedupe: DedupeTable
    var watermark: Int64 = .min
    var counters = PartitionLedger.Counters()

    init(config: EngineConfiguration) {
        self.config = config
        self.dedupe = DedupeTable(windowHours: config.dedupeWindowHours)
    }

    @inline(__always)
    func versionInForce(pinned: Int32, until: Int64, at time: Int64) -> Int? {
        if pinned >= 0 && time < until { return Int(pinned) }
        return config.rateCards.index(inForceAt: time)
    }

    @inline(__always)
    func versionInForce(_ account: Account?, at time: Int64) -> Int? {
        if let a = account { return versionInForce(pinned: a.pinnedVersion, until: a.pinUntil, at: time) }
        return config.rateCards.index(inForceAt: time)
    }

    // MARK: Apply

    /// What a validated event will do to its account (computed before anything changes).
    struct Change {
        var price: Int64 = 0
        var version = -1
        var plan: Int32 = Account.noPlan
        var monthly: Int64 = 0
        var planPrice: Int64 = 0
        var packPrice: Int64 = 0
        var amount: Int64 = 0
        var pinVersion: Int32 = -1
        var capability = -1
        var member = -1
    }

    mutating func apply(_ e: DecodedEvent, key: UnsafeRawBufferPointer?, recordTime: Int64?) -> ApplyResult {
        guard let key else { return reject(.missingKey) }
        guard key.equals(e.subject) else { return reject(.keyMismatch) }
        if let recordTime, e.time > recordTime &+ config.maxFutureSkew { return reject(.futureTime) }

        let subjectHash = ByteHash.hash(e.subject)
        let existing = ids.find(e.subject, hash: subjectHash)
        let fp = PartitionLedger.fingerprint(subjectHash: subjectHash, source: e.source, id: e.id)
        let newWatermark = max(watermark, recordTime.map { min($0, e.time) } ?? e.time)
        let nowHour = EventTime.floorDiv(newWatermark, EventTime.nanosPerHour)
        var probe = DedupeTable.Probe()
        if dedupe.lookup(fp, nowHour: nowHour, probe: &probe), let existing {
            counters.duplicates += 1
            return ApplyResult(outcome: .duplicate, account: existing)
        }

        // Validate and price before anything changes (reading the account in place).
        var change = Change()
        switch e.type {
        case .usage:
            let v: Int?
            if let i = existing { v = versionInForce(pinned: accounts[i].pinnedVersion, until: accounts[i].pinUntil, at: e.time) }
            else { v = config.rateCards.index(inForceAt: e.time) }
            guard let v else { return reject(.pricing(.noRateCard)) }
            change.version = v
            do { change.price = try config.rateCards.price(e, version: v) } catch { return reject(.pricing(error)) }
            change.amount = change.price
        case .planAssigned:
            if let p = e.plan {
                let book = config.priceBook
                guard let i = book.planIndex(p) else { return reject(.unknownPlan) }
                change.plan = Int32(i)
                change.monthly = e.monthlyCredits ?? book.plans[i].monthlyCredits
                change.planPrice = book.plans[i].priceMicros
            } else {
                change.plan = Account.customPlan
                change.monthly = e.monthlyCredits ?? 0
            }
            change.amount = change.monthly
        case .topupPurchased:
            var packCredits: Int64 = 0
            if let p = e.pack {
                let book = config.priceBook
                guard let i = book.packIndex(p) else { return reject(.unknownPack) }
                packCredits = book.packs[i].credits
                change.packPrice = book.packs[i].priceMicros
            }
            change.amount = e.credits ?? packCredits
        case .grantIssued, .adjusted:
            change.amount = e.credits ?? 0
        case .rateCardPinned:
            if let v = e.version {
                guard let i = config.rateCards.index(ofVersion: v) else { return reject(.unknownRateCardVersion) }
                change.pinVersion = Int32(i)
            }
        }
        if let i = existing, !fits(i, amount: change.amount, at: e.time, cost: e.costNanoUSD, money: change.planPrice + change.packPrice) {
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
        dedupe.insert(fp, probe: probe, seenHour: max(nowHour, EventTime.floorDiv(e.time, EventTime.nanosPerHour)),
                      forever: e.type == .adjusted, nowHour: nowHour)
        lastIds.store(e.id, in: &lastIdRefs[index])
        if lastIds.needsCompaction { lastIds.compact(&lastIdRefs) }
        if e.type == .usage {
            if let c = e.capability { change.capability = capabilities.intern(c, hash: ByteHash.hash(c)) }
            if let m = e.member { change.member = members.intern(m, hash: ByteHash.hash(m)) }
            counters.priced += 1
            counters.chargedMillicredits &+= change.price
        }
        counters.applied += 1

        // One exclusive access to the account for the whole change.
        let decision = LedgerState.commit(&accounts[index], e, change, config: config)
        var result = ApplyResult(outcome: .applied, account: index, charged: change.price, version: change.version)
        if decision.recovered != nil || decision.crossed != nil {
            result.fired = FiredAlerts(makeAlerts(index, decision, e, version: change.version))
            counters.alerts += Int64(result.alertCount)
        }
        return result
    }

    /// The account side of an applied event: cycles, the change itself, then the alert
    /// evaluation. Runs with the account borrowed in place.
    static func commit(_ a: inout Account, _ e: DecodedEvent, _ change: Change,
                       config: EngineConfiguration) -> (recovered: AlertState.Action?, crossed: AlertState.Action?) {
        let planPrice: Int64 = a.plan >= 0 ? config.priceBook.plans[Int(a.plan)].priceMicros : 0
        var openEpisode = a.advance(to: e.time, planPriceMicros: planPrice)
        switch e.type {
        case .usage:
            let price = change.price
            a.burn(price)
            a.charged += price
            a.usedThisCycle += price
            a.costNanoUSD += e.costNanoUSD
            a.addDailyUsage(day: EventTime.day(of: e.time), price)
            if change.capability >= 0 { a.addUsage(UsageCell.capabilityTag | UInt32(change.capability), price) }
            if change.member >= 0 { a.addUsage(UsageCell.memberTag | UInt32(change.member), price) }
        case .planAssigned:
            // A late plan event applies to the current cycle: its reference time is the clock.
            let oldPrice: Int64 = a.plan >= 0 ? config.priceBook.plans[Int(a.plan)].priceMicros : 0
            let replaced = a.assignPlan(change.plan, monthly: change.monthly, priceMicros: change.planPrice,
                                        previousPriceMicros: oldPrice, anchor: e.cycleAnchor, at: a.clock, eventTime: e.time)
            if openEpisode == AlertState.noEpisode { openEpisode = replaced }
        case .topupPurchased:
            a.granted += change.amount
            a.entitlement += change.amount
            a.creditsBought += change.amount
            a.moneyPaidMicros += change.packPrice
            a.addBlock(.topup, change.amount, expiresAt: .max)
        case .grantIssued:
            a.granted += change.amount
            a.entitlement += change.amount
            if let expiry = e.expiresAt, expiry <= a.clock {
                // A late grant that has already expired on this account's clock is gone at
                // once: it pays nothing off.
                a.expired += change.amount
            } else {
                a.addBlock(.grant, change.amount, expiresAt: e.expiresAt ?? .max)
            }
        case .adjusted:
            a.adjusted += change.amount
            if change.amount < 0 { a.burn(-change.amount) } else if change.amount > 0 { a.addBlock(.grant, change.amount, expiresAt: .max) }
        case .rateCardPinned:
            a.pinnedVersion = change.pinVersion
            a.pinUntil = change.pinVersion >= 0 ? (e.until ?? .max) : .max
        }
        a.events += 1
        // Alerts: only within a cycle.
        guard a.hasPlan else { return (nil, nil) }
        return a.alerts.evaluate(balance: a.balance, entitlement: a.entitlement, thresholds: config.thresholds,
                                 openFromPreviousCycle: openEpisode)
    }

    /// Builds the alerts to publish (only when one fires: strings are made here).
    private func makeAlerts(_ index: Int, _ decision: (recovered: AlertState.Action?, crossed: AlertState.Action?),
                            _ e: DecodedEvent, version: Int) -> [Alert] {
        let a = accounts[index]
        let account = ids.string(index)
        let trigger = e.id.utf8String
        let versionName = (version >= 0 ? version : versionInForce(a, at: e.time)).map { config.rateCards.version($0) }
        func make(_ action: AlertState.Action) -> Alert {
            Alert(kind: action.kind, thresholdPercent: action.thresholdPercent, sequence: action.sequence,
                  account: account, remaining: a.balance, entitlement: a.entitlement,
                  cycleStart: a.cycleStart, cycleEnd: a.cycleEnd, triggeredBy: trigger,
                  rateCardVersion: versionName, time: e.time)
        }
        return [decision.recovered.map(make), decision.crossed.map(make)].compactMap { $0 }
    }

    @inline(__always)
    private mutating func reject(_ r: Rejection) -> ApplyResult {
        counters.rejected += 1
        return .rejected(r)
    }

    /// Whether applying `amount` (plus any cycles started by `time`) keeps every total of
    /// account `i` within ±2⁶² — so no arithmetic during the commit can overflow.
    func fits(_ i: Int, amount: Int64, at time: Int64, cost: Int64, money: Int64) -> Bool {
        let limit = UInt64(1) << 62
        @inline(__always) func ok(_ base: Int64, _ x: Int64, _ y: Int64 = 0, _ z: Int64 = 0) -> Bool {
            let (s1, o1) = base.magnitude.addingReportingOverflow(x.magnitude)
            let (s2, o2) = s1.addingReportingOverflow(y.magnitude)
            let (s3, o3) = s2.addingReportingOverflow(z.magnitude)
            return !(o1 || o2 || o3) && s3 < limit
        }
        var recurring: Int64 = 0
        var recurringMoney: Int64 = 0
        if accounts[i].hasPlan && time >= accounts[i].cycleEnd {
            let cycles = BillingCycle.containing(time, anchor: accounts[i].anchor).index - accounts[i].cycleIndex
            let plan = accounts[i].plan
            let planPrice: Int64 = plan >= 0 ? config.priceBook.plans[Int(plan)].priceMicros : 0
            let (r, o1) = accounts[i].monthly.multipliedReportingOverflow(by: cycles)
            let (m, o2) = planPrice.multipliedReportingOverflow(by: cycles)
            if o1 || o2 { return false }
            recurring = r
            recurringMoney = m
        }
        let magnitude = amount.magnitude > limit ? Int64(limit) : Int64(amount.magnitude)
        return ok(accounts[i].granted, recurring, magnitude) && ok(accounts[i].charged, magnitude)
            && ok(accounts[i].expired, recurring, accounts[i].allowance, accounts[i].blockCredits)
            && ok(accounts[i].adjusted, magnitude) && ok(accounts[i].overage, magnitude)
            && ok(accounts[i].entitlement, recurring, magnitude) && ok(accounts[i].creditsBought, recurring, magnitude)
            && ok(accounts[i].moneyPaidMicros, recurringMoney, money) && ok(accounts[i].costNanoUSD, cost)
    }

}
