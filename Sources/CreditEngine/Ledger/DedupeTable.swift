internal import CachePrefetch

/// The idempotency window of one partition's accounts (contract §5, §14), one table per
/// partition, each entry judged by its own account's clock.
///
/// An entry is a 64-bit fingerprint of (account, source, id), its owner (the account's index
/// in the partition) and the owner's clock when the id was applied ("applied": the account
/// clock — the maximum event time of the account's applied events — after that event). The id
/// is remembered while the owner's clock ≤ applied + window, to the nanosecond; once the clock
/// passes that it is forgotten, and a later sweep drops it. Ids of `credit.adjusted` events
/// are remembered for good (a flag on the owner). A match needs the fingerprint *and* the
/// owner, so whether an account's id is remembered depends on that account alone — never on
/// its neighbours, the partition count or how accounts are spread.
///
/// The owners' clocks are never read from the accounts: an account's clock is the largest
/// applied clock among its own entries (the entry of the event that set the clock is always
/// live), so a sweep derives every clock from the table itself in one pass.
///
/// Entries restored from a snapshot of format 3 or earlier have no owner and only the hour
/// that format stamped them with: max(the partition's event-time clock, the event's time),
/// floored to the hour ("carried" entries). The fingerprint names the account, so a carried
/// entry a lookup matches is the looking-up account's own: it is remembered while that
/// account's clock ≤ the stamp's hour end + 24 h (its clock may have run that far ahead of the
/// partition's: an event may be 24 h ahead of its record) + the window — or while the
/// partition's clock is within the window of the stamp, the rule of the format that wrote it.
/// So a neighbour's clock never makes an account forget its own carried id. A sweep, which
/// knows no carried entry's account, keeps carried entries for `carriedGraceHours` of
/// partition time past the window: a one-time set (nothing new is ever carried), dropped a
/// month after the upgrade.
///
/// Memory: open addressing with linear probing over two parallel arrays — the fingerprints
/// (8 B, the only array a probe reads) and an `Entry` per slot (12 B: owner and applied clock,
/// read on a fingerprint match only) — so 20 B per slot, kept 70–85 % full (expired entries
/// are swept when it fills): 23.5–28.6 B per remembered id. An idle account keeps the ids of
/// its last window and nothing older. A false duplicate needs two ids of one account to share
/// all 64 bits while both are remembered: about k / 2⁶⁴ per event for k remembered ids of the
/// account.
public struct DedupeTable: Sendable {
    /// A slot's owner and applied clock: 12 bytes, 4-aligned (two arrays of 8 and 12 bytes per
    /// slot rather than one of 24).
    struct Entry: Sendable, Equatable {
        /// Bits 0–30: the owner's account index (`carried` for an entry of an older format);
        /// bit 31: remembered for good.
        var owner: UInt32
        var appliedLow: UInt32
        var appliedHigh: UInt32

        /// The owner's clock at application (ns); for a carried entry, the hour it was seen.
        @inline(__always)
        var applied: Int64 { Int64(bitPattern: UInt64(appliedHigh) << 32 | UInt64(appliedLow)) }
        @inline(__always)
        var index: UInt32 { owner & DedupeTable.indexMask }
        @inline(__always)
        var isForever: Bool { owner & DedupeTable.foreverBit != 0 }

        init(index: UInt32, applied: Int64, forever: Bool) {
            owner = index | (forever ? DedupeTable.foreverBit : 0)
            appliedLow = UInt32(truncatingIfNeeded: applied)
            appliedHigh = UInt32(truncatingIfNeeded: applied >> 32)
        }
    }

    static let indexMask: UInt32 = 0x7FFF_FFFF
    static let foreverBit: UInt32 = 0x8000_0000
    /// The owner index of an entry restored from a format-3-or-earlier snapshot; account
    /// indexes stay below it.
    public static let carried = Int(indexMask)
    static let minCapacity = 64

    private(set) var fingerprints: [UInt64]
    private(set) var entries: [Entry]
    private(set) var used = 0
    /// 1 + the largest owner index held (the size of a sweep's clock table).
    private(set) var ownerBound = 0
    public let windowHours: Int64
    /// The window in nanoseconds.
    let window: Int64

    public init(windowHours: Int64) {
        self.windowHours = windowHours
        window = windowHours * EventTime.nanosPerHour
        fingerprints = [UInt64](repeating: 0, count: Self.minCapacity)
        entries = [Entry](repeating: Entry(index: 0, applied: 0, forever: false), count: Self.minCapacity)
    }

    /// Entries held, expired ones not yet swept included.
    public var count: Int { used }
    /// Bytes held by the table.
    public var byteSize: Int { fingerprints.capacity * 8 + entries.capacity * MemoryLayout<Entry>.stride }

    @inline(__always)
    private func home(_ fp: UInt64) -> Int {
        Int(truncatingIfNeeded: fp.multipliedFullWidth(by: UInt64(fingerprints.count)).high)
    }

    /// How long past its window a carried entry is kept, in hours of partition time (30 days).
    static let carriedGraceHours: Int64 = 30 * 24

