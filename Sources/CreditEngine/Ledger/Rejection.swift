/// Why a decoded event was refused (it goes to the dead-letter topic; nothing changes).
public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    case decode(DecodeFailure)
    case pricing(PricingFailure)
    case keyMismatch
    case missingKey
    case futureTime
    case unknownPlan
    case unknownPack
    case unknownRateCardVersion
    case overflow
    case unknownGrant
    /// `credit.hold.requested` naming a `hold_id` the account remembers, with other `data` (§15).
    case holdConflict

    public var description: String {
        switch self {
        case .decode(let f): return f.description
        case .pricing(let f): return f.description
        case .keyMismatch: return "record key differs from the event's subject"
        case .missingKey: return "record has no key (the key must be the account id, equal to the event's subject)"
        case .futureTime: return "event time is more than 24 h ahead of the record timestamp"
        case .unknownPlan: return "unknown plan (not in the price book)"
        case .unknownPack: return "unknown top-up pack (not in the price book)"
        case .unknownRateCardVersion: return "unknown rate-card version"
        case .overflow: return "amount overflow: the account's totals would exceed the ledger's limits"
        case .holdConflict: return "hold_id already decided for this account with other data (a repeated request must carry the same data)"
        case .unknownGrant: return "unknown grant: grant_id names no credit.grant.issued or credit.topup.purchased event of this account"
        }
    }
}
