import ArgumentParser
import CreditConfig
import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Foundation
import Logging
import UnixSignals

struct Demo: CreditMeterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the service on an in-process mock cluster with a synthetic workload.",
        discussion: """
            Examples:
              # 300 accounts, 200,000 AI actions
              credit-meter demo
              # a small one, in seconds
              credit-meter demo --accounts 10 --events 200
              # then keeps serving http.listen until Ctrl-C
              credit-meter demo --accounts 30 --events 3000 --serve
              # when port 8080 is taken
              CREDIT_METER_HTTP_LISTEN=127.0.0.1:18080 credit-meter demo --serve
            """)
    @Option(name: .long, help: "Configuration file (rate cards, price book, topics); default: the shipped configs/, built into the binary.")
    var config: String?
    @Option(name: .long, help: "Accounts in the workload.") var accounts = 300
    @Option(name: .long, help: "Usage events in the workload.") var events = 200_000
    @Option(name: .long, help: "Alerts to print as they arrive (the rest are counted).") var printAlerts = 25
    @Option(name: .long, help: "Input partitions (default: enough for the mock cluster's ~5 MiB per partition).")
    var partitions: Int32?
    @Flag(name: .long, help: "Keep the service and its HTTP server running after the workload (on http.listen) and print the URLs to open.")
    var serve = false
    @Flag(name: .long, help: "Product services ignore /check and start every action (for comparison: accounts run into overage).")
    var ungated = false
    @OptionGroup var common: Common

    func validate() throws {
        guard accounts >= 1 else { throw ValidationError("--accounts must be at least 1") }
        guard events >= 0 else { throw ValidationError("--events must not be negative") }
        guard printAlerts >= 0 else { throw ValidationError("--print-alerts must not be negative") }
        if let partitions, partitions < 1 { throw ValidationError("--partitions must be at least 1") }
    }

    func execute() async throws {
        let logger = common.logger("credit-meter", default: .warning)
        _ = MetricsBootstrap.registry()
        let cfg = try config.map(loadConfig) ?? ShippedConfiguration.load()
        var options = DemoOptions()
        options.workload.accounts = accounts
        options.workload.usageEvents = events
        options.printAlerts = printAlerts
        options.partitions = partitions ?? Int32(max(64, min(1024, events / 2_000)))
        options.gated = !ungated
        options.serve = serve
        options.waitForStop = {
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { return }
        }
        let report = try await CreditMeterTools.Demo.run(config: cfg, options: options, logger: logger) { line in
            writeLine(line)
        }
        guard report.auditClean, report.balanced, report.alertsReadBack == Int(report.status.alertsPublished) else {
            throw ServiceError("demo finished with inconsistent counts")
        }
        if let failure = report.agents.failure { throw ServiceError("demo: \(failure)") }
    }
}
