/// Which holds of a partition can expire, so that the owner's question once a second — "which
/// active holds have `expires_at` ≤ now?" (§15: holds expire without other traffic) — costs one
/// comparison while none has: the accounts with active holds, and a bound that no active hold
/// expires before.
///
/// Kept from the apply path only when an event touched holds (`HoldEffects`): a hold event, or
/// holds expiring before an event; an ordinary usage event never reaches it. Only a request or
/// an extension gives a hold its `expires_at`, and each lowers `earliest` at once if it must; a
/// hold that ends leaves `earliest` a bound below the rest, made exact again by the next scan.
struct HoldExpiryIndex {
    /// Every account with an active hold (and none without one).
    private(set) var accounts: Set<Int> = []
    /// No active hold of the partition expires before it (`.max`: no active hold); exact after
    /// each `due` that scanned.
    private(set) var earliest: Int64 = .max

    /// The index of `accounts` as their hold books are now (a ledger restored from a snapshot).
    init(_ accounts: [Account]) {
        for i in accounts.indices where !accounts[i].extras.isEmpty {
            guard let book = accounts[i].holdBook, book.activeCount > 0 else { continue }
            self.accounts.insert(i)
            for h in book.holds where h.isActive { earliest = min(earliest, h.expiresAt) }
        }
    }

    /// After an event that touched account `i`'s holds: `book` as it left them, `changed` the
    /// hold a request or an extension left active (its `expires_at` may be the earliest now).
    mutating func update(_ i: Int, _ book: HoldBook?, changed: Hold?) {
        guard let book, book.activeCount > 0 else {
            accounts.remove(i)
            return
        }
        accounts.insert(i)
        if let changed, changed.isActive { earliest = min(earliest, changed.expiresAt) }
    }

    /// Account `i` (`a`) is indexed as its holds are: listed iff it has an active hold, and none
    /// of them expires before `earliest` (debug builds check it after every apply).
    func covers(_ i: Int, _ a: Account) -> Bool {
        let book = a.holdBook
        let active = (book?.activeCount ?? 0) > 0
        guard accounts.contains(i) == active else { return false }
        return book?.holds.allSatisfy { !$0.isActive || $0.expiresAt >= earliest } ?? true
    }

    /// The expiries of the active holds with `expires_at` ≤ `time`, earliest first (then by
    /// account and log order). One comparison while none is due; else a scan of the accounts
    /// with active holds, which also makes `earliest` exact.
    mutating func due(at time: Int64, in ledgerAccounts: [Account], ids: InternTable) -> [HoldExpiry] {
        guard time >= earliest else { return [] }
        var due: [(account: Int, hold: Hold)] = []
        var next = Int64.max
        for i in accounts {
            guard let book = ledgerAccounts[i].holdBook else { continue }
            for h in book.holds where h.isActive {
                next = min(next, h.expiresAt)
                if h.expiresAt <= time { due.append((i, h)) }
            }
        }
        earliest = next
        return due.sorted { ($0.hold.expiresAt, $0.account, $0.hold.number) < ($1.hold.expiresAt, $1.account, $1.hold.number) }
            .map { HoldExpiry(account: ids.string($0.account), holdID: $0.hold.id, expiresAt: $0.hold.expiresAt) }
    }
}

extension PartitionLedger {
    /// The `credit.hold.expired` events due at `time` (a wall-clock time, UTC nanoseconds): one
    /// per active hold whose `expires_at` ≤ `time`, earliest first — what the partition's owner
    /// writes to the input (§15). A hold stays due until its expiry (or a release, or an
    /// extension) is applied. Costs one comparison while no hold is due; the first call builds
    /// the index from the accounts' hold books (so a restored ledger needs nothing else), and
    /// `apply` keeps it from then on.
    public func dueHolds(at time: Int64) -> [HoldExpiry] {
        if state.holdExpiries == nil { state.holdExpiries = HoldExpiryIndex(state.accounts) }
        return state.holdExpiries!.due(at: time, in: state.accounts, ids: state.ids)
    }
}
