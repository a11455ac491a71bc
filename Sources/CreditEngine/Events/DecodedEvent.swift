/// One decoded event. String fields are views into the record (or the decoder's scratch
/// buffer) and are valid only until the decoder reads the next record: the ledger copies
/// what it keeps. Amounts are already exact integers (millicredits, nano-dollars).
public struct DecodedEvent {
    public var type: EventType = .usage
    public var id = UnsafeRawBufferPointer(start: nil, count: 0)
    public var source = UnsafeRawBufferPointer(start: nil, count: 0)
    public var subject = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Event time, UTC nanoseconds.
    public var time: Int64 = 0

    // ai.usage
    public var action: UnsafeRawBufferPointer?
    public var quantity: Int64 = 1
    public var model: UnsafeRawBufferPointer?
    public var capability: UnsafeRawBufferPointer?
    public var member: UnsafeRawBufferPointer?
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var toolCalls: Int64 = 0
    /// Provider cost in nano-dollars (10⁻⁹ USD).
    public var costNanoUSD: Int64 = 0

    // grants, plans, adjustments, pins
    public var plan: UnsafeRawBufferPointer?
    public var monthlyCredits: Int64?
    public var cycleAnchor: Int64?
    public var pack: UnsafeRawBufferPointer?
    /// Millicredits (signed for adjustments).
    public var credits: Int64?
    public var expiresAt: Int64?
    public var reason: UnsafeRawBufferPointer?
    public var ref: UnsafeRawBufferPointer?
    public var version: UnsafeRawBufferPointer?
    public var until: Int64?
    // credit.grant.voided (§12)
    public var grantID: UnsafeRawBufferPointer?
    public var grantSource: UnsafeRawBufferPointer?
    // credit.autotopup.configured (§12): pack/credits as for top-ups
    public var belowCredits: Int64?
    public var maxPerCycle: Int64 = 1
    public var enabled = true
    // credit.member.budget.set (§12): `member`, and `monthlyCredits` (nil = remove)
    // credit.plan.assigned (§12): rollover cap, millicredits
    public var rolloverMaxCredits: Int64?
    // credit.alerts.configured (§16): empty = null, back to the configured default
    public var thresholdsPercent = ThresholdList()
    // Holds (§15): `hold_id` (also on `ai.usage`: the hold it settles against), `ttl_seconds`
    // (nil: absent), `multiplier` (an action's price times it), `workflow`; `member`, `credits`,
    // the usage fields (an action priced as by /check) and `expires_at` (credit.hold.expired)
    // are the fields above.
    public var holdID: UnsafeRawBufferPointer?
    public var ttlSeconds: Int64?
    public var multiplier: Int64 = 1
    public var workflow: UnsafeRawBufferPointer?

    public init() {}
}

/// `credit.alerts.configured`'s `thresholds_percent` (contract §16): at most 5 distinct whole
/// percents from 1 to 99, packed into one word (7 bits each, the count in the top byte) so that
/// a decoded event stays a plain value with nothing to allocate or release. Empty: `null`.
public struct ThresholdList: Sendable, Equatable {
    public static let capacity = 5
    private var bits: UInt64 = 0

    public init() {}

    public init(_ percents: [Int64]) {
        precondition(percents.count <= Self.capacity && percents.allSatisfy { (1...99).contains($0) })
        for p in percents { append(p) }
    }

    public var count: Int { Int(bits >> 56) }
    public var isEmpty: Bool { bits == 0 }

    public subscript(i: Int) -> Int64 { Int64((bits >> UInt64(7 * i)) & 0x7F) }

    public func contains(_ percent: Int64) -> Bool {
        for i in 0..<count where self[i] == percent { return true }
        return false
    }

    /// Adds a percent (1…99) when there is room (`count` < `capacity`).
    mutating func append(_ percent: Int64) {
        let n = count
        bits = (bits & ((1 << 56) - 1)) | UInt64(percent) << UInt64(7 * n) | UInt64(n + 1) << 56
    }

    /// The percents sorted high → low, as thresholds are kept (`EngineConfiguration.thresholds`).
    public var descending: [Int64] { (0..<count).map { self[$0] }.sorted(by: >) }
}
