/// What credits cost in money (contract §4). Money amounts are micro-units of the
/// currency (10⁻⁶), parsed exactly from decimal strings. Kept apart from rate cards.
public struct PriceBook: Sendable {
    public struct Plan: Sendable, Equatable {
        public var id: String
        public var monthlyCredits: Int64   // millicredits
        public var priceMicros: Int64
        /// §12: unused allowance up to this rolls over into the next cycle (millicredits; 0 = none).
        public var rolloverMaxCredits: Int64
        public init(id: String, monthlyCredits: Int64, priceMicros: Int64, rolloverMaxCredits: Int64 = 0) {
            self.id = id; self.monthlyCredits = monthlyCredits; self.priceMicros = priceMicros
            self.rolloverMaxCredits = rolloverMaxCredits
        }
    }

    public struct Pack: Sendable, Equatable {
        public var id: String
        public var credits: Int64          // millicredits
        public var priceMicros: Int64
        public init(id: String, credits: Int64, priceMicros: Int64) {
            self.id = id; self.credits = credits; self.priceMicros = priceMicros
        }
    }

    public static let moneyScale: Int32 = 6

    public let currency: String
    public let plans: [Plan]
    public let packs: [Pack]
    private let planSymbols: InternTable
    private let packSymbols: InternTable

    public init(currency: String, plans: [Plan], packs: [Pack]) throws(ConfigError) {
        guard !currency.isEmpty else { throw ConfigError(key: "currency", "must not be empty") }
        var planSymbols = InternTable()
        var packSymbols = InternTable()
        for p in plans {
            guard planSymbols.find(p.id) == nil else { throw ConfigError(key: "plans.\(p.id)", "duplicate plan") }
            guard p.monthlyCredits >= 0 else { throw ConfigError(key: "plans.\(p.id).monthly_credits", "must not be negative") }
            guard p.priceMicros >= 0 else { throw ConfigError(key: "plans.\(p.id).price", "must not be negative") }
            guard p.rolloverMaxCredits >= 0 else { throw ConfigError(key: "plans.\(p.id).rollover_max_credits", "must not be negative") }
            // The events' own limit: no configured amount can build a state beyond the ledger's bounds.
            guard p.monthlyCredits <= Credits.maxAbsolute else { throw ConfigError(key: "plans.\(p.id).monthly_credits", "is absurdly large (limit 10^12 credits)") }
            guard p.rolloverMaxCredits <= Credits.maxAbsolute else {
                throw ConfigError(key: "plans.\(p.id).rollover_max_credits", "is absurdly large (limit 10^12 credits)")
            }
            _ = planSymbols.intern(p.id)
        }
        for p in packs {
            guard packSymbols.find(p.id) == nil else { throw ConfigError(key: "topups.\(p.id)", "duplicate pack") }
            guard p.credits > 0 else { throw ConfigError(key: "topups.\(p.id).credits", "must be greater than 0") }
            guard p.credits <= Credits.maxAbsolute else { throw ConfigError(key: "topups.\(p.id).credits", "is absurdly large (limit 10^12 credits)") }
            guard p.priceMicros >= 0 else { throw ConfigError(key: "topups.\(p.id).price", "must not be negative") }
            _ = packSymbols.intern(p.id)
        }
        self.currency = currency
        self.plans = plans
        self.packs = packs
        self.planSymbols = planSymbols
        self.packSymbols = packSymbols
    }

    public func planIndex(_ bytes: UnsafeRawBufferPointer) -> Int? { planSymbols.find(bytes, hash: ByteHash.hash(bytes)) }
    public func packIndex(_ bytes: UnsafeRawBufferPointer) -> Int? { packSymbols.find(bytes, hash: ByteHash.hash(bytes)) }
    public func planIndex(_ id: String) -> Int? { planSymbols.find(id) }
    public func packIndex(_ id: String) -> Int? { packSymbols.find(id) }
}
