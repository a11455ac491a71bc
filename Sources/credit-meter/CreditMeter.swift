import ArgumentParser
import Foundation
import CreditConfig
import Kafka
import Logging

/// The command line: thin. One file per command under `Commands/`; parsing, logging setup
/// and error reporting here; the work is in the service, replay and tools targets.
@main
struct CreditMeter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credit-meter",
        abstract: "Turns AI usage events on Kafka into money-grade credit balances and low-balance alerts.",
        discussion: """
            Examples:
              # the service on an in-process broker with a synthetic workload
              credit-meter demo --accounts 30 --events 3000
              credit-meter run --config configs/credit-meter.yaml
              # every effective setting of the built-in configuration
              credit-meter validate
            """,
        version: "credit-meter \(CreditMeterVersion.string) (librdkafka \(librdkafkaVersion))",
        subcommands: [Run.self, Demo.self, Replay.self, Validate.self, Price.self, Snapshot.self, Health.self, DevBroker.self, Bench.self]
    )
}

/// A command whose failures all end the same way (contract §9): one line on stderr, exit 1.
protocol CreditMeterCommand: AsyncParsableCommand {
    func execute() async throws
}

extension CreditMeterCommand {
    func run() async throws {
        do {
            try await execute()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw fail(error)
        }
    }
}

/// Options every command shares.
struct Common: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    func logger(_ label: String, default level: Logger.Level) -> Logger {
        let chosen = logLevel.flatMap(Logger.Level.init(rawValue:))
            ?? ProcessInfo.processInfo.environment["CREDIT_METER_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? level
        LoggingBootstrap.once(level: chosen)
        var logger = Logger(label: label)
        logger.logLevel = chosen
        return logger
    }
}

enum LoggingBootstrap {
    nonisolated(unsafe) static var done = false
    static func once(level: Logger.Level) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}

/// Prints one line on stderr and exits non-zero (contract §9).
func fail(_ error: any Error) -> ExitCode {
    let text = String(describing: error).split(separator: "\n").first.map(String.init) ?? "failed"
    FileHandle.standardError.write(Data("credit-meter: \(text)\n".utf8))
    return ExitCode(1)
}

/// The configuration file at `path`, or without one the shipped configuration built into the
/// binary; environment overrides apply to both.
func loadConfig(_ path: String?) throws -> ServiceConfiguration {
    guard let path else { return try ShippedConfiguration.load() }
    return try ServiceConfiguration.load(path: path)
}

/// Unbuffered line on stdout (progress must show up at once, also when piped).
func writeLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
