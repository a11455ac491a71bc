/// All rate-card versions, compiled for pricing straight from event bytes: action and model
/// names are interned once, and each version holds arrays indexed by those symbols.
public final class RateCardBook: Sendable {
    public struct Compiled: Sendable {
        public let card: RateCard
        public let hash: String
        let actionsBySymbol: [ActionPrice?]
        let multipliersBySymbol: [Int64?]
        let defaultMultiplier: Int64?
    }

    /// Versions sorted by `effective_from`.
    public let versions: [Compiled]
    let symbols: InternTable

    public init(_ cards: [RateCard]) throws(ConfigError) {
        var seen: [String: Int64] = [:]
        var seenFrom: [Int64: String] = [:]
        for card in cards {
            if seen[card.version] != nil { throw ConfigError(key: "version", "duplicate rate-card version \"\(card.version)\"") }
            if let other = seenFrom[card.effectiveFrom] {
                throw ConfigError(key: "effective_from", "versions \"\(other)\" and \"\(card.version)\" have the same effective_from")
            }
            seen[card.version] = card.effectiveFrom
            seenFrom[card.effectiveFrom] = card.version
        }
        var symbols = InternTable()
        for card in cards {
            for name in card.actions.keys.sorted() { _ = symbols.intern(name) }
            for name in card.modelMultipliers.keys.sorted() { _ = symbols.intern(name) }
        }
        let n = symbols.count
        self.symbols = symbols
        self.versions = cards.sorted { $0.effectiveFrom < $1.effectiveFrom }.map { card in
            var actions = [ActionPrice?](repeating: nil, count: n)
            var multipliers = [Int64?](repeating: nil, count: n)
            for (name, a) in card.actions { actions[symbols.find(name)!] = a }
            for (name, m) in card.modelMultipliers { multipliers[symbols.find(name)!] = m }
            return Compiled(card: card, hash: card.contentHash, actionsBySymbol: actions,
                            multipliersBySymbol: multipliers, defaultMultiplier: card.modelMultipliers["default"])
        }
    }

    public var isEmpty: Bool { versions.isEmpty }

    /// Index of the version with the latest `effective_from` ≤ `time`.
    @inline(__always)
    public func index(inForceAt time: Int64) -> Int? {
        var i = versions.count - 1
        while i >= 0 {
            if versions[i].card.effectiveFrom <= time { return i }
            i -= 1
        }
        return nil
    }

    public func index(ofVersion version: String) -> Int? {
        versions.firstIndex { $0.card.version == version }
    }

    public func index(ofVersion bytes: UnsafeRawBufferPointer) -> Int? {
        versions.firstIndex { v in
            var s = v.card.version
            return s.withUTF8 { UnsafeRawBufferPointer($0).equals(bytes) }
        }
    }

    public func version(_ index: Int) -> String { versions[index].card.version }

    /// Prices a usage event under version `index`.
    @inline(__always)
    public func price(_ e: DecodedEvent, version index: Int) throws(PricingFailure) -> Int64 {
        let v = versions[index]
        guard let action = e.action, let sym = symbols.find(action, hash: ByteHash.hash(action)),
              let a = v.actionsBySymbol[sym] else {
            throw .unknownAction(version: v.card.version)
        }
        var multiplier: Int64
        if let model = e.model {
            if let msym = symbols.find(model, hash: ByteHash.hash(model)), let m = v.multipliersBySymbol[msym] {
                multiplier = m
            } else if let d = v.defaultMultiplier {
                multiplier = d
            } else {
                throw .unknownModel(version: v.card.version)
            }
        } else {
            multiplier = v.defaultMultiplier ?? MicroCredits.one
        }
        guard let price = Pricing.price(a, quantity: e.quantity, inputTokens: e.inputTokens, outputTokens: e.outputTokens,
                                        toolCalls: e.toolCalls, multiplier: multiplier, times: e.multiplier,
                                        incrementMillicredits: v.card.incrementMillicredits, mode: v.card.roundingMode)
        else { throw .overflow }
        guard price <= Credits.maxAbsolute else { throw .overflow }
        return price
    }

    /// Versions whose content differs from what a snapshot remembered.
    public func changedVersions(comparedTo remembered: [String: String]) -> [String] {
        remembered.keys.sorted().filter { version in
            guard let current = versions.first(where: { $0.card.version == version }) else { return false }
            return current.hash != remembered[version]
        }
    }
}
