public import Kafka

/// What the service has done, for progress lines, the demo's summary, `/metrics` and tests.
/// The counts are published by the consuming thread together with the read views (see
/// `RecordCounts`); `positions` and `running` are read from the read model, the one place the
/// loop publishes them.
public struct ServiceStatus: Sendable, Equatable {
    public var consumed: Int64 = 0
    /// Records applied again after an assignment was lost without a snapshot (restored from an
    /// older one): already counted once by this process, so in no other count.
    public var reread: Int64 = 0
    public var applied: Int64 = 0
    public var priced: Int64 = 0
    public var duplicates: Int64 = 0
    public var deadLettered: Int64 = 0
    public var alertsPublished: Int64 = 0
    public var balancesPublished: Int64 = 0
    /// `credit.hold.expired` events this instance wrote to the input (§15), counted once the
    /// broker acknowledged each with its offset (a copy another owner also wrote counts here too).
    public var holdExpiriesProduced: Int64 = 0
    /// Read views built for the HTTP read model (§11): for changed accounts every 100 ms and
    /// before their balances records, none while a partition replays (see `PartitionState.replayingUntil`).
    public var viewsBuilt: Int64 = 0
    public var creditsChargedMillicredits: Int64 = 0
    /// Holds (§15): requests granted and denied (a repeated `hold_id` is neither), holds
    /// released and expired, usage naming an unknown or ended hold.
    public var holds = HoldCounts()
    public var deliveryFailures: Int64 = 0
    public var snapshotsWritten: Int64 = 0
    public var lastSnapshotMillis: Int64 = 0
    /// How long the consuming thread spent on the last snapshot: the capture (and a replaying
    /// partition's pending balances records); for a revoke's, also publishing the pending
    /// balances records and the producer flush.
    public var lastSnapshotPauseMicros: Int64 = 0
    /// The longest encoding of one partition's snapshot (on the snapshot writer's worker).
    public var longestEncodeMillis: Int64 = 0
    /// Partitions restored from the state topic (§13), from a local snapshot, or from the
    /// beginning of the input, since the start.
    public var restoredFromStateTopic: Int64 = 0
    public var restoredFromSnapshot: Int64 = 0
    public var restoredFromBeginning: Int64 = 0
    /// Wall-clock time (ms since 1970) of the last durable snapshot; 0 before the first.
    public var lastSnapshotWallMillis: Int64 = 0
    /// Alerts published, by CloudEvent type.
    public var alertsByType: [String: Int64] = [:]
    /// Ids the partitions held here remember (`PartitionLedger.rememberedIDs`, summed), as of
    /// the last publish: the dedupe tables' entries and the grant and top-up ids kept for good.
    public var rememberedIDs = RememberedIDs()

    public struct RememberedIDs: Sendable, Equatable {
        /// Dedupe table entries: window and adjustment ids (expired ones until the next sweep).
        public var window: Int64 = 0
        /// Grant and top-up ids, kept for good.
        public var purchases: Int64 = 0
    }
    public struct HoldCounts: Sendable, Equatable {
        public var granted: Int64 = 0
        public var denied: Int64 = 0
        public var released: Int64 = 0
        public var expired: Int64 = 0
        public var usageUnheld: Int64 = 0

        static func += (a: inout HoldCounts, b: HoldCounts) {
            a.granted += b.granted; a.denied += b.denied; a.released += b.released; a.expired += b.expired
            a.usageUnheld += b.usageUnheld
        }
    }
    /// Next offset to apply, per input partition held and restored here, as readers see it
    /// (negative: nothing applied yet and no snapshot — the partition starts at its log start).
    public var positions: [TopicPartition: Int64] = [:]
    public var running = false

    public init() {}

    /// Records consumed (= applied + duplicates + dead-lettered).
    public var processed: Int64 { applied + duplicates + deadLettered }
}
