import ArgumentParser
import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import UnixSignals

/// The command line: thin. Parsing, logging setup and error reporting here; the work is in
/// CreditMeterService and the engine.
@main
struct CreditMeter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credit-meter",
        abstract: "Turns AI usage events on Kafka into money-grade credit balances and low-balance alerts.",
        subcommands: [Run.self, Demo.self, Replay.self, Validate.self, Price.self, Snapshot.self, DevBroker.self, Bench.self]
    )
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

func loadConfig(_ path: String) throws -> ServiceConfiguration {
    try ServiceConfiguration.load(path: path)
}

// MARK: run

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the service until SIGTERM/SIGINT.")
    @Option(name: .long, help: "Configuration file (YAML).") var config: String
    @OptionGroup var common: Common

    func run() async throws {
        let logger = common.logger("credit-meter", default: .info)
        do {
            let cfg = try loadConfig(config)
            let service = MeterService(config: cfg, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [.init(service: service)],
                                                          gracefulShutdownSignals: [.sigterm, .sigint],
                                                          logger: logger))
            try await group.run()
        } catch {
            throw fail(error)
        }
    }
}

// MARK: demo

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the service on an in-process mock cluster with a synthetic workload.")
    @Option(name: .long, help: "Configuration file (rate cards, price book, topics).") var config = "configs/credit-meter.yaml"
    @Option(name: .long, help: "Accounts in the workload.") var accounts = 300
    @Option(name: .long, help: "Usage events in the workload.") var events = 200_000
    @Option(name: .long, help: "Alerts to print as they arrive (the rest are counted).") var printAlerts = 25
    @Option(name: .long, help: "Input partitions (default: enough for the mock cluster's ~5 MiB per partition).")
    var partitions: Int32?
    @OptionGroup var common: Common

    func run() async throws {
        let logger = common.logger("credit-meter", default: .warning)
        do {
            guard FileManager.default.fileExists(atPath: config) else {
                throw ServiceError("\(config) not found: run the demo from the repository root or pass --config")
            }
            let cfg = try loadConfig(config)
            var options = DemoOptions()
            options.workload.accounts = accounts
            options.workload.usageEvents = events
            options.printAlerts = printAlerts
            options.partitions = partitions ?? Int32(max(64, min(1024, events / 2_000)))
            let report = try await CreditMeterService.Demo.run(config: cfg, options: options, logger: logger) { line in
                writeLine(line)
            }
            guard report.auditClean, report.status.processed == Int64(report.produced),
                  report.alertsReadBack == Int(report.status.alertsPublished) else {
                throw ServiceError("demo finished with inconsistent counts")
            }
            guard report.requestsReadBack > 0, report.memberAlerts > 0 else {
                throw ServiceError("demo showed no auto top-up request or no member budget alert")
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail(error)
        }
    }
}

// MARK: validate

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the configuration, rate cards and price book.")
    @Option(name: .long, help: "Configuration file (YAML).") var config: String
    @OptionGroup var common: Common

    func run() async throws {
        do {
            let cfg = try loadConfig(config)
            print("OK \(cfg.file)")
            print("  kafka: \(cfg.kafka.bootstrapServers), group \(cfg.kafka.groupID), in \(cfg.kafka.inputTopics.joined(separator: ",")), "
                  + "alerts \(cfg.kafka.alertsTopic), dead letters \(cfg.kafka.deadLetterTopic), balances \(cfg.kafka.balancesTopic ?? "off")")
            for v in cfg.engine.rateCards.versions {
                print("  rate card \(v.card.version): effective \(EventTime.format(v.card.effectiveFrom)), \(v.card.actions.count) actions, sha256 \(v.hash.prefix(16))…  (\(cfg.rateCardFiles[v.card.version] ?? "?"))")
            }
            let book = cfg.engine.priceBook
            print("  price book (\(book.currency)): plans " + book.plans.map { "\($0.id) \(Credits.format($0.monthlyCredits))/\(FixedPoint.string($0.priceMicros, scale: 6))" }.joined(separator: ", ")
                  + "; packs " + book.packs.map { "\($0.id) \(Credits.format($0.credits))/\(FixedPoint.string($0.priceMicros, scale: 6))" }.joined(separator: ", "))
            print("  alerts at \(cfg.thresholds.map { "\($0)%" }.joined(separator: ", ")); dedupe window \(cfg.dedupeWindowHours) h; snapshots \(cfg.snapshots.dir) every \(cfg.snapshots.intervalSeconds) s, keep \(cfg.snapshots.keep)")
            // Would the service refuse to start on the snapshots it would restore?
            let problems = SnapshotInspector.rateCardConflicts(dir: cfg.snapshots.dir, config: cfg.engine)
            if let first = problems.first { throw ServiceError(first) }
        } catch {
            throw fail(error)
        }
    }
}

