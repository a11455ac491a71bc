/// One account in a snapshot (the format is in SnapshotCodec.swift): written by
/// `writeAccount` and read back by `readAccount`, field for field in the same order, with the
/// format version that added each part.
extension SnapshotCodec {
    static func writeAccount(_ i: Int, of ledger: PartitionLedger, into w: inout ByteWriter) {
        let config = ledger.config
        ledger.ids.withBytes(of: i) { w.data($0) }
        let a = ledger.accounts[i]
        w.svar(Int64(a.plan))
        for v in [a.monthly, a.anchor, a.cycleIndex, a.cycleStart, a.cycleEnd, a.clock, a.allowance, a.allowanceUsed,
                  a.overage, a.entitlement, a.usedThisCycle, a.granted, a.charged, a.expired, a.adjusted,
                  a.creditsBought, a.moneyPaidMicros, a.costNanoUSD, Int64(a.pinnedVersion), a.pinUntil, a.events, a.voided] {
            w.svar(v)
        }
        w.uvar(UInt64(a.blocks.count))
        for b in a.blocks { w.u8(b.kind.rawValue); w.svar(b.remaining); w.svar(b.expiresAt); w.uvar(b.origin) }
        w.uvar(UInt64(a.alerts.fired))
        w.u8(a.alerts.episodeLowest)
        w.uvar(UInt64(a.alerts.counts.count))
        for n in a.alerts.counts { w.uvar(UInt64(n)) }
        w.uvar(UInt64(a.usage.count))
        for cell in a.usage { w.uvar(UInt64(cell.key)); w.svar(cell.amount) }
        // v2
        w.svar(a.firstUsageDay)
        w.uvar(UInt64(a.history.count))
        let texts = ledger.state.texts
        func text(_ ref: UInt64) {
            if ref == 0 { w.uvar(0); return }
            w.uvar(1)
            texts.withBytes(ref) { w.data($0) }
        }
        for h in a.history {
            w.u8(h.kind.rawValue); w.svar(h.time); w.svar(h.credits); w.svar(h.at)
            text(h.idRef); text(h.textRef); text(h.text2Ref)
        }
        w.uvar(UInt64(a.cycleAlerts.count))
        for f in a.cycleAlerts {
            w.u8(f.kind.rawValue); w.svar(f.time); w.svar(Int64(f.threshold)); w.svar(Int64(f.sequence)); w.svar(Int64(f.member))
        }
        // v3: §12 state
        if let x = a.features, !x.isEmpty {
            w.u8(1)
            w.uvar(UInt64(x.grantIDs.count))
            var previous: UInt64 = 0
            for id in x.grantIDs { w.uvar(id &- previous); previous = id }
            w.svar(x.rolloverMax)
            if let p = x.autoTopup {
                w.u8(1)
                w.string(p.pack >= 0 ? config.priceBook.packs[Int(p.pack)].id : "")
                w.svar(p.credits); w.svar(p.below); w.svar(p.maxPerCycle)
            } else {
                w.u8(0)
            }
            w.svar(x.requestsInCycle); w.svar(x.requestSequence); w.u8(x.requestPending ? 1 : 0)
            w.uvar(UInt64(x.budgets.count))
            for b in x.budgets {
                w.svar(Int64(b.member)); w.svar(b.budget); w.uvar(UInt64(b.fired))
                w.uvar(UInt64(b.counts.count))
                for n in b.counts { w.uvar(UInt64(n)) }
            }
            w.u8(x.runwayFired ? 1 : 0); w.svar(x.runwaySequence)
            // v4: removed budgets' counts
            w.uvar(UInt64(x.removedBudgetCounts.count))
            for m in x.removedBudgetCounts {
                w.svar(Int64(m.member))
                w.uvar(UInt64(m.counts.count))
                for n in m.counts { w.uvar(UInt64(n)) }
            }
            // v5: the account's own alert thresholds (§16), retired thresholds' counts
            w.uvar(UInt64(x.alertThresholds.count))
            for t in x.alertThresholds { w.uvar(UInt64(t)) }
            w.uvar(UInt64(x.retiredAlertCounts.count))
            for c in x.retiredAlertCounts { w.uvar(UInt64(c.percent)); w.uvar(UInt64(c.low)); w.uvar(UInt64(c.recovered)) }
            // v6: holds (§15)
            writeHolds(x.holds, into: &w)
        } else {
            w.u8(0)
        }
        // v4: id numbering
        w.uvar(UInt64(a.highestSequence)); w.u8(a.reanchored ? 1 : 0)
        let last = ledger.lastEventID(i) ?? ""
        w.string(last)
    }

