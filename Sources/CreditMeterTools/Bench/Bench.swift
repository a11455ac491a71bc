public import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
public import Logging

/// `credit-meter bench`: the figures of the performance issue from one run, every count read
/// back and checked so that a dropped record cannot flatter a figure.
public struct BenchOptions: Sendable {
    public var events = 1_000_000
    public var accounts = 100_000
    public var partitions: Int32 = 256
    /// Brokers to use instead of an in-process mock cluster.
    public var bootstrap: String?
    public var phases: Set<String> = ["engine", "memory", "holds", "kafka", "cpu", "latency", "restart", "http"]
    public var memoryAccounts = 1_000_000
    /// Events per second for the latency phase (default: half the full path's measured maximum).
    public var latencyRate: Double?
    /// The `hold-latency` phase (not in the default set): background rates, seconds per run,
    /// connections of the throughput run.
    public var holdRates: [Double] = [0, 10_000]
    public var holdSeconds = 10.0
    public var holdConnections = 64
    public var holdFetchWaitMs = 1
    /// More librdkafka properties for the hold-latency phase's service (`key=value`).
    public var holdProperties: [String: String] = [:]
    /// librdkafka properties for the latency phase's service, in one process and as a child.
    public var latencyProperties: [String: String] = [:]
    /// This executable (for the `credit-meter run` child whose CPU is measured).
    public var executable: String = CommandLine.arguments[0]
    public init() {}
}