// MARK: price

struct Price: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Price one usage event and show the breakdown.")
    @Option(name: .long, help: "Configuration file (YAML).") var config: String
    @Option(name: .long, help: "Event file, or - for standard input.") var event = "-"
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func run() async throws {
        do {
            let cfg = try loadConfig(config)
            let data = event == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: event))
            let bytes = [UInt8](data)
            let decoder = EventDecoder()
            let text: String = try bytes.withUnsafeBytes { raw in
                let e: DecodedEvent
                do { e = try decoder.decode(raw) } catch { throw ServiceError("\(event == "-" ? "stdin" : event): \(error)") }
                guard e.type == .usage else { throw ServiceError("only ai.usage events are priced (got \(e.type.name))") }
                let book = cfg.engine.rateCards
                guard let v = book.index(inForceAt: e.time) else { throw ServiceError(PricingFailure.noRateCard.description) }
                let b: PriceBreakdown
                do throws(PricingFailure) { b = try book.explain(e, version: v) } catch { throw ServiceError(error.description) }
                return json ? PriceOutput.json(b) : PriceOutput.text(b)
            }
            print(text)
        } catch {
            throw fail(error)
        }
    }
}

enum PriceOutput {
    static func json(_ b: PriceBreakdown) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("credits"); w.credits(b.millicredits)
        w.key("rate_card_version"); w.string(b.version)
        w.key("action"); w.string(b.action)
        w.key("quantity"); w.integer(b.quantity)
        w.key("components"); w.beginObject()
        for c in b.components { w.key(c.name); w.string(PriceBreakdown.credits(c.femtocredits)) }
        w.endObject()
        w.key("multiplier"); w.fixed(b.multiplier, scale: 6)
        w.key("before_clamp"); w.string(PriceBreakdown.credits(b.beforeClamp))
        w.key("after_clamp"); w.string(PriceBreakdown.credits(b.afterClamp))
        w.key("rounding"); w.beginObject()
        w.key("increment"); w.fixed(b.incrementMillicredits, scale: 3)
        w.key("mode"); w.string(b.mode.rawValue)
        w.endObject()
        w.endObject()
        return w.string
    }

    static func text(_ b: PriceBreakdown) -> String {
        var lines = ["\(b.action) × \(b.quantity) on rate card \(b.version)"]
        for c in b.components { lines.append("  \(c.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(PriceBreakdown.credits(c.femtocredits))") }
        lines.append("  × multiplier         \(FixedPoint.string(b.multiplier, scale: 6))")
        lines.append("  = exact              \(PriceBreakdown.credits(b.beforeClamp))")
        if b.afterClamp != b.beforeClamp { lines.append("  clamped to          \(PriceBreakdown.credits(b.afterClamp))") }
        lines.append("  rounded (\(b.mode.rawValue) to \(FixedPoint.string(b.incrementMillicredits, scale: 3)))  \(Credits.format(b.millicredits)) credits")
        return lines.joined(separator: "\n")
    }
}

// MARK: dev-broker

