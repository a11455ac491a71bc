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
/// ledgers are touched by that thread only.
public final class MeterService: Service, Sendable {
    public let config: ServiceConfiguration
    let logger: Logger
    let board = StatusBoard()
    let stopFlag = StopSignal()
    private let bootstrapOverride: String?
    private let finished = Locked<Handover?>(nil)

    /// - Parameter bootstrap: brokers to use instead of `kafka.bootstrap_servers` (the demo's
    ///   and tests' mock cluster).
    public init(config: ServiceConfiguration, logger: Logger, bootstrap: String? = nil) {
        self.config = config
        self.logger = logger
        self.bootstrapOverride = bootstrap
    }

    public var status: ServiceStatus { board.current }

    /// Asks the loop to stop; `run()` then returns after the clean stop.
    public func requestStop() { stopFlag.request() }

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
        var embedded: MockCluster?
        var bootstrap = bootstrapOverride ?? config.kafka.bootstrapServers
        if bootstrapOverride == nil && config.kafka.isEmbedded {
            let cluster = try MockCluster(brokers: 1, logger: logger)
            for t in config.kafka.inputTopics { try cluster.createTopic(t, partitions: 16) }
            for t in [config.kafka.alertsTopic, config.kafka.deadLetterTopic, config.kafka.requestsTopic] + (config.kafka.balancesTopic.map { [$0] } ?? []) {
                try cluster.createTopic(t, partitions: 4)
            }
            bootstrap = cluster.bootstrapServers
            embedded = cluster
            logger.notice("embedded mock cluster started", metadata: ["bootstrap": "\(bootstrap)"])
        }
        let loop = MeterLoop(config: config, bootstrap: bootstrap, logger: logger, board: board, stopFlag: stopFlag)
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
        withExtendedLifetime(embedded) {}
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
