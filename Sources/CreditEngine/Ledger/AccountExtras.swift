/// Contract §12 (and §15, §16) state of one account, kept out of line (`Account.extras`, empty for an account
/// that uses none of it) so that an ordinary account stays small and its usage events touch
/// nothing new.
public struct AccountExtras: Sendable, Equatable {
    /// Fingerprints of (source, id) of this account's grant and top-up events, kept forever,
    /// sorted: `credit.grant.voided` must name one of them.
    public internal(set) var grantIDs: [UInt64] = []
    /// The current plan's rollover cap (millicredits; 0 = no rollover).
    public internal(set) var rolloverMax: Int64 = 0
    public internal(set) var autoTopup: AutoTopupPolicy?
    /// Requests made in the current cycle (against `max_per_cycle`; their `request_number`);
    /// reset at every cycle start.
    public internal(set) var requestsInCycle: Int64 = 0
    /// The last `n` of this cycle's request ids, 0 for none (Sequences.swift).
    public internal(set) var requestSequence: Int64 = 0
    /// A request is pending until the next credit-adding event or cycle start.
    public internal(set) var requestPending = false
    public internal(set) var budgets: [MemberBudget] = []
    /// The alert counts of members whose budget was removed this cycle, so that a budget set
    /// again continues them (§14); dropped at the next cycle start.
    public internal(set) var removedBudgetCounts: [MemberCounts] = []
    /// Runway alert (§12): fired this cycle and not lifted out since; the last `n` of its ids
    /// this cycle.
    public internal(set) var runwayFired = false
    public internal(set) var runwaySequence: Int64 = 0
    /// The account's own low-balance thresholds (§16), high → low; empty: the configured
    /// default (`EngineConfiguration.thresholds`).
    public internal(set) var alertThresholds: [Int64] = []
    /// The balance alert counts of thresholds removed this cycle, so that a threshold set again
    /// continues them (§14); dropped at the next cycle start.
    public internal(set) var retiredAlertCounts: [RetiredAlertCounts] = []
    /// Holds (§15), active and remembered.
    public internal(set) var holds = HoldBook()

    public init() {}

    var isEmpty: Bool { self == AccountExtras() }

    func knowsGrant(_ fp: UInt64) -> Bool {
        let i = grantPosition(fp)
        return i < grantIDs.count && grantIDs[i] == fp
    }

    mutating func rememberGrant(_ fp: UInt64) {
        let i = grantPosition(fp)
        if i < grantIDs.count && grantIDs[i] == fp { return }
        grantIDs.insert(fp, at: i)
    }

    /// Where `fp` is, or would go, in the sorted `grantIDs` (binary search).
    private func grantPosition(_ fp: UInt64) -> Int {
        var lo = 0, hi = grantIDs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if grantIDs[mid] < fp { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

extension Account {
    /// Which §12 evaluations an applied event needs (step 8 of `LedgerState.apply`), and whether
    /// the account has its own alert thresholds (§16), kept on the account so that a usage event
    /// of an account with neither reads no §12 state.
    struct ActivePolicies: OptionSet, Sendable, Equatable {
        let rawValue: UInt8
        /// An auto top-up policy is configured.
        static let autoTopup = ActivePolicies(rawValue: 1)
        /// At least one member has a budget.
        static let memberBudgets = ActivePolicies(rawValue: 2)
        /// The account has its own alert thresholds (§16).
        static let ownThresholds = ActivePolicies(rawValue: 4)
    }

    /// Runs `body` on the account's §12 state, creating it if needed.
    @inline(__always)
    mutating func withExtras<R>(_ body: (inout AccountExtras) -> R) -> R {
        if extras.isEmpty { extras.append(AccountExtras()) }
        return body(&extras[0])
    }

    /// The account's §12 state, nil when it has none.
    public var features: AccountExtras? { extras.first }

    /// Recomputes `activePolicies` from the §12 state (after a policy or budget change, a restore).
    mutating func refreshActivePolicies() {
        guard let x = extras.first else { activePolicies = []; return }
        activePolicies = []
        if x.autoTopup != nil { activePolicies.insert(.autoTopup) }
        if !x.budgets.isEmpty { activePolicies.insert(.memberBudgets) }
        if !x.alertThresholds.isEmpty { activePolicies.insert(.ownThresholds) }
    }

    /// A cycle start or a credit-adding event: no request is pending any more.
    @inline(__always)
    mutating func clearPendingRequest() {
        if !extras.isEmpty && extras[0].requestPending { extras[0].requestPending = false }
    }
}
