/// One hold (contract §15): credits an account reserved for work whose cost it does not know up
/// front. Decided once, in the account's log order (Rules/Holds.swift); settled by usage naming
/// it; ended by a release or its expiry. A denial is a hold that ended when it was decided.
public struct Hold: Sendable, Equatable {
    public enum Status: UInt8, Sendable {
        case active = 0, denied = 1, released = 2, expired = 3

        public var name: String {
            switch self {
            case .active: return "active"
            case .denied: return "denied"
            case .released: return "released"
            case .expired: return "expired"
            }
        }
    }

    /// Why a request was denied (§15, in the order they are tried). `unknown_account` is never
    /// stored: a request for an account with no state leaves nothing behind.
    public enum Denial: UInt8, Sendable {
        case unknownAccount = 0, unknownAction = 1, unknownModel = 2, tooManyHolds = 3, insufficientCredits = 4,
             memberBudgetExhausted = 5

        public var name: String {
            switch self {
            case .unknownAccount: return "unknown_account"
            case .unknownAction: return "unknown_action"
            case .unknownModel: return "unknown_model"
            case .tooManyHolds: return "too_many_holds"
            case .insufficientCredits: return "insufficient_credits"
            case .memberBudgetExhausted: return "member_budget_exhausted"
            }
        }

        /// The HTTP status of the denial (§15): 422 for a request that names what the rate card
        /// does not know, else 402.
        public var httpStatus: Int { self == .unknownAction || self == .unknownModel ? 422 : 402 }
    }

    public var id: String
    /// The hold's place among the account's decided holds (1, 2, …): log order.
    public var number: Int64
    public var status: Status
    public var denial: Denial?
    /// Millicredits reserved (for a denial: asked for; 0 when the action could not be priced).
    public var held: Int64
    /// Millicredits of usage charged against it.
    public var settled: Int64 = 0
    public var member: String?
    public var workflow: String?
    /// The request's event time.
    public var requestedAt: Int64
    public var expiresAt: Int64
    /// The account clock when it ended (an expiry: `expiresAt`); `.max` while active.
    public var endedAt: Int64 = .max
    /// A fingerprint of the request's `data` (§15: a repeated `hold_id` is compared on `data`).
    public var requestHash: UInt64

    /// held − settled, not below 0.
    public var remaining: Int64 { max(0, held - settled) }
    public var isActive: Bool { status == .active }

    public init(id: String, number: Int64, status: Status, denial: Denial?, held: Int64, settled: Int64 = 0,
                member: String?, workflow: String?, requestedAt: Int64, expiresAt: Int64, endedAt: Int64 = .max,
                requestHash: UInt64) {
        self.id = id; self.number = number; self.status = status; self.denial = denial; self.held = held
        self.settled = settled; self.member = member; self.workflow = workflow; self.requestedAt = requestedAt
        self.expiresAt = expiresAt; self.endedAt = endedAt; self.requestHash = requestHash
    }
}

/// An account's holds (§15), active and remembered, in the order they were decided, with the
/// sums the decisions and `available_credits` read. Kept in `AccountExtras`: an account that
/// never asked for a hold carries nothing.
public struct HoldBook: Sendable, Equatable {
    /// At most this many holds active at once (`too_many_holds`).
    public static let maxActive = 1_000
    /// Ended holds remembered this long after they end (account clock), the end of it
    /// included, as §14 remembers an id while the clock ≤ its application + the window…
    public static let memory: Int64 = 7 * 86_400 * 1_000_000_000
    /// …and at most this many per account, the earliest ended forgotten first.
    public static let maxEnded = 10_000

    /// Decided holds, oldest first (ascending `number`).
    public internal(set) var holds: [Hold] = []
    /// The next hold's `number`.
    public internal(set) var nextNumber: Int64 = 1
    public internal(set) var activeCount = 0
    /// Σ held and Σ remaining over the active holds (millicredits).
    public internal(set) var activeHeld: Int64 = 0
    public internal(set) var activeRemaining: Int64 = 0
    /// hold id → number.
    private var numbers: [String: Int64] = [:]
    /// The earliest account time at which a hold expires or an ended one is forgotten
    /// (`.max`: none): the pass before an event runs only once the clock reaches it.
    private(set) var deadline: Int64 = .max

