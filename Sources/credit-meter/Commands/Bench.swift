import ArgumentParser
import CreditConfig
import CreditMeterTools
import Foundation
import Logging

struct Bench: CreditMeterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure: raw consumption vs the full service path, the engine alone, alert latency, memory, snapshots, restart.",
        discussion: """
            Examples:
              # every default phase, on the in-process mock cluster
              credit-meter bench
              credit-meter bench --only engine memory --events 200000
              # hold decisions over HTTP against a credit-meter run child (needs real rate cards)
              credit-meter bench --config configs/credit-meter.yaml --only hold-latency
            """)
    @Option(name: .long, help: "Configuration file (rate cards, price book, topics); default: the shipped configs/, built into the binary.")
    var config: String?
    @Option(name: .long, help: "Usage events to produce.") var events = 1_000_000
    @Option(name: .long, help: "Accounts in the workload.") var accounts = 100_000
    @Option(name: .long, help: "Input partitions on the mock cluster (it keeps ~5 MiB per partition).") var partitions: Int32 = 256
    @Option(name: .long, help: "Accounts for the memory and snapshot figures.") var memoryAccounts = 1_000_000
    @Option(name: .long, help: "Brokers to use instead of the in-process mock cluster.") var bootstrap: String?
    @Option(name: .long, help: "Events/s for the latency phase (default: half the full path's maximum).") var latencyRate: Double?
    @Option(name: .long, parsing: .upToNextOption, help: "Background usage events/s of the hold-latency phase, one run each.") var holdRates: [Double] = [0, 10_000]
    @Option(name: .long, help: "Seconds of each hold-latency run.") var holdSeconds = 10.0
    @Option(name: .long, help: "HTTP connections of the hold-latency phase's throughput run.") var holdConnections = 64
    @Option(name: .long, help: "fetch.wait.max.ms of the hold-latency phase's service (its default: 10; the broker-alone reader's: 1).")
    var holdFetchWaitMs = 1
    @Option(name: .long, parsing: .upToNextOption, help: "More librdkafka properties (key=value) for the hold-latency phase's service.")
    var holdProperty: [String] = []
    @Option(name: .long, parsing: .upToNextOption, help: "More librdkafka properties (key=value) for the latency phase's service (both runs).")
    var latencyProperty: [String] = []
    @Option(name: .long, parsing: .upToNextOption,
            help: "Phases: engine memory holds kafka cpu latency restart http move hold-latency (move, hold-latency: not in the default set).")
    var only: [String] = []
    @OptionGroup var common: Common

    func execute() async throws {
        let logger = common.logger("credit-meter", default: .error)
        let cfg = try config.map(loadConfig) ?? ShippedConfiguration.load()
        var options = BenchOptions()
        options.events = events
        options.accounts = accounts
        options.partitions = partitions
        options.memoryAccounts = memoryAccounts
        options.bootstrap = bootstrap
        options.latencyRate = latencyRate
        options.holdRates = holdRates
        options.holdSeconds = holdSeconds
        options.holdConnections = holdConnections
        options.holdFetchWaitMs = holdFetchWaitMs
        options.holdProperties = try Self.properties(holdProperty, option: "--hold-property")
        options.latencyProperties = try Self.properties(latencyProperty, option: "--latency-property")
        if !only.isEmpty { options.phases = Set(only) }
        options.executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        try await CreditMeterTools.Bench.run(config: cfg, options: options, logger: logger) { writeLine($0) }
    }

    private static func properties(_ pairs: [String], option: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for p in pairs {
            guard let eq = p.firstIndex(of: "=") else { throw ValidationError("\(option) \(p): expected key=value") }
            out[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        return out
    }
}
