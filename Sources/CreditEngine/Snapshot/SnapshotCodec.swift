/// The snapshot format of one partition's state: versioned, checksummed, compact binary.
///
///     "CMSNAP" 0x00 <format version u8>
///     body (varints):
///       topic, partition, next offset, metadata (caller's: e.g. wall-clock millis)
///       rate-card hashes, thresholds, dedupe window, watermark, counters
///       symbol tables: plans and rate-card versions referenced, capabilities, members
///       accounts (id, plan, cycle, blocks, flows, money, pin, alert state, usage,
///                 [v2: first usage day, history entries, this cycle's alerts], last id)
///       dedupe entries sorted by fingerprint
///     checksum: u64 ByteHash of everything before it
///
/// Encoding is canonical: the same state always gives the same bytes, however it was reached
/// (straight through a log, or restored from a snapshot and continued).
public enum SnapshotCodec {
    public static let magic: [UInt8] = Array("CMSNAP".utf8) + [0]
    /// The version written. v2 added per account the first usage day, the allocation history
    /// and this cycle's alerts (contract §11); v1 files are still read (those start empty).
    /// v3 added §12: block origins, the voided flow, each account's §12 state (remembered grant
    /// ids, rollover cap, auto top-up policy and request state, member budgets, runway alert),
    /// member alerts' members, plans' rollover caps, the request counter.
    public static let formatVersion: UInt8 = 3
    public static let readableVersions: ClosedRange<UInt8> = 1...3

    /// What a snapshot says about where it stands, without the accounts.
    public struct Header: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var nextOffset: Int64
        public var metadata: Int64
        public var rateCardHashes: [String: String]
        public var accounts: Int
        /// Versions known when it was written, with their `effective_from`.
        public var rateCardVersions: [(String, Int64)]