    public init() {}

    /// Two books are equal when they remember the same holds and number alike; the index and
    /// the deadline are derived (a live book's deadline may stay early until its next pass,
    /// where a restored one's is exact).
    public static func == (a: HoldBook, b: HoldBook) -> Bool {
        a.holds == b.holds && a.nextNumber == b.nextNumber
    }

    public var isEmpty: Bool { holds.isEmpty }
    public var endedCount: Int { holds.count - activeCount }

    public func hold(_ id: String) -> Hold? {
        guard let n = numbers[id], let i = position(n) else { return nil }
        return holds[i]
    }

    func position(_ id: String) -> Int? {
        guard let n = numbers[id] else { return nil }
        return position(n)
    }

    /// Binary search on `number`.
    func position(_ number: Int64) -> Int? {
        var lo = 0, hi = holds.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if holds[mid].number < number { lo = mid + 1 } else { hi = mid }
        }
        return lo < holds.count && holds[lo].number == number ? lo : nil
    }

    /// Σ remaining of `member`'s active holds.
    public func remaining(member: String) -> Int64 {
        holds.withUnsafeBufferPointer { b in
            var sum: Int64 = 0
            for i in b.indices where b[i].status == .active && b[i].member == member { sum += max(0, b[i].held - b[i].settled) }
            return sum
        }
    }

    // MARK: Changes (the ledger's alone)

    /// Records a decided hold (granted or denied) as the newest.
    mutating func add(_ h: Hold) {
        precondition(h.number == nextNumber && numbers[h.id] == nil, "hold numbers and ids are unique")
        nextNumber += 1
        numbers[h.id] = h.number
        holds.append(h)
        if h.isActive {
            activeCount += 1
            activeHeld += h.held
            activeRemaining += h.remaining
            deadline = min(deadline, h.expiresAt)
        } else {
            deadline = min(deadline, HoldBook.forgottenAt(h.endedAt))
            forgetBeyondCap()
        }
    }

    /// Charges `credits` of usage against the active hold at `i`.
    mutating func settle(at i: Int, _ credits: Int64) {
        let before = holds[i].remaining
        holds[i].settled += credits
        activeRemaining += holds[i].remaining - before
    }

    /// Ends the active hold at `i` (a release or an expiry) at account time `time`.
    mutating func end(at i: Int, _ status: Hold.Status, time: Int64) {
        close(at: i, status, time: time)
        forgetBeyondCap()
    }

    /// Ends the active hold at `i` without applying the cap on ended holds, which may remove
    /// holds and move positions: `pass` ends every expired hold first, then applies it once.
    private mutating func close(at i: Int, _ status: Hold.Status, time: Int64) {
        precondition(holds[i].isActive && status != .active && status != .denied)
        activeCount -= 1
        activeHeld -= holds[i].held
        activeRemaining -= holds[i].remaining
        holds[i].status = status
        holds[i].endedAt = time
        deadline = min(deadline, HoldBook.forgottenAt(time))
    }

    /// A new `expires_at` for the active hold at `i`.
    mutating func extend(at i: Int, to expiresAt: Int64) {
        holds[i].expiresAt = expiresAt
        recomputeDeadline()
    }

    /// The first account time at which a hold that ended at `endedAt` is forgotten: one
    /// nanosecond past 7 days after its end.
    @inline(__always)
    static func forgottenAt(_ endedAt: Int64) -> Int64 { endedAt &+ memory &+ 1 }

    /// The pass before an event (§15): at account time `clock`, every active hold with
    /// `expires_at` ≤ `clock` expires (it ends at its `expires_at`), and every hold ended more
    /// than 7 days before `clock` is forgotten. Returns how many expired.
    @discardableResult
    mutating func pass(at clock: Int64) -> Int {
        guard clock >= deadline else { return 0 }
        // The holds are walked in their storage reading stored fields (`status`, not
        // `isActive`): a busy account remembers thousands of holds, and reading a computed
        // property of an element copied the hold (its strings retained and released) per step.
        var expired = 0, held: Int64 = 0, remaining: Int64 = 0, forgettable = false
        holds.withUnsafeMutableBufferPointer { b in
            for i in b.indices {
                if b[i].status == .active {
                    guard b[i].expiresAt <= clock else { continue }
                    expired += 1
                    held += b[i].held
                    remaining += max(0, b[i].held - b[i].settled)
                    b[i].status = .expired
                    b[i].endedAt = b[i].expiresAt
                }
                if HoldBook.forgottenAt(b[i].endedAt) <= clock { forgettable = true }
            }
        }
        activeCount -= expired
        activeHeld -= held
        activeRemaining -= remaining
        if forgettable {
            holds.removeAll { h in
                let forget = !h.isActive && HoldBook.forgottenAt(h.endedAt) <= clock
                if forget { numbers[h.id] = nil }
                return forget
            }
        }
        if expired > 0 { forgetBeyondCap() }
        recomputeDeadline()
        return expired
    }

    /// More than `maxEnded` ended holds: the earliest ended (then the oldest) are forgotten.
    private mutating func forgetBeyondCap() {
        let excess = endedCount - HoldBook.maxEnded
        guard excess > 0 else { return }
        if excess == 1 {
            // The usual case, one hold just ended: the earliest ended (the oldest of equals, as
            // the holds are in `number` order) in one walk, without sorting every ended hold
            // on every hold an account at the cap decides or ends.
            let victim = holds.withUnsafeBufferPointer { b in
                var v = -1
                for i in b.indices where b[i].status != .active && (v < 0 || b[i].endedAt < b[v].endedAt) { v = i }
                return v
            }
            numbers[holds[victim].id] = nil
            holds.remove(at: victim)
            return
        }
        let victims = holds.indices.filter { !holds[$0].isActive }
            .sorted { (holds[$0].endedAt, holds[$0].number) < (holds[$1].endedAt, holds[$1].number) }
            .prefix(excess)
        let gone = Set(victims.map { holds[$0].number })
        holds.removeAll { h in
            let forget = gone.contains(h.number)
            if forget { numbers[h.id] = nil }
            return forget
        }
    }

    private mutating func recomputeDeadline() {
        deadline = holds.withUnsafeBufferPointer { b in
            var d = Int64.max
            for i in b.indices { d = min(d, b[i].status == .active ? b[i].expiresAt : HoldBook.forgottenAt(b[i].endedAt)) }
            return d
        }
    }

    /// Rebuilds the book from decoded holds (a snapshot), checking what the snapshot must hold.
    init(restoring holds: [Hold], nextNumber: Int64) throws(SnapshotError) {
        self.nextNumber = nextNumber
        var last: Int64 = 0
        for h in holds {
            guard h.number > last, h.number < nextNumber, numbers[h.id] == nil else {
                throw .damaged("holds out of order or repeated")
            }
            guard h.held >= 0, h.settled >= 0, h.isActive == (h.endedAt == .max) else { throw .damaged("hold fields out of range") }
            last = h.number
            numbers[h.id] = h.number
            self.holds.append(h)
            if h.isActive {
                activeCount += 1
                activeHeld += h.held
                activeRemaining += h.remaining
            }
        }
        guard activeCount <= HoldBook.maxActive, endedCount <= HoldBook.maxEnded else { throw .damaged("too many holds") }
        recomputeDeadline()
    }

    /// The sums match the holds (Invariants.swift).
    var isConsistent: Bool {
        var n = 0, held: Int64 = 0, rem: Int64 = 0
        for h in holds where h.isActive { n += 1; held += h.held; rem += h.remaining }
        return n == activeCount && held == activeHeld && rem == activeRemaining && numbers.count == holds.count
    }
}

extension Account {
    /// Balance − Σ remaining of the active holds (§15; may be negative).
    public var availableCredits: Int64 { balance - (extras.first?.holds.activeRemaining ?? 0) }

    /// The account's holds, nil when it never had one.
    public var holdBook: HoldBook? {
        guard let x = extras.first, !x.holds.isEmpty else { return nil }
        return x.holds
    }
}
