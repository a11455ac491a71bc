/// The ledger's invariants, stated once (TigerBeetle-style) and checked after every apply
/// (debug builds, `PartitionLedger.apply`), when a snapshot is encoded (debug builds), when
/// one is decoded (always: a snapshot that breaks them is refused), and by `audit()`.
///
/// For every account:
/// 1. conservation: granted − charged − expired − voided + adjusted = balance, to the millicredit;
/// 2. overage only when no credits are left: overage > 0 ⇒ allowance = 0 and blocks = 0;
/// 3. the block total is the sum of its blocks;
/// 4. holds (§15): the active count and sums are those of the active holds, at most 1,000
///    active, and no active hold has reached its `expires_at` on the account clock.
///
/// And after every apply (debug builds; restore checks it in SnapshotValidation.swift): no id
/// `n` the account holds is above the highest n it has used (Sequences.swift: what a
/// re-anchored account numbers above); once built, the partition's hold expiry index lists the
/// account iff it has an active hold, with none expiring before the index's bound (HoldExpiries.swift).
extension Account {
    /// The invariants this account breaks (empty when it keeps them all).
    public var invariantFailures: [String] {
        var out: [String] = []
        if !isConserved { out.append("") }
        if overage > 0 && (allowance > 0 || blockCredits > 0) { out.append(" (overage beside credits)") }
        if blockCredits != blocks.reduce(0, { $0 + $1.remaining }) { out.append(" (block sum)") }
        if let book = extras.first?.holds, !book.isEmpty {
            if !book.isConsistent || book.activeCount > HoldBook.maxActive { out.append(" (hold sums)") }
            // Indexed, with the clock read once: debug builds copy nothing per hold.
            let clock = self.clock
            for i in book.holds.indices where book.holds[i].isActive && book.holds[i].expiresAt <= clock {
                out.append(" (active hold past its expiry)")
                break
            }
        }
        return out
    }
}

extension PartitionLedger {
    /// Debug builds: the account an apply touched still keeps every invariant.
    @inline(__always)
    func assertInvariants(after result: ApplyResult) {
        assert(result.account < 0 || state.accounts[result.account].invariantFailures.isEmpty,
               "ledger invariant broken for \(ids.string(result.account)): \(state.accounts[result.account].invariantFailures)")
        assert(result.account < 0 || state.accounts[result.account].allSequences { $0 <= state.accounts[result.account].highestSequence },
               "an id n of \(ids.string(result.account)) is above its highest n")
        assert(result.account < 0 || state.holdExpiries?.covers(result.account, state.accounts[result.account]) ?? true,
               "the hold expiry index misses \(ids.string(result.account))'s active holds")
    }

    /// Every account's invariants, and conservation of the partition's totals.
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

/// Result of the audit: the accounts checked, the partition's totals (granted − charged −
/// expired − voided + adjusted = balance, to the millicredit), and each invariant an account
/// breaks (its id, then what).
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
