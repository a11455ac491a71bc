internal import CachePrefetch

/// The steps every record goes through, in order (stated in Engine.swift).
extension LedgerState {
    mutating func apply(_ e: DecodedEvent, key: UnsafeRawBufferPointer?, recordTime: Int64?) -> ApplyResult {
        // 1. Record checks.
        guard let key else { return reject(.missingKey) }
        guard key.equals(e.subject) else { return reject(.keyMismatch) }
        if let recordTime, e.time > recordTime &+ config.maxFutureSkew { return reject(.futureTime) }

        // 2. Dedupe, on the account's own clock before this record (§14): within the window,
        // and for good for money-adding ids.
        // The loads an event needs are started together (each `prefetch` is a hint): the id's
        // table slot and the dedupe slot at once, then the whole account record as soon as its
        // index is known — not one cache miss after another.
        let subjectHash = ByteHash.hash(e.subject)
        ids.prefetch(hash: subjectHash)
        let fp = PartitionLedger.fingerprint(subjectHash: subjectHash, source: e.source, id: e.id)
        dedupe.prefetch(fp)
        let existing = ids.find(e.subject, hash: subjectHash)
        if let i = existing { prefetchAccount(i) }
        if existing == nil && e.type.isHold { return holdWithoutAccount(e) }
        let newWatermark = max(watermark, recordTime.map { min($0, e.time) } ?? e.time)
        let clock = existing.map { accounts[$0].clock } ?? .min
        var probe = DedupeTable.Probe()
        if dedupe.lookup(fp, owner: existing ?? accounts.count, clock: clock, partitionClock: newWatermark, probe: &probe),
           let existing {
            return duplicate(existing)
        }
        if e.type == .topupPurchased || e.type == .grantIssued, let existing, accounts[existing].extras.first?.knowsGrant(fp) == true {
            return duplicate(existing)
        }

        // 3. Validation and pricing by family, reading the account in place.
        let change: Change
        do throws(Rejection) {
            switch e.type {
            case .usage: change = .usage(try Rules.Usage.validate(e, account: existing, in: self))
            case .planAssigned: change = .plan(try Rules.Plan.validate(e, config: config))
            case .grantIssued, .topupPurchased: change = .purchase(try Rules.Purchase.validate(e, origin: fp, config: config))
            case .adjusted: change = .adjustment(Rules.Adjustment.validate(e))
            case .grantVoided: change = .void(try Rules.GrantVoid.validate(e, subjectHash: subjectHash, account: existing, in: self))
            case .autoTopupConfigured, .memberBudgetSet: change = .policy(try Rules.Policies.validate(e, config: config))
            case .rateCardPinned: change = .pin(try Rules.RateCardPin.validate(e, config: config))
            case .alertsConfigured: change = .thresholds(Rules.AlertThresholds.validate(e))
            case .holdRequested, .holdExtended, .holdReleased, .holdExpired:
                change = .hold(try Rules.Holds.validate(e, account: existing!, in: self))
            }
        } catch {
            return reject(error)
        }

        // 4. Bounds.
        if let i = existing, !fits(i, credits: change.credits, at: e.time, cost: e.costNanoUSD, money: change.moneyMicros) {
            return reject(.overflow)
        }

        // 5. Commit: from here on the record is applied.
        let index: Int
        if let existing {
            index = existing
        } else {
            index = ids.insert(e.subject, hash: subjectHash)
            accounts.append(Account())
            lastIdRefs.append(0)
        }
        watermark = newWatermark
        // Remembered at the account's clock after this event (step 6 moves it there).
        dedupe.insert(fp, owner: index, applied: max(clock, e.time), forever: change.remembersIDForever, probe: probe,
                      partitionClock: newWatermark)
        lastIds.store(e.id, in: &lastIdRefs[index])
        if lastIds.needsCompaction { lastIds.compact(&lastIdRefs) }
        let names = internNames(e, change)
        if case .usage(let c) = change {
            counters.priced += 1
            counters.chargedMillicredits &+= c.price
        } else if case .purchase = change {
            purchaseIDs += 1  // step 2 found it new: `Rules.Purchase.apply` remembers it
        }
        counters.applied += 1

        // 6–8. One exclusive access to the account for its clock, the effect and the evaluations.
        var holds = HoldEffects()
        let decision = LedgerState.commit(&accounts[index], e, change, names: names, config: config, holds: &holds)
        // 9. History.
        if accounts[index].pendingHistory != 0 { storeHistory(index, e) }
        // 10. Outputs.
        var result = ApplyResult(outcome: .applied, account: index, charged: change.charged, version: change.version)
        if !decision.isEmpty { report(index, decision, e, version: change.version, into: &result) }
        if holds.touched { countHolds(holds, change, index, e, into: &result) }
        return result
    }

