import ArgumentParser
import CreditMeterService
import CreditMeterTools
import Foundation
import Logging
import UnixSignals

struct DevBroker: CreditMeterCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run librdkafka's mock cluster as a separate process (tests, local runs); prints its bootstrap servers.",
        discussion: """
            Examples:
              credit-meter dev-broker --topic ai.usage:16 --topic credit.alerts:4
              # three brokers; then type fault commands such as: down 2
              credit-meter dev-broker --brokers 3 --commands --topic ai.usage:16
            """)
    @Option(name: .long, help: "Topics to create, as NAME:PARTITIONS (repeatable).")
    var topic: [String] = ["ai.usage:16", "credit.alerts:4", "ai.usage.dlq:4", "credit.balances:4"]
    @Option(name: .long, help: "Number of brokers.") var brokers: Int32 = 1
    @Flag(name: .long, help: """
        Read fault commands on stdin, one per line, and answer each with one line on stdout \
        (`ok` or `error <reason>`): down B, up B, rtt B MS, errors API CODE,… [B], clear API, \
        coordinator GROUP B, leader TOPIC PARTITION B.
        """)
    var commands = false
    @OptionGroup var common: Common

    func execute() async throws {
        let logger = common.logger("dev-broker", default: .error)
        let topics = try topic.map { t in
            guard let parsed = DevCluster.Topic(parsing: t) else { throw ServiceError("--topic \(t): expected NAME:PARTITIONS") }
            return parsed
        }
        // Trap the signals before announcing the cluster, so that a stop right after the
        // bootstrap line is never lost.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let cluster = try DevCluster(brokers: brokers, topics: topics, logger: logger)
        writeLine(cluster.bootstrapServers)
        if commands {
            // Blocking reads on a thread of their own; end of input ends the commands, not the cluster.
            Thread.detachNewThread {
                while let line = readLine() {
                    let answer = cluster.perform(line)
                    logger.info("fault command", metadata: ["command": "\(line)", "answer": "\(answer)"])
                    writeLine(answer)
                }
            }
        }
        for await _ in signals { break }
        withExtendedLifetime(cluster) {}
    }
}