    /// Whether a carried entry matched by an account whose clock is `clock` is remembered: on
    /// the account's own clock, or on the partition's as the format that wrote it decided.
    @inline(__always)
    private func carriedIsLive(_ e: Entry, clock: Int64, partitionHour: Int64) -> Bool {
        if e.isForever || e.applied >= partitionHour - windowHours { return true }
        let (hours, o1) = e.applied.addingReportingOverflow(25)
        let (start, o2) = hours.multipliedReportingOverflow(by: EventTime.nanosPerHour)
        let (end, o3) = start.addingReportingOverflow(window)
        return o1 || o2 || o3 || clock <= end
    }

    /// Whether a sweep keeps a carried entry: within the window and the grace of the
    /// partition's clock (hours).
    @inline(__always)
    private func carriedIsKept(_ e: Entry, partitionHour: Int64) -> Bool {
        e.isForever || e.applied >= partitionHour - windowHours - Self.carriedGraceHours
    }

    /// Where a lookup ended, so that the insert that follows it needs no second probe.
    public struct Probe {
        var slot = -1
        var capacity = 0
        /// `slot` holds this account's (expired) entry for the fingerprint.
        var found = false
        public init() {}
        init(slot: Int, capacity: Int, found: Bool) {
            self.slot = slot
            self.capacity = capacity
            self.found = found
        }
    }

    /// Starts loading the fingerprint and entry slots a `lookup` and `insert` of `fp` read
    /// first (a hint, no effect).
    @inline(__always)
    func prefetch(_ fp: UInt64) {
        let i = home(fp == 0 ? 1 : fp)
        fingerprints.withUnsafeBufferPointer { cache_prefetch($0.baseAddress! + i) }
        entries.withUnsafeBufferPointer { cache_prefetch($0.baseAddress! + i) }
    }

    /// True if account `owner` remembers `fp` while its clock is `clock` (the clock before the
    /// record: a record is checked before it moves the clock). `partitionClock` judges carried
    /// entries. Records in `probe` where an insert would go. One probe sequence over the
    /// fingerprints; an entry is read only on a fingerprint match.
    @inline(__always)
    public func lookup(_ fp: UInt64, owner: Int, clock: Int64, partitionClock: Int64, probe: inout Probe) -> Bool {
        let fp = fp == 0 ? 1 : fp
        let n = fingerprints.count
        var i = home(fp)
        return fingerprints.withUnsafeBufferPointer { f in
            while true {
                let v = f[i]
                if v == 0 { probe = Probe(slot: i, capacity: n, found: false); return false }
                if v == fp {
                    let e = entries[i]
                    if Int(e.index) == owner {
                        probe = Probe(slot: i, capacity: n, found: true)
                        return e.isForever || clock <= e.applied + window
                    }
                    // A carried entry names the account through its fingerprint alone. An
                    // expired one stays behind any entry of the account for the same id.
                    if Int(e.index) == Self.carried
                        && carriedIsLive(e, clock: clock, partitionHour: EventTime.floorDiv(partitionClock, EventTime.nanosPerHour)) {
                        probe = Probe(slot: i, capacity: n, found: false)
                        return true
                    }
                }
                i += 1
                if i == n { i = 0 }
            }
        }
    }

    /// True if account `owner` remembers `fp` at `clock`.
    public func contains(_ fp: UInt64, owner: Int, clock: Int64, partitionClock: Int64 = .min) -> Bool {
        var probe = Probe()
        return lookup(fp, owner: owner, clock: clock, partitionClock: partitionClock, probe: &probe)
    }

    /// Remembers `fp` for account `owner`, applied at its clock `applied` (or for good), after
    /// a `lookup` that returned false (re-probes only if the table changed since).
    @inline(__always)
    public mutating func insert(_ fp: UInt64, owner: Int, applied: Int64, forever: Bool, probe: Probe, partitionClock: Int64) {
        let fp = fp == 0 ? 1 : fp
        assert(owner < Self.carried, "account index past the dedupe table's owner range")
        if owner >= ownerBound { ownerBound = owner + 1 }
        var slot = probe.slot
        var found = probe.found
        if (used + 1) * 100 > fingerprints.count * 85 {
            sweep(partitionClock: partitionClock, extra: 1)  // rebuilt: the probe is stale
            slot = -1
        }
        if slot < 0 || probe.capacity != fingerprints.count { (slot, found) = position(fp, owner: owner) }
        if found {
            // The account's expired entry for this id: applied again now. Forever stays forever.
            let wasForever = entries[slot].isForever
            entries[slot] = Entry(index: UInt32(owner), applied: applied, forever: forever || wasForever)
            return
        }
        fingerprints[slot] = fp
        entries[slot] = Entry(index: UInt32(owner), applied: applied, forever: forever)
        used += 1
    }

