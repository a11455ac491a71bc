/// The `credit.hold.expired` event a partition's owner writes to the input partition of an
/// account once its wall clock passes an active hold's `expires_at` (§15; which are due:
/// `PartitionLedger.dueHolds`), so that holds expire without other traffic; the ledger then
/// applies it like any event. Every field follows from
/// the hold, so every owner writes the same event: a second copy (two owners during a
/// partition move, a restart) is a duplicate of the first by its (`source`, `id`).
public struct HoldExpiry: Sendable, Equatable {
    public var account: String
    public var holdID: String
    public var expiresAt: Int64

    public init(account: String, holdID: String, expiresAt: Int64) {
        self.account = account; self.holdID = holdID; self.expiresAt = expiresAt
    }

    /// `<account>/<hold_id>/expired/<expires_at>`, the time as the service writes times.
    public var id: String { "\(account)/\(holdID)/expired/\(EventTime.format(expiresAt))" }

    /// `source` `credit-meter`, `subject` the account, `time` = `expires_at`; `data`
    /// `{"hold_id", "expires_at"}`.
    public func json() -> [UInt8] {
        CloudEventEnvelope(id: id, source: CloudEventEnvelope.meterSource, type: EventType.holdExpired.name, subject: account,
                           time: expiresAt).json { w in
            w.key("hold_id"); w.string(holdID)
            w.key("expires_at"); w.time(expiresAt)
        }
    }
}
