public import CreditConfig
public import CreditEngine
import Foundation
public import Kafka
public import Logging
public import ServiceLifecycle

/// The credit-meter service, as a swift-service-lifecycle `Service`: `run()` returns when the
/// service group shuts down (SIGTERM/SIGINT) after a clean stop — partitions snapshotted,
/// offsets committed, producer flushed — or throws what stopped it.
///
/// The consuming loop runs on a thread of its own: librdkafka's calls block, and the
/// ledgers are touched by that thread only. Other services (an HTTP server, later) run beside
/// it in the same `ServiceGroup` and read `status`, which the loop publishes once per batch
/// (per-partition positions included) — never the ledgers themselves.
public final class MeterService: Service, Sendable {
    public let config: ServiceConfiguration
    let logger: Logger
    let board = StatusBoard()
    let stopFlag = StopSignal()
    /// What the HTTP server reads (contract §11): views the consuming loop publishes.
    public let readModel: ReadModel
    /// The wall clock (nanoseconds since 1970): snapshot stamps and age, `/check`'s default
    /// time. The ledger never reads it (it runs on event time).
    public let wallClock: WallClock
    /// Who owns which input partition (§13), for §11's redirects; nil without `kafka.state_topic`.
    public let ownership: OwnershipDirectory?
    private let bootstrapOverride: String?
    private let finished = Locked<Handover?>(nil)

    /// - Parameter bootstrap: brokers to use instead of `kafka.bootstrap_servers` (a development
    ///   cluster: `embedded`, the demo, the bench, tests).
    /// - Parameter wallClock: the system's real-time clock; tests pass one they can move.
    public init(config: ServiceConfiguration, logger: Logger, bootstrap: String? = nil, readModel: ReadModel = ReadModel(),
                wallClock: @escaping WallClock = systemWallClock) {
        self.config = config
        self.readModel = readModel
        self.logger = logger
        self.bootstrapOverride = bootstrap
        self.wallClock = wallClock
        self.ownership = OwnershipDirectory(config: config, logger: logger)
    }

    public var status: ServiceStatus { board.current }

    /// Asks the loop to stop; `run()` then returns after the clean stop.
    public func requestStop() { stopFlag.request() }

    /// Tests: the consuming loop asks for the stop itself after the batch in which `processed`
    /// reaches `n` — a stop at a point in the log that does not depend on how soon a test's
    /// task is scheduled (a loaded machine wakes a polling test seconds late). The clean stop
    /// still applies what was already delivered, so `processed` ends at `n` or a little above.
    @_spi(Testing) public func requestStop(afterProcessed n: Int64) { stopFlag.request(afterProcessed: n) }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await runLoop()
            } onCancel: {
                self.requestStop()
            }
        } onGracefulShutdown: {
            self.requestStop()
        }
    }

    private func runLoop() async throws {
        // `kafka.bootstrap_servers: embedded` is resolved by whoever starts the service (the
        // command line starts a development cluster); the service itself only connects.
        let bootstrap = bootstrapOverride ?? config.kafka.bootstrapServers
        if bootstrapOverride == nil && config.kafka.isEmbedded {
            throw ServiceError("kafka.bootstrap_servers is \"embedded\": start a development cluster and pass its bootstrap servers")
        }
        let loop = MeterLoop(config: config, bootstrap: bootstrap, logger: logger, board: board, stopFlag: stopFlag, model: readModel,
                             wallClock: wallClock)
        try ownership?.start(bootstrap: bootstrap)
        defer { ownership?.stop() }  // after the loop's final revocation has released its partitions
        loop.ownership = ownership
        let box = LoopBox(loop)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try box.loop.run()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "credit-meter-consumer"
            thread.stackSize = 8 << 20
            thread.start()
        }
        finished.withLock { $0 = Handover(ledgers: loop.finalStates.mapValues(\.ledger)) }
    }

    /// The ledgers the service held when it stopped (read-only use after `run()` returned).
    public func finalLedgers() -> [TopicPartition: PartitionLedger] {
        finished.value?.ledgers ?? [:]
    }
}

/// Hands the loop to its thread (the loop is confined to that thread from then on).
private final class LoopBox: @unchecked Sendable {
    let loop: MeterLoop
    init(_ loop: MeterLoop) { self.loop = loop }
}

/// The ledgers, handed over once the consuming thread has ended (never shared while it runs).
private struct Handover: @unchecked Sendable {
    let ledgers: [TopicPartition: PartitionLedger]
}

/// Nanoseconds since 1970, UTC.
public typealias WallClock = @Sendable () -> Int64

/// `CLOCK_REALTIME`.
public let systemWallClock: WallClock = {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
