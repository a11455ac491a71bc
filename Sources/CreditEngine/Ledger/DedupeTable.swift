/// The idempotency window of one partition: 64-bit fingerprints of (account, source, id),
/// each remembered for `window` hours of the partition's event-time clock after it was seen.
///
/// Memory: an open-addressing table of 8-byte fingerprints plus a 2-byte hour stamp per
/// slot, kept between 70 % and 85 % full (expired entries are swept when it fills), so
/// 10 / 0.85 … 10 / 0.70 ≈ 11.8–14.3 bytes per remembered id. The stamp 0xFFFF means
/// "forever" (ids of `credit.adjusted` events). A false duplicate needs two different ids of
/// one partition to share all 64 bits while both are remembered: about n / 2⁶⁴ per event
/// for n remembered ids (≈ 5 × 10⁻¹⁴ at a million).
public struct DedupeTable: Sendable {
    public static let forever: UInt16 = 0xFFFF
    /// "Forever" among absolute hours (which may be negative: times before 1970 are valid).
    static let foreverHour = Int64.min
    static let minCapacity = 64

    private(set) var fingerprints: [UInt64]
    private(set) var stamps: [UInt16]
    private(set) var used = 0
    /// Hour (since epoch) that stamp 0 stands for.
    private(set) var baseHour: Int64
    public let windowHours: Int64

    public init(windowHours: Int64, baseHour: Int64 = 0) {
        self.windowHours = windowHours
        self.baseHour = baseHour
        fingerprints = [UInt64](repeating: 0, count: Self.minCapacity)
        stamps = [UInt16](repeating: 0, count: Self.minCapacity)
    }

    public var count: Int { used }
    /// Bytes held by the table.
    public var byteSize: Int { fingerprints.capacity * 8 + stamps.capacity * 2 }

    @inline(__always)
    private func home(_ fp: UInt64) -> Int {
        Int(truncatingIfNeeded: fp.multipliedFullWidth(by: UInt64(fingerprints.count)).high)
    }

    @inline(__always)
    private func isLive(_ stamp: UInt16, nowHour: Int64) -> Bool {
        stamp == Self.forever || baseHour + Int64(stamp) >= nowHour - windowHours
    }

    /// Where a lookup ended, so that the insert that follows it needs no second probe.
    public struct Probe {
        var slot = -1
        var capacity = 0
        var found = false
        public init() {}
        init(slot: Int, capacity: Int, found: Bool) {
            self.slot = slot
            self.capacity = capacity
            self.found = found
        }
    }

    /// True if `fp` was seen within the window ending at `nowHour`; records in `probe` where
    /// an insert would go.
    @inline(__always)
    public func lookup(_ fp: UInt64, nowHour: Int64, probe: inout Probe) -> Bool {
        let fp = fp == 0 ? 1 : fp
        let n = fingerprints.count
        var i = home(fp)
        return fingerprints.withUnsafeBufferPointer { f in
            while true {
                let v = f[i]
                if v == 0 { probe = Probe(slot: i, capacity: n, found: false); return false }
                if v == fp {
                    probe = Probe(slot: i, capacity: n, found: true)
                    return isLive(stamps[i], nowHour: nowHour)
                }
                i += 1
                if i == n { i = 0 }
            }
        }
    }

    /// Inserts after a `lookup` that returned false (re-probes only if the table changed).
    @inline(__always)
    public mutating func insert(_ fp: UInt64, probe: Probe, seenHour: Int64, forever: Bool, nowHour: Int64) {
        let full = (used + 1) * 100 > fingerprints.count * 85 || seenHour - baseHour > 0xFFF0 || used == 0
        guard !full, probe.slot >= 0, probe.capacity == fingerprints.count else {
            insert(fp, seenHour: seenHour, forever: forever, nowHour: nowHour)
            return
        }
        let stamp: UInt16 = forever ? Self.forever : UInt16(clamping: max(0, min(seenHour - baseHour, 0xFFFE)))
        if probe.found {
            if stamps[probe.slot] != Self.forever { stamps[probe.slot] = stamp }
        } else {
            fingerprints[probe.slot] = fp == 0 ? 1 : fp
            stamps[probe.slot] = stamp
            used += 1
        }
    }

    /// True if `fp` was seen within the window ending at `nowHour`.
    @inline(__always)
    public func contains(_ fp: UInt64, nowHour: Int64) -> Bool {
        var probe = Probe()
        return lookup(fp, nowHour: nowHour, probe: &probe)
    }