struct DevBroker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "Run librdkafka's mock cluster as a separate process (tests, local runs); prints its bootstrap servers.")
    @Option(name: .long, help: "Topics to create, as NAME:PARTITIONS (repeatable).")
    var topic: [String] = ["ai.usage:16", "credit.alerts:4", "ai.usage.dlq:4", "credit.balances:4"]
    @Option(name: .long, help: "Number of brokers.") var brokers: Int32 = 1
    @OptionGroup var common: Common

    func run() async throws {
        let logger = common.logger("dev-broker", default: .error)
        do {
            let cluster = try MockCluster(brokers: brokers, logger: logger)
            for t in topic {
                let parts = t.split(separator: ":")
                guard let name = parts.first, let n = Int32(parts.count > 1 ? String(parts[1]) : "4"), n > 0 else {
                    throw ServiceError("--topic \(t): expected NAME:PARTITIONS")
                }
                try cluster.createTopic(String(name), partitions: n)
            }
            writeLine(cluster.bootstrapServers)
            await waitForTermination()
            withExtendedLifetime(cluster) {}
        } catch {
            throw fail(error)
        }
    }
}

/// Suspends until SIGTERM or SIGINT.
func waitForTermination() async {
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    let queue = DispatchQueue(label: "signals")
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let resumed = ResumeOnce(continuation)
        for sig in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { resumed.resume() }
            source.resume()
            SignalSources.keep(source)
        }
    }
}

final class ResumeOnce: @unchecked Sendable {
    private var continuation: CheckedContinuation<Void, Never>?
    private let lock = NSLock()
    init(_ c: CheckedContinuation<Void, Never>) { continuation = c }
    func resume() {
        lock.lock(); let c = continuation; continuation = nil; lock.unlock()
        c?.resume()
    }
}

enum SignalSources {
    nonisolated(unsafe) static var sources: [any DispatchSourceSignal] = []
    static func keep(_ s: any DispatchSourceSignal) { sources.append(s) }
}

// MARK: snapshot inspect

struct Snapshot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Work with snapshots.", subcommands: [Inspect.self])

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what a snapshot (file or folder) holds.")
        @Argument(help: "A snapshot file, or the snapshots folder (its newest valid state).") var path: String
        @Option(name: .long, help: "Only this account.") var account: String?
        @Flag(name: .long, help: "JSON: {\"offsets\": {…}, \"accounts\": […]}.") var json = false

        func run() async throws {
            do {
                let loaded = try SnapshotInspector.load(path)
                if let account, !loaded.contains(where: { $0.ledger.accountIndex(account) != nil }) {
                    throw ServiceError("account \(account) is not in \(path)")
                }
                print(json ? SnapshotInspector.json(loaded, account: account) : SnapshotInspector.text(loaded, account: account))
            } catch {
                throw fail(error)
            }
        }
    }
}

/// Unbuffered line on stdout (progress must show up at once, also when piped).
func writeLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

