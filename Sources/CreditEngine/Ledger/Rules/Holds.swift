extension Rules {
    /// `credit.hold.requested`, `.extended`, `.released`, `.expired` (contract §15), and usage
    /// settling against a hold. Holds move no credits: the decision changes no block, balance or
    /// alert; it reserves part of the balance (`Account.availableCredits`).
    ///
    /// Every hold event is an ordinary event (deduplicated, moving the account clock through the
    /// cycle starts and expiries its time passes), except on an account with no state: then it
    /// changes nothing and is not remembered (a request is denied `unknown_account`).
    ///
    /// **Order.** Before any event of an account is applied, the account's active holds whose
    /// `expires_at` ≤ the event's time expire and holds ended more than 7 days ago are forgotten
    /// (`HoldBook.pass`, run in step 6 once the clock has moved). A request is then decided
    /// in step 7 on the state the earlier events left, trying in order: `unknown_action`,
    /// `unknown_model` (from pricing in step 3), `too_many_holds`, `insufficient_credits`
    /// (available, less grant credits that expire before the hold does, < credits),
    /// `member_budget_exhausted`; else granted.
    ///
    /// **Repeats.** A request whose `hold_id` the account remembers is a repeat: with the same
    /// `data` it changes nothing (the first decision stands); with other `data` it is bad input
    /// (`Rejection.holdConflict`, decided in step 3 on the holds as the pass will leave them).
    ///
    /// **Decided here, silent in §15**: the allowance counts in full towards a hold whatever its
    /// `expires_at` (a cycle start replaces it; only grants expire); a grant expiring exactly at
    /// `expires_at` counts; an extension may shorten a hold; a request with `credits` takes no
    /// `multiplier`.
    enum Holds {
        /// What step 3 decided a hold event is, with its `hold_id` (made a String once per event).
        struct Change {
            let holdID: String
            let action: Action
        }

        enum Action {
            case request(Request)
            /// The same `hold_id` and `data` as a remembered hold: nothing changes.
            case repeated
            case extend(ttlSeconds: Int64)
            case release
            case expire(expiresAt: Int64)
        }

        struct Request {
            /// Millicredits; nil when pricing denied it (`denial`).
            var credits: Int64?
            var denial: Hold.Denial?
            var ttlSeconds: Int64
            var requestHash: UInt64
            /// The member's index in the partition's member table, −1 for none or unknown.
            var member: Int
        }

        static let defaultTTLSeconds: Int64 = 3600

        static func validate(_ e: DecodedEvent, account i: Int, in ledger: LedgerState) throws(Rejection) -> Change {
            let a = ledger.accounts[i]
            let holdID = String(decoding: e.holdID!, as: UTF8.self)
            return Change(holdID: holdID, action: try action(e, holdID: holdID, account: a, in: ledger))
        }

        private static func action(_ e: DecodedEvent, holdID: String, account a: Account,
                                   in ledger: LedgerState) throws(Rejection) -> Action {
            switch e.type {
            case .holdRequested:
                let hash = e.holdRequestFingerprint
                if let first = a.holdAfterPass(holdID, time: e.time) {
                    guard first.requestHash == hash else { throw .holdConflict }
                    return .repeated
                }
                var r = Request(credits: e.credits, denial: nil, ttlSeconds: e.ttlSeconds ?? defaultTTLSeconds,
                                requestHash: hash, member: -1)
                if let m = e.member { r.member = ledger.members.find(m, hash: ByteHash.hash(m)) ?? -1 }
                if r.credits == nil {
                    guard let v = ledger.versionInForce(a, at: e.time) else { throw .pricing(.noRateCard) }
                    do throws(PricingFailure) {
                        r.credits = try ledger.config.rateCards.price(e, version: v)
                    } catch {
                        switch error {
                        case .unknownAction: r.denial = .unknownAction
                        case .unknownModel: r.denial = .unknownModel
                        case .noRateCard, .overflow: throw .pricing(error)
                        }
                    }
                }
                return .request(r)
            case .holdExtended: return .extend(ttlSeconds: e.ttlSeconds!)
            case .holdReleased: return .release
            case .holdExpired: return .expire(expiresAt: e.expiresAt!)
            default: preconditionFailure("not a hold event")
            }
        }

        /// Step 7, on the account after the pass: what the hold event does. Returns the hold's
        /// position in the book after it, if it names one the account remembers.
        static func apply(_ c: Change, _ e: DecodedEvent, to a: inout Account, config: EngineConfiguration) -> Int? {
            let holdID = c.holdID
            let time = a.clock  // max(event time, account clock): the clock has moved (step 6)
            switch c.action {
            case .repeated:
                return a.extras.first?.holds.position(holdID)
            case .request(let r):
                let expiresAt = time &+ r.ttlSeconds * 1_000_000_000
                var hold = Hold(id: holdID, number: 0, status: .active, denial: r.denial, held: r.credits ?? 0,
                                member: e.member.map { String(decoding: $0, as: UTF8.self) },
                                workflow: e.workflow.map { String(decoding: $0, as: UTF8.self) },
                                requestedAt: e.time, expiresAt: expiresAt, requestHash: r.requestHash)
                if hold.denial == nil { hold.denial = decide(hold, memberIndex: r.member, a) }
                if hold.denial != nil {
                    hold.status = .denied
                    hold.endedAt = time
                }
                return a.withExtras { x in
                    hold.number = x.holds.nextNumber
                    x.holds.add(hold)
                    return x.holds.position(hold.number)
                }
            case .extend(let ttl):
                return a.withHolds(holdID) { book, i in
                    if book.holds[i].isActive { book.extend(at: i, to: time &+ ttl * 1_000_000_000) }
                }
            case .release:
                return a.withHolds(holdID) { book, i in
                    if book.holds[i].isActive { book.end(at: i, .released, time: time) }
                }
            case .expire(let at):
                return a.withHolds(holdID) { book, i in
                    if book.holds[i].isActive && book.holds[i].expiresAt == at { book.end(at: i, .expired, time: at) }
                }
            }
        }

        /// The denial that applies to a priced request, nil to grant it (§15's order after pricing).
        static func decide(_ h: Hold, memberIndex: Int, _ a: Account) -> Hold.Denial? {
            let book = a.extras.first?.holds ?? HoldBook()
            if book.activeCount >= HoldBook.maxActive { return .tooManyHolds }
            var expiringFirst: Int64 = 0
            for b in a.blocks where b.expiresAt < h.expiresAt { expiringFirst += b.remaining }
            if a.availableCredits - expiringFirst < h.held { return .insufficientCredits }
            if let m = h.member, memberIndex >= 0,
               let budget = a.extras.first?.budgets.first(where: { $0.member == Int32(memberIndex) }) {
                let used = a.memberUsed(Int32(memberIndex))
                if used + book.remaining(member: m) + h.held > budget.budget { return .memberBudgetExhausted }
            }
            return nil
        }

        /// Usage naming a hold (step 7, after the charge): raises an active hold's settled
        /// credits by the price. Returns false when the hold is unknown or ended (the usage was
        /// charged all the same: §15 counts it as unheld).
        static func settle(_ e: DecodedEvent, price: Int64, on a: inout Account) -> Bool {
            guard !a.extras.isEmpty, !a.extras[0].holds.isEmpty else { return false }
            let holdID = String(decoding: e.holdID!, as: UTF8.self)
            guard let i = a.extras[0].holds.position(holdID), a.extras[0].holds.holds[i].isActive else { return false }
            a.extras[0].holds.settle(at: i, price)
            return true
        }
    }
}

