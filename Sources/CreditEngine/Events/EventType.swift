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
        case 24:
            if bytes.equals("credit.member.budget.set") { return .memberBudgetSet }
            if bytes.equals("credit.alerts.configured") { return .alertsConfigured }
            return nil
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
