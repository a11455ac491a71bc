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
    case alertsConfigured // credit.alerts.configured (§16)
    case holdRequested    // credit.hold.requested (§15)
    case holdExtended     // credit.hold.extended (§15)
    case holdReleased     // credit.hold.released (§15)
    case holdExpired      // credit.hold.expired (§15)

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
        case .alertsConfigured: return "credit.alerts.configured"
        case .holdRequested: return "credit.hold.requested"
        case .holdExtended: return "credit.hold.extended"
        case .holdReleased: return "credit.hold.released"
        case .holdExpired: return "credit.hold.expired"
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
            if bytes.equals("credit.hold.expired") { return .holdExpired }
            return nil
        case 21: return bytes.equals("credit.hold.requested") ? .holdRequested : nil
        case 24:
            if bytes.equals("credit.member.budget.set") { return .memberBudgetSet }
            if bytes.equals("credit.alerts.configured") { return .alertsConfigured }
            return nil
        case 27: return bytes.equals("credit.autotopup.configured") ? .autoTopupConfigured : nil
        case 20:
            if bytes.equals("credit.plan.assigned") { return .planAssigned }
            if bytes.equals("credit.hold.extended") { return .holdExtended }
            if bytes.equals("credit.hold.released") { return .holdReleased }
            return nil
        case 22:
            if bytes.equals("credit.topup.purchased") { return .topupPurchased }
            if bytes.equals("credit.ratecard.pinned") { return .rateCardPinned }
            return nil
        default: return nil
        }
    }

    /// One of the four §15 hold types.
    public var isHold: Bool { rawValue >= EventType.holdRequested.rawValue }
}
