/// The account's allocation history (contract §11 `/history`): what changed the blocks'
/// total, newest last, at most `History.capacity` kept. Usage events are not entries.
public enum HistoryKind: UInt8, Sendable, CaseIterable {
    case cycleStarted = 0, allowanceForfeited, rollover, topup, grant, grantExpired, grantVoided, adjusted, planAssigned

    public var name: String {
        switch self {
        case .cycleStarted: return "cycle_started"
        case .allowanceForfeited: return "allowance_forfeited"
        case .rollover: return "rollover"
        case .topup: return "topup"
        case .grant: return "grant"
        case .grantExpired: return "grant_expired"
        case .grantVoided: return "grant_voided"
        case .adjusted: return "adjusted"
        case .planAssigned: return "plan_assigned"
        }
    }
}

/// One history entry as the ledger keeps it: 48 bytes, its strings (event id, reason, ref)
/// in the partition's text arena, shared by the entries of one event.
public struct HistoryEntry: Sendable, Equatable {
    /// The event's time; the cycle start for cycle entries; `expires_at` for `grant_expired`.
    public var time: Int64
    /// The change to the blocks' total, signed millicredits.
    public var credits: Int64
    /// A second time or amount of the detail: `cycle_end` (cycle_started), `expires_at`
    /// (grant, rollover; `.max` = never), monthly credits (plan_assigned).
    public var at: Int64
    /// Arena refs: the event id, the first and second detail text (0 = none).
    var idRef: UInt64
    var textRef: UInt64
    var text2Ref: UInt64
    /// While the entry's strings are not stored yet: the price-book plan whose name
    /// `cycle_started` and `plan_assigned` carry (−2 custom plan); −1 otherwise.
    public var aux: Int32
    public var kind: HistoryKind

    /// Marks an entry whose strings the ledger has not stored yet (it was just made).
    static let pending: UInt64 = .max

    init(_ kind: HistoryKind, time: Int64, credits: Int64, at: Int64 = .min, aux: Int32 = -1) {
        self.kind = kind
        self.time = time
        self.credits = credits
        self.at = at
        self.aux = aux
        self.idRef = HistoryEntry.pending
        self.textRef = 0
        self.text2Ref = 0
    }
}

/// The history's limits.
public enum History {
    /// Entries kept per account (contract §11).
    public static let capacity = 100
}

/// Step 9 of `LedgerState.apply`: the strings of the entries an event made.
extension LedgerState {
    /// An empty text arena: one placeholder byte, so that no live ref is 0.
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
    mutating func storeHistory(_ index: Int, _ e: DecodedEvent) {
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
}
