import Yams
public import CreditEngine

/// Reads rate cards (configs/rate-cards/*.yaml) and the price book, strictly: unknown keys,
/// negative numbers, bad increments and duplicate versions are errors naming file and key.
public enum RateCardLoader {
    public static func parseRateCard(_ text: String, file: String) throws(ConfigError) -> RateCard {
        let root = try YAMLValue.parse(text, file: file)
        let m = try root.mapping(allowed: ["version", "effective_from", "rounding", "model_multipliers", "actions", "description"])
        guard let versionNode = m["version"] else { throw root.error("missing key", key: "version") }
        let version = try versionNode.string()
        guard let fromNode = m["effective_from"] else { throw root.error("missing key", key: "effective_from") }
        let effectiveFrom = try fromNode.time()

        var increment: Int64 = 1
        var mode = RoundingMode.halfUp
        if let r = m["rounding"], !r.isNull {
            let rm = try r.mapping(allowed: ["increment", "mode"])
            if let inc = rm["increment"] {
                let d = try inc.decimal()
                guard !d.negative, let mc = d.scaled(by: 3), [1000, 100, 10, 1].contains(mc) else {
                    throw inc.error("must be 1, 0.1, 0.01 or 0.001")
                }
                increment = mc
            }
            if let md = rm["mode"] {
                let text = try md.string()
                guard let parsed = RoundingMode(rawValue: text) else { throw md.error("must be up, half_up or down") }
                mode = parsed
            }
        }
        var multipliers: [String: Int64] = [:]
        if let mm = m["model_multipliers"] {
            for (name, v) in try mm.namedEntries() { multipliers[name] = try v.scaled(MicroCredits.scale, unit: "rate-card numbers") }
        }
        guard let actionsNode = m["actions"] else { throw root.error("missing key", key: "actions") }
        var actions: [String: ActionPrice] = [:]
        for (name, v) in try actionsNode.namedEntries() {
            let a = try v.mapping(allowed: ["credits", "per_1k_input_tokens", "per_1k_output_tokens", "per_tool_call",
                                            "min_credits", "max_credits", "description"])
            func micro(_ key: String) throws(ConfigError) -> Int64? {
                guard let n = a[key], !n.isNull else { return nil }
                return try n.scaled(MicroCredits.scale, unit: "rate-card numbers")
            }
            guard let credits = try micro("credits") else { throw v.error("missing key", key: v.child("credits")) }
            actions[name] = ActionPrice(credits: credits, per1kInputTokens: try micro("per_1k_input_tokens") ?? 0,
                                        per1kOutputTokens: try micro("per_1k_output_tokens") ?? 0,
                                        perToolCall: try micro("per_tool_call") ?? 0,
                                        minCredits: try micro("min_credits"), maxCredits: try micro("max_credits"))
        }
        do {
            return try RateCard(version: version, effectiveFrom: effectiveFrom, incrementMillicredits: increment,
                                roundingMode: mode, modelMultipliers: multipliers, actions: actions)
        } catch {
            var e = error
            e.file = file
            throw e
        }
    }

    public static func parsePriceBook(_ text: String, file: String) throws(ConfigError) -> PriceBook {
        let root = try YAMLValue.parse(text, file: file)
        let m = try root.mapping(allowed: ["currency", "plans", "topups", "description"])
        let currency = try m["currency"]?.string() ?? "USD"
        var plans: [PriceBook.Plan] = []
        if let p = m["plans"] {
            for (id, v) in try p.namedEntries() {
                let pm = try v.mapping(allowed: ["monthly_credits", "price", "rollover_max_credits", "description"])
                guard let mc = pm["monthly_credits"] else { throw v.error("missing key", key: v.child("monthly_credits")) }
                guard let price = pm["price"] else { throw v.error("missing key", key: v.child("price")) }
                plans.append(.init(id: id, monthlyCredits: try mc.scaled(Credits.scale, unit: "credits"),
                                   priceMicros: try price.scaled(PriceBook.moneyScale, unit: "money"),
                                   rolloverMaxCredits: try pm["rollover_max_credits"]?.scaled(Credits.scale, unit: "credits") ?? 0))
            }
        }
        var packs: [PriceBook.Pack] = []
        if let t = m["topups"] {
            for (id, v) in try t.namedEntries() {
                let pm = try v.mapping(allowed: ["credits", "price", "description"])
                guard let c = pm["credits"] else { throw v.error("missing key", key: v.child("credits")) }
                guard let price = pm["price"] else { throw v.error("missing key", key: v.child("price")) }
                packs.append(.init(id: id, credits: try c.scaled(Credits.scale, unit: "credits"),
                                   priceMicros: try price.scaled(PriceBook.moneyScale, unit: "money")))
            }
        }
        do {
            return try PriceBook(currency: currency, plans: plans, packs: packs)
        } catch {
            var e = error
            e.file = file
            throw e
        }
    }
}
