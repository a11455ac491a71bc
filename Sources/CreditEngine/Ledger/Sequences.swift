/// The `n` of published ids (contract §6, §12, §14): balance alerts, member budget alerts, the
/// runway alert and top-up requests each count per id prefix — `<account>/<cycle_start>/<type>
/// [/member]/<threshold>` — within a cycle, and a counter never restarts within a cycle (a
/// member budget removed and set again keeps its counts, `AccountExtras.removedBudgetCounts`).
///
/// A counter's first id in a cycle takes n = 1, so an account that was never re-anchored
/// numbers exactly as §6 says: its cycle starts only ever move forward, so a prefix is never
/// met again after its cycle. A re-anchor (a plan event whose `cycle_anchor` starts a fresh
/// cycle, `Account.assignPlan`) can return to a cycle start met before; from then on a
/// counter's first id in a cycle takes one more than the highest n the account has ever used
/// (`Account.highestSequence`, kept for every account), so no id is ever published twice with
/// other content. Several ids of one event are numbered in the order recovered, crossed,
/// member, top-up request, runway.
struct SequenceNumbering {
    /// The highest n the account has used in any id.
    var highest: Int64
    /// A prefix may be met again: the account has been re-anchored, or restored under other
    /// thresholds than its snapshot's (their dropped counts).
    let reanchored: Bool

    /// The n after `last`, the counter's last n this cycle (0: none yet); it becomes the
    /// highest if it is.
    @inline(__always)
    mutating func next(after last: Int64) -> Int64 {
        let n = last > 0 ? last + 1 : (reanchored ? highest + 1 : 1)
        if n > highest { highest = n }
        return n
    }
}

extension Account {
    /// The account's numbering (read and written only when an id is made).
    var numbering: SequenceNumbering {
        get { SequenceNumbering(highest: highestSequence, reanchored: reanchored) }
        set { highestSequence = newValue.highest }
    }

    /// The n of a counter's next id, after `last` (its last n this cycle, 0 for none).
    @inline(__always)
    mutating func nextSequence(after last: Int64) -> Int64 {
        var numbering = self.numbering
        let n = numbering.next(after: last)
        highestSequence = numbering.highest
        return n
    }
}

extension Account {
    /// Whether every id `n` the account holds — its alert, member alert, runway and request
    /// counters and this cycle's fired alerts — satisfies `rule` (no allocation).
    func allSequences(_ rule: (Int64) -> Bool) -> Bool {
        for n in alerts.counts where !rule(n) { return false }
        for f in cycleAlerts where !rule(f.sequence) { return false }
        guard let x = extras.first else { return true }
        if !rule(x.requestSequence) || !rule(x.runwaySequence) { return false }
        for b in x.budgets { for n in b.counts where !rule(n) { return false } }
        for m in x.removedBudgetCounts { for n in m.counts where !rule(n) { return false } }
        for r in x.retiredAlertCounts where !rule(r.low) || !rule(r.recovered) { return false }
        return true
    }
}