// MARK: replay

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-rate an event-time range of the inbound topics under a rate-card version; report (and optionally publish) corrections.")
    @Option(name: .long, help: "Configuration file (YAML).") var config: String
    @Option(name: .long, help: "Start of the event-time range (RFC 3339), or 'beginning'.") var from: String
    @Option(name: .long, help: "End of the range, exclusive (RFC 3339); default: now.") var to: String?
    @Option(name: .customLong("rate-card"), help: "The rate-card version to re-rate under.") var rateCard: String
    @Option(name: .long, help: "Write the per-account report to FILE.csv or FILE.json.") var report: String?
    @Flag(name: .customLong("publish-adjustments"), help: "Produce one credit.adjusted per account with a non-zero delta.")
    var publishAdjustments = false
    @OptionGroup var common: Common

    func run() async throws {
        let logger = common.logger("credit-meter", default: .warning)
        do {
            let cfg = try loadConfig(config)
            let fromTime: Int64?
            if from == "beginning" { fromTime = nil } else {
                guard let t = EventTime.parse(from) else { throw ServiceError("--from \(from): expected an RFC 3339 time or 'beginning'") }
                fromTime = t
            }
            var toTime: Int64?
            if let to {
                guard let t = EventTime.parse(to) else { throw ServiceError("--to \(to): expected an RFC 3339 time") }
                toTime = t
            }
            if let report, !(report.hasSuffix(".csv") || report.hasSuffix(".json")) {
                throw ServiceError("--report \(report): the file must end in .csv or .json")
            }
            var options = ReplayOptions(from: fromTime, to: toTime, version: rateCard)
            options.publishAdjustments = publishAdjustments
            let now = Int64(Date().timeIntervalSince1970) * 1_000_000_000
            let result = try CreditMeterService.Replay.run(config: cfg, options: options, logger: logger, now: now) { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            if let report {
                let text = report.hasSuffix(".json") ? result.json() : result.csv()
                try text.write(toFile: report, atomically: true, encoding: .utf8)
            }
            let t = result.totals
            writeLine("replay \(result.fromText) → \(result.toText) under rate card \(result.version)")
            for (tp, mode) in result.modes.sorted(by: { $0.key < $1.key }) { writeLine("  \(tp): \(mode)") }
            writeLine("  \(result.recordsRead) records read; \(result.rows.count) accounts; \(t.events) usage events in range")
            writeLine("  charged \(Credits.format(t.charged))  rerated \(Credits.format(t.rerated))  delta \(Credits.format(t.delta)) credits")
            let nonZero = result.rows.filter { $0.delta != 0 }
            writeLine("  \(nonZero.count) accounts with a non-zero delta")
            for r in nonZero.sorted(by: { abs($0.delta) > abs($1.delta) }).prefix(10) {
                writeLine("    \(r.account): \(r.events) events, charged \(Credits.format(r.charged)), rerated \(Credits.format(r.rerated)), delta \(Credits.format(r.delta))")
            }
            if !result.unpriceable.isEmpty {
                writeLine("  \(result.unpriceable.count) accounts have events \(result.version) cannot price (outside the delta):")
                for u in result.unpriceable.prefix(10) { writeLine("    \(u.account): \(u.events) events, charged \(Credits.format(u.charged)): \(u.reason)") }
            }
            if publishAdjustments {
                writeLine("  published \(result.published.count) adjustments; \(result.alreadyPublished.count) were already in the topic")
            }
            if let report { writeLine("  report: \(report)") }
        } catch {
            throw fail(error)
        }
    }
}

// MARK: bench

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure: raw consumption vs the full service path, the engine alone, alert latency, memory, snapshots, restart.")
    @Option(name: .long, help: "Configuration file (rate cards, price book, topics).") var config = "configs/credit-meter.yaml"
    @Option(name: .long, help: "Usage events to produce.") var events = 1_000_000
    @Option(name: .long, help: "Accounts in the workload.") var accounts = 100_000
    @Option(name: .long, help: "Input partitions on the mock cluster (it keeps ~5 MiB per partition).") var partitions: Int32 = 256
    @Option(name: .long, help: "Accounts for the memory and snapshot figures.") var memoryAccounts = 1_000_000
    @Option(name: .long, help: "Brokers to use instead of the in-process mock cluster.") var bootstrap: String?
    @Option(name: .long, help: "Events/s for the latency phase (default: half the full path's maximum).") var latencyRate: Double?
    @Option(name: .long, parsing: .upToNextOption, help: "Phases: engine memory kafka cpu latency restart.") var only: [String] = []
    @OptionGroup var common: Common

    func run() async throws {
        let logger = common.logger("credit-meter", default: .error)
        do {
            let cfg = try loadConfig(config)
            var options = BenchOptions()
            options.events = events
            options.accounts = accounts
            options.partitions = partitions
            options.memoryAccounts = memoryAccounts
            options.bootstrap = bootstrap
            options.latencyRate = latencyRate
            if !only.isEmpty { options.phases = Set(only) }
            options.executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            try await CreditMeterService.Bench.run(config: cfg, options: options, logger: logger) { writeLine($0) }
        } catch {
            throw fail(error)
        }
    }
}