extension Account {
    /// The remembered hold `id` as it will be once the pass before an event at `time` has run
    /// (step 3 reads it before anything changes; the HTTP routes, on a view, before producing).
    public func holdAfterPass(_ id: String, time: Int64) -> Hold? {
        guard let x = extras.first, let hold = x.holds.hold(id) else { return nil }
        let clock = Swift.max(self.clock, time)
        if clock < x.holds.deadline { return hold }
        // The pass only ends and forgets: a hold id it could change is remembered now, and
        // the book is copied for that case alone.
        var book = x.holds
        book.pass(at: clock)
        return book.hold(id)
    }

    /// Runs `body` on the remembered hold `id`; returns its position after `body` (ending a
    /// hold may make the cap on ended holds forget earlier ones and move it), nil when it is
    /// unknown or no longer remembered.
    mutating func withHolds(_ id: String, _ body: (inout HoldBook, Int) -> Void) -> Int? {
        guard !extras.isEmpty, let i = extras[0].holds.position(id) else { return nil }
        body(&extras[0].holds, i)
        return extras[0].holds.position(id)
    }

    /// Step 6's hold pass (§15): expiries and forgetting at the account clock. Returns how
    /// many holds expired.
    mutating func passHolds() -> Int {
        guard !extras.isEmpty, clock >= extras[0].holds.deadline else { return 0 }
        return extras[0].holds.pass(at: clock)
    }
}

extension DecodedEvent {
    /// A fingerprint of a `credit.hold.requested` event's `data` as the ledger reads it (§15: a
    /// repeated `hold_id` is compared on `data`): key order, spacing and an omitted default
    /// (`ttl_seconds` 3600, `multiplier` 1, `quantity` 1) do not change it.
    public var holdRequestFingerprint: UInt64 {
        var h: UInt64 = 0x6c_6f_6c_64  // "hold"
        func mix(_ v: UInt64) { h = withUnsafeBytes(of: v) { ByteHash.hash($0, seed: h) } }
        func mix(_ b: UnsafeRawBufferPointer?) {
            guard let b else { mix(UInt64.max); return }
            h = ByteHash.hash(b, seed: h ^ 0x5a5a)
        }
        if let c = credits {
            mix(1); mix(UInt64(bitPattern: c))
        } else {
            mix(2); mix(action); mix(model)
            for v in [quantity, inputTokens, outputTokens, toolCalls, multiplier] { mix(UInt64(bitPattern: v)) }
        }
        mix(UInt64(bitPattern: ttlSeconds ?? Rules.Holds.defaultTTLSeconds))
        mix(member); mix(workflow)
        return h
    }
}
