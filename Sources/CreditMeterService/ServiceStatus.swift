public import Kafka
import CoreMetrics
import Synchronization

/// What the service has done, for progress lines, the demo's summary and tests. Updated by
/// the consuming thread once per batch; read from anywhere.
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
    /// Read views built for the HTTP read model (§11): for changed accounts every 100 ms and
    /// before their balances records, none while a partition replays (see `PartitionState.replayingUntil`).
    public var viewsBuilt: Int64 = 0
    public var creditsChargedMillicredits: Int64 = 0
    public var deliveryFailures: Int64 = 0
    public var snapshotsWritten: Int64 = 0
    public var lastSnapshotMillis: Int64 = 0
    /// How long the consuming thread spent on the last snapshot: publishing the pending balances
    /// records, the producer flush and the capture.
    public var lastSnapshotPauseMicros: Int64 = 0
    /// The longest encoding of one partition's snapshot (on the writer queue).
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
    /// Next offset to process, per input partition owned now.
    public var positions: [TopicPartition: Int64] = [:]
    public var running = false

    public init() {}

    /// Records consumed (= applied + duplicates + dead-lettered).
    public var processed: Int64 { applied + duplicates + deadLettered }
}

final class StatusBoard: Sendable {
    private let state = Mutex(ServiceStatus())
    func update(_ body: (inout ServiceStatus) -> Void) { state.withLock { body(&$0) } }
    var current: ServiceStatus { state.withLock { $0 } }
}

/// swift-metrics instruments (`credit-meter run` bootstraps swift-prometheus as the backend).
/// Record, credit and alert counts are exported from `ServiceStatus` instead: exact, and per
/// service rather than per process.
struct ServiceMetrics {
    let snapshotDuration = Timer(label: "credit_meter_snapshot_duration_seconds")
    let snapshotBytes = Gauge(label: "credit_meter_snapshot_bytes")
}

/// A value behind a lock, shareable across threads.
package final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    package init(_ value: Value) { mutex = Mutex(value) }
    package func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    package var value: Value { mutex.withLock { $0 } }
}

/// The stop request, set by signal handling or tests, read by the consuming thread.
package final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    /// Tests: the loop requests the stop itself once this many records are processed (see
    /// `MeterService.requestStop(afterProcessed:)`); `Int64.max` when unset.
    private let threshold = Atomic<Int64>(.max)
    package init() {}
    package func request() { flag.store(true, ordering: .relaxed) }
    package var isRequested: Bool { flag.load(ordering: .relaxed) }
    package func request(afterProcessed n: Int64) { threshold.store(n, ordering: .relaxed) }
    package var processedThreshold: Int64 { threshold.load(ordering: .relaxed) }
}
