/// Every step of one price, exact, for `credit-meter price` (amounts in 10⁻¹⁵ credit until
/// the final rounding).
public struct PriceBreakdown: Sendable {
    public var version: String
    public var action: String
    public var quantity: Int64
    public var components: [(name: String, femtocredits: Int128)]
    public var multiplier: Int64          // micro
    public var beforeClamp: Int128        // femtocredits
    public var afterClamp: Int128
    public var incrementMillicredits: Int64
    public var mode: RoundingMode
    public var millicredits: Int64

    /// Exact decimal text of a femtocredit amount, trailing zeros trimmed.
    public static func credits(_ femto: Int128) -> String {
        let negative = femto < 0
        let m = negative ? -femto : femto
        let whole = m / 1_000_000_000_000_000
        var frac = m % 1_000_000_000_000_000
        var digits = ""
        if frac > 0 {
            var s = String(frac)
            s = String(repeating: "0", count: 15 - s.count) + s
            while s.hasSuffix("0") { s.removeLast() }
            digits = "." + s
            frac = 0
        }
        return (negative ? "-" : "") + String(whole) + digits
    }
}

extension RateCardBook {
    /// Explains the price of a usage event under version `index` (same arithmetic as `price`).
    public func explain(_ e: DecodedEvent, version index: Int) throws(PricingFailure) -> PriceBreakdown {
        let millicredits = try price(e, version: index)
        let v = versions[index]
        let actionName = e.action.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let a = v.card.actions[actionName]!
        var multiplier = v.defaultMultiplier ?? MicroCredits.one
        if let model = e.model, let m = v.card.modelMultipliers[String(decoding: model, as: UTF8.self)] { multiplier = m }
        let nanoToFemto: Int128 = 1_000_000
        func mul(_ xs: Int128...) throws(PricingFailure) -> Int128 {
            var r: Int128 = 1
            for x in xs {
                let (p, o) = r.multipliedReportingOverflow(by: x)
                if o { throw .overflow }
                r = p
            }
            return r
        }
        var components: [(String, Int128)] = [("credits × quantity", try mul(Int128(a.credits), Int128(e.quantity), 1000, nanoToFemto))]
        if a.per1kInputTokens > 0 { components.append(("input tokens", try mul(Int128(a.per1kInputTokens), Int128(e.inputTokens), nanoToFemto))) }
        if a.per1kOutputTokens > 0 { components.append(("output tokens", try mul(Int128(a.per1kOutputTokens), Int128(e.outputTokens), nanoToFemto))) }
        if a.perToolCall > 0 { components.append(("tool calls", try mul(Int128(a.perToolCall), Int128(e.toolCalls), 1000, nanoToFemto))) }
        var base: Int128 = 0
        for c in components { base += c.1 / nanoToFemto }
        let before = try mul(base, Int128(multiplier))
        var after = before
        if let lo = a.minCredits { after = max(after, Int128(lo) * 1_000_000_000) }
        if let hi = a.maxCredits { after = min(after, Int128(hi) * 1_000_000_000) }
        return PriceBreakdown(version: v.card.version, action: actionName, quantity: e.quantity,
                              components: components.map { (name: $0.0, femtocredits: $0.1) }, multiplier: multiplier,
                              beforeClamp: before, afterClamp: after, incrementMillicredits: v.card.incrementMillicredits,
                              mode: v.card.roundingMode, millicredits: millicredits)
    }
}
