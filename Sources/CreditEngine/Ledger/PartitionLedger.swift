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
    case unknownGrant

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
        case .unknownGrant: return "unknown grant: grant_id names no credit.grant.issued or credit.topup.purchased event of this account"
        }
    }
}

/// The alerts and top-up requests one event produced (allocated only when there are some).
final class FiredAlerts {
    let alerts: [Alert]
    let requests: [TopupRequest]
    init(_ alerts: [Alert], requests: [TopupRequest] = []) { self.alerts = alerts; self.requests = requests }
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
    /// Alerts to publish, in order: at most a recovery and a crossing. Kept out of line (they
    /// are rare) so that the result of an ordinary event stays small and cheap to copy.
    public var alerts: [Alert] { fired?.alerts ?? [] }
    var fired: FiredAlerts?

    public var alertCount: Int { fired?.alerts.count ?? 0 }
    /// Auto top-up requests to publish on `kafka.requests_topic` (§12): at most one.
    public var requests: [TopupRequest] { fired?.requests ?? [] }
    public var requestCount: Int { fired?.requests.count ?? 0 }

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
    /// Capability and member names as `String`s, for read views (`view`): their tables only
    /// ever append, so an entry's name never changes. Filled on demand by the thread that
    /// builds views (the ledger's owner); never part of the state or of snapshots.
    var nameCache = (capabilities: [String](), members: [String]())

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
        /// Auto top-up requests made (not in snapshots before format 3).
        public var requests: Int64 = 0

        /// Field by field (credits charged wrap, as they are summed for metrics only).
        public static func - (a: Counters, b: Counters) -> Counters {
            Counters(applied: a.applied - b.applied, priced: a.priced - b.priced, duplicates: a.duplicates - b.duplicates,
                     rejected: a.rejected - b.rejected, alerts: a.alerts - b.alerts,
                     chargedMillicredits: a.chargedMillicredits &- b.chargedMillicredits, requests: a.requests - b.requests)
        }

        public static func + (a: Counters, b: Counters) -> Counters {
            Counters(applied: a.applied + b.applied, priced: a.priced + b.priced, duplicates: a.duplicates + b.duplicates,
                     rejected: a.rejected + b.rejected, alerts: a.alerts + b.alerts,
                     chargedMillicredits: a.chargedMillicredits &+ b.chargedMillicredits, requests: a.requests + b.requests)
        }
    }

    public init(config: EngineConfiguration) {
        state = LedgerState(config: config)
    }

    init(state: LedgerState) {
        self.state = state
    }

    /// The ledger as it is now, as a separate object sharing storage with this one until
    /// either changes (every part of the state is a value type, copied on write): the snapshot
    /// writer encodes it on its own thread while the consuming thread goes on applying records
    /// to the original. The first change after it copies what it touches, once.
    public func frozenCopy() -> PartitionLedger {
        PartitionLedger(state: state)
    }

    /// Applies one decoded event. `key` is the record key; `recordTime` the record's
    /// timestamp in nanoseconds (nil when the broker gave none).
    @inline(__always)
    public func apply(_ e: DecodedEvent, key: UnsafeRawBufferPointer?, recordTime: Int64?) -> ApplyResult {
        #if DEBUG
        let result = state.apply(e, key: key, recordTime: recordTime)
        assertInvariants(after: result)  // Invariants.swift
        return result
        #else
        state.apply(e, key: key, recordTime: recordTime)  // release: exactly the hot path as before
        #endif
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
            report.voided += Int128(a.voided)
            report.balance += Int128(a.balance)
            for f in a.invariantFailures { report.failures.append(ids.string(i) + f) }
        }
        report.accounts = accounts.count
        return report
    }
}

/// Result of the conservation audit: granted − charged − expired − voided + adjustments = balance,
/// per account and in total, to the millicredit.
public struct AuditReport: Sendable, Equatable {
    public var accounts = 0
    public var granted: Int128 = 0
    public var charged: Int128 = 0
    public var expired: Int128 = 0
    public var adjusted: Int128 = 0
    public var voided: Int128 = 0
    public var balance: Int128 = 0
    public var failures: [String] = []

