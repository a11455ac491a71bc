/// What applying one record did (see Engine.swift).
public struct ApplyResult {
    public enum Outcome: Equatable {
        case applied
        case duplicate
        case rejected(Rejection)
    }

    public var outcome: Outcome
    /// The account touched (its index in the partition), or -1.
    public var account: Int = -1
    /// Millicredits charged (usage events).
    public var charged: Int64 = 0
    /// Rate-card version index that priced the event (usage), or -1.
    public var version: Int = -1
    /// Alerts to publish, in order: a recovery, a crossing, a member budget alert, a runway
    /// alert, each at most once. Kept out of line (they are rare) so that the result of an
    /// ordinary event stays small and cheap to copy.
    public var alerts: [Alert] { fired?.alerts ?? [] }
    var fired: FiredAlerts?

    public var alertCount: Int { fired?.alerts.count ?? 0 }
    /// Auto top-up requests to publish on `kafka.requests_topic` (§12): at most one.
    public var requests: [TopupRequest] { fired?.requests ?? [] }
    public var requestCount: Int { fired?.requests.count ?? 0 }
    /// A hold event's outcome (§15), nil for every other event.
    public var hold: HoldReport?

    public init(outcome: Outcome, account: Int = -1, charged: Int64 = 0, version: Int = -1) {
        self.outcome = outcome
        self.account = account
        self.charged = charged
        self.version = version
    }

    @inline(__always)
    static func rejected(_ r: Rejection) -> ApplyResult { ApplyResult(outcome: .rejected(r)) }
}

/// The alerts and top-up requests one event produced (allocated only when there are some).
final class FiredAlerts {
    let alerts: [Alert]
    let requests: [TopupRequest]
    init(_ alerts: [Alert], requests: [TopupRequest] = []) { self.alerts = alerts; self.requests = requests }
}

/// What a hold event did (§15), for whoever waits on its decision (the HTTP routes) and for
/// metrics. Allocated only for hold events.
public final class HoldReport: Sendable {
    public let type: EventType
    public let holdID: String
    /// The named hold after the event; nil when the account has no state (a request: denied
    /// `unknown_account`) or does not remember the hold.
    public let hold: Hold?
    /// A request repeating a remembered `hold_id` with the same `data`: `hold` is the first decision.
    public let repeated: Bool
    /// The account's available credits after the event; nil when the account has no state.
    public let available: Int64?

    init(type: EventType, holdID: String, hold: Hold?, repeated: Bool, available: Int64?) {
        self.type = type; self.holdID = holdID; self.hold = hold; self.repeated = repeated; self.available = available
    }
}