    /// What reading an account needs from the snapshot's header and tables.
    struct AccountReading {
        let version: UInt8
        /// The snapshot's plan index → the configured one (−3: no longer in the price book).
        let planMap: [Int32]
        /// The snapshot's rate-card version index → the configured one (−1: gone).
        let versionMap: [Int32]
        /// The snapshot's threshold bit → the configured one (−1: no longer a threshold).
        let bitMap: [Int]
        /// The thresholds the snapshot was written with.
        let thresholds: [Int64]
        /// They differ from the configured ones: fired marks, counts and open episodes move.
        let thresholdsChanged: Bool

        /// Fired-threshold bits (`Thresholds`) remapped by threshold value, so that changing
        /// the configured thresholds is safe; exhaustion (bit 15) is kept.
        func remapped(_ fired: UInt16) -> UInt16 {
            var out: UInt16 = fired & AlertState.exhaustedBit
            for (old, new) in bitMap.enumerated() where new >= 0 && fired & (1 << old) != 0 { out |= 1 << new }
            return out
        }
    }

    /// Reads one account and appends it (its id, state and last event id) to `ledger`.
    static func readAccount(_ r: inout ByteReader, into ledger: PartitionLedger, _ reading: AccountReading) throws(SnapshotError) {
        let config = ledger.config
        let id = try r.data()
        // Each account once: lookups find the first of two equal ids, so a second could never
        // be reached (checked here, where the insertion probes the same slots).
        let index = ledger.state.accounts.count
        guard id.withUnsafeBytes({ ledger.state.ids.intern($0, hash: ByteHash.hash($0)) }) == index else {
            throw .damaged("account \(index): duplicate account id (corrupt snapshot)")
        }
        var a = Account()
        let plan = try r.svar()
        if plan >= 0 {
            guard Int(plan) < reading.planMap.count else { throw .damaged("an account's plan reference is out of range (corrupt snapshot)") }
            guard reading.planMap[Int(plan)] >= 0 else { throw .incompatible("an account's plan is no longer in the price book") }
            a.plan = reading.planMap[Int(plan)]
        } else {
            a.plan = Int32(truncatingIfNeeded: plan)
        }
        a.monthly = try r.svar(); a.anchor = try r.svar(); a.cycleIndex = try r.svar(); a.cycleStart = try r.svar()
        a.cycleEnd = try r.svar(); a.clock = try r.svar(); a.allowance = try r.svar(); a.allowanceUsed = try r.svar()
        a.overage = try r.svar(); a.entitlement = try r.svar(); a.usedThisCycle = try r.svar(); a.granted = try r.svar()
        a.charged = try r.svar(); a.expired = try r.svar(); a.adjusted = try r.svar(); a.creditsBought = try r.svar()
        a.moneyPaidMicros = try r.svar(); a.costNanoUSD = try r.svar()
        let pinned = try r.svar()
        a.pinnedVersion = pinned >= 0 ? (Int(pinned) < reading.versionMap.count ? reading.versionMap[Int(pinned)] : -1) : -1
        a.pinUntil = try r.svar()
        a.events = try r.svar()
        if reading.version >= 3 { a.voided = try r.svar() }
        let blockCount = try r.int(1 << 24)
        a.blocks.reserveCapacity(blockCount)
        for _ in 0..<blockCount {
            guard let kind = BlockKind(rawValue: try r.u8()) else { throw .damaged("bad block kind") }
            let b = Block(kind: kind, remaining: try r.svar(), expiresAt: try r.svar(), origin: reading.version >= 3 ? try r.uvar() : 0)
            a.blocks.append(b)
            let (sum, overflow) = a.blockCredits.addingReportingOverflow(b.remaining)
            guard !overflow else { throw .damaged("block amounts out of range") }
            a.blockCredits = sum
        }
        // Remapped to the configured thresholds below, unless the account has its own (§16).
        let fired = UInt16(truncatingIfNeeded: try r.uvar())
        a.alerts.episodeLowest = try r.u8()
        let counts = try readCounts(&r)
        let cells = try r.int(1 << 24)
        a.usage.reserveCapacity(cells)
        for _ in 0..<cells { a.usage.append(UsageCell(key: UInt32(truncatingIfNeeded: try r.uvar()), amount: try r.svar())) }
        if reading.version >= 2 {
            a.firstUsageDay = try r.svar()
            let entries = try r.int(History.capacity)
            a.history.reserveCapacity(entries)
            func text() throws(SnapshotError) -> UInt64 {
                guard try r.u8() != 0 else { return 0 }
                var ref: UInt64 = 0
                try r.data().withUnsafeBytes { ledger.state.texts.store($0, in: &ref) }
                return ref
            }
            for _ in 0..<entries {
                guard let kind = HistoryKind(rawValue: try r.u8()) else { throw .damaged("bad history kind") }
                var h = HistoryEntry(kind, time: try r.svar(), credits: try r.svar(), at: try r.svar())
                h.idRef = try text(); h.textRef = try text(); h.text2Ref = try text()
                a.history.append(h)
            }
            let fired = try r.int(CycleAlert.capacity)
            for _ in 0..<fired {
                guard let kind = AlertState.Kind(rawValue: try r.u8()) else { throw .damaged("bad alert kind") }
                a.cycleAlerts.append(CycleAlert(time: try r.svar(), kind: kind, threshold: Int32(truncatingIfNeeded: try r.svar()),
                                                sequence: try r.svar(),
                                                member: reading.version >= 3 ? Int32(truncatingIfNeeded: try r.svar()) : -1))
            }
            if reading.version >= 3, try r.u8() != 0 {
                var x = AccountExtras()
                let ids = try r.int(1 << 28)
                x.grantIDs.reserveCapacity(ids)
                var id: UInt64 = 0
                for _ in 0..<ids { id &+= try r.uvar(); x.grantIDs.append(id) }
                x.rolloverMax = try r.svar()
                if try r.u8() != 0 {
                    let packName = try r.string()
                    var pack: Int32 = -1
                    if !packName.isEmpty {
                        guard let i = config.priceBook.packIndex(packName) else {
                            throw .incompatible("an account's auto top-up pack \(packName) is no longer in the price book")
                        }
                        pack = Int32(i)
                    }
                    x.autoTopup = AutoTopupPolicy(pack: pack, credits: try r.svar(), below: try r.svar(), maxPerCycle: try r.svar())
                }
                x.requestsInCycle = try r.svar(); x.requestSequence = try r.svar(); x.requestPending = try r.u8() != 0
                for _ in 0..<(try r.int(1 << 24)) {
                    var b = MemberBudget(member: Int32(truncatingIfNeeded: try r.svar()), budget: try r.svar())
                    b.fired = reading.remapped(UInt16(truncatingIfNeeded: try r.uvar()))
                    b.counts = remapMemberCounts(try readCounts(&r), from: reading.thresholds, to: config.thresholds)
                    x.budgets.append(b)
                }
                x.runwayFired = try r.u8() != 0; x.runwaySequence = try r.svar()
                if reading.version >= 4 {
                    for _ in 0..<(try r.int(1 << 24)) {
                        let member = Int32(truncatingIfNeeded: try r.svar())
                        x.removedBudgetCounts.append(MemberCounts(member: member, counts: remapMemberCounts(try readCounts(&r), from: reading.thresholds,
                                                                                                            to: config.thresholds)))
                    }
                }
                if reading.version >= 5 {
                    for _ in 0..<(try r.int(ThresholdList.capacity)) { x.alertThresholds.append(Int64(bitPattern: try r.uvar())) }
                    for _ in 0..<(try r.int(64)) {
                        x.retiredAlertCounts.append(RetiredAlertCounts(percent: Int64(bitPattern: try r.uvar()), low: Int64(bitPattern: try r.uvar()),
                                                                       recovered: Int64(bitPattern: try r.uvar())))
                    }
                }
                if reading.version >= 6 { x.holds = try readHolds(&r, account: index, clock: a.clock) }
                a.extras = [x]
                a.refreshActivePolicies()
            }
        } else {
            a.firstUsageDay = SnapshotCodec.v1FirstUsageDay(a)
        }
        if a.activePolicies.contains(.ownThresholds) {
            a.alerts.fired = fired
            a.alerts.counts = counts
        } else {
            a.alerts.fired = reading.remapped(fired)
            a.alerts.counts = AlertState.remapCounts(counts, from: reading.thresholds, to: config.thresholds)
            if reading.thresholdsChanged { a.alerts.settleEpisode(config.thresholds) }
            // A threshold the account removed this cycle that the configured default now has
            // continues its counts (its ids never repeat).
            if !a.extras.isEmpty && !a.extras[0].retiredAlertCounts.isEmpty {
                a.alerts.resume(&a.extras[0].retiredAlertCounts, thresholds: config.thresholds)
            }
        }
        if reading.version >= 4 {
            a.highestSequence = Int64(bitPattern: try r.uvar())
            a.reanchored = try r.u8() != 0
        } else {
            // Formats 1–3 kept no highest n: no n can pass the account's event count (each
            // event makes at most one id per counter), nor, in a damaged file, what it holds.
            a.highestSequence = SnapshotCodec.highestSequenceHeld(a)
        }
        // Thresholds changed since the snapshot: the counts of a threshold no longer configured
        // were dropped (the account's balance counts when it follows the configured default,
        // its member budgets' counts), and one configured again later in the cycle would number
        // from 1 and repeat an id. Numbered above the highest n from now on, as after a re-anchor.
        if reading.thresholdsChanged {
            let memberCounts = a.extras.first.map { !$0.budgets.isEmpty || !$0.removedBudgetCounts.isEmpty } ?? false
            if !a.activePolicies.contains(.ownThresholds) || memberCounts { a.reanchored = true }
        }
        ledger.state.accounts.append(a)
        var ref: UInt64 = 0
        let last = try r.data()
        if !last.isEmpty { last.withUnsafeBytes { ledger.state.lastIds.store($0, in: &ref) } }
        ledger.state.lastIdRefs.append(ref)
    }

