/// A `credit.topup.requested` CloudEvent (§12), published on `kafka.requests_topic`.
public struct TopupRequest: Sendable, Equatable {
    public var account: String
    /// The cycle start of the id, nil before any plan (`-`).
    public var cycleStart: Int64?
    /// The `n` of its id.
    public var sequence: Int64
    /// `request_number`: its place among the cycle's requests, counted against `max_per_cycle`
    /// (equal to `n` for an account never re-anchored).
    public var number: Int64
    public var pack: String?
    public var credits: Int64
    public var balance: Int64
    public var below: Int64
    public var triggeredBy: String
    public var maxPerCycle: Int64
    public var time: Int64

    public static let type = "credit.topup.requested"

    /// `<account>/<cycle_start>/credit.topup.requested/<n>`.
    public var id: String {
        "\(account)/\(cycleStart.map(EventTime.format) ?? "-")/\(Self.type)/\(sequence)"
    }

    public func json() -> [UInt8] {
        CloudEventEnvelope(id: id, source: CloudEventEnvelope.meterSource, type: Self.type, subject: account, time: time).json { w in
            w.key("account"); w.string(account)
            w.key("pack"); if let pack { w.string(pack) } else { w.null() }
            w.key("credits"); w.credits(credits)
            w.key("balance_credits"); w.credits(balance)
            w.key("below_credits"); w.credits(below)
            w.key("triggered_by"); w.string(triggeredBy)
            w.key("request_number"); w.integer(number)
            w.key("max_per_cycle"); w.integer(maxPerCycle)
        }
    }
}