    public init() {}

    public var totalConserved: Bool { granted - charged - expired - voided + adjusted == balance }
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
    /// History strings (event ids, reasons, refs, plan and pack names), shared by the entries
    /// of one event. Its first byte is a placeholder so that no live ref is 0.
    var texts = LedgerState.freshTexts()
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
        /// Grant or top-up fingerprint (to remember, or to void).
        var origin: UInt64 = 0
        var rollover: Int64 = 0
        var policy: AutoTopupPolicy?
    }

    /// What an applied event decided besides the balance change: alerts and requests.
    struct Decision {
        var recovered: AlertState.Action?
        var crossed: AlertState.Action?
        var member: MemberAlertAction?
        var runway: Int64?
        var request: Int64?

        @inline(__always)
        var isEmpty: Bool { recovered == nil && crossed == nil && member == nil && runway == nil && request == nil }
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
                change.rollover = e.rolloverMaxCredits ?? book.plans[i].rolloverMaxCredits
            } else {
                change.plan = Account.customPlan
                change.monthly = e.monthlyCredits ?? 0
                change.rollover = e.rolloverMaxCredits ?? 0
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
            change.origin = fp
        case .grantIssued:
            change.amount = e.credits ?? 0
            change.origin = fp
        case .adjusted:
            change.amount = e.credits ?? 0
        case .grantVoided:
            let target = PartitionLedger.fingerprint(subjectHash: subjectHash, source: e.grantSource ?? e.source, id: e.grantID!)
            guard let i = existing, accounts[i].extras.first?.knowsGrant(target) == true else { return reject(.unknownGrant) }
            change.origin = target
        case .autoTopupConfigured:
            if e.enabled {
                var pack: Int32 = -1
                var packCredits: Int64 = 0
                if let p = e.pack {
                    guard let i = config.priceBook.packIndex(p) else { return reject(.unknownPack) }
                    pack = Int32(i)
                    packCredits = config.priceBook.packs[i].credits
                }
                change.policy = AutoTopupPolicy(pack: pack, credits: e.credits ?? packCredits, below: e.belowCredits ?? 0,
                                                maxPerCycle: e.maxPerCycle)
            }
        case .memberBudgetSet:
            break
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
        } else if e.type == .memberBudgetSet, let m = e.member {
            change.member = members.intern(m, hash: ByteHash.hash(m))
        }
        counters.applied += 1

        // One exclusive access to the account for the whole change.
        let decision = LedgerState.commit(&accounts[index], e, change, config: config)
        if accounts[index].pendingHistory != 0 { storeHistory(index, e, change) }
        var result = ApplyResult(outcome: .applied, account: index, charged: change.price, version: change.version)
        if !decision.isEmpty { report(index, decision, e, change, into: &result) }
        return result
    }

    static func freshTexts() -> SlotArena {
        var arena = SlotArena()
        var placeholder: UInt64 = 0
        withUnsafeBytes(of: UInt8(0)) { arena.store($0, in: &placeholder) }
        return arena
    }

    /// Stores the strings of the history entries the event just made (they share one copy of
    /// each string), and keeps the newest `History.capacity`. Off the hot path: only events
    /// that change the blocks' total other than by usage get here.
    @inline(never)
    mutating func storeHistory(_ index: Int, _ e: DecodedEvent, _ change: Change) {
        // Each string is stored once per event and shared by its entries (no String, no
        // dictionary: this runs for every plan, grant and top-up event).
        var idRef: UInt64 = 0
        texts.store(e.id, in: &idRef)
        var reasonRef: UInt64 = .max, refRef: UInt64 = .max, packRef: UInt64 = .max, grantRef: UInt64 = .max
        var planRef: UInt64 = 0, planOf: Int32 = .min
        func store(_ bytes: UnsafeRawBufferPointer?, _ cached: inout UInt64) -> UInt64 {
            if cached != .max { return cached }
            var r: UInt64 = 0
            if let bytes { texts.store(bytes, in: &r) }
            cached = r
            return r
        }
        func plan(_ p: Int32) -> UInt64 {
            if p == planOf { return planRef }
            planOf = p
            planRef = 0
            if p >= 0 || p == Account.customPlan {
                var name = p >= 0 ? config.priceBook.plans[Int(p)].id : "custom"
                name.withUTF8 { texts.store(UnsafeRawBufferPointer($0), in: &planRef) }
            }
            return planRef
        }
        let pending = Int(accounts[index].pendingHistory)
        accounts[index].pendingHistory = 0
        let count = accounts[index].history.count
        for i in (count - pending)..<count {
            var entry = accounts[index].history[i]
            entry.idRef = idRef
            switch entry.kind {
            case .cycleStarted, .planAssigned: entry.textRef = plan(entry.aux)
            case .topup: entry.textRef = store(e.pack, &packRef); entry.text2Ref = store(e.ref, &refRef)
            case .grant: entry.textRef = store(e.reason, &reasonRef)
            case .adjusted: entry.textRef = store(e.reason, &reasonRef); entry.text2Ref = store(e.ref, &refRef)
            case .grantVoided: entry.textRef = store(e.reason, &reasonRef); entry.text2Ref = store(e.grantID, &grantRef)
            case .allowanceForfeited, .rollover, .grantExpired: break
            }
            entry.aux = -1
            accounts[index].history[i] = entry
        }
        if count > History.capacity {
            let drop = count - History.capacity
            for i in 0..<drop {
                let old = accounts[index].history[i], next = accounts[index].history[i + 1]
                if old.idRef != next.idRef { texts.release(old.idRef); texts.release(old.textRef); texts.release(old.text2Ref) }
            }
            accounts[index].history.removeFirst(drop)
        }
        if texts.needsCompaction { compactTexts() }
    }

    /// Rewrites the live history strings into a fresh arena (shared strings stay shared).
    mutating func compactTexts() {
        var fresh = LedgerState.freshTexts()
        var moved: [UInt64: UInt64] = [0: 0]
        for i in accounts.indices where !accounts[i].history.isEmpty {
            for j in accounts[i].history.indices {
                for path in [\HistoryEntry.idRef, \HistoryEntry.textRef, \HistoryEntry.text2Ref] {
                    let old = accounts[i].history[j][keyPath: path]
                    if let new = moved[old] { accounts[i].history[j][keyPath: path] = new; continue }
                    var new: UInt64 = 0
                    texts.withBytes(old) { fresh.store($0, in: &new) }
                    moved[old] = new
                    accounts[i].history[j][keyPath: path] = new
                }
            }
        }
        texts = fresh
    }

    /// Makes the alerts and requests to publish (strings only now) and keeps the alerts in the
    /// account's list for this cycle.
    @inline(never)
    mutating func report(_ index: Int, _ decision: Decision, _ e: DecodedEvent, _ change: Change, into result: inout ApplyResult) {
        let alerts = makeAlerts(index, decision, e, version: change.version)
        var requests: [TopupRequest] = []
        if let n = decision.request, let x = accounts[index].extras.first, let p = x.autoTopup {
            let a = accounts[index]
            requests.append(TopupRequest(account: ids.string(index), cycleStart: a.hasPlan ? a.cycleStart : nil, sequence: n,
                                         pack: p.pack >= 0 ? config.priceBook.packs[Int(p.pack)].id : nil, credits: p.credits,
                                         balance: a.balance, below: p.below, triggeredBy: e.id.utf8String,
                                         maxPerCycle: p.maxPerCycle, time: e.time))
        }
        result.fired = FiredAlerts(alerts, requests: requests)
        counters.alerts += Int64(alerts.count)
        counters.requests += Int64(requests.count)
        for alert in alerts {
            accounts[index].cycleAlerts.append(CycleAlert(time: alert.time, kind: alert.kind,
                                                          threshold: Int32(alert.kind == .runway ? alert.runwayDays ?? 0 : Int64(alert.thresholdPercent)),
                                                          sequence: Int32(clamping: alert.sequence), member: alert.memberIndex))
        }
        if accounts[index].cycleAlerts.count > CycleAlert.capacity {
            accounts[index].cycleAlerts.removeFirst(accounts[index].cycleAlerts.count - CycleAlert.capacity)
        }
    }

    /// The account side of an applied event: cycles, the change itself, then the alert
    /// evaluation. Runs with the account borrowed in place.
    static func commit(_ a: inout Account, _ e: DecodedEvent, _ change: Change, config: EngineConfiguration) -> Decision {
        let planPrice: Int64 = a.plan >= 0 ? config.priceBook.plans[Int(a.plan)].priceMicros : 0
        var openEpisode = a.advance(to: e.time, planPriceMicros: planPrice)
        switch e.type {
        case .usage:
            let price = change.price
            a.burn(price)
            a.charged += price
            a.usedThisCycle += price
            a.costNanoUSD += e.costNanoUSD
            a.addDayUsage(eventTime: e.time, price)
            if change.capability >= 0 { a.addUsage(UsageCell.capabilityTag | UInt32(change.capability), price) }
            if change.member >= 0 { a.addUsage(UsageCell.memberTag | UInt32(change.member), price) }
        case .planAssigned:
            // A late plan event applies to the current cycle: its reference time is the clock.
            let oldPrice: Int64 = a.plan >= 0 ? config.priceBook.plans[Int(a.plan)].priceMicros : 0
            let replaced = a.assignPlan(change.plan, monthly: change.monthly, priceMicros: change.planPrice,
                                        previousPriceMicros: oldPrice, anchor: e.cycleAnchor, at: a.clock, eventTime: e.time)
            if openEpisode == AlertState.noEpisode { openEpisode = replaced }
            if change.rollover != 0 || !a.extras.isEmpty { a.withExtras { $0.rolloverMax = change.rollover } }
        case .topupPurchased:
            a.granted += change.amount
            a.entitlement += change.amount
            a.creditsBought += change.amount
            a.moneyPaidMicros += change.packPrice
            a.record(HistoryEntry(.topup, time: e.time, credits: change.amount))
            a.withExtras { $0.rememberGrant(change.origin); $0.requestPending = false }
            a.addBlock(.topup, change.amount, expiresAt: .max, origin: change.origin)
        case .grantIssued:
            a.granted += change.amount
            a.entitlement += change.amount
            a.record(HistoryEntry(.grant, time: e.time, credits: change.amount, at: e.expiresAt ?? .max))
            a.withExtras { $0.rememberGrant(change.origin); $0.requestPending = false }
            if let expiry = e.expiresAt, expiry <= a.clock {
                // A late grant that has already expired on this account's clock is gone at
                // once: it pays nothing off.
                a.expired += change.amount
                a.record(HistoryEntry(.grantExpired, time: expiry, credits: -change.amount))
            } else {
                a.addBlock(.grant, change.amount, expiresAt: e.expiresAt ?? .max, origin: change.origin)
            }
        case .adjusted:
            a.adjusted += change.amount
            a.record(HistoryEntry(.adjusted, time: e.time, credits: change.amount))
            if change.amount < 0 {
                a.burn(-change.amount)
            } else if change.amount > 0 {
                a.clearPendingRequest()
                a.addBlock(.grant, change.amount, expiresAt: .max)
            }
        case .rateCardPinned:
            a.pinnedVersion = change.pinVersion
            a.pinUntil = change.pinVersion >= 0 ? (e.until ?? .max) : .max
        case .grantVoided:
            let removed = a.voidBlock(origin: change.origin)
            a.record(HistoryEntry(.grantVoided, time: e.time, credits: -removed))
        case .autoTopupConfigured:
            if change.policy != nil || !a.extras.isEmpty { a.withExtras { $0.autoTopup = change.policy } }
            a.refreshFeatureFlags()
        case .memberBudgetSet:
            a.setMemberBudget(Int32(change.member), e.monthlyCredits)
            a.refreshFeatureFlags()
        }
        a.events += 1
        var decision = Decision()
        // Alerts: only within a cycle.
        if a.hasPlan {
            (decision.recovered, decision.crossed) = a.alerts.evaluate(balance: a.balance, entitlement: a.entitlement,
                                                                       thresholds: config.thresholds, openFromPreviousCycle: openEpisode)
        }
        if a.featureFlags != 0 {
            if a.featureFlags & 2 != 0 && change.member >= 0 && (e.type == .usage || e.type == .memberBudgetSet) {
                decision.member = a.evaluateMemberBudget(Int32(change.member), thresholds: config.thresholds)
            }
            if a.featureFlags & 1 != 0 { decision.request = a.evaluateAutoTopup() }
        }
        if let days = config.runwayDays, a.hasPlan, e.type == .usage || a.extras.first?.runwayFired == true {
            decision.runway = a.evaluateRunwayAlert(days: days, usage: e.type == .usage)
        }
        return decision
    }

    /// Builds the alerts to publish (only when one fires: strings are made here).
    private func makeAlerts(_ index: Int, _ decision: Decision, _ e: DecodedEvent, version: Int) -> [Alert] {
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
        var out = [decision.recovered.map(make), decision.crossed.map(make)].compactMap { $0 }
        if let m = decision.member, let b = a.extras.first?.budgets.first(where: { $0.member == m.member }) {
            var alert = make(AlertState.Action(kind: m.kind, thresholdPercent: m.thresholdPercent, sequence: m.sequence))
            alert.member = members.string(Int(m.member))
            alert.memberIndex = m.member
            alert.budget = b.budget
            alert.used = a.memberUsed(m.member)
            out.append(alert)
        }
        if let n = decision.runway {
            var alert = make(AlertState.Action(kind: .runway, thresholdPercent: 0, sequence: Int(n)))
            alert.runwayDays = config.runwayDays
            alert.runway = a.runway
            out.append(alert)
        }
        return out
    }

    @inline(__always)
    private mutating func reject(_ r: Rejection) -> ApplyResult {
        counters.rejected += 1
        return .rejected(r)
    }

    /// Whether applying `amount` (plus any cycles started by `time`) keeps every credit total
    /// of account `i` within ±2⁶⁰ (money and cost within 2⁶²) — so no arithmetic during the
    /// commit can overflow, and every state the ledger holds passes restore-time validation
    /// (`SnapshotCodec.amountLimit`, the same bound: a wider one here once let valid grants,
    /// and then grants with positive adjustments, build a state its own snapshot refused).
    func fits(_ i: Int, amount: Int64, at time: Int64, cost: Int64, money: Int64) -> Bool {
        let limit = UInt64(SnapshotCodec.amountLimit)
        // Money (micro-units) and cost (nano-USD) are not credits: restore does not bound them,
        // only this overflow guard, at 2⁶².
        let moneyLimit = UInt64(1) << 62
        @inline(__always) func ok(_ base: Int64, _ x: Int64, _ y: Int64 = 0, _ z: Int64 = 0, limit: UInt64 = limit) -> Bool {
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
            && ok(accounts[i].voided, accounts[i].blockCredits)
            // A block added by this event (a grant, a top-up, a positive adjustment — the last
            // counts as adjusted, not granted): the block total is bounded too.
            && ok(accounts[i].blockCredits, magnitude)
            && ok(accounts[i].entitlement, recurring, magnitude) && ok(accounts[i].creditsBought, recurring, magnitude)
            && ok(accounts[i].moneyPaidMicros, recurringMoney, money, limit: moneyLimit) && ok(accounts[i].costNanoUSD, cost, limit: moneyLimit)
    }

}