    /// Starts loading every cache line of account `i`'s record and its last-event-id ref.
    @inline(__always)
    func prefetchAccount(_ i: Int) {
        accounts.withUnsafeBufferPointer { p in
            let start = UnsafeRawPointer(p.baseAddress! + i)
            var offset = 0
            while offset < MemoryLayout<Account>.size {
                cache_prefetch(start + offset)
                offset += 64
            }
            cache_prefetch(start + (MemoryLayout<Account>.size - 1))
            // The usage cells (a usage event reads and writes them in step 7): the buffer's
            // header (its count) and first 128 bytes of cells, once the record's line with the
            // reference is in. The reference is read as a bare address — an `Array` is one
            // reference to its buffer — so that no retain touches the buffer before it arrives.
            assert(MemoryLayout<[UsageCell]>.size == MemoryLayout<UInt>.size)
            let buffer = UnsafeRawPointer(bitPattern: (start + MemoryLayout<Account>.offset(of: \Account.usage)!).load(as: UInt.self))
            if let buffer {
                cache_prefetch(buffer + 16)
                cache_prefetch(buffer + 80)
                cache_prefetch(buffer + 144)
            }
        }
        lastIdRefs.withUnsafeBufferPointer { cache_prefetch($0.baseAddress! + i) }
    }

    /// Steps 6–8, on the account borrowed in place.
    static func commit(_ a: inout Account, _ e: DecodedEvent, _ change: Change, names: EventNames,
                       config: EngineConfiguration, holds: inout HoldEffects) -> Decision {
        // 6. The account's clock, then its holds (§15).
        let planPrice: Int64 = a.plan >= 0 ? config.priceBook.plans[Int(a.plan)].priceMicros : 0
        var openEpisode = a.advance(to: e.time, planPriceMicros: planPrice)
        if !a.extras.isEmpty { holds.expired = a.passHolds() }
        // 7. The family's effect.
        switch change {
        case .usage(let c):
            Rules.Usage.apply(c, e, names: names, to: &a)
            if e.holdID != nil { holds.unheld = !Rules.Holds.settle(e, price: c.price, on: &a); holds.settling = true }
        case .hold(let c):
            holds.isHoldEvent = true
            holds.before = a.extras.first?.holds.hold(c.holdID)?.status
            holds.position = Rules.Holds.apply(c, e, to: &a, config: config)
        case .plan(let c):
            let replaced = Rules.Plan.apply(c, e, to: &a, config: config)
            if openEpisode == AlertState.noEpisode { openEpisode = replaced }
        case .purchase(let c):
            // A grant already expired on arrival is history alone: nothing to evaluate (§14).
            if !Rules.Purchase.apply(c, e, to: &a) { a.events += 1; return Decision() }
        case .adjustment(let c): Rules.Adjustment.apply(c, e, to: &a)
        case .void(let c): Rules.GrantVoid.apply(c, e, to: &a)
        case .policy(let c): Rules.Policies.apply(c, member: names.member, to: &a)
        case .pin(let c): Rules.RateCardPin.apply(c, e, to: &a)
        case .thresholds: break  // in force from the next applied event: set after this event's evaluations
        }
        a.events += 1
        // 8. Evaluations.
        let decision = decide(&a, e, names: names, openEpisode: openEpisode, config: config)
        if case .thresholds(let c) = change { Rules.AlertThresholds.apply(c, to: &a, config: config) }
        return decision
    }

