/// Why a usage event cannot be priced.
public enum PricingFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case noRateCard
    case unknownAction(version: String)
    case unknownModel(version: String)
    case overflow

    public var description: String {
        switch self {
        case .noRateCard: return "event time is earlier than every rate card's effective_from"
        case .unknownAction(let v): return "unknown action for rate card \(v)"
        case .unknownModel(let v): return "unknown model for rate card \(v) (no default multiplier)"
        case .overflow: return "price overflow: the event's numbers are too large to price"
        }
    }
}

/// The exact price formula (contract §3), in integers:
/// base (10⁻⁹ credit) = credits·q·1000 + in_1k·in + out_1k·out + tool·calls·1000   (µ-credit inputs)
/// total (10⁻¹⁵ credit) = base × multiplier(µ) → clamp → × times → one rounding → millicredits.
/// `times` is a hold request's integer `multiplier` (§15: the price of `times` such actions,
/// rounded once); 1 for usage.
public enum Pricing {
    static let femtoPerMicro: Int128 = 1_000_000_000           // 10⁻⁶ → 10⁻¹⁵
    static let femtoPerMilli: Int128 = 1_000_000_000_000       // 10⁻³ → 10⁻¹⁵

    /// Millicredits for one event, or nil if any step overflows.
    @inline(__always)
    public static func price(_ a: ActionPrice, quantity: Int64, inputTokens: Int64, outputTokens: Int64, toolCalls: Int64,
                             multiplier: Int64, times: Int64 = 1, incrementMillicredits: Int64, mode: RoundingMode) -> Int64? {
        // Fast path: a flat action at ×1 and a whole-millicredit price (chat 1, web_research 10 …).
        if a.per1kInputTokens == 0 && a.per1kOutputTokens == 0 && a.perToolCall == 0 && multiplier == MicroCredits.one
            && times == 1 && a.minCredits == nil && a.maxCredits == nil && a.credits % (1000 * incrementMillicredits) == 0 {
            let (r, o) = (a.credits / 1000).multipliedReportingOverflow(by: quantity)
            return o ? nil : r
        }
        var base: Int128 = 0
        func add(_ x: Int128, _ y: Int128) -> Bool {
            let (p, o1) = x.multipliedReportingOverflow(by: y)
            if o1 { return false }
            let (s, o2) = base.addingReportingOverflow(p)
            if o2 { return false }
            base = s
            return true
        }
        guard add(Int128(a.credits), Int128(quantity) * 1000),
              add(Int128(a.per1kInputTokens), Int128(inputTokens)),
              add(Int128(a.per1kOutputTokens), Int128(outputTokens)),
              add(Int128(a.perToolCall), Int128(toolCalls) * 1000)
        else { return nil }
        var (total, overflow) = base.multipliedReportingOverflow(by: Int128(multiplier))
        if overflow { return nil }
        if let lo = a.minCredits { total = max(total, Int128(lo) * femtoPerMicro) }
        if let hi = a.maxCredits { total = min(total, Int128(hi) * femtoPerMicro) }
        if times != 1 {
            (total, overflow) = total.multipliedReportingOverflow(by: Int128(times))
            if overflow { return nil }
        }
        let increment = Int128(incrementMillicredits) * femtoPerMilli
        var q = total / increment
        let r = total % increment
        switch mode {
        case .down: break
        case .up: if r > 0 { q += 1 }
        case .halfUp: if r * 2 >= increment { q += 1 }
        }
        (total, overflow) = q.multipliedReportingOverflow(by: Int128(incrementMillicredits))
        guard !overflow, total <= Int128(Int64.max) else { return nil }
        return Int64(total)
    }
}