    /// The slot of the account's entry for `fp`, or the free slot where it would go.
    private func position(_ fp: UInt64, owner: Int) -> (slot: Int, found: Bool) {
        let n = fingerprints.count
        var i = home(fp)
        while true {
            let v = fingerprints[i]
            if v == 0 { return (i, false) }
            if v == fp && Int(entries[i].index) == owner { return (i, true) }
            i += 1
            if i == n { i = 0 }
        }
    }

    /// The owners' clocks as the table knows them: for each account index below `ownerBound`,
    /// the largest applied clock among its entries (`.min` for none).
    func ownerClocks() -> [Int64] {
        var clocks = [Int64](repeating: .min, count: ownerBound)
        for i in 0..<fingerprints.count where fingerprints[i] != 0 {
            let e = entries[i]
            let owner = Int(e.index)
            if owner != Self.carried, e.applied > clocks[owner] { clocks[owner] = e.applied }
        }
        return clocks
    }

    /// Whether an entry is remembered, given the owners' clocks and the partition's hour.
    @inline(__always)
    private func isLive(_ e: Entry, clocks: [Int64], partitionHour: Int64) -> Bool {
        let owner = Int(e.index)
        if owner == Self.carried { return carriedIsKept(e, partitionHour: partitionHour) }
        return e.isForever || clocks[owner] <= e.applied + window
    }

    /// Drops expired entries and resizes so that the live ones fill ~70 % of the table (rebuilt
    /// straight from the old arrays: no intermediate copy).
    public mutating func sweep(partitionClock: Int64, extra: Int = 0) {
        let clocks = ownerClocks()
        let partitionHour = EventTime.floorDiv(partitionClock, EventTime.nanosPerHour)
        var live = 0
        for i in 0..<fingerprints.count where fingerprints[i] != 0 && isLive(entries[i], clocks: clocks, partitionHour: partitionHour) {
            live += 1
        }
        let oldFingerprints = fingerprints
        let oldEntries = entries
        let capacity = max(Self.minCapacity, (live + extra) * 10 / 7 + 1)
        fingerprints = [UInt64](repeating: 0, count: capacity)
        entries = [Entry](repeating: Entry(index: 0, applied: 0, forever: false), count: capacity)
        used = 0
        for i in 0..<oldFingerprints.count where oldFingerprints[i] != 0 && isLive(oldEntries[i], clocks: clocks, partitionHour: partitionHour) {
            place(oldFingerprints[i], oldEntries[i])
        }
    }

    /// Places an entry known to be absent.
    @inline(__always)
    private mutating func place(_ fp: UInt64, _ e: Entry) {
        let capacity = fingerprints.count
        var i = home(fp)
        while fingerprints[i] != 0 { i += 1; if i == capacity { i = 0 } }
        fingerprints[i] = fp
        entries[i] = e
        used += 1
        if Int(e.index) != Self.carried && Int(e.index) >= ownerBound { ownerBound = Int(e.index) + 1 }
    }

    /// One remembered id as snapshots carry it.
    public struct Remembered: Sendable, Equatable {
        public var fingerprint: UInt64
        /// The account's index, or `DedupeTable.carried`.
        public var owner: Int
        /// The owner's clock at application (ns); for a carried entry, the hour it was seen.
        public var applied: Int64
        public var forever: Bool

        public init(fingerprint: UInt64, owner: Int, applied: Int64, forever: Bool) {
            self.fingerprint = fingerprint
            self.owner = owner
            self.applied = applied
            self.forever = forever
        }
    }

    /// The remembered entries in canonical order (by fingerprint, then owner; carried entries,
    /// whose owner is the largest index, after the account's own), expired ones left out:
    /// `clocks[i]` is account i's clock, `partitionClock` judges carried entries.
    public func remembered(clocks: [Int64], partitionClock: Int64) -> [Remembered] {
        let partitionHour = EventTime.floorDiv(partitionClock, EventTime.nanosPerHour)
        var out: [Remembered] = []
        out.reserveCapacity(used)
        for i in 0..<fingerprints.count where fingerprints[i] != 0 && isLive(entries[i], clocks: clocks, partitionHour: partitionHour) {
            let e = entries[i]
            out.append(Remembered(fingerprint: fingerprints[i], owner: Int(e.index), applied: e.applied, forever: e.isForever))
        }
        out.sort { $0.fingerprint < $1.fingerprint || ($0.fingerprint == $1.fingerprint && $0.owner < $1.owner) }
        return out
    }

    /// Restores a table from remembered entries (a snapshot's, already checked: owners are
    /// account indexes or `carried`, no (fingerprint, owner) twice).
    public init(windowHours: Int64, remembered: [Remembered]) {
        self.init(windowHours: windowHours)
        let capacity = max(Self.minCapacity, remembered.count * 10 / 7 + 1)
        fingerprints = [UInt64](repeating: 0, count: capacity)
        entries = [Entry](repeating: Entry(index: 0, applied: 0, forever: false), count: capacity)
        for r in remembered {
            place(r.fingerprint == 0 ? 1 : r.fingerprint, Entry(index: UInt32(r.owner), applied: r.applied, forever: r.forever))
        }
    }
}
