/// The dedupe table in a snapshot (the format is in SnapshotCodec.swift), written by
/// `writeDedupe` and read back by `readDedupe`, side by side.
///
/// Format 4: the remembered entries, expired ones left out, sorted by fingerprint, then owner
/// (an entry carried from an older format after the account's own). Per entry: the
/// fingerprint's delta from the previous one; the owner tag — 0 for a carried entry, else
/// (account index + 1) × 2 + 1 if remembered for good; then for an account's entry the
/// account's clock minus the applied clock (0 for the id that set the clock), for a carried
/// entry its hour as formats 1–3 wrote it (0: for good; else hour − the partition clock's hour
/// + 2⁴⁰). Formats 1–3 hold the fingerprint delta and that hour alone: their entries are
/// restored as carried entries (DedupeTable.swift: how they are judged and when dropped).
extension SnapshotCodec {
    /// The partition clock's hour that carried entries' hours are relative to.
    private static func partitionHour(_ watermark: Int64) -> Int64 {
        watermark == .min ? 0 : EventTime.floorDiv(watermark, EventTime.nanosPerHour)
    }

    static func writeDedupe(_ ledger: PartitionLedger, into w: inout ByteWriter) {
        let accounts = ledger.state.accounts
        // The clocks in one pass over the accounts, rather than one account read per entry.
        let clocks = accounts.map(\.clock)
        let entries = ledger.dedupe.remembered(clocks: clocks, partitionClock: ledger.watermark)
        let nowHour = partitionHour(ledger.watermark)
        w.uvar(UInt64(entries.count))
        var previous: UInt64 = 0
        for e in entries {
            w.uvar(e.fingerprint &- previous)  // sorted: small deltas
            previous = e.fingerprint
            if e.owner == DedupeTable.carried {
                w.uvar(0)
                w.uvar(e.forever ? 0 : UInt64(e.applied - nowHour + (1 << 40)))
            } else {
                w.uvar(UInt64(e.owner + 1) << 1 | (e.forever ? 1 : 0))
                // clock ≥ applied; the difference may pass Int64.max (an adjustment centuries ago).
                w.uvar(UInt64(bitPattern: clocks[e.owner] &- e.applied))
            }
        }
    }

    /// Reads the entries into `ledger` (its accounts already read). Refuses an owner that is
    /// not an account, an entry of an account with no clock or applied outside the calendar,
    /// entries out of order, and an account whose newest entry is not at its clock (the entry
    /// of the event that set the clock is always remembered). Entries the configured window
    /// has forgotten (it may be shorter than the writer's) are dropped.
    static func readDedupe(_ r: inout ByteReader, into ledger: PartitionLedger, version: UInt8) throws(SnapshotError) {
        let clocks = ledger.state.accounts.map(\.clock)
        let window = ledger.config.dedupeWindowHours * EventTime.nanosPerHour
        let nowHour = partitionHour(ledger.watermark)
        let count = try r.int()
        var out: [DedupeTable.Remembered] = []
        out.reserveCapacity(count)
        // Each account's newest entry (.min: none), to check that it is at the account's clock.
        var newest = [Int64](repeating: .min, count: clocks.count)
        var fp: UInt64 = 0
        var previousOwner = -1
        for k in 0..<count {
            let delta = try r.uvar()
            let tag = version >= 4 ? try r.uvar() : 0
            let owner = tag == 0 ? DedupeTable.carried : Int(clamping: (tag >> 1) &- 1)
            // Every format wrote its entries in ascending order, each fingerprint once (format
            // 4 and later: each owner once per fingerprint).
            let (next, wrapped) = fp.addingReportingOverflow(delta)
            guard !wrapped, k == 0 || delta > 0 || owner > previousOwner else {
                throw .damaged("dedupe entries out of order (corrupt snapshot)")
            }
            fp = next
            previousOwner = owner
            if tag == 0 {
                let h = try r.uvar()
                guard h < 1 << 50 else { throw .damaged("dedupe entry hour out of range") }
                out.append(.init(fingerprint: fp, owner: owner, applied: h == 0 ? 0 : Int64(h) - (1 << 40) + nowHour, forever: h == 0))
                continue
            }
            guard owner >= 0, owner < clocks.count, clocks[owner] != .min else {
                throw .damaged("dedupe entry names no account (corrupt snapshot)")
            }
            let clock = clocks[owner]
            let applied = Int128(clock) - Int128(try r.uvar())
            guard applied >= Int128(timeRange.lowerBound) else { throw .damaged("dedupe entry time out of range (corrupt snapshot)") }
            let entry = DedupeTable.Remembered(fingerprint: fp, owner: owner, applied: Int64(applied), forever: tag & 1 == 1)
            newest[owner] = max(newest[owner], entry.applied)
            if entry.forever || clock <= entry.applied + window { out.append(entry) }
        }
        if let owner = newest.indices.first(where: { newest[$0] != .min && newest[$0] != clocks[$0] }) {
            throw .damaged("account \(owner): remembered ids do not reach its clock (corrupt snapshot)")
        }
        ledger.state.dedupe = DedupeTable(windowHours: ledger.config.dedupeWindowHours, remembered: out)
    }
}