    /// The names an event brings into the partition's tables (step 5): a usage event's
    /// capability and member, a budget's member.
    @inline(__always)
    mutating func internNames(_ e: DecodedEvent, _ change: Change) -> EventNames {
        var names = EventNames()
        switch change {
        case .usage:
            if let c = e.capability { names.capability = capabilities.intern(c, hash: ByteHash.hash(c)) }
            if let m = e.member { names.member = members.intern(m, hash: ByteHash.hash(m)) }
        case .policy(.memberBudget):
            if let m = e.member { names.member = members.intern(m, hash: ByteHash.hash(m)) }
        case .plan, .purchase, .adjustment, .void, .policy(.autoTopup), .pin, .thresholds, .hold:
            break
        }
        return names
    }

    @inline(__always)
    private mutating func duplicate(_ account: Int) -> ApplyResult {
        counters.duplicates += 1
        return ApplyResult(outcome: .duplicate, account: account)
    }

    @inline(__always)
    private mutating func reject(_ r: Rejection) -> ApplyResult {
        counters.rejected += 1
        return .rejected(r)
    }
}

/// What an applied event did to its account's holds (§15), for the counters and the report.
struct HoldEffects {
    /// Holds that expired before the event.
    var expired = 0
    /// A usage event named a hold …
    var settling = false
    /// … that was unknown or ended.
    var unheld = false
    /// A hold event: the named hold's status before it (nil: not remembered) and its position after.
    var before: Hold.Status?
    var position: Int?
    var isHoldEvent = false

    var touched: Bool { expired > 0 || settling || isHoldEvent }
}

extension LedgerState {
    /// A hold event for an account with no state (§15): nothing changes, nothing is remembered;
    /// a request is denied `unknown_account`.
    private mutating func holdWithoutAccount(_ e: DecodedEvent) -> ApplyResult {
        counters.applied += 1
        if e.type == .holdRequested { counters.holdsDenied += 1 }
        var result = ApplyResult(outcome: .applied, account: -1)
        result.hold = HoldReport(type: e.type, holdID: String(decoding: e.holdID!, as: UTF8.self), hold: nil,
                                 repeated: false, available: nil)
        return result
    }

    /// Step 10 for holds: the counters (§15 metrics) and, for a hold event, its report.
    private mutating func countHolds(_ h: HoldEffects, _ change: Change, _ index: Int, _ e: DecodedEvent,
                                     into result: inout ApplyResult) {
        counters.holdsExpired += Int64(h.expired)
        if h.unheld { counters.usageUnheld += 1 }
        guard case .hold(let c) = change else {
            if h.expired > 0 { holdExpiries?.update(index, accounts[index].extras.first?.holds, changed: nil) }
            return
        }
        let book = accounts[index].extras.first?.holds
        let hold = h.position.map { book!.holds[$0] }
        holdExpiries?.update(index, book, changed: hold)
        var repeated = false
        switch c.action {
        case .request:
            if hold?.status == .active { counters.holdsGranted += 1 } else { counters.holdsDenied += 1 }
        case .repeated:
            repeated = true
        case .release:
            if h.before == .active && hold?.status == .released { counters.holdsReleased += 1 }
        case .expire:
            if h.before == .active && hold?.status == .expired { counters.holdsExpired += 1 }
        case .extend:
            break
        }
        result.hold = HoldReport(type: e.type, holdID: c.holdID, hold: hold, repeated: repeated, available: accounts[index].availableCredits)
    }
}

/// Indexes into the partition's capability and member tables of the names an applied event
/// brought, −1 for none. Only usage events have a capability; only usage events and budget
/// sets have a member (the member budget evaluation runs for those alone).
struct EventNames {
    var capability = -1
    var member = -1
}
