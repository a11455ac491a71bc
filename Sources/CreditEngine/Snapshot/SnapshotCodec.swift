/// The snapshot format of one partition's state: versioned, checksummed, compact binary.
///
///     "CMSNAP" 0x00 <format version u8>
///     body (varints):
///       topic, partition, next offset, metadata (caller's: e.g. wall-clock millis)
///       rate-card hashes, thresholds, dedupe window, watermark, counters [v6: hold counters]
///       symbol tables: plans and rate-card versions referenced, capabilities, members
///       accounts (AccountCoding.swift: id, plan, cycle, blocks, flows, money, pin, alert
///                 state, usage, [v2: first usage day, history entries, this cycle's alerts],
///                 [v3: §12 state, v4: removed budgets' counts, v5: own alert thresholds and
///                 retired thresholds' counts, v6: holds (HoldCoding.swift)], [v4: highest n,
///                 re-anchored], last id)
///       dedupe entries sorted by fingerprint [v4: then owner]
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
    /// v4 added §14: dedupe entries per account (owner and applied clock; older entries are
    /// carried on the partition clock until they expire), each account's highest id `n` and
    /// re-anchored mark, the alert counts of removed member budgets; counts are no longer
    /// capped at 65,535.
    /// v5 added §16: each account's own alert thresholds and the alert counts of thresholds it
    /// removed this cycle (in its §12 state).
    /// v6 added §15: each account's holds, active and remembered, with every field and the
    /// next hold number (in its §12 state), and the partition's hold counters (granted, denied,
    /// released, expired, usage naming no active hold); older formats restore with none.
    public static let formatVersion: UInt8 = 6
    public static let readableVersions: ClosedRange<UInt8> = 1...6

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
        for v in [c.applied, c.priced, c.duplicates, c.rejected, c.alerts, c.chargedMillicredits, c.requests,
                  c.holdsGranted, c.holdsDenied, c.holdsReleased, c.holdsExpired, c.usageUnheld] {
            w.svar(v)
        }
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
        for i in 0..<ledger.accountCount { writeAccount(i, of: ledger, into: &w) }
        writeDedupe(ledger, into: &w)
        let checksum = w.bytes.withUnsafeBytes { ByteHash.hash($0, seed: 0xC4EC) }
        w.u64(checksum)
        return w.bytes
    }

    /// Verifies magic, checksum and version. The envelope — magic, version byte, trailing
    /// checksum — is the same in every format version, so the checksum is checked first: a
    /// version this build does not know is *incompatible* only in bytes that are intact (a
    /// flipped version byte is damage, and an older snapshot is used instead).
    static func body(_ bytes: [UInt8]) throws(SnapshotError) -> ByteReader {
        guard bytes.count >= magic.count + 1 + 8 else { throw .damaged("truncated (\(bytes.count) bytes)") }
        guard Array(bytes[0..<magic.count]) == magic else { throw .damaged("not a CreditMeter snapshot") }
        var tail = ByteReader(bytes, start: bytes.count - 8)
        let stored = try tail.u64()
        let actual = bytes.withUnsafeBytes { ByteHash.hash(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 8)]), seed: 0xC4EC) }
        guard stored == actual else { throw .damaged("checksum mismatch (corrupt or truncated)") }
        let version = bytes[magic.count]
        guard version <= readableVersions.upperBound else {
            throw .incompatible("unsupported snapshot format \(version) (newer than this build, which reads "
                                + "\(readableVersions.lowerBound)…\(readableVersions.upperBound))")
        }
        guard readableVersions.contains(version) else { throw .damaged("unsupported snapshot format \(version)") }
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
        for _ in 0..<counterCount(version) { _ = try r.svar() }  // counters
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
        // A date outside the ledger's calendar comes from no configuration.
        for (_, from) in header.rateCardVersions where !timeRange.contains(from) {
            throw .damaged("rate-card effective_from out of range (corrupt snapshot)")
        }
        do {
            let cards = try header.rateCardVersions.map { (version, from) throws(ConfigError) in
                try RateCard(version: version, effectiveFrom: from, incrementMillicredits: 1, roundingMode: .halfUp,
                             modelMultipliers: [:], actions: ["(not in snapshot)": ActionPrice(credits: 0)])
            }
            return try EngineConfiguration(rateCards: RateCardBook(cards), priceBook: PriceBook(currency: currency, plans: plans, packs: packs),
                                           thresholds: thresholds, dedupeWindowHours: Int(window))
        } catch {
            throw .damaged("snapshot metadata is inconsistent: \(error)")
        }
    }

    /// Restores a ledger under `config`. Refuses, as `.incompatible`, a snapshot whose
    /// rate-card versions changed content or vanished, or that references a plan or pack the
    /// price book no longer has; every other refusal is `.damaged`.
    public static func decode(_ bytes: [UInt8], config: EngineConfiguration, verifyRateCards: Bool = true) throws(SnapshotError) -> (PartitionLedger, Header) {
        var r = try body(bytes)
        let version = bytes[magic.count]
        var header = try readHeader(&r)
        let changed = verifyRateCards ? config.rateCards.changedVersions(comparedTo: header.rateCardHashes) : []
        if !changed.isEmpty {
            throw .incompatible("rate-card version \(changed.joined(separator: ", ")) changed content since it was used; a used version is immutable — add a new version instead")
        }
        let missing = header.rateCardHashes.keys.filter { config.rateCards.index(ofVersion: $0) == nil }.sorted()
        if !missing.isEmpty { throw .incompatible("rate-card version \(missing.joined(separator: ", ")) was used but is no longer configured") }
        var thresholds: [Int64] = []
        for _ in 0..<(try r.int(64)) { thresholds.append(try r.svar()) }
        _ = try r.svar()  // dedupe window at write time: the configured one applies from now on
        let ledger = PartitionLedger(config: config)
        ledger.state.watermark = try r.svar()
        var counters = PartitionLedger.Counters()
        counters.applied = try r.svar(); counters.priced = try r.svar(); counters.duplicates = try r.svar()
        counters.rejected = try r.svar(); counters.alerts = try r.svar(); counters.chargedMillicredits = try r.svar()
        if version >= 3 { counters.requests = try r.svar() }
        if version >= 6 {
            counters.holdsGranted = try r.svar(); counters.holdsDenied = try r.svar(); counters.holdsReleased = try r.svar()
            counters.holdsExpired = try r.svar(); counters.usageUnheld = try r.svar()
        }
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
        let reading = AccountReading(version: version, planMap: planMap, versionMap: versionMap, bitMap: bitMap, thresholds: thresholds,
                                     thresholdsChanged: thresholds != config.thresholds)
        for _ in 0..<n { try readAccount(&r, into: ledger, reading) }
        ledger.state.purchaseIDs = ledger.state.accounts.reduce(0) { $0 + ($1.extras.first?.grantIDs.count ?? 0) }
        try readDedupe(&r, into: ledger, version: version)
        guard r.remaining == 0 else { throw .damaged("unexpected bytes after the state") }
        try validateRestored(ledger)
        header.accounts = n
        // The invariants hold in every snapshot ever written (Invariants.swift).
        let audit = ledger.audit()
        guard audit.isClean else {
            throw .damaged("snapshot breaks the ledger's conservation invariant (\(audit.failures.prefix(3).joined(separator: ", ")))")
        }
        return (ledger, header)
    }

    /// How many partition counters a format version holds: 6, v3 the requests, v6 the holds'.
    private static func counterCount(_ version: UInt8) -> Int { version >= 6 ? 12 : version >= 3 ? 7 : 6 }

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
}
