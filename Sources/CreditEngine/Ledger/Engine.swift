/// # The ledger engine: read this first
///
/// A pure function at the centre: `LedgerState.apply(record)` → the new state and an
/// `ApplyResult`. No I/O, no clock, no randomness: the same log always gives the same state,
/// the same results and the same alert ids, byte for byte, which is what snapshots, replay and
/// several instances rely on (contract §8, §9, §13).
///
/// **In.** One input partition's state (`LedgerState`: its accounts, the ids they remember,
/// the tables of names) and one record: a `DecodedEvent` (§2), the record's key and its
/// timestamp.
///
/// **Out.** An `ApplyResult`: applied, duplicate, or rejected with a `Rejection` (the service
/// sends the record to the dead-letter topic with its text; nothing else changes); the
/// account touched; the credits charged and the rate-card version that priced them (usage);
/// the alerts (§6, §12) and auto top-up requests (§12) to publish.
///
/// **Steps.** Every record goes through these, in this order (Apply.swift); a step that
/// refuses ends the record before anything has changed:
/// 1. Record checks: a key equal to the subject, an event time at most 24 h ahead of the
///    record's timestamp (§2, §5, §7).
///    A hold event (§15) for an account with no state ends here: it changes nothing and is
///    not remembered (a request is denied `unknown_account`).
/// 2. Dedupe, on the account's own clock before the record (§5, §14): a (source, id) the
///    account applied within the window (`DedupeTable`), or a grant or top-up id it ever
///    applied (`AccountExtras.grantIDs`), is a duplicate.
/// 3. Validation and pricing by the event's family (`Rules.<family>.validate`), reading the
///    account without changing it: a `Change`, or a rejection.
/// 4. Bounds: the change keeps the account's totals within the ledger's limits (Bounds.swift).
/// 5. Commit: the account exists, the id is remembered, the event's names are interned.
/// 6. The account's clock moves to the event's time, through every cycle start and expiry
///    on the way (Cycles.swift: §5, §12 rollover); then its holds whose `expires_at` the
///    clock has reached expire and holds ended more than 7 days ago are forgotten (§15, HoldBook.swift).
/// 7. The family's effect on the account and its history entries (`Rules.<family>.apply`);
///    usage naming an active hold also settles against it (Rules/Holds.swift).
/// 8. Evaluations: balance alerts, member budgets, auto top-up, runway (Outputs.swift), each
///    id numbered by Sequences.swift. (A grant already expired on arrival has none: §14.)
///    An account's own alert thresholds (§16) are set just after this step: they are in force
///    from the next applied event.
/// 9. History: the strings of the new history entries are stored (History.swift).
/// 10. Outputs: what fired becomes `Alert`s and `TopupRequest`s (Outputs.swift).
///
/// Steps 6–8 run with one exclusive access to the account.
///
/// **Invariants** (Invariants.swift; checked after every apply in debug builds, on every
/// snapshot decode, and by `audit()`), per account: granted − charged − expired − voided +
/// adjusted = balance, to the millicredit; no overage beside unspent credits; the blocks sum
/// to their total; and after every apply (debug builds) no id `n` above the account's highest.
/// Amounts are integer millicredits; no floating point touches them.
///
/// **Where the rules live.** One file per event family in Ledger/Rules/, each with the
/// family's validation (and pricing) and its effect on the account:
///
/// | family       | event types                                               | file                  |
/// |--------------|-----------------------------------------------------------|-----------------------|
/// | usage        | `ai.usage`                                                | Usage.swift           |
/// | plan         | `credit.plan.assigned`                                    | Plan.swift            |
/// | purchases    | `credit.grant.issued`, `credit.topup.purchased`           | Purchases.swift       |
/// | adjustment   | `credit.adjusted`                                         | Adjustment.swift      |
/// | void         | `credit.grant.voided`                                     | GrantVoid.swift       |
/// | policies     | `credit.autotopup.configured`, `credit.member.budget.set` | Policies.swift        |
/// | rate-card pin| `credit.ratecard.pinned`                                  | RateCardPin.swift     |
/// | thresholds   | `credit.alerts.configured` (§16)                          | AlertThresholds.swift |
/// | holds        | `credit.hold.requested` / `.extended` / `.released` / `.expired` (§15) | Holds.swift |
///
/// What every event shares lives beside them in Ledger/: the account and its blocks
/// (Account.swift, Blocks.swift), cycles (Cycles.swift), usage breakdowns (UsageCells.swift),
/// the runway (Runway.swift), id numbering (Sequences.swift), history, dedupe, bounds and
/// invariants. A new family is a new
/// file in Rules/, a case of `EventType` with its `data` fields (EventDecoder+Data.swift), a
/// case of `Change` below and its lines in the switches of Apply.swift (the compiler points
/// to each); state it keeps goes into the account's snapshot bytes (AccountCoding.swift).
enum Rules {}

extension LedgerState {
    /// What a validated event will do to its account, one case per family: computed in step 3
    /// before anything changes, applied in step 7.
    enum Change {
        case usage(Rules.Usage.Change)
        case plan(Rules.Plan.Change)
        case purchase(Rules.Purchase.Change)
        case adjustment(Rules.Adjustment.Change)
        case void(Rules.GrantVoid.Change)
        case policy(Rules.Policies.Change)
        case pin(Rules.RateCardPin.Change)
        case thresholds(Rules.AlertThresholds.Change)
        case hold(Rules.Holds.Change)

        /// Millicredits charged: a usage event's price, else 0.
        @inline(__always)
        var charged: Int64 {
            if case .usage(let c) = self { return c.price }
            return 0
        }

        /// The rate-card version (index) that priced a usage event, else −1.
        @inline(__always)
        var version: Int {
            if case .usage(let c) = self { return c.version }
            return -1
        }

        /// The credits the event moves, as step 4 bounds them.
        @inline(__always)
        var credits: Int64 {
            switch self {
            case .usage(let c): return c.price
            case .plan(let c): return c.monthly
            case .purchase(let c): return c.credits
            case .adjustment(let c): return c.credits
            case .void, .policy, .pin, .thresholds, .hold: return 0
            }
        }

        /// The money the event brings (micro-units): a plan's or a pack's price.
        @inline(__always)
        var moneyMicros: Int64 {
            switch self {
            case .plan(let c): return c.priceMicros
            case .purchase(let c): return c.packPriceMicros
            case .usage, .adjustment, .void, .policy, .pin, .thresholds, .hold: return 0
            }
        }

        /// Whether the dedupe window keeps the event's id with no time limit (§5: adjustments).
        @inline(__always)
        var remembersIDForever: Bool {
            if case .adjustment = self { return true }
            return false
        }
    }
}
