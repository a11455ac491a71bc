public import CreditConfig
package import CreditEngine
import Foundation
package import Kafka
public import Logging
public import ServiceLifecycle

/// The credit-meter service, as a swift-service-lifecycle `Service`: `run()` returns when the
/// service group shuts down (SIGTERM/SIGINT) after a clean stop — partitions snapshotted,
/// offsets committed, producer flushed — or throws what stopped it.
///
/// The consuming loop runs on a thread of its own: librdkafka's calls block, and the
/// ledgers are touched by that thread only. Other services (the HTTP server) run beside it in
/// the same `ServiceGroup` and read `readModel` and `status`, which the loop publishes — never
/// the ledgers themselves.
public final class MeterService: Service, Sendable {
    public let config: ServiceConfiguration
    let logger: Logger
    private let board = StatusBoard()
    private let stopSignal = StopSignal()
    private let stopAfterProcessed = Locked<Int64?>(nil)
    /// What the HTTP server reads (contract §11): views, positions and whether the loop runs,
    /// as the consuming loop publishes them.
    public let readModel: ReadModel
    /// The wall clock (nanoseconds since 1970): snapshot stamps and age, `/check`'s default
    /// time, when holds are due to expire. The ledger never reads it (it runs on event time).
    public let wallClock: WallClock
    /// Who owns which input partition (§13), for §11's redirects; nil without `kafka.state_topic`.
    public let ownership: OwnershipDirectory?
    /// Where hold requests made over HTTP enter the log and wait for their decision (§15);
    /// started and stopped with the loop.
    public let holds: HoldGateway
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
        self.ownership = OwnershipDirectory(config: config, logger: logger, wallClock: wallClock)
        self.holds = HoldGateway(config: config, logger: logger)
    }

    /// The loop's counts, with the positions and the running flag as readers see them.
    public var status: ServiceStatus {
        // Counts first: they are published after the views and positions they count.
        var s = board.current
        s.running = readModel.isRunning
        for (tp, p) in readModel.partitions where p.restored { s.positions[tp] = p.position ?? KafkaOffset.beginning }
        return s
    }

    /// Asks the loop to stop; `run()` then returns after the clean stop.
    public func requestStop() { stopSignal.request() }

    /// Before `run()`: the consuming loop asks for the stop itself once `processed` reaches `n`
    /// (checked after each poll) — a stop at a point in the log that does not depend on how soon
    /// a test's task is scheduled. The clean stop still applies what was already delivered, so
    /// `processed` ends at `n` or a little above.
    package func requestStop(afterProcessed n: Int64) { stopAfterProcessed.withLock { $0 = n } }

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
        try ownership?.start(bootstrap: bootstrap)
        defer { ownership?.stop() }  // after the loop's final revocation has released its partitions
        try holds.start(bootstrap: bootstrap)
        defer { holds.stop() }
        let (config, logger, board, stopSignal, model, ownership, holds, wallClock) =
            (config, logger, board, stopSignal, readModel, ownership, holds, wallClock)
        let stopAfter = stopAfterProcessed.value
        let handover = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Handover, any Error>) in
            // The loop is built and run on its thread (its connections block) and stays there.
            let thread = Thread {
                do {
                    let loop = try MeterLoop(config: config, bootstrap: bootstrap, logger: logger, board: board, stopSignal: stopSignal,
                                             stopAfterProcessed: stopAfter, model: model, ownership: ownership, holds: holds.waiters,
                                             wallClock: wallClock)
                    continuation.resume(returning: Handover(ledgers: try loop.run()))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "credit-meter-consumer"
            thread.stackSize = 8 << 20
            thread.start()
        }
        finished.withLock { $0 = handover }
    }

    /// The ledgers the service held when it stopped cleanly (read-only use after `run()`
    /// returned): the demo's final table, tests.
    package func finalLedgers() -> [TopicPartition: PartitionLedger] {
        finished.value?.ledgers ?? [:]
    }
}

/// The ledgers, handed over once the consuming thread has ended (never shared while it runs).
private struct Handover: @unchecked Sendable {
    let ledgers: [TopicPartition: PartitionLedger]
}
