import CreditEngine

/// A reference model of holds (contract §15), written from the contract's text alone, for
/// `HoldPropertyTests`. It keeps, per account, the account clock, the ids it remembers (§5,
/// §14) and its holds; the credit side (balance, blocks, member budgets) it reads from the
/// ledger after each event, since a hold event changes none of them. Everything about holds —
/// decisions, statuses, settled credits, expiries, available credits, forgetting — is its own.
struct HoldModel {
    /// A request's `data`, as compared for repeats: defaults filled in, key order gone.
    struct Request: Hashable {
        var credits: Int64?
        var action: String?
        var quantity: Int64 = 1
        var model: String?
        var inputTokens: Int64 = 0
        var multiplier: Int64 = 1
        var ttl: Int64 = 3600
        var member: String?
        var workflow: String?
    }

    enum Status: Equatable { case active, denied, released, expired }

    struct Hold: Equatable {
        var id: String
        var number: Int
        var status: Status
        var denial: String?
        var held: Int64
        var settled: Int64 = 0
        var member: String?
        var workflow: String?
        var expiresAt: Int64
        var endedAt: Int64 = .max
        var request: Request
        /// `remaining_credits` = held − settled, not below 0.
        var remaining: Int64 { max(0, held - settled) }
    }

    struct Account {
        var exists = false
        var clock: Int64 = .min
        var ids: [String: (at: Int64, forever: Bool)] = [:]
        var holds: [String: Hold] = [:]
        var nextNumber = 0

        var active: [Hold] { holds.values.filter { $0.status == .active } }
        var activeRemaining: Int64 { holds.values.reduce(0) { $0 + ($1.status == .active ? $1.remaining : 0) } }
        var activeCount: Int { holds.values.reduce(0) { $0 + ($1.status == .active ? 1 : 0) } }
    }

    /// What the ledger's credit side says after the event (a hold event changes none of it).
    struct CreditSide {
        var balance: Int64
        /// Grant credits that expire strictly before `time`.
        var grantsExpiringBefore: (Int64) -> Int64
        /// The member's budget and what the member used this cycle, nil without a budget.
        var budget: (String) -> (budget: Int64, used: Int64)?
    }

    /// The kinds of record the model tells apart.
    enum Kind: Equatable {
        case credit            // every non-hold event but usage
        case usage(holdID: String?, price: Int64)
        case request(holdID: String, Request)
        case extend(holdID: String, ttl: Int64)
        case release(holdID: String)
        case expired(holdID: String, expiresAt: Int64)

        var isHold: Bool {
            switch self {
            case .credit, .usage: return false
            case .request, .extend, .release, .expired: return true
            }
        }
    }

    enum Outcome: Equatable {
        /// A hold event for an account with no state: applied, nothing changes or is remembered.
        case noAccount
        case duplicate
        /// `credit.hold.requested` naming a remembered hold with other data: bad input.
        case conflict
        /// A non-hold record the ledger refused (its credit side is the ledger's).
        case rejected
        case applied
    }

    /// What one record did, as the model sees it.
    struct Step {
        var outcome: Outcome
        /// A hold event: the named hold after it (nil: not remembered), and whether a request repeated.
        var hold: Hold?
        var repeated = false
        var expired = 0
        var forgotten = 0
        /// Holds the event's own `credit.hold.expired` ended (not the pass before it).
        var endedByExpiredEvent = 0
        var settled = false
        var unheld = false
        /// A granted request's available credits before it, counting only grant credits that
        /// do not expire before its `expires_at`.
        var availableForRequest: Int64?
    }

    struct Counters: Equatable {
        var granted: Int64 = 0, denied: Int64 = 0, released: Int64 = 0, expired: Int64 = 0, unheld: Int64 = 0
    }

    static let maxActive = 1_000
    static let maxEnded = 10_000
    static let rememberEnded = 7 * EventTime.nanosPerDay

    let window: Int64
    let card: ModelCard
    var accounts: [String: Account] = [:]
    var counters = Counters()

    init(windowHours: Int64, card: ModelCard) {
        window = windowHours * EventTime.nanosPerHour
        self.card = card
    }

