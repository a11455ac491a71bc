/// The CloudEvents types CreditMeter understands (contract §2).
public enum EventType: UInt8, Sendable, CaseIterable {
    case usage            // ai.usage
    case planAssigned     // credit.plan.assigned
    case topupPurchased   // credit.topup.purchased
    case grantIssued      // credit.grant.issued
    case adjusted         // credit.adjusted
    case rateCardPinned   // credit.ratecard.pinned
    case grantVoided      // credit.grant.voided (§12)
    case autoTopupConfigured  // credit.autotopup.configured (§12)
    case memberBudgetSet  // credit.member.budget.set (§12)

    public var name: String {
        switch self {
        case .usage: return "ai.usage"
        case .planAssigned: return "credit.plan.assigned"
        case .topupPurchased: return "credit.topup.purchased"
        case .grantIssued: return "credit.grant.issued"
        case .adjusted: return "credit.adjusted"
        case .rateCardPinned: return "credit.ratecard.pinned"
        case .grantVoided: return "credit.grant.voided"
        case .autoTopupConfigured: return "credit.autotopup.configured"
        case .memberBudgetSet: return "credit.member.budget.set"
        }
    }

    @inline(__always)
    static func from(_ bytes: UnsafeRawBufferPointer) -> EventType? {
        switch bytes.count {
        case 8: return bytes.equals("ai.usage") ? .usage : nil
        case 15: return bytes.equals("credit.adjusted") ? .adjusted : nil
        case 19:
            if bytes.equals("credit.grant.issued") { return .grantIssued }
            if bytes.equals("credit.grant.voided") { return .grantVoided }
            return nil
        case 24: return bytes.equals("credit.member.budget.set") ? .memberBudgetSet : nil
        case 27: return bytes.equals("credit.autotopup.configured") ? .autoTopupConfigured : nil
        case 20: return bytes.equals("credit.plan.assigned") ? .planAssigned : nil
        case 22:
            if bytes.equals("credit.topup.purchased") { return .topupPurchased }
            if bytes.equals("credit.ratecard.pinned") { return .rateCardPinned }
            return nil
        default: return nil
        }
    }
}

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

/// CloudEvents binary mode: the attributes come from `ce_*` headers and the record value
/// is `data`. The service fills this from the Kafka headers when `ce_specversion` is set.
public struct BinaryModeAttributes {
    public var specversion: UnsafeRawBufferPointer?
    public var id: UnsafeRawBufferPointer?
    public var source: UnsafeRawBufferPointer?
    public var type: UnsafeRawBufferPointer?
    public var subject: UnsafeRawBufferPointer?
    public var time: UnsafeRawBufferPointer?
    public init() {}
}
