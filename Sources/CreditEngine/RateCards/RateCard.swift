/// A configuration problem, named by key path; the loader adds the file.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String?
    public var key: String
    public var message: String

    public init(file: String? = nil, key: String, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    public var description: String {
        let location = [file, key.isEmpty ? nil : key].compactMap { $0 }.joined(separator: ": ")
        return location.isEmpty ? message : "\(location): \(message)"
    }
}

/// Rate-card numbers are micro-credits (10⁻⁶ credit): the contract allows 6 fraction digits.
public enum MicroCredits {
    public static let scale: Int32 = 6
    public static let one: Int64 = 1_000_000
}

public enum RoundingMode: String, Sendable, CaseIterable {
    case up
    case halfUp = "half_up"
    case down
}

/// What one action costs (all in micro-credits).
public struct ActionPrice: Sendable, Equatable {
    public var credits: Int64
    public var per1kInputTokens: Int64
    public var per1kOutputTokens: Int64
    public var perToolCall: Int64
    public var minCredits: Int64?
    public var maxCredits: Int64?

    public init(credits: Int64, per1kInputTokens: Int64 = 0, per1kOutputTokens: Int64 = 0, perToolCall: Int64 = 0,
                minCredits: Int64? = nil, maxCredits: Int64? = nil) {
        self.credits = credits
        self.per1kInputTokens = per1kInputTokens
        self.per1kOutputTokens = per1kOutputTokens
        self.perToolCall = perToolCall
        self.minCredits = minCredits
        self.maxCredits = maxCredits
    }
}

/// One version of the rate card: credits per action. Immutable once used (contract §3).
public struct RateCard: Sendable, Equatable {
    public let version: String
    public let effectiveFrom: Int64
    /// Rounding increment in millicredits: 1000 (1 credit), 100, 10 or 1 (0.001).
    public let incrementMillicredits: Int64
    public let roundingMode: RoundingMode
    /// Multipliers in micro-units (1_000_000 = ×1), by model class; `default` included.
    public let modelMultipliers: [String: Int64]
    public let actions: [String: ActionPrice]

    public init(version: String, effectiveFrom: Int64, incrementMillicredits: Int64, roundingMode: RoundingMode,
                modelMultipliers: [String: Int64], actions: [String: ActionPrice]) throws(ConfigError) {
        guard !version.isEmpty else { throw ConfigError(key: "version", "must not be empty") }
        guard [1000, 100, 10, 1].contains(incrementMillicredits) else {
            throw ConfigError(key: "rounding.increment", "must be 1, 0.1, 0.01 or 0.001")
        }
        for (name, m) in modelMultipliers.sorted(by: { $0.key < $1.key }) where m < 0 {
            throw ConfigError(key: "model_multipliers.\(name)", "must not be negative")
        }
        guard !actions.isEmpty else { throw ConfigError(key: "actions", "must list at least one action") }
        for (name, a) in actions.sorted(by: { $0.key < $1.key }) {
            let fields: [(String, Int64?)] = [("credits", a.credits), ("per_1k_input_tokens", a.per1kInputTokens),
                                              ("per_1k_output_tokens", a.per1kOutputTokens), ("per_tool_call", a.perToolCall),
                                              ("min_credits", a.minCredits), ("max_credits", a.maxCredits)]
            for (field, value) in fields {
                if let value, value < 0 { throw ConfigError(key: "actions.\(name).\(field)", "must not be negative") }
            }
            if let lo = a.minCredits, let hi = a.maxCredits, lo > hi {
                throw ConfigError(key: "actions.\(name).min_credits", "is greater than max_credits")
            }
        }
        self.version = version
        self.effectiveFrom = effectiveFrom
        self.incrementMillicredits = incrementMillicredits
        self.roundingMode = roundingMode
        self.modelMultipliers = modelMultipliers
        self.actions = actions
    }

    /// SHA-256 of the card's canonical content (not its file bytes: comments and layout may
    /// change; prices may not).
    public var contentHash: String { SHA256.hex(canonicalText) }

    public var canonicalText: String {
        func micro(_ v: Int64) -> String { FixedPoint.string(v, scale: 6) }
        var lines = ["version=\(version)", "effective_from=\(EventTime.format(effectiveFrom))",
                     "increment=\(FixedPoint.string(incrementMillicredits, scale: 3))", "mode=\(roundingMode.rawValue)"]
        for (name, m) in modelMultipliers.sorted(by: { $0.key < $1.key }) { lines.append("model \(name)=\(micro(m))") }
        for (name, a) in actions.sorted(by: { $0.key < $1.key }) {
            lines.append("action \(name) credits=\(micro(a.credits)) in=\(micro(a.per1kInputTokens)) out=\(micro(a.per1kOutputTokens)) "
                         + "tool=\(micro(a.perToolCall)) min=\(a.minCredits.map(micro) ?? "-") max=\(a.maxCredits.map(micro) ?? "-")")
        }
        return lines.joined(separator: "\n")
    }
}

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
/// total (10⁻¹⁵ credit) = base × multiplier(µ) → clamp → one rounding → millicredits.
public enum Pricing {
    static let femtoPerMicro: Int128 = 1_000_000_000           // 10⁻⁶ → 10⁻¹⁵
    static let femtoPerMilli: Int128 = 1_000_000_000_000       // 10⁻³ → 10⁻¹⁵

    /// Millicredits for one event, or nil if any step overflows.
    @inline(__always)
    public static func price(_ a: ActionPrice, quantity: Int64, inputTokens: Int64, outputTokens: Int64, toolCalls: Int64,
                             multiplier: Int64, incrementMillicredits: Int64, mode: RoundingMode) -> Int64? {
        // Fast path: a flat action at ×1 and a whole-millicredit price (chat 1, web_research 10 …).
        if a.per1kInputTokens == 0 && a.per1kOutputTokens == 0 && a.perToolCall == 0 && multiplier == MicroCredits.one
            && a.minCredits == nil && a.maxCredits == nil && a.credits % (1000 * incrementMillicredits) == 0 {
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