public enum Bench {
    public static func run(config base: ServiceConfiguration, options: BenchOptions, logger: Logger,
                           say: @escaping @Sendable (String) -> Void) async throws {
        var config = base
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("credit-meter-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        config.snapshots.dir = scratch + "/snapshots"
        config.snapshots.intervalSeconds = 10
        if config.kafka.balancesTopic == nil { config.kafka.balancesTopic = "credit.balances" }

        say("credit-meter bench — \(ProcessInfo.processInfo.activeProcessorCount) cores, librdkafka \(librdkafkaVersion)")
        var spec = WorkloadSpec()
        spec.accounts = options.accounts
        spec.usageEvents = options.events
        spec.malformed = 0
        let needsKafka = !options.phases.isDisjoint(with: ["kafka", "cpu", "latency", "restart", "http"])
        let generated = ContinuousClock.now
        let records = needsKafka || options.phases.contains("engine") ? Workload.generate(spec) : []
        if !records.isEmpty {
            let bytes = records.reduce(0) { $0 + $1.value.count }
            say("workload: \(fmt(records.count)) records (\(fmt(options.events)) usage), \(fmt(options.accounts)) accounts, "
                + "\(bytes / records.count) B average, generated in \(ms(ContinuousClock.now - generated))")
        }

        if options.phases.contains("engine") { engine(records, config: config.engine, say: say) }
        if options.phases.contains("memory") { try memory(accounts: options.memoryAccounts, config: config.engine, dir: scratch, say: say) }
        if options.phases.contains("holds") { holds(accounts: min(options.accounts, 100_000), config: config.engine, say: say) }

        if options.phases.contains("move") {
            try await MoveBench.run(accounts: options.accounts, partitions: options.partitions, config: config,
                                    scratch: scratch, logger: logger, say: say)
        }
        if options.phases.contains("hold-latency") {
            var hold = HoldLatencyOptions()
            hold.rates = options.holdRates
            hold.seconds = options.holdSeconds
            hold.connections = options.holdConnections
            hold.fetchWaitMs = options.holdFetchWaitMs
            hold.properties = options.holdProperties
            try await holdLatency(config: config, options: hold, scratch: scratch, executable: options.executable, logger: logger, say: say)
        }
        guard needsKafka else { return }
        var cluster: DevCluster?
        let bootstrap: String
        if let b = options.bootstrap {
            bootstrap = b
            let admin = try KafkaAdmin(properties: [("bootstrap.servers", b)], logger: logger)
            let topics = config.kafka.inputTopics.map { KafkaAdmin.NewTopic(name: $0, partitions: options.partitions) }
                + [config.kafka.alertsTopic, config.kafka.deadLetterTopic, config.kafka.balancesTopic ?? "credit.balances", "bench.latency", "bench.echo"]
                    .map { KafkaAdmin.NewTopic(name: $0, partitions: 16) }
            do { try admin.createTopics(topics) } catch { say("note: could not create topics (\(error)); assuming they exist") }
        } else {
            let c = try DevCluster(for: config.kafka, inputPartitions: options.partitions, outputPartitions: 16,
                                   extra: ["bench.latency", "bench.echo"].map { DevCluster.Topic($0, partitions: 16) }, logger: logger)
            bootstrap = c.bootstrapServers
            cluster = c
            say("broker: librdkafka mock cluster in this process, \(options.partitions) input partitions (it keeps ~5 MiB each)")
        }
        let topic = config.kafka.inputTopics[0]
        let produceStart = ContinuousClock.now
        try Demo.produce(records, to: topic, bootstrap: bootstrap, logger: logger) { _ in }
        let produced = ContinuousClock.now - produceStart
        say("produced \(fmt(records.count)) records in \(ms(produced)) (\(rate(records.count, produced))/s); broker holds them all")

        var fullRate = 0.0
        if options.phases.contains("kafka") {
            let raw = try rawConsume(topic: topic, bootstrap: bootstrap, expected: records.count, logger: logger)
            say("raw librdkafka consumption (this process): \(fmt(Int(raw.rate))) records/s, no processing; process CPU "
                + String(format: "%.2f", raw.cpu * 1e6 / Double(records.count)) + " µs per record (broker included)")
            config.kafka.groupID = "bench-full"
            let full = try await fullPath(config: config, bootstrap: bootstrap, expected: Int64(records.count), logger: logger)
            fullRate = full.rate
            say("full service path (this process): \(fmt(Int(full.rate))) records/s (consume → decode → price → apply → alerts, balances) = "
                + String(format: "%.2f", full.rate / raw.rate) + "× raw; process CPU " + String(format: "%.2f", full.cpu * 1e6 / Double(records.count))
                + " µs per record; \(fmt(Int(full.alerts))) alerts, \(fmt(Int(full.balances))) balances records")
        }
        if options.phases.contains("cpu") {
            try cpuComparison(config: config, bootstrap: bootstrap, topic: topic, expected: records.count, scratch: scratch,
                              executable: options.executable, logger: logger, say: say)
        }
        if options.phases.contains("latency") {
            let target = options.latencyRate ?? (fullRate > 0 ? fullRate / 2 : 50_000)
            var serviceConfig = config
            serviceConfig.kafka.properties.merge(options.latencyProperties) { $1 }
            try await latency(config: serviceConfig, bootstrap: bootstrap, rate: target, logger: logger, say: say)
            try await latencySeparateProcesses(config: serviceConfig, rate: target, scratch: scratch, executable: options.executable,
                                               logger: logger, say: say)
        }
        if options.phases.contains("restart") {
            try await restart(config: config, bootstrap: bootstrap, topic: topic, spec: spec, held: Int64(records.count), logger: logger, say: say)
        }
        if options.phases.contains("http") {
            try await http(config: config, bootstrap: bootstrap, topic: topic, spec: spec, held: Int64(records.count), scratch: scratch,
                           logger: logger, say: say)
        }
        withExtendedLifetime(cluster) {}
    }

    static func seconds(_ d: Duration) -> Double { Double(d.nanoseconds) / 1e9 }
    static func ms(_ d: Duration) -> String { d.nanoseconds >= 10_000_000_000 ? String(format: "%.1f s", seconds(d)) : "\(d.milliseconds) ms" }
    static func rate(_ n: Int, _ d: Duration) -> String { fmt(Int(Double(n) / seconds(d))) }
}
