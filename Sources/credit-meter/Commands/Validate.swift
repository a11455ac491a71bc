import ArgumentParser
import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools

struct Validate: CreditMeterCommand {
    static let configuration = CommandConfiguration(abstract: "Check the configuration, rate cards and price book.")
    @Option(name: .long, help: "Configuration file (YAML).") var config: String
    @OptionGroup var common: Common

    func execute() async throws {
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
    }
}
