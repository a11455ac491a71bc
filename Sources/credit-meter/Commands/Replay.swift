import ArgumentParser
import CreditConfig
import CreditEngine
import CreditMeterReplay
import CreditMeterService
import Foundation
import Logging

struct Replay: CreditMeterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-rate an event-time range of the inbound topics under a rate-card version; report (and optionally publish) corrections.",
        discussion: """
            Examples:
              # a dry run: the report only
              credit-meter replay --config configs/credit-meter.yaml \\
                --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z \\
                --rate-card 2026-12-01 --report rerate.csv
              # the same, publishing one correction per account
              credit-meter replay --config configs/credit-meter.yaml \\
                --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z \\
                --rate-card 2026-12-01 --publish-adjustments
            """)
    @Option(name: .long, help: "Configuration file (YAML).") var config: String
    @Option(name: .long, help: "Start of the event-time range (RFC 3339), or 'beginning'.") var from: String
    @Option(name: .long, help: "End of the range, exclusive (RFC 3339); default: now.") var to: String?
    @Option(name: .customLong("rate-card"), help: "The rate-card version to re-rate under.") var rateCard: String
    @Option(name: .long, help: "Write the per-account report to FILE.csv or FILE.json.") var report: String?
    @Flag(name: .customLong("publish-adjustments"), help: "Produce one credit.adjusted per account with a non-zero delta.")
    var publishAdjustments = false
    @OptionGroup var common: Common

    func execute() async throws {
        let logger = common.logger("credit-meter", default: .warning)
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
        // The run's start, to the second: the default `--to` of the report and the adjustments' ids.
        let now = systemWallClock() / 1_000_000_000 * 1_000_000_000
        let result = try CreditMeterReplay.Replay.run(config: cfg, options: options, logger: logger, now: now) { line in
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
    }
}