    /// Available credits: balance − Σ remaining of the active holds (§15).
    func available(_ account: String, balance: Int64) -> Int64 {
        balance - (accounts[account]?.activeRemaining ?? 0)
    }

    /// Applies one record. `ledgerRejected`: the ledger refused a non-hold record (bad input on
    /// the credit side). `credit` is read only for a hold request that is decided.
    mutating func apply(account name: String, source: String, id: String, time t: Int64, forever: Bool, kind: Kind,
                        ledgerRejected: Bool, credit: () -> CreditSide) -> Step {
        var a = accounts[name] ?? Account()
        // A hold event for an account with no state: denied (a request) or nothing, remembered nowhere.
        if kind.isHold && !a.exists {
            if case .request = kind { counters.denied += 1 }
            return Step(outcome: .noAccount)
        }
        // Dedupe on the account's clock before this record (§14).
        let fp = source + "\u{0}" + id
        if let seen = a.ids[fp], seen.forever || a.clock <= seen.at + window { return Step(outcome: .duplicate) }
        if !kind.isHold && ledgerRejected { return Step(outcome: .rejected) }

        // The cycle starts and expiries the event's time passes: holds with expires_at ≤ its
        // time expire; ended holds are remembered for 7 days of the account clock after they end.
        let clock = max(a.clock, t)
        var holds = a.holds
        var step = Step(outcome: .applied)
        for (k, h) in holds where h.status == .active && h.expiresAt <= t {
            holds[k]!.status = .expired
            holds[k]!.endedAt = h.expiresAt
            step.expired += 1
        }
        for (k, h) in holds where h.status != .active && clock > h.endedAt + Self.rememberEnded {
            holds[k] = nil
            step.forgotten += 1
        }
        if case .request(let hid, let r) = kind, let h = holds[hid], h.request != r { return Step(outcome: .conflict) }

        a.exists = true
        a.clock = clock
        a.ids[fp] = (clock, forever)
        a.holds = holds
        counters.expired += Int64(step.expired)

        switch kind {
        case .credit:
            break
        case .usage(let hid, let price):
            if let hid {
                if a.holds[hid]?.status == .active {
                    a.holds[hid]!.settled += price
                    step.settled = true
                } else {
                    step.unheld = true
                    counters.unheld += 1
                }
            }
        case .request(let hid, let r):
            if let h = a.holds[hid] {
                step.repeated = true
                step.hold = h
            } else {
                let (h, fit) = decide(hid, r, number: a.nextNumber, clock: clock, in: a, credit: credit())
                a.nextNumber += 1
                a.holds[hid] = h
                step.availableForRequest = fit
                if h.status == .active { counters.granted += 1 } else { counters.denied += 1 }
            }
        case .extend(let hid, let ttl):
            if a.holds[hid]?.status == .active { a.holds[hid]!.expiresAt = clock + ttl * EventTime.nanosPerSecond }
        case .release(let hid):
            if a.holds[hid]?.status == .active {
                a.holds[hid]!.status = .released
                a.holds[hid]!.endedAt = clock
                counters.released += 1
            }
        case .expired(let hid, let expiresAt):
            if let h = a.holds[hid], h.status == .active, h.expiresAt == expiresAt {
                a.holds[hid]!.status = .expired
                a.holds[hid]!.endedAt = clock
                counters.expired += 1
                step.endedByExpiredEvent = 1
            }
        }
        // At most 10,000 ended holds: the oldest ended forgotten first.
        if a.holds.count - a.activeCount > Self.maxEnded {
            let ended = a.holds.values.filter { $0.status != .active }
            let oldest = ended.sorted { ($0.endedAt, $0.number) < ($1.endedAt, $1.number) }.prefix(ended.count - Self.maxEnded)
            for h in oldest { a.holds[h.id] = nil }
            step.forgotten += oldest.count
        }
        switch kind {
        case .request(let hid, _), .extend(let hid, _), .release(let hid), .expired(let hid, _): step.hold = a.holds[hid]
        case .credit, .usage: break
        }
        accounts[name] = a
        return step
    }

