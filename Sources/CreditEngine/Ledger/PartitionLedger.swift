/// The ledger of one input partition: every account whose events live there and the ids
/// they remember. A pure state machine: `apply` is a
/// function of the state and the record, with no I/O, no clock and no randomness, so the
/// same log always gives the same state. Engine.swift states the contract and the steps.
public final class PartitionLedger {
    /// Everything the ledger holds, as one value: `apply` mutates it through a single
    /// exclusive access (a struct's `mutating` method), not one per field.
    var state: LedgerState
    /// Capability and member names as `String`s, for read views (`view`): their tables only
    /// ever append, so an entry's name never changes. Filled on demand by the thread that
    /// builds views (the ledger's owner); never part of the state or of snapshots.
    var nameCache = (capabilities: [String](), members: [String]())

    public var config: EngineConfiguration { state.config }
    /// Account ids; an account's index is its id's index here.
    public var ids: InternTable { state.ids }
    public var accounts: [Account] { state.accounts }
    public var capabilities: InternTable { state.capabilities }
    public var members: InternTable { state.members }
    public var dedupe: DedupeTable { state.dedupe }
    /// Event-time high-water mark: max over applied records of min(event time, record time).
    /// Only dedupe entries carried from a format-3-or-earlier snapshot run on it.
    public var watermark: Int64 { state.watermark }
    /// Ids the partition remembers: the dedupe table's entries (window and adjustment ids,
    /// expired ones not yet swept included) and the grant and top-up ids kept for good.
    public var rememberedIDs: (window: Int, purchases: Int) { (state.dedupe.count, state.purchaseIDs) }
    public var counters: Counters { state.counters }

    public struct Counters: Sendable, Equatable {
        public var applied: Int64 = 0
        public var priced: Int64 = 0
        public var duplicates: Int64 = 0
        public var rejected: Int64 = 0
        public var alerts: Int64 = 0
        public var chargedMillicredits: Int64 = 0
        /// Auto top-up requests made (not in snapshots before format 3).
        public var requests: Int64 = 0
        /// Holds (§15): requests granted and denied (repeats not counted), holds released and
        /// expired, usage naming an unknown or ended hold (snapshot format 6 and later).
        public var holdsGranted: Int64 = 0
        public var holdsDenied: Int64 = 0
        public var holdsReleased: Int64 = 0
        public var holdsExpired: Int64 = 0
        public var usageUnheld: Int64 = 0

        /// Records counted: applied, duplicates and dead-lettered (every record once).
        public var records: Int64 { applied + duplicates + rejected }

        /// Field by field (credits charged wrap, as they are summed for metrics only).
        public static func - (a: Counters, b: Counters) -> Counters {
            Counters(applied: a.applied - b.applied, priced: a.priced - b.priced, duplicates: a.duplicates - b.duplicates,
                     rejected: a.rejected - b.rejected, alerts: a.alerts - b.alerts,
                     chargedMillicredits: a.chargedMillicredits &- b.chargedMillicredits, requests: a.requests - b.requests,
                     holdsGranted: a.holdsGranted - b.holdsGranted, holdsDenied: a.holdsDenied - b.holdsDenied,
                     holdsReleased: a.holdsReleased - b.holdsReleased, holdsExpired: a.holdsExpired - b.holdsExpired,
                     usageUnheld: a.usageUnheld - b.usageUnheld)
        }

        public static func + (a: Counters, b: Counters) -> Counters {
            Counters(applied: a.applied + b.applied, priced: a.priced + b.priced, duplicates: a.duplicates + b.duplicates,
                     rejected: a.rejected + b.rejected, alerts: a.alerts + b.alerts,
                     chargedMillicredits: a.chargedMillicredits &+ b.chargedMillicredits, requests: a.requests + b.requests,
                     holdsGranted: a.holdsGranted + b.holdsGranted, holdsDenied: a.holdsDenied + b.holdsDenied,
                     holdsReleased: a.holdsReleased + b.holdsReleased, holdsExpired: a.holdsExpired + b.holdsExpired,
                     usageUnheld: a.usageUnheld + b.usageUnheld)
        }
    }

    public init(config: EngineConfiguration) {
        state = LedgerState(config: config)
    }

    init(state: LedgerState) {
        self.state = state
    }

    /// The ledger as it is now, as a separate object sharing storage with this one until
    /// either changes (every part of the state is a value type, copied on write): the snapshot
    /// writer encodes it on its own thread while the consuming thread goes on applying records
    /// to the original. The first change after it copies what it touches, once.
    public func frozenCopy() -> PartitionLedger {
        PartitionLedger(state: state)
    }

    /// Applies one decoded event. `key` is the record key; `recordTime` the record's
    /// timestamp in nanoseconds (nil when the broker gave none).
    @inline(__always)
    public func apply(_ e: DecodedEvent, key: UnsafeRawBufferPointer?, recordTime: Int64?) -> ApplyResult {
        #if DEBUG
        let result = state.apply(e, key: key, recordTime: recordTime)
        assertInvariants(after: result)  // Invariants.swift
        return result
        #else
        state.apply(e, key: key, recordTime: recordTime)
        #endif
    }

    /// Starts loading the account-id table slot of the record with this key (a hint, no
    /// effect): called before the record is decoded, its load overlaps the decoding. The key
    /// is the subject of every event `apply` accepts.
    @inline(__always)
    public func prefetch(key: UnsafeRawBufferPointer) {
        state.ids.prefetch(hash: ByteHash.hash(key))
    }

    public var accountCount: Int { accounts.count }

    public func accountIndex(_ id: String) -> Int? { ids.find(id) }
    public func accountID(_ index: Int) -> String { ids.string(index) }
    public func account(_ id: String) -> Account? { ids.find(id).map { accounts[$0] } }
    public func lastEventID(_ index: Int) -> String? { state.lastIds.string(state.lastIdRefs[index]) }

    /// The dedupe key of an event — its account, source and id in 64 bits — and the origin of
    /// the block a grant or top-up makes.
    @inline(__always)
    static func fingerprint(subjectHash: UInt64, source: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) -> UInt64 {
        ByteHash.combine(ByteHash.combine(subjectHash, ByteHash.hash(source, seed: 0x5EED)), ByteHash.hash(id, seed: 0x1D))
    }

    /// The rate-card version in force for an account at `time` (pins first).
    @inline(__always)
    public func versionInForce(_ account: Account?, at time: Int64) -> Int? {
        state.versionInForce(account, at: time)
    }

    /// A record of this partition that never became an event (malformed JSON, a missing
    /// attribute …): bad input like a rejection, and counted with them, so that the ledger's
    /// counters account for every record of the partition — the one set of counts the service
    /// reports from.
    public func countDecodeFailure() {
        state.counters.rejected += 1
    }
}
