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
            """)
    @Option(name: .long, help: "Configuration file (rate cards, price book, topics); default: the shipped configs/, built into the binary.")
    var config: String?
    @Option(name: .long, help: "Usage events to produce.") var events = 1_000_000
    @Option(name: .long, help: "Accounts in the workload.") var accounts = 100_000
    @Option(name: .long, help: "Input partitions on the mock cluster (it keeps ~5 MiB per partition).") var partitions: Int32 = 256
    @Option(name: .long, help: "Accounts for the memory and snapshot figures.") var memoryAccounts = 1_000_000
    @Option(name: .long, help: "Brokers to use instead of the in-process mock cluster.") var bootstrap: String?
    @Option(name: .long, help: "Events/s for the latency phase (default: half the full path's maximum).") var latencyRate: Double?
    @Option(name: .long, parsing: .upToNextOption, help: "Phases: engine memory holds kafka cpu latency restart http move (move: not in the default set).") var only: [String] = []
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
        if !only.isEmpty { options.phases = Set(only) }
        options.executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        try await CreditMeterTools.Bench.run(config: cfg, options: options, logger: logger) { writeLine($0) }
    }
}