    /// A new request's decision: the first reason that applies, else granted.
    private func decide(_ hid: String, _ r: Request, number: Int, clock: Int64, in a: Account,
                        credit: CreditSide) -> (Hold, Int64?) {
        let expiresAt = clock + r.ttl * EventTime.nanosPerSecond
        var h = Hold(id: hid, number: number, status: .denied, denial: nil, held: 0, member: r.member, workflow: r.workflow,
                     expiresAt: expiresAt, endedAt: clock, request: r)
        let credits: Int64
        if let c = r.credits {
            credits = c
        } else {
            switch card.price(action: r.action!, quantity: r.quantity, model: r.model, inputTokens: r.inputTokens,
                              multiplier: r.multiplier) {
            case .unknownAction: h.denial = "unknown_action"; return (h, nil)
            case .unknownModel: h.denial = "unknown_model"; return (h, nil)
            case .price(let p): credits = p
            }
        }
        h.held = credits
        if a.activeCount >= Self.maxActive { h.denial = "too_many_holds"; return (h, nil) }
        let available = credit.balance - a.activeRemaining - credit.grantsExpiringBefore(expiresAt)
        if available < credits { h.denial = "insufficient_credits"; return (h, nil) }
        if let m = r.member, let b = credit.budget(m) {
            let memberRemaining = a.holds.values.reduce(Int64(0)) { $0 + ($1.status == .active && $1.member == m ? $1.remaining : 0) }
            if b.used + memberRemaining + credits > b.budget { h.denial = "member_budget_exhausted"; return (h, nil) }
        }
        h.status = .active
        h.endedAt = .max
        return (h, available)
    }
}

/// The model's own rate card: one version in force for every event, no `default` model (so an
/// unknown model is a denial), prices exact until one final rounding (§1, §3, §15).
struct ModelCard {
    struct Action {
        /// Credits in 10⁻⁶.
        var credits: Int64
        var per1kInput: Int64 = 0
        var min: Int64?
        var max: Int64?
    }

    enum Priced: Equatable { case price(Int64), unknownAction, unknownModel }

    let actions: [String: Action] = [
        "chat": Action(credits: 1_000_500),                                   // 1.0005
        "search": Action(credits: 2_500_000, max: 6_000_100),                 // 2.5, at most 6.0001
        "think": Action(credits: 333_300, per1kInput: 12_300, min: 1_000_000),  // 0.3333 + 0.0123/1k input, at least 1
        "free": Action(credits: 0),
    ]
    /// Model multipliers in 10⁻⁶.
    let models: [String: Int64] = ["standard": 1_000_000, "reasoning": 2_500_000]

    static let yaml = """
        version: "2026-10-01"
        effective_from: "2026-10-01T00:00:00Z"
        rounding: { increment: 0.001, mode: half_up }
        model_multipliers: { standard: 1, reasoning: 2.5 }
        actions:
          chat:   { credits: 1.0005 }
          search: { credits: 2.5, max_credits: 6.0001 }
          think:  { credits: 0.3333, per_1k_input_tokens: 0.0123, min_credits: 1 }
          free:   { credits: 0 }
        """

    /// (credits × quantity + per_1k_input × tokens / 1000) × model, clamped, × multiplier,
    /// rounded once to 0.001 half up: in 10⁻¹⁵ credits, exactly.
    func price(action: String, quantity: Int64, model: String?, inputTokens: Int64, multiplier: Int64 = 1) -> Priced {
        guard let a = actions[action] else { return .unknownAction }
        let m: Int64
        if let model {
            guard let known = models[model] else { return .unknownModel }
            m = known
        } else {
            m = 1_000_000
        }
        var x = (Int128(a.credits) * 1_000 * Int128(quantity) + Int128(a.per1kInput) * Int128(inputTokens)) * Int128(m)
        if let lo = a.min { x = Swift.max(x, Int128(lo) * 1_000_000_000) }
        if let hi = a.max { x = Swift.min(x, Int128(hi) * 1_000_000_000) }
        x *= Int128(multiplier)
        let unit: Int128 = 1_000_000_000_000  // 0.001 credit
        return .price(Int64((x + unit / 2) / unit))
    }
}