        public static func == (a: Header, b: Header) -> Bool {
            a.topic == b.topic && a.partition == b.partition && a.nextOffset == b.nextOffset && a.metadata == b.metadata
                && a.rateCardHashes == b.rateCardHashes && a.accounts == b.accounts
        }
    }

    public static func encode(_ ledger: PartitionLedger, topic: String, partition: Int32, nextOffset: Int64, metadata: Int64) -> [UInt8] {
        assert(ledger.audit().isClean, "encoding a ledger that breaks its invariants: \(ledger.audit().failures.prefix(3))")
        let config = ledger.config
        var w = ByteWriter(capacity: 64 + ledger.accountCount * 64 + ledger.dedupe.count * 12)
        w.raw(magic)
        w.u8(formatVersion)
        w.string(topic)
        w.svar(Int64(partition))
        w.svar(nextOffset)
        w.svar(metadata)
        // Rate-card versions known (name, content hash, effective_from): the service refuses to
        // start if a remembered version's content changed; `inspect` needs the dates.
        w.uvar(UInt64(config.rateCards.versions.count))
        for v in config.rateCards.versions { w.string(v.card.version); w.string(v.hash); w.svar(v.card.effectiveFrom) }
        w.uvar(UInt64(config.thresholds.count))
        for t in config.thresholds { w.svar(t) }
        w.svar(config.dedupeWindowHours)
        w.svar(ledger.watermark)
        let c = ledger.counters
        for v in [c.applied, c.priced, c.duplicates, c.rejected, c.alerts, c.chargedMillicredits, c.requests] { w.svar(v) }
        // Plans by name (with their terms, for `inspect`), so reordering the price book is harmless.
        w.string(config.priceBook.currency)
        w.uvar(UInt64(config.priceBook.plans.count))
        for p in config.priceBook.plans { w.string(p.id); w.svar(p.monthlyCredits); w.svar(p.priceMicros); w.svar(p.rolloverMaxCredits) }
        w.uvar(UInt64(config.priceBook.packs.count))
        for p in config.priceBook.packs { w.string(p.id); w.svar(p.credits); w.svar(p.priceMicros) }
        writeTable(ledger.capabilities, &w)
        writeTable(ledger.members, &w)
        // Accounts.
        w.uvar(UInt64(ledger.accountCount))
        for i in 0..<ledger.accountCount {
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
            } else {
                w.u8(0)
            }
            let last = ledger.lastEventID(i) ?? ""
            w.string(last)
        }
        // Dedupe window, canonical order.
        let nowHour = ledger.watermark == .min ? 0 : EventTime.floorDiv(ledger.watermark, EventTime.nanosPerHour)
        let entries = ledger.dedupe.liveEntries(nowHour: nowHour)
        w.uvar(UInt64(entries.count))
        var previous: UInt64 = 0
        for e in entries {
            w.uvar(e.fingerprint &- previous)  // sorted: small deltas
            previous = e.fingerprint
            if let h = e.hour { w.uvar(UInt64(h - nowHour + (1 << 40))) } else { w.uvar(0) }
        }
        let checksum = w.bytes.withUnsafeBytes { ByteHash.hash($0, seed: 0xC4EC) }
        w.u64(checksum)
        return w.bytes
    }

    /// Verifies magic, version and checksum.
    static func body(_ bytes: [UInt8]) throws(SnapshotError) -> ByteReader {
        guard bytes.count >= magic.count + 1 + 8 else { throw SnapshotError("truncated (\(bytes.count) bytes)") }
        guard Array(bytes[0..<magic.count]) == magic else { throw SnapshotError("not a CreditMeter snapshot") }
        guard readableVersions.contains(bytes[magic.count]) else { throw SnapshotError("unsupported snapshot format \(bytes[magic.count])") }
        var tail = ByteReader(bytes, start: bytes.count - 8)
        let stored = try tail.u64()
        let actual = bytes.withUnsafeBytes { ByteHash.hash(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 8)]), seed: 0xC4EC) }
        guard stored == actual else { throw SnapshotError("checksum mismatch (corrupt or truncated)") }
        return ByteReader(bytes, start: magic.count + 1, end: bytes.count - 8)
    }

    public static func header(_ bytes: [UInt8]) throws(SnapshotError) -> Header {
        var r = try body(bytes)
        return try readHeader(&r)
    }

    private static func readHeader(_ r: inout ByteReader) throws(SnapshotError) -> Header {
        let topic = try r.string()
        let partition = Int32(truncatingIfNeeded: try r.svar())
        let next = try r.svar()
        let metadata = try r.svar()
        var hashes: [String: String] = [:]
        var versions: [(String, Int64)] = []
        for _ in 0..<(try r.int(100_000)) {
            let v = try r.string()
            hashes[v] = try r.string()
            versions.append((v, try r.svar()))
        }
        return Header(topic: topic, partition: partition, nextOffset: next, metadata: metadata, rateCardHashes: hashes,
                      accounts: -1, rateCardVersions: versions)
    }

    /// An engine configuration rebuilt from what a snapshot remembers (plans, versions and
    /// their dates, thresholds, window), so `snapshot inspect` needs no configuration files.
    /// It can describe accounts; it cannot price (its rate cards hold no actions).
    public static func detachedConfiguration(_ bytes: [UInt8]) throws(SnapshotError) -> EngineConfiguration {
        var r = try body(bytes)
        let header = try readHeader(&r)
        var thresholds: [Int] = []
        for _ in 0..<(try r.int(64)) { thresholds.append(Int(try r.svar())) }
        let window = try r.svar()
        _ = try r.svar()  // watermark
        let version = bytes[magic.count]
        for _ in 0..<(version >= 3 ? 7 : 6) { _ = try r.svar() }  // counters
        let currency = try r.string()
        var plans: [PriceBook.Plan] = []
        for _ in 0..<(try r.int(1 << 20)) {
            plans.append(.init(id: try r.string(), monthlyCredits: try r.svar(), priceMicros: try r.svar(),
                               rolloverMaxCredits: version >= 3 ? try r.svar() : 0))
        }
        var packs: [PriceBook.Pack] = []
        if version >= 3 {
            for _ in 0..<(try r.int(1 << 20)) { packs.append(.init(id: try r.string(), credits: try r.svar(), priceMicros: try r.svar())) }
        }
        // Found by fuzzing: an absurd effective_from trapped while hashing the rebuilt card.
        for (_, from) in header.rateCardVersions where !timeRange.contains(from) {
            throw SnapshotError("rate-card effective_from out of range (corrupt snapshot)")
        }
        do {
            let cards = try header.rateCardVersions.map { (version, from) throws(ConfigError) in
                try RateCard(version: version, effectiveFrom: from, incrementMillicredits: 1, roundingMode: .halfUp,
                             modelMultipliers: [:], actions: ["(not in snapshot)": ActionPrice(credits: 0)])
            }
            return try EngineConfiguration(rateCards: RateCardBook(cards), priceBook: PriceBook(currency: currency, plans: plans, packs: packs),
                                           thresholds: thresholds, dedupeWindowHours: Int(window))
        } catch {
            throw SnapshotError("snapshot metadata is inconsistent: \(error)")
        }
    }

    /// Restores a ledger under `config`. Refuses a snapshot whose rate-card versions changed
    /// content or vanished, or that references a plan the price book no longer has.
    public static func decode(_ bytes: [UInt8], config: EngineConfiguration, verifyRateCards: Bool = true) throws(SnapshotError) -> (PartitionLedger, Header) {
        var r = try body(bytes)
        let version = bytes[magic.count]
        var header = try readHeader(&r)
        let changed = verifyRateCards ? config.rateCards.changedVersions(comparedTo: header.rateCardHashes) : []
        if !changed.isEmpty {
            throw SnapshotError("rate-card version \(changed.joined(separator: ", ")) changed content since it was used; a used version is immutable — add a new version instead")
        }
        let missing = header.rateCardHashes.keys.filter { config.rateCards.index(ofVersion: $0) == nil }.sorted()
        if !missing.isEmpty { throw SnapshotError("rate-card version \(missing.joined(separator: ", ")) was used but is no longer configured") }
        var thresholds: [Int64] = []
        for _ in 0..<(try r.int(64)) { thresholds.append(try r.svar()) }
        _ = try r.svar()  // dedupe window at write time: the configured one applies from now on
        let ledger = PartitionLedger(config: config)
        ledger.state.watermark = try r.svar()
        var counters = PartitionLedger.Counters()
        counters.applied = try r.svar(); counters.priced = try r.svar(); counters.duplicates = try r.svar()
        counters.rejected = try r.svar(); counters.alerts = try r.svar(); counters.chargedMillicredits = try r.svar()
        if version >= 3 { counters.requests = try r.svar() }
        ledger.state.counters = counters
        _ = try r.string()  // currency
        var planMap: [Int32] = []
        for _ in 0..<(try r.int(1 << 20)) {
            let id = try r.string()
            _ = try r.svar(); _ = try r.svar()
            if version >= 3 { _ = try r.svar() }
            planMap.append(config.priceBook.planIndex(id).map(Int32.init) ?? -3)
        }
        if version >= 3 {
            for _ in 0..<(try r.int(1 << 20)) { _ = try r.string(); _ = try r.svar(); _ = try r.svar() }
        }
        let versionMap: [Int32] = header.rateCardVersions.map { config.rateCards.index(ofVersion: $0.0).map(Int32.init) ?? -1 }
        ledger.state.capabilities = try readTable(&r)
        ledger.state.members = try readTable(&r)
        // Alert bits are remapped by threshold value, so changing thresholds is safe.
        let bitMap: [Int] = thresholds.map { t in config.thresholds.firstIndex(of: t) ?? -1 }
        let n = try r.int()
        ledger.state.accounts.reserveCapacity(n)
        ledger.state.lastIdRefs.reserveCapacity(n)
        for _ in 0..<n {
            let id = try r.data()
            _ = id.withUnsafeBytes { ledger.state.ids.insert($0, hash: ByteHash.hash($0)) }
            var a = Account()
            let plan = try r.svar()
            if plan >= 0 {
                guard Int(plan) < planMap.count, planMap[Int(plan)] >= 0 else {
                    throw SnapshotError("an account's plan is no longer in the price book")
                }
                a.plan = planMap[Int(plan)]
            } else {
                a.plan = Int32(truncatingIfNeeded: plan)
            }
            a.monthly = try r.svar(); a.anchor = try r.svar(); a.cycleIndex = try r.svar(); a.cycleStart = try r.svar()
            a.cycleEnd = try r.svar(); a.clock = try r.svar(); a.allowance = try r.svar(); a.allowanceUsed = try r.svar()
            a.overage = try r.svar(); a.entitlement = try r.svar(); a.usedThisCycle = try r.svar(); a.granted = try r.svar()
            a.charged = try r.svar(); a.expired = try r.svar(); a.adjusted = try r.svar(); a.creditsBought = try r.svar()
            a.moneyPaidMicros = try r.svar(); a.costNanoUSD = try r.svar()
            let pinned = try r.svar()
            a.pinnedVersion = pinned >= 0 ? (Int(pinned) < versionMap.count ? versionMap[Int(pinned)] : -1) : -1
            a.pinUntil = try r.svar()
            a.events = try r.svar()
            if version >= 3 { a.voided = try r.svar() }
            let blockCount = try r.int(1 << 24)
            a.blocks.reserveCapacity(blockCount)
            for _ in 0..<blockCount {
                guard let kind = BlockKind(rawValue: try r.u8()) else { throw SnapshotError("bad block kind") }
                let b = Block(kind: kind, remaining: try r.svar(), expiresAt: try r.svar(), origin: version >= 3 ? try r.uvar() : 0)
                a.blocks.append(b)
                let (sum, overflow) = a.blockCredits.addingReportingOverflow(b.remaining)
                guard !overflow else { throw SnapshotError("block amounts out of range") }
                a.blockCredits = sum
            }
            let fired = UInt16(truncatingIfNeeded: try r.uvar())
            var remapped: UInt16 = fired & AlertState.exhaustedBit
            for (old, new) in bitMap.enumerated() where new >= 0 && fired & (1 << old) != 0 { remapped |= 1 << new }
            a.alerts.fired = remapped
            a.alerts.episodeLowest = try r.u8()
            var counts: [UInt16] = []
            for _ in 0..<(try r.int(64)) { counts.append(UInt16(truncatingIfNeeded: try r.uvar())) }
            a.alerts.counts = remapCounts(counts, from: thresholds, to: config.thresholds)
            let cells = try r.int(1 << 24)
            a.usage.reserveCapacity(cells)
            for _ in 0..<cells { a.usage.append(UsageCell(key: UInt32(truncatingIfNeeded: try r.uvar()), amount: try r.svar())) }
            if version >= 2 {
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
                    guard let kind = HistoryKind(rawValue: try r.u8()) else { throw SnapshotError("bad history kind") }
                    var h = HistoryEntry(kind, time: try r.svar(), credits: try r.svar(), at: try r.svar())
                    h.idRef = try text(); h.textRef = try text(); h.text2Ref = try text()
                    a.history.append(h)
                }
                let fired = try r.int(CycleAlert.capacity)
                for _ in 0..<fired {
                    guard let kind = AlertState.Kind(rawValue: try r.u8()) else { throw SnapshotError("bad alert kind") }
                    a.cycleAlerts.append(CycleAlert(time: try r.svar(), kind: kind, threshold: Int32(truncatingIfNeeded: try r.svar()),
                                                    sequence: Int32(truncatingIfNeeded: try r.svar()),
                                                    member: version >= 3 ? Int32(truncatingIfNeeded: try r.svar()) : -1))
                }
                if version >= 3, try r.u8() != 0 {
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
                                throw SnapshotError("an account's auto top-up pack \(packName) is no longer in the price book")
                            }
                            pack = Int32(i)
                        }
                        x.autoTopup = AutoTopupPolicy(pack: pack, credits: try r.svar(), below: try r.svar(), maxPerCycle: try r.svar())
                    }
                    x.requestsInCycle = try r.svar(); x.requestSequence = try r.svar(); x.requestPending = try r.u8() != 0
                    for _ in 0..<(try r.int(1 << 24)) {
                        var b = MemberBudget(member: Int32(truncatingIfNeeded: try r.svar()), budget: try r.svar())
                        let fired = UInt16(truncatingIfNeeded: try r.uvar())
                        var remapped: UInt16 = fired & AlertState.exhaustedBit
                        for (old, new) in bitMap.enumerated() where new >= 0 && fired & (1 << old) != 0 { remapped |= 1 << new }
                        b.fired = remapped
                        var counts: [UInt16] = []
                        for _ in 0..<(try r.int(64)) { counts.append(UInt16(truncatingIfNeeded: try r.uvar())) }
                        b.counts = remapMemberCounts(counts, from: thresholds, to: config.thresholds)
                        x.budgets.append(b)
                    }
                    x.runwayFired = try r.u8() != 0; x.runwaySequence = try r.svar()
                    a.extras = [x]
                    a.refreshActivePolicies()
                }
            } else {
                a.firstUsageDay = SnapshotCodec.v1FirstUsageDay(a)
            }
            ledger.state.accounts.append(a)
            var ref: UInt64 = 0
            let last = try r.data()
            if !last.isEmpty { last.withUnsafeBytes { ledger.state.lastIds.store($0, in: &ref) } }
            ledger.state.lastIdRefs.append(ref)
        }
        let nowHour = ledger.watermark == .min ? 0 : EventTime.floorDiv(ledger.watermark, EventTime.nanosPerHour)
        var entries: [(fingerprint: UInt64, hour: Int64?)] = []
        let entryCount = try r.int()
        entries.reserveCapacity(entryCount)
        var fp: UInt64 = 0
        for _ in 0..<entryCount {
            fp &+= try r.uvar()
            let h = try r.uvar()
            guard h < 1 << 50 else { throw SnapshotError("dedupe entry hour out of range") }
            entries.append((fp, h == 0 ? nil : Int64(h) - (1 << 40) + nowHour))
        }
        ledger.state.dedupe = DedupeTable(windowHours: config.dedupeWindowHours, entries: entries, nowHour: nowHour)
        guard r.remaining == 0 else { throw SnapshotError("unexpected bytes after the state") }
        try validateRestored(ledger)
        header.accounts = n
        // The invariants hold in every snapshot ever written (Invariants.swift).
        let audit = ledger.audit()
        guard audit.isClean else {
            throw SnapshotError("snapshot breaks the ledger's conservation invariant (\(audit.failures.prefix(3).joined(separator: ", ")))")
        }
        return (ledger, header)
    }

    /// v1 kept no first usage day: the oldest of its (35) daily cells, or earlier than the
    /// runway's 7 days when the account was charged more than those cells hold.
    static func v1FirstUsageDay(_ a: Account) -> Int64 {
        var oldest = Int64.max
        var sum: Int64 = 0
        for cell in a.usage where cell.key & UsageCell.tagMask == UsageCell.dayTag {
            oldest = min(oldest, Int64(cell.key))
            // Runs before validateRestored: amounts are not range-checked yet (fuzzer: overflow).
            sum = sum.addingReportingOverflow(cell.amount).overflow ? .max : sum + cell.amount
        }
        if oldest == .max { return a.charged > 0 && a.clock != .min ? EventTime.day(of: a.clock) - 7 : .max }
        return a.charged > sum ? min(oldest, EventTime.day(of: a.clock) - 7) : oldest
    }

    private static func writeTable(_ t: InternTable, _ w: inout ByteWriter) {
        w.uvar(UInt64(t.count))
        for i in 0..<t.count { t.withBytes(of: i) { w.data($0) } }
    }

    private static func readTable(_ r: inout ByteReader) throws(SnapshotError) -> InternTable {
        var t = InternTable()
        for _ in 0..<(try r.int()) {
            let b = try r.data()
            _ = b.withUnsafeBytes { t.insert($0, hash: ByteHash.hash($0)) }
        }
        return t
    }

    /// Member budget counts: low[0..<T], exhausted — remapped by threshold value.
    private static func remapMemberCounts(_ counts: [UInt16], from old: [Int64], to new: [Int64]) -> [UInt16] {
        guard !counts.isEmpty, old != new else { return counts }
        var out = [UInt16](repeating: 0, count: new.count + 1)
        for (i, v) in old.enumerated() where i < counts.count {
            if let j = new.firstIndex(of: v) { out[j] = counts[i] }
        }
        if old.count < counts.count { out[new.count] = counts[old.count] }
        return out
    }

    private static func remapCounts(_ counts: [UInt16], from old: [Int64], to new: [Int64]) -> [UInt16] {
        guard !counts.isEmpty else { return [] }
        if old == new { return counts }
        let t = old.count
        var out = [UInt16](repeating: 0, count: 2 * new.count + 2)
        for (i, v) in old.enumerated() {
            guard let j = new.firstIndex(of: v) else { continue }
            if i < counts.count { out[j] = counts[i] }
            if t + 1 + i < counts.count { out[new.count + 1 + j] = counts[t + 1 + i] }
        }
        if t < counts.count { out[new.count] = counts[t] }
        if 2 * t + 1 < counts.count { out[2 * new.count + 1] = counts[2 * t + 1] }
        return out
    }
}
