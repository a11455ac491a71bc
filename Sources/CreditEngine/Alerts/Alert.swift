/// A published alert (contract §6). `id` is deterministic:
/// `<account>/<cycle_start>/<type>/<threshold_percent>/<n>`.
public struct Alert: Sendable, Equatable {
    public var kind: AlertState.Kind
    public var thresholdPercent: Int
    public var sequence: Int
    public var account: String
    public var remaining: Int64
    public var entitlement: Int64
    public var cycleStart: Int64
    public var cycleEnd: Int64
    public var triggeredBy: String
    public var rateCardVersion: String?
    public var time: Int64
    /// Member budget alerts (§12): the member, its index in the partition, budget and used.
    public var member: String?
    var memberIndex: Int32 = -1
    public var budget: Int64 = 0
    public var used: Int64 = 0
    /// Runway alert (§12): `alerts.runway_days` and the runway.
    public var runwayDays: Int64?
    public var runway: Runway?

    public init(kind: AlertState.Kind, thresholdPercent: Int, sequence: Int, account: String, remaining: Int64,
                entitlement: Int64, cycleStart: Int64, cycleEnd: Int64, triggeredBy: String, rateCardVersion: String?, time: Int64) {
        self.kind = kind
        self.thresholdPercent = thresholdPercent
        self.sequence = sequence
        self.account = account
        self.remaining = remaining
        self.entitlement = entitlement
        self.cycleStart = cycleStart
        self.cycleEnd = cycleEnd
        self.triggeredBy = triggeredBy
        self.rateCardVersion = rateCardVersion
        self.time = time
    }

    public var type: String { kind.type }

    public var id: String {
        switch kind {
        case .memberLow, .memberExhausted:
            return "\(account)/\(EventTime.format(cycleStart))/\(member ?? "")/\(type)/\(thresholdPercent)/\(sequence)"
        case .runway:
            return "\(account)/\(EventTime.format(cycleStart))/\(type)/\(runwayDays ?? 0)/\(sequence)"
        default:
            return "\(account)/\(EventTime.format(cycleStart))/\(type)/\(thresholdPercent)/\(sequence)"
        }
    }

    /// floor(remaining / entitlement × 1000) in tenths of a percent, nil when entitlement is 0.
    public var remainingPermille: Int64? {
        entitlement > 0 ? Thresholds.remainingPermille(remaining, of: entitlement) : nil
    }

    /// The CloudEvents JSON record.
    public func json() -> [UInt8] {
        CloudEventEnvelope(id: id, source: CloudEventEnvelope.meterSource, type: type, subject: account, time: time).json { w in
            w.key("account"); w.string(account)
            if kind.isMember {
                w.key("member"); w.string(member ?? "")
                w.key("threshold_percent"); w.integer(Int64(thresholdPercent))
                w.key("budget_credits"); w.credits(budget)
                w.key("used_credits"); w.credits(used)
                w.key("remaining_credits"); w.credits(budget - used)
                w.key("cycle_start"); w.time(cycleStart)
                w.key("cycle_end"); w.time(cycleEnd)
                w.key("triggered_by"); w.string(triggeredBy)
                return
            }
            w.key("threshold_percent"); if kind == .runway { w.null() } else { w.integer(Int64(thresholdPercent)) }
            w.key("remaining_credits"); w.credits(remaining)
            w.key("entitlement_credits"); w.credits(entitlement)
            w.key("remaining_percent")
            if let p = remainingPermille { w.fixed(p, scale: 1, minFractionDigits: 1) } else { w.null() }
            w.key("cycle_start"); w.time(cycleStart)
            w.key("cycle_end"); w.time(cycleEnd)
            w.key("triggered_by"); w.string(triggeredBy)
            w.key("rate_card_version"); if let v = rateCardVersion { w.string(v) } else { w.null() }
            if kind == .runway, let runwayDays, let runway {
                w.key("runway_days"); w.integer(runwayDays)
                w.key("runway"); runway.json(into: &w)
            }
        }
    }
}