    /// Remembers `fp`, seen at `seenHour` (or forever), given the clock `nowHour`.
    public mutating func insert(_ fp: UInt64, seenHour: Int64, forever: Bool, nowHour: Int64) {
        let fp = fp == 0 ? 1 : fp
        if used == 0 { baseHour = nowHour - windowHours }
        if (used + 1) * 100 > fingerprints.count * 85 || seenHour - baseHour > 0xFFF0 {
            sweep(nowHour: nowHour, extra: 1)  // also re-bases the hour stamps
        }
        let stamp: UInt16 = forever ? Self.forever : UInt16(clamping: max(0, min(seenHour - baseHour, 0xFFFE)))
        let n = fingerprints.count
        var i = home(fp)
        while true {
            let v = fingerprints[i]
            if v == 0 {
                fingerprints[i] = fp
                stamps[i] = stamp
                used += 1
                return
            }
            if v == fp {
                if stamps[i] != Self.forever { stamps[i] = stamp }
                return
            }
            i += 1
            if i == n { i = 0 }
        }
    }

    /// Drops expired ids and resizes so that live ids fill ~70 % of the table (rebuilt straight
    /// from the old arrays: no intermediate copy).
    public mutating func sweep(nowHour: Int64, extra: Int = 0) {
        var live = 0
        var oldest = Int64.max
        for i in 0..<fingerprints.count where fingerprints[i] != 0 && isLive(stamps[i], nowHour: nowHour) {
            live += 1
            if stamps[i] != Self.forever { oldest = min(oldest, baseHour + Int64(stamps[i])) }
        }
        let oldFingerprints = fingerprints
        let oldStamps = stamps
        let oldBase = baseHour
        let capacity = max(Self.minCapacity, (live + extra) * 10 / 7 + 1)
        fingerprints = [UInt64](repeating: 0, count: capacity)
        stamps = [UInt16](repeating: 0, count: capacity)
        used = 0
        // Re-base so stamps stay small: nothing live is older than nowHour − window.
        baseHour = min(oldest == .max ? nowHour : oldest, nowHour - windowHours)
        for i in 0..<oldFingerprints.count {
            let fp = oldFingerprints[i]
            let stamp = oldStamps[i]
            guard fp != 0, stamp == Self.forever || oldBase + Int64(stamp) >= nowHour - windowHours else { continue }
            place(fp, stamp == Self.forever ? Self.foreverHour : oldBase + Int64(stamp))
        }
    }

    private mutating func rebuild(_ live: [(UInt64, Int64)], nowHour: Int64, extra: Int) {
        let capacity = max(Self.minCapacity, (live.count + extra) * 10 / 7 + 1)
        fingerprints = [UInt64](repeating: 0, count: capacity)
        stamps = [UInt16](repeating: 0, count: capacity)
        used = 0
        let oldest = live.lazy.filter { $0.1 != Self.foreverHour }.map(\.1).min() ?? nowHour
        baseHour = min(oldest, nowHour - windowHours)
        for (fp, hour) in live { place(fp, hour) }
    }

    /// Places a fingerprint known to be absent (hour `foreverHour` = forever).
    @inline(__always)
    private mutating func place(_ fp: UInt64, _ hour: Int64) {
        let capacity = fingerprints.count
        var i = home(fp)
        while fingerprints[i] != 0 { i += 1; if i == capacity { i = 0 } }
        fingerprints[i] = fp
        stamps[i] = hour == Self.foreverHour ? Self.forever : UInt16(clamping: min(hour - baseHour, 0xFFFE))
        used += 1
    }

    /// Live entries in canonical order (sorted by fingerprint): (fingerprint, hour seen or nil = forever).
    public func liveEntries(nowHour: Int64) -> [(fingerprint: UInt64, hour: Int64?)] {
        var out: [(fingerprint: UInt64, hour: Int64?)] = []
        out.reserveCapacity(used)
        for i in 0..<fingerprints.count where fingerprints[i] != 0 && isLive(stamps[i], nowHour: nowHour) {
            out.append((fingerprints[i], stamps[i] == Self.forever ? nil : baseHour + Int64(stamps[i])))
        }
        out.sort { $0.fingerprint < $1.fingerprint }
        return out
    }

    /// Restores from canonical entries (snapshot).
    public init(windowHours: Int64, entries: [(fingerprint: UInt64, hour: Int64?)], nowHour: Int64) {
        self.init(windowHours: windowHours, baseHour: nowHour - windowHours)
        rebuild(entries.map { ($0.fingerprint, $0.hour ?? Self.foreverHour) }, nowHour: nowHour, extra: 0)
    }
}
