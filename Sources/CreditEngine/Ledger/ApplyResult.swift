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