    /// v1 kept no first usage day: the oldest of its (35) daily cells, or earlier than the
    /// runway's 7 days when the account was charged more than those cells hold.
    static func v1FirstUsageDay(_ a: Account) -> Int64 {
        var oldest = Int64.max
        var sum: Int64 = 0
        for cell in a.usage where cell.key & UsageCell.tagMask == UsageCell.dayTag {
            oldest = min(oldest, Int64(cell.key))
            // Runs before validateRestored: amounts are not range-checked yet, so the sum saturates.
            sum = sum.addingReportingOverflow(cell.amount).overflow ? .max : sum + cell.amount
        }
        if oldest == .max { return a.charged > 0 && a.clock != .min ? EventTime.day(of: a.clock) - 7 : .max }
        return a.charged > sum ? min(oldest, EventTime.day(of: a.clock) - 7) : oldest
    }

    /// A counts array (the last `n` per slot), at most 64 long.
    private static func readCounts(_ r: inout ByteReader) throws(SnapshotError) -> [Int64] {
        var counts: [Int64] = []
        for _ in 0..<(try r.int(64)) { counts.append(Int64(bitPattern: try r.uvar())) }
        return counts
    }

    /// For an account read from a format without `highestSequence`: its event count, or the
    /// highest n it holds if larger.
    static func highestSequenceHeld(_ a: Account) -> Int64 {
        var highest = a.events
        _ = a.allSequences { highest = max(highest, $0); return true }
        return highest
    }

    /// Member budget counts: low[0..<T], exhausted — remapped by threshold value.
    private static func remapMemberCounts(_ counts: [Int64], from old: [Int64], to new: [Int64]) -> [Int64] {
        guard !counts.isEmpty, old != new else { return counts }
        var out = [Int64](repeating: 0, count: new.count + 1)
        for (i, v) in old.enumerated() where i < counts.count {
            if let j = new.firstIndex(of: v) { out[j] = counts[i] }
        }
        if old.count < counts.count { out[new.count] = counts[old.count] }
        return out
    }
}
