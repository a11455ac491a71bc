/// The ledger's state: accounts, their ids, the dedupe window, the event-time clock, the
/// tables of names and history strings, the counters. `apply` (Apply.swift) changes it.
struct LedgerState {
    let config: EngineConfiguration
    var ids = InternTable()
    var accounts: [Account] = []
    /// Each account's last event id, in a reusable arena.
    var lastIdRefs: [UInt64] = []
    var lastIds = SlotArena()
    /// History strings (event ids, reasons, refs, plan and pack names), shared by the entries
    /// of one event. Its first byte is a placeholder so that no live ref is 0.
    var texts = LedgerState.freshTexts()
    var capabilities = InternTable()
    var members = InternTable()
    var dedupe: DedupeTable
    /// The partition's event-time clock: max over applied records of min(event time, record
    /// time). Only entries carried from a format-3-or-earlier snapshot run on it (DedupeTable).
    var watermark: Int64 = .min
    /// Grant and top-up ids remembered for good across the accounts (`AccountExtras.grantIDs`).
    var purchaseIDs = 0
    var counters = PartitionLedger.Counters()
    /// Which holds can expire (§15; HoldExpiries.swift): nil until the owner first asks
    /// (`PartitionLedger.dueHolds`), then built from the accounts' hold books and kept by `apply`.
    /// Derived state: never in snapshots.
    var holdExpiries: HoldExpiryIndex?

    init(config: EngineConfiguration) {
        self.config = config
        self.dedupe = DedupeTable(windowHours: config.dedupeWindowHours)
    }

    @inline(__always)
    func versionInForce(pinned: Int32, until: Int64, at time: Int64) -> Int? {
        if pinned >= 0 && time < until { return Int(pinned) }
        return config.rateCards.index(inForceAt: time)
    }

    @inline(__always)
    func versionInForce(_ account: Account?, at time: Int64) -> Int? {
        if let a = account { return versionInForce(pinned: a.pinnedVersion, until: a.pinUntil, at: time) }
        return config.rateCards.index(inForceAt: time)
    }
}
