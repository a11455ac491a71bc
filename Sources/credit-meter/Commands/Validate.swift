import ArgumentParser
import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation

struct Validate: CreditMeterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the configuration, rate cards and price book, and show every effective setting.",
        discussion: """
            Prints each setting as the service would use it (file, environment \
            overrides and defaults combined; the HTTP token only as set or not), \
            then every rate card and the price book, and checks that the snapshots \
            already in snapshots.dir would be accepted.

            Examples:
              credit-meter validate --config configs/credit-meter.yaml
              # the built-in configuration, with an override
              CREDIT_METER_KAFKA_STATE_TOPIC=credit.state credit-meter validate
            """)
    @Option(name: .long, help: "Configuration file (YAML); default: the shipped configs/, built into the binary.")
    var config: String?
    @OptionGroup var common: Common

    func execute() async throws {
        let cfg = try loadConfig(config)
        for line in Self.describe(cfg) { print(line) }
        // Would the service refuse to start on the snapshots it would restore?
        let problems = SnapshotInspector.rateCardConflicts(dir: cfg.snapshots.dir, config: cfg.engine)
        if let first = problems.first { throw ServiceError(first) }
    }

    /// The effective configuration, one setting group a line; never a secret's value.
    static func describe(_ cfg: ServiceConfiguration) -> [String] {
        let k = cfg.kafka
        let h = cfg.http
        func pad(_ s: String) -> String { "  " + s.padding(toLength: 12, withPad: " ", startingAt: 0) }
        var lines = ["OK \(cfg.file)"]
        lines.append(pad("kafka") + "\(k.bootstrapServers), group \(k.groupID)"
                     + (k.properties.isEmpty ? "" : "; properties " + k.properties.keys.sorted().joined(separator: ", ") + " (values not shown)"))
        lines.append(pad("topics") + "in \(k.inputTopics.joined(separator: ",")); alerts \(k.alertsTopic); dead letters \(k.deadLetterTopic); "
                     + "balances \(k.balancesTopic ?? "off"); requests \(k.requestsTopic); state \(k.stateTopic ?? "off (local snapshots only)")")
        lines.append(pad("http") + "listen \(h.listen); token \(h.token == nil ? "not set" : "set"); access \(cfg.accessMode.rawValue); "
                     + "ready when lag ≤ \(h.readyMaxLag); advertised URL \(h.advertisedURL ?? "none")")
        lines.append(pad("snapshots") + "\(cfg.snapshots.dir) every \(cfg.snapshots.intervalSeconds) s, keep \(cfg.snapshots.keep)")
        lines.append(pad("alerts") + "at \(cfg.thresholds.map { "\($0)%" }.joined(separator: ", ")); runway "
                     + (cfg.runwayDays.map { "within \($0) days" } ?? "off"))
        lines.append(pad("dedupe") + "window \(cfg.dedupeWindowHours) h")
        for v in cfg.engine.rateCards.versions {
            lines.append(pad("rate card") + "\(v.card.version): effective \(EventTime.format(v.card.effectiveFrom)), \(v.card.actions.count) actions, "
                         + "sha256 \(v.hash.prefix(16))…  (\(cfg.rateCardFiles[v.card.version] ?? "?"))")
        }
        let book = cfg.engine.priceBook
        lines.append(pad("price book") + "\(book.currency): plans "
                     + book.plans.map { "\($0.id) \(Credits.format($0.monthlyCredits))/\(FixedPoint.string($0.priceMicros, scale: 6))" }.joined(separator: ", ")
                     + "; packs " + book.packs.map { "\($0.id) \(Credits.format($0.credits))/\(FixedPoint.string($0.priceMicros, scale: 6))" }.joined(separator: ", "))
        return lines
    }
}
