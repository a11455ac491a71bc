/// `access.mode` (contract §11 `/check`): soft lets work start while the balance is
/// positive (work already started completes, §5); hard needs the whole price covered.
public enum AccessMode: String, Sendable, CaseIterable {
    case soft, hard
}

/// The parameters of `/v1/accounts/{account}/check`, already parsed and range-checked by the
/// HTTP layer (quantity ≥ 1, counts ≥ 0 within the decoder's limits).
public struct CheckRequest: Sendable, Equatable {
    public var action: String
    public var quantity: Int64
    public var model: String?
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var toolCalls: Int64
    public var member: String?
    /// UTC nanoseconds; nil = the server's clock.
    public var time: Int64?

    public init(action: String, quantity: Int64 = 1, model: String? = nil, inputTokens: Int64 = 0, outputTokens: Int64 = 0,
                toolCalls: Int64 = 0, member: String? = nil, time: Int64? = nil) {
        self.action = action
        self.quantity = quantity
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.toolCalls = toolCalls
        self.member = member
        self.time = time
    }
}

/// The answer to a check. `problem` non-nil means the request itself is bad (HTTP 400 naming
/// the parameter): no rate-card version in force at `time`, or numbers too large to price.
public struct CheckDecision: Sendable, Equatable {
    public enum Reason: String, Sendable {
        case unknownAccount = "unknown_account"
        case unknownAction = "unknown_action"
        case unknownModel = "unknown_model"
        case noCredits = "no_credits"
        case insufficientCredits = "insufficient_credits"
        case memberBudgetExhausted = "member_budget_exhausted"
    }

    public enum Problem: Sendable, Equatable {
        /// No rate-card version in force at the check's time: 400 naming `time`.
        case noRateCardInForce
        /// The price overflows the ledger's limits: 400 naming `quantity`.
        case unpriceable

        /// The query parameter to name in the 400 reason.
        public var parameter: String { self == .noRateCardInForce ? "time" : "quantity" }
    }

    public var allowed: Bool
    /// Millicredits; nil for unknown_action / unknown_model / unknown_account.
    public var credits: Int64?
    public var balance: Int64?
    /// Balance − Σ remaining of the active holds (§15): what the decision read.
    public var available: Int64?
    public var rateCardVersion: String?
    public var reason: Reason?
    public var problem: Problem?

    public init(allowed: Bool, credits: Int64?, balance: Int64?, available: Int64? = nil, rateCardVersion: String?, reason: Reason?,
                problem: Problem? = nil) {
        self.allowed = allowed
        self.credits = credits
        self.balance = balance
        self.available = available ?? balance
        self.rateCardVersion = rateCardVersion
        self.reason = reason
        self.problem = problem
    }

    /// For an account this instance holds no state for (200, not 404).
    public static let unknownAccount = CheckDecision(allowed: false, credits: nil, balance: nil, rateCardVersion: nil,
                                                     reason: .unknownAccount)

    /// `{"allowed","credits","balance_credits","available_credits","rate_card_version","reason"}`.
    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.key("allowed"); w.bool(allowed)
        w.key("credits"); if let credits { w.credits(credits) } else { w.null() }
        w.key("balance_credits"); if let balance { w.credits(balance) } else { w.null() }
        w.key("available_credits"); if let available { w.credits(available) } else { w.null() }
        w.key("rate_card_version"); if let rateCardVersion { w.string(rateCardVersion) } else { w.null() }
        w.key("reason"); if let reason { w.string(reason.rawValue) } else { w.null() }
        w.endObject()
        return w.bytes
    }
}

extension AccountView {
    /// May the product start this work now? Prices an `ai.usage` event at `request.time`
    /// (or `now`) under the account's version in force then, and applies §11's rules in
    /// order, on the available credits (§15: the balance less what active holds reserve; a
    /// member's remaining holds count as used). Reserves nothing, changes nothing.
    public func check(_ request: CheckRequest, mode: AccessMode, now: Int64) -> CheckDecision {
        let time = request.time ?? now
        let balance = state.balance
        let available = state.availableCredits
        func decision(_ allowed: Bool, _ credits: Int64?, _ version: String?, _ reason: CheckDecision.Reason?,
                      _ problem: CheckDecision.Problem? = nil) -> CheckDecision {
            CheckDecision(allowed: allowed, credits: credits, balance: balance, available: available, rateCardVersion: version,
                          reason: reason, problem: problem)
        }
        guard let v = versionInForce(at: time) else { return decision(false, nil, nil, nil, .noRateCardInForce) }
        let version = config.rateCards.version(v)
        let priced = AccountView.price(request, version: v, book: config.rateCards)
        let credits: Int64
        switch priced {
        case .success(let c): credits = c
        case .failure(.unknownAction): return decision(false, nil, version, .unknownAction)
        case .failure(.unknownModel): return decision(false, nil, version, .unknownModel)
        case .failure: return decision(false, nil, version, nil, .unpriceable)
        }
        let poolOK = mode == .soft ? available > 0 : available >= credits
        if !poolOK { return decision(false, credits, version, mode == .soft ? .noCredits : .insufficientCredits) }
        if let member = request.member, let budget = memberBudget(member) {
            let used = budget.used + (state.holdBook?.remaining(member: member) ?? 0)
            let memberOK = mode == .soft ? used < budget.budget : used + credits <= budget.budget
            if !memberOK { return decision(false, credits, version, .memberBudgetExhausted) }
        }
        return decision(true, credits, version, nil)
    }

    /// The member's budget this cycle and what the member used (§12), nil without a budget.
    public func memberBudget(_ member: String) -> (budget: Int64, used: Int64)? {
        memberBudgets.first { $0.member == member }.map { ($0.budget, $0.used) }
    }

    /// Prices a check with the ledger's own pricing (`RateCardBook.price`).
    static func price(_ r: CheckRequest, version: Int, book: RateCardBook) -> Result<Int64, PricingFailure> {
        var action = r.action
        var model = r.model ?? ""
        return action.withUTF8 { actionBytes in
            model.withUTF8 { modelBytes in
                var e = DecodedEvent()
                e.type = .usage
                e.action = UnsafeRawBufferPointer(actionBytes)
                e.model = r.model == nil ? nil : UnsafeRawBufferPointer(modelBytes)
                e.quantity = r.quantity
                e.inputTokens = r.inputTokens
                e.outputTokens = r.outputTokens
                e.toolCalls = r.toolCalls
                do throws(PricingFailure) { return .success(try book.price(e, version: version)) } catch { return .failure(error) }
            }
        }
    }
}
