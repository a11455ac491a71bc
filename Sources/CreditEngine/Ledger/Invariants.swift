/// The ledger's invariants, stated once (TigerBeetle-style) and checked in three places:
/// after every apply (debug builds, `PartitionLedger.apply`), when a snapshot is encoded
/// (debug builds) and when one is decoded (always: a snapshot that breaks them is refused),
/// and by `audit()`.
///
/// For every account:
/// 1. conservation: granted − charged − expired + adjusted = balance, to the millicredit;
/// 2. overage only when no credits are left: overage > 0 ⇒ allowance = 0 and blocks = 0;
/// 3. the block total is the sum of its blocks.
extension Account {
    /// The invariants this account breaks (empty when it keeps them all).
    public var invariantFailures: [String] {
        var out: [String] = []
        if !isConserved { out.append("") }
        if overage > 0 && (allowance > 0 || blockCredits > 0) { out.append(" (overage beside credits)") }
        if blockCredits != blocks.reduce(0, { $0 + $1.remaining }) { out.append(" (block sum)") }
        return out
    }
}

extension PartitionLedger {
    /// Debug builds: the account an apply touched still keeps every invariant.
    @inline(__always)
    func assertInvariants(after result: ApplyResult) {
        assert(result.account < 0 || state.accounts[result.account].invariantFailures.isEmpty,
               "ledger invariant broken for \(ids.string(result.account)): \(state.accounts[result.account].invariantFailures)")
    }
}
