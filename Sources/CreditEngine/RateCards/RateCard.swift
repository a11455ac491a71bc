/// How a price is rounded to the card's increment (contract §3).
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
