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

    public init() {}
}
