import ArgumentParser
import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation

struct Price: CreditMeterCommand {
    static let configuration = CommandConfiguration(
        abstract: "Price one usage event and show the breakdown.",
        discussion: """
            Without --config, the built-in configuration prices it.

            Example:
              e='{"specversion":"1.0","id":"e1","source":"s","type":"ai.usage",'
              e+='"subject":"a","time":"2026-11-21T10:00:00Z",'
              e+='"data":{"action":"summarize_thread","input_tokens":12345}}'
              echo "$e" | credit-meter price
            """)
    @Option(name: .long, help: "Configuration file (YAML); default: the shipped configs/, built into the binary.")
    var config: String?
    @Option(name: .long, help: "Event file, or - for standard input.") var event = "-"
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func execute() async throws {
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
