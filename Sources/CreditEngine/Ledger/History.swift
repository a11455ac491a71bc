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
    /// Plan or pack index in the price book (−1 none, −2 custom plan).
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

public enum History {
    /// Entries kept per account (contract §11).
    public static let capacity = 100
}
