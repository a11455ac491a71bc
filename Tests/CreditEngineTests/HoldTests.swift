import Testing
import CreditEngine

/// Holds (contract §15), one case per rule, with exact figures and ids.
@Suite struct HoldTests {
    static let cycle = "2026-11-01T00:00:00Z"

    /// acme: a custom plan of 100 credits from 2026-11-01 (web_research costs 10, chat 1).
    func ledger(monthly: String = "100", cards: [RateCard]? = nil) throws -> TestLedger {
        let t = try TestLedger(cards: cards)
        t.plan("acme", nil, at: Self.cycle, monthly: monthly, id: "p1")
        return t
    }

    func time(_ s: String) -> Int64 { EventTime.parse(s)! }

    // MARK: Deciding

    @Test func aRequestWithinAvailableIsGrantedAndChangesNoCredits() throws {
        let t = try ledger()
        let blocks = t.account("acme").blocks, allowance = t.account("acme").allowance
        let r = t.hold("acme", "run-1", credits: "40", member: "ana", workflow: "agent run", at: "2026-11-02T00:00:00Z", id: "q1")
        #expect(r.outcome == .applied)
        let h = try #require(r.hold?.hold)
        #expect(h == Hold(id: "run-1", number: 1, status: .active, denial: nil, held: 40_000, member: "ana", workflow: "agent run",
                          requestedAt: time("2026-11-02T00:00:00Z"), expiresAt: time("2026-11-02T01:00:00Z"),
                          requestHash: h.requestHash))
        #expect(h.remaining == 40_000 && r.hold?.repeated == false && r.hold?.available == 60_000 && r.hold?.type == .holdRequested)
        // The decision reserves: the balance, blocks and allowance stay; available drops.
        #expect(t.balance("acme") == 100_000 && t.account("acme").availableCredits == 60_000)
        #expect(t.account("acme").blocks == blocks && t.account("acme").allowance == allowance)
        let book = try #require(t.account("acme").holdBook)
        #expect(book.activeCount == 1 && book.activeHeld == 40_000 && book.activeRemaining == 40_000 && book.nextNumber == 2)
        #expect(t.ledger.counters.holdsGranted == 1 && t.ledger.counters.holdsDenied == 0)
        expectConserved(t)
    }

    /// available == credits is granted; one millicredit more is denied `insufficient_credits`,
    /// a 402 denial that records what was asked and ends at once.
    @Test func insufficientCreditsIsExactToTheMillicredit() throws {
        let t = try ledger()
        t.hold("acme", "a", credits: "60", at: "2026-11-02T00:00:00Z", id: "q1")                   // available 40
        let edge = t.hold("acme", "b", credits: "40", at: "2026-11-02T00:01:00Z", id: "q2")
        #expect(edge.hold?.hold?.status == .active && edge.hold?.available == 0)
        let over = t.hold("acme", "c", credits: "0.001", at: "2026-11-02T00:02:00Z", id: "q3")
        let h = try #require(over.hold?.hold)
        #expect(h.status == .denied && h.denial == .insufficientCredits && h.denial?.name == "insufficient_credits")
        #expect(h.denial?.httpStatus == 402 && h.held == 1 && h.remaining == 1)
        #expect(h.endedAt == time("2026-11-02T00:02:00Z") && h.expiresAt == time("2026-11-02T01:02:00Z"))
        #expect(over.hold?.available == 0 && t.account("acme").availableCredits == 0)
        // The same edge one millicredit apart on a fresh account.
        let u = try ledger()
        #expect(u.hold("acme", "a", credits: "100.001", at: "2026-11-02T00:00:00Z", id: "q1").hold?.hold?.denial == .insufficientCredits)
        #expect(u.hold("acme", "b", credits: "100", at: "2026-11-02T00:00:00Z", id: "q2").hold?.hold?.status == .active)
        #expect(u.ledger.counters.holdsGranted == 1 && u.ledger.counters.holdsDenied == 1)
    }

    /// Grant credits that expire before the hold's `expires_at` do not count; a grant expiring
    /// exactly at it does (Rules/Holds.swift: "a grant expiring exactly at `expires_at` counts").
    @Test func grantCreditsExpiringBeforeTheHoldDoNotCount() throws {
        let t = try TestLedger()
        t.grant("solo", "50", at: "2026-11-02T00:00:00Z", expires: "2026-11-02T01:00:00Z", id: "g1")
        t.topup("solo", pack: nil, credits: "10", at: "2026-11-02T00:00:00Z", id: "t1")
        // Expires at 01:00:00 exactly: the grant counts, 60 available.
        let a = t.hold("solo", "a", credits: "10.001", at: "2026-11-02T00:00:00Z", id: "q1")
        #expect(a.hold?.hold?.status == .active && a.hold?.available == 49_999)
        // One second longer: only the top-up counts, 10 − 10.001 held = −0.001.
        let b = t.hold("solo", "b", credits: "0.001", ttl: 3601, at: "2026-11-02T00:00:00Z", id: "q2")
        #expect(b.hold?.hold?.denial == .insufficientCredits && b.hold?.hold?.expiresAt == time("2026-11-02T01:00:01Z"))
        // …while the grant still fits a hold that ends with it: 49.999 exactly.
        let c = t.hold("solo", "c", credits: "49.999", at: "2026-11-02T00:00:00Z", id: "q3")
        #expect(c.hold?.hold?.status == .active && c.hold?.available == 0)
        // Available itself counts the grant until it expires.
        #expect(t.account("solo").availableCredits == 0 && t.balance("solo") == 60_000)
    }

    /// The allowance counts in full, even for a hold that outlives the cycle (Rules/Holds.swift:
    /// only grants expire; a cycle start replaces the allowance).
    @Test func theAllowanceCountsInFull() throws {
        let t = try ledger()
        let r = t.hold("acme", "late-run", credits: "100", ttl: 7200, at: "2026-11-30T23:30:00Z", id: "q1")
        #expect(r.hold?.hold?.status == .active && r.hold?.hold?.expiresAt == time("2026-12-01T01:30:00Z"))
        #expect(r.hold?.available == 0)
    }

    /// expires_at = max(event time, account clock) + ttl: a late request expires from the clock.
    @Test func aLateRequestExpiresFromTheAccountClock() throws {
        let t = try ledger()
        t.usage("acme", "chat", at: "2026-11-02T12:00:00Z", id: "u1")
        let r = t.hold("acme", "late", credits: "5", ttl: 600, at: "2026-11-02T11:00:00Z", id: "q1")
        #expect(r.hold?.hold?.expiresAt == time("2026-11-02T12:10:00Z") && r.hold?.hold?.requestedAt == time("2026-11-02T11:00:00Z"))
        #expect(t.account("acme").clock == time("2026-11-02T12:00:00Z"))
    }

    /// Decided by the engine, silent in §15: an action priced 0 (read_ticket) is a hold of 0
    /// credits — granted while available ≥ 0, reserving nothing; denied `insufficient_credits`
    /// once available is negative (0 > available).
    @Test func anActionPricedZeroIsAHoldOfNothing() throws {
        let t = try ledger()
        let r = t.hold("acme", "free", action: "read_ticket", at: "2026-11-02T00:00:00Z", id: "q1")
        #expect(r.hold?.hold?.status == .active && r.hold?.hold?.held == 0 && r.hold?.available == 100_000)
        t.adjust("acme", "-150", at: "2026-11-02T00:01:00Z", id: "a1")
        let d = t.hold("acme", "free-2", action: "read_ticket", at: "2026-11-02T00:02:00Z", id: "q2")
        #expect(d.hold?.hold?.denial == .insufficientCredits && d.hold?.hold?.held == 0 && d.hold?.available == -50_000)
    }

    /// Decided by the engine, silent in §15: a request with `credits` reads none of an action's
    /// fields (quantity, model, tokens are ignored and not part of its data: a retry that
    /// differs only in them is a repeat), while `multiplier` with `credits` is bad input
    /// (HoldDecoderTests).
    @Test func aCreditsRequestIgnoresAnActionsFields() throws {
        let t = try ledger()
        let first = t.apply(HoldJSON.request("acme", "c", [("credits", .n("5")), ("quantity", .n("3")), ("model", .s("reasoning"))],
                                             at: "2026-11-02T00:00:00Z", id: "q1"))
        #expect(first.hold?.hold?.held == 5_000 && first.hold?.hold?.status == .active)
        let again = t.apply(HoldJSON.request("acme", "c", [("credits", .n("5")), ("quantity", .n("7"))], at: "2026-11-02T00:01:00Z", id: "q2"))
        #expect(again.outcome == .applied && again.hold?.repeated == true && again.hold?.hold == first.hold?.hold)
    }

    static let pricedCard = """
        version: "holds-1"
        effective_from: "2026-11-01T00:00:00Z"
        rounding: { increment: 0.001, mode: half_up }
        model_multipliers: { standard: 1, reasoning: 3 }
        actions:
          chat:       { credits: 1 }
          agent_step: { credits: 0.2504, per_1k_input_tokens: 0.0015, max_credits: 0.9005 }
        """

    /// An action's exact price (with its clamp) times the multiplier, rounded once:
    /// (0.2504 × 3 + 0.0015 × 2000/1000) × 3 (reasoning) = 2.2626, clamped to 0.9005; /check
    /// rounds one action to 0.901, while four are 3.602 — not 4 × 0.901 = 3.604.
    @Test func aPricedRequestIsTheExactPriceTimesTheMultiplierRoundedOnce() throws {
        let t = try ledger(cards: [Fixtures.card(Self.pricedCard)])
        let view = t.ledger.view(t.ledger.accountIndex("acme")!)
        let check = view.check(CheckRequest(action: "agent_step", quantity: 3, model: "reasoning", inputTokens: 2000),
                               mode: .hard, now: time("2026-11-02T00:00:00Z"))
        #expect(check.credits == 901)
        let one = t.hold("acme", "one", action: "agent_step", quantity: 3, model: "reasoning", inputTokens: 2000,
                         at: "2026-11-02T00:00:00Z", id: "q1")
        #expect(one.hold?.hold?.held == 901)
        let four = t.hold("acme", "four", action: "agent_step", quantity: 3, model: "reasoning", inputTokens: 2000, multiplier: 4,
                          at: "2026-11-02T00:00:00Z", id: "q2")
        #expect(four.hold?.hold?.held == 3_602 && four.hold?.hold?.status == .active)
        let three = t.hold("acme", "three", action: "agent_step", quantity: 3, model: "reasoning", inputTokens: 2000, multiplier: 3,
                           at: "2026-11-02T00:00:00Z", id: "q3")
        #expect(three.hold?.hold?.held == 2_702)  // 2.7015 half up, not 3 × 0.901 = 2.703
        #expect(t.account("acme").availableCredits == 100_000 - 901 - 3_602 - 2_702)
    }

    /// Unknown action and unknown model (no `default` multiplier) are 422 denials that hold 0.
    @Test func unknownActionAndUnknownModelAreDenialsHoldingNothing() throws {
        let t = try ledger(cards: [Fixtures.card(Self.pricedCard)])
        let action = t.hold("acme", "x", action: "teleport", at: "2026-11-02T00:00:00Z", id: "q1")
        let model = t.hold("acme", "y", action: "agent_step", model: "gpt-9", at: "2026-11-02T00:00:00Z", id: "q2")
        for (r, denial) in [(action, Hold.Denial.unknownAction), (model, .unknownModel)] {
            #expect(r.outcome == .applied)
            let h = try #require(r.hold?.hold)
            #expect(h.status == .denied && h.denial == denial && h.held == 0 && h.denial?.httpStatus == 422)
            #expect(r.hold?.available == 100_000)
        }
        #expect(action.hold?.hold?.denial?.name == "unknown_action" && model.hold?.hold?.denial?.name == "unknown_model")
        #expect(t.ledger.counters.holdsDenied == 2 && t.ledger.counters.rejected == 0)
        // The standard card has a default multiplier: an unknown model is priced at it.
        let u = try ledger()
        #expect(u.hold("acme", "z", action: "chat", model: "gpt-9", at: "2026-11-02T00:00:00Z", id: "q1").hold?.hold?.held == 1_000)
    }

    /// 1,000 active holds: the next request is denied `too_many_holds` (whatever its size);
    /// one ended makes room again.
    @Test func theThousandAndFirstActiveHoldIsDenied() throws {
        let t = try ledger(monthly: "10000")
        for i in 0..<1_000 { t.hold("acme", "h\(i)", credits: "0.001", at: "2026-11-02T00:00:00Z", id: "q\(i)") }
        #expect(t.account("acme").holdBook?.activeCount == 1_000)
        let r = t.hold("acme", "h1000", credits: "0.001", at: "2026-11-02T00:00:00Z", id: "q1000")
        #expect(r.hold?.hold?.denial == .tooManyHolds && r.hold?.hold?.denial?.httpStatus == 402 && r.hold?.hold?.held == 1)
        // An unknown action is still denied first for what it is.
        #expect(t.hold("acme", "bad", action: "teleport", at: "2026-11-02T00:00:00Z", id: "qb").hold?.hold?.denial == .unknownAction)
        t.release("acme", "h7", at: "2026-11-02T00:00:01Z", id: "r7")
        #expect(t.hold("acme", "h1001", credits: "0.001", at: "2026-11-02T00:00:01Z", id: "q1001").hold?.hold?.status == .active)
        #expect(t.ledger.counters.holdsGranted == 1_001 && t.ledger.counters.holdsDenied == 2)
    }

    /// A member's budget counts what it used this cycle plus its remaining holds: used +
    /// remaining + credits > budget is denied; equal is granted; other members are not counted.
    @Test func aMembersBudgetCountsItsRemainingHolds() throws {
        let t = try ledger()
        t.budget("acme", "ana", "10", at: "2026-11-01T01:00:00Z", id: "b1")
        t.usage("acme", "chat", at: "2026-11-02T00:00:00Z", quantity: 3, id: "u1", member: "ana")          // ana used 3
        #expect(t.hold("acme", "a1", credits: "5", member: "ana", at: "2026-11-02T01:00:00Z", id: "q1").hold?.hold?.status == .active)
        let over = t.hold("acme", "a2", credits: "2.001", member: "ana", at: "2026-11-02T01:00:00Z", id: "q2")
        #expect(over.hold?.hold?.denial == .memberBudgetExhausted && over.hold?.hold?.denial?.name == "member_budget_exhausted")
        #expect(over.hold?.hold?.denial?.httpStatus == 402 && over.hold?.available == 92_000)
        #expect(t.hold("acme", "a3", credits: "2", member: "ana", at: "2026-11-02T01:00:00Z", id: "q3").hold?.hold?.status == .active)
        #expect(t.hold("acme", "b1", credits: "50", member: "bob", at: "2026-11-02T01:00:00Z", id: "q4").hold?.hold?.status == .active)
        #expect(t.hold("acme", "n1", credits: "5", at: "2026-11-02T01:00:00Z", id: "q5").hold?.hold?.status == .active)
        #expect(t.account("acme").holdBook?.remaining(member: "ana") == 7_000)
        // Settling a hold moves credits from ana's remaining holds to her used: no room appears.
        t.usage("acme", "chat", at: "2026-11-02T01:30:00Z", quantity: 2, id: "u2", member: "ana", holdID: "a1")
        #expect(t.hold("acme", "a4", credits: "0.001", member: "ana", at: "2026-11-02T01:30:00Z", id: "q6").hold?.hold?.denial
                == .memberBudgetExhausted)
        // Releasing one does.
        t.release("acme", "a1", at: "2026-11-02T01:40:00Z", id: "r1")                                    // used 5, holds 2
        #expect(t.hold("acme", "a5", credits: "3", member: "ana", at: "2026-11-02T01:40:00Z", id: "q7").hold?.hold?.status == .active)
        // Credits come first: a member request the pool cannot cover is insufficient, not over budget.
        #expect(t.hold("acme", "a6", credits: "500", member: "ana", at: "2026-11-02T01:40:00Z", id: "q8").hold?.hold?.denial
                == .insufficientCredits)
    }

    /// A hold event for an account with no state: applied, denied `unknown_account` (a
    /// request), nothing created, nothing remembered — so once the account exists the very
    /// same record is decided normally.
    @Test func anUnknownAccountLeavesNothingBehind() throws {
        let t = try ledger()
        let json = HoldJSON.request("ghost", "g-1", [("credits", .n("5"))], at: "2026-11-02T00:00:00Z", id: "q1")
        let r = t.apply(json)
        #expect(r.outcome == .applied && r.account == -1)
        let report = try #require(r.hold)
        #expect(report.hold == nil && report.available == nil && report.repeated == false && report.holdID == "g-1")
        #expect(t.ledger.account("ghost") == nil && t.ledger.accountCount == 1)
        for other in [t.extend("ghost", "g-1", ttl: 60, at: "2026-11-02T00:00:00Z", id: "x1"),
                      t.release("ghost", "g-1", at: "2026-11-02T00:00:00Z", id: "x2"),
                      t.expire("ghost", "g-1", expiresAt: "2026-11-02T01:00:00Z")] {
            #expect(other.outcome == .applied && other.account == -1 && other.hold?.hold == nil)
        }
        #expect(t.ledger.account("ghost") == nil && t.ledger.accountCount == 1)
        #expect(t.ledger.counters.holdsDenied == 1 && t.ledger.counters.applied == 5)
        // Not remembered: the same record, once the account exists, is a new decision.
        t.topup("ghost", pack: nil, credits: "20", at: "2026-11-02T00:00:00Z", id: "t1")
        let again = t.apply(json)
        #expect(again.outcome == .applied && again.hold?.hold?.status == .active && again.hold?.repeated == false)
        #expect(again.hold?.available == 15_000)
    }

    // MARK: Repeats and conflicts

    /// A repeat — another event id, another key order, the default ttl written out — keeps
    /// the first decision and changes nothing but the account clock.
    @Test func aRepeatKeepsTheFirstDecisionAndChangesNothingButTheClock() throws {
        let t = try ledger()
        let first = t.hold("acme", "run-1", credits: "30", member: "ana", workflow: "nightly", at: "2026-11-02T00:00:00Z", id: "q1")
        let before = t.account("acme")
        let json = #"{"specversion":"1.0","id":"q1-retry","source":"credit-meter/http","type":"credit.hold.requested","subject":"acme","time":"2026-11-02T00:10:00Z","data":{"workflow":"nightly","ttl_seconds":3600,"member":"ana","credits":30.000,"hold_id":"run-1"}}"#
        let again = t.apply(json)
        #expect(again.outcome == .applied && again.hold?.repeated == true)
        #expect(again.hold?.hold == first.hold?.hold && again.hold?.available == 70_000)
        let after = t.account("acme")
        #expect(after.holdBook == before.holdBook && after.balance == before.balance && after.blocks == before.blocks)
        #expect(after.allowance == before.allowance && after.alerts == before.alerts && after.entitlement == before.entitlement)
        #expect(before.clock == time("2026-11-02T00:00:00Z") && after.clock == time("2026-11-02T00:10:00Z"))
        #expect(t.ledger.counters.holdsGranted == 1 && t.ledger.counters.holdsDenied == 0)
        // The same record again is a duplicate (deduplicated like every event), not a repeat.
        let dup = t.apply(json)
        #expect(dup.outcome == .duplicate && dup.hold == nil)
        // An action request written with and without its defaults (quantity 1, multiplier 1).
        let u = try ledger()
        let a = u.hold("acme", "w", action: "web_research", at: "2026-11-02T00:00:00Z", id: "q1")
        let b = u.hold("acme", "w", action: "web_research", quantity: 1, multiplier: 1, ttl: 3600, at: "2026-11-02T00:00:01Z", id: "q2")
        #expect(b.hold?.repeated == true && b.hold?.hold == a.hold?.hold && a.hold?.hold?.held == 10_000)
    }

    /// The same hold_id with other data is bad input (`holdConflict`): dead-lettered, nothing
    /// changes, not even the clock, and the event id is not remembered.
    @Test(arguments: [
        #""credits":30.001"#,
        #""credits":30,"member":"bob""#,
        #""credits":30,"workflow":"other""#,
        #""credits":30,"ttl_seconds":3601"#,
        #""action":"web_research","quantity":3"#,
    ])
    func theSameHoldIDWithOtherDataIsAConflict(data: String) throws {
        let t = try ledger()
        t.hold("acme", "run-1", credits: "30", at: "2026-11-02T00:00:00Z", id: "q1")
        let before = t.account("acme"), counters = t.ledger.counters
        let json = #"{"specversion":"1.0","id":"q2","source":"credit-meter/http","type":"credit.hold.requested","subject":"acme","time":"2026-11-02T00:10:00Z","data":{"hold_id":"run-1","#
            + data + "}}"
        let r = t.apply(json)
        #expect(r.outcome == .rejected(.holdConflict) && r.hold == nil)
        #expect(Rejection.holdConflict.description
                == "hold_id already decided for this account with other data (a repeated request must carry the same data)")
        #expect(t.account("acme") == before)
        #expect(t.ledger.counters.rejected == counters.rejected + 1 && t.ledger.counters.applied == counters.applied)
        // Still a conflict when sent again: a dead letter is not remembered.
        #expect(t.apply(json).outcome == .rejected(.holdConflict))
    }

    /// A denial is remembered like a grant: a repeat gets the denial even when the credits
    /// would now be there.
    @Test func aDenialIsRememberedAndRepeated() throws {
        let t = try ledger()
        let first = t.hold("acme", "big", credits: "150", at: "2026-11-02T00:00:00Z", id: "q1")
        #expect(first.hold?.hold?.denial == .insufficientCredits)
        t.topup("acme", pack: nil, credits: "100", at: "2026-11-02T00:05:00Z", id: "t1")
        let again = t.hold("acme", "big", credits: "150", at: "2026-11-02T00:10:00Z", id: "q2")
        #expect(again.hold?.repeated == true && again.hold?.hold == first.hold?.hold && again.hold?.available == 200_000)
        #expect(t.hold("acme", "big-2", credits: "150", at: "2026-11-02T00:10:00Z", id: "q3").hold?.hold?.status == .active)
        #expect(t.ledger.counters.holdsDenied == 1 && t.ledger.counters.holdsGranted == 1)
    }

    // MARK: Settling

    /// Usage naming an active hold is charged as ever and settles: settled += price, remaining
    /// = held − settled (not below 0), available = balance − Σ remaining. Usage naming an
    /// unknown or ended hold is charged normally and counted as unheld.
    @Test func usageSettlesAgainstItsHold() throws {
        let t = try ledger()
        t.hold("acme", "run-1", credits: "20", at: "2026-11-02T00:00:00Z", id: "q1")
        let u1 = t.usage("acme", "chat", at: "2026-11-02T00:01:00Z", quantity: 5, id: "u1", holdID: "run-1")
        #expect(u1.outcome == .applied && u1.charged == 5_000 && u1.hold == nil)
        var h = try #require(t.account("acme").holdBook?.hold("run-1"))
        #expect(h.settled == 5_000 && h.remaining == 15_000 && h.status == .active)
        #expect(t.balance("acme") == 95_000 && t.account("acme").availableCredits == 80_000)
        // Above its remaining: charged in full; remaining stops at 0.
        t.usage("acme", "web_research", at: "2026-11-02T00:02:00Z", quantity: 2, id: "u2", holdID: "run-1")
        h = try #require(t.account("acme").holdBook?.hold("run-1"))
        #expect(h.settled == 25_000 && h.remaining == 0 && h.held == 20_000)
        #expect(t.balance("acme") == 75_000 && t.account("acme").availableCredits == 75_000)
        #expect(t.ledger.counters.usageUnheld == 0)
        // Unknown and ended holds: charged, never dead-lettered, counted.
        let unknown = t.usage("acme", "chat", at: "2026-11-02T00:03:00Z", id: "u3", holdID: "no-such-hold")
        #expect(unknown.outcome == .applied && unknown.charged == 1_000)
        t.release("acme", "run-1", at: "2026-11-02T00:04:00Z", id: "r1")
        let ended = t.usage("acme", "chat", at: "2026-11-02T00:05:00Z", id: "u4", holdID: "run-1")
        #expect(ended.outcome == .applied && ended.charged == 1_000)
        #expect(t.account("acme").holdBook?.hold("run-1")?.settled == 25_000)
        #expect(t.ledger.counters.usageUnheld == 2 && t.balance("acme") == 73_000)
        // An account with no holds at all.
        t.usage("solo", "chat", at: "2026-11-02T00:00:00Z", id: "s1", holdID: "h")
        #expect(t.ledger.counters.usageUnheld == 3 && t.balance("solo") == -1_000)
        expectConserved(t)
    }

    // MARK: Extend, release, expire

    /// The new expires_at = max(event time, account clock) + ttl, for an active hold only; it
    /// may shorten the hold (Rules/Holds.swift).
    @Test func extendingSetsExpiresAtFromTheLaterOfEventTimeAndClock() throws {
        let t = try ledger()
        t.hold("acme", "run-1", credits: "10", at: "2026-11-02T00:00:00Z", id: "q1")
        let e1 = t.extend("acme", "run-1", ttl: 7200, at: "2026-11-02T00:30:00Z", id: "x1")
        #expect(e1.hold?.hold?.expiresAt == time("2026-11-02T02:30:00Z") && e1.hold?.type == .holdExtended)
        t.usage("acme", "chat", at: "2026-11-02T01:00:00Z", id: "u1")                                   // clock 01:00
        let late = t.extend("acme", "run-1", ttl: 60, at: "2026-11-02T00:40:00Z", id: "x2")             // from the clock: shorter
        #expect(late.hold?.hold?.expiresAt == time("2026-11-02T01:01:00Z") && late.hold?.available == 89_000)
        t.release("acme", "run-1", at: "2026-11-02T01:00:30Z", id: "r1")
        let ended = t.extend("acme", "run-1", ttl: 3600, at: "2026-11-02T01:00:40Z", id: "x3")
        #expect(ended.outcome == .applied && ended.hold?.hold?.status == .released)
        #expect(ended.hold?.hold?.expiresAt == time("2026-11-02T01:01:00Z"))
        let unknown = t.extend("acme", "nope", ttl: 3600, at: "2026-11-02T01:00:40Z", id: "x4")
        #expect(unknown.outcome == .applied && unknown.hold?.hold == nil && unknown.hold?.available == 99_000)
    }

    @Test func releasingEndsTheHoldAndReturnsItsCredits() throws {
        let t = try ledger()
        t.hold("acme", "run-1", credits: "30", at: "2026-11-02T00:00:00Z", id: "q1")
        t.usage("acme", "chat", at: "2026-11-02T00:01:00Z", quantity: 4, id: "u1", holdID: "run-1")
        #expect(t.account("acme").availableCredits == 70_000)
        let r = t.release("acme", "run-1", at: "2026-11-02T00:02:00Z", id: "r1")
        let h = try #require(r.hold?.hold)
        #expect(h.status == .released && h.endedAt == time("2026-11-02T00:02:00Z") && h.settled == 4_000 && h.held == 30_000)
        #expect(r.hold?.available == 96_000 && t.account("acme").holdBook?.activeCount == 0)
        #expect(t.ledger.counters.holdsReleased == 1)
        // Again: nothing changes, nothing counted.
        let before = t.account("acme").holdBook
        let again = t.release("acme", "run-1", at: "2026-11-02T00:03:00Z", id: "r2")
        #expect(again.hold?.hold == h && t.account("acme").holdBook == before && t.ledger.counters.holdsReleased == 1)
    }

    /// Before any event, active holds with expires_at ≤ its time expire (ending at their
    /// expires_at): a usage at exactly expires_at is unheld.
    @Test func aHoldExpiresBeforeAnEventAtOrAfterItsExpiresAt() throws {
        let t = try ledger()
        t.hold("acme", "run-1", credits: "30", ttl: 600, at: "2026-11-02T00:00:00Z", id: "q1")
        t.usage("acme", "chat", at: "2026-11-02T00:09:59.999999999Z", id: "u1", holdID: "run-1")          // settles
        #expect(t.account("acme").holdBook?.hold("run-1")?.settled == 1_000)
        let u2 = t.usage("acme", "chat", at: "2026-11-02T00:10:00Z", id: "u2", holdID: "run-1")           // expired first
        #expect(u2.outcome == .applied && u2.charged == 1_000)
        let h = try #require(t.account("acme").holdBook?.hold("run-1"))
        #expect(h.status == .expired && h.endedAt == time("2026-11-02T00:10:00Z") && h.settled == 1_000)
        #expect(t.ledger.counters.holdsExpired == 1 && t.ledger.counters.usageUnheld == 1)
        #expect(t.account("acme").availableCredits == 98_000)
    }

    /// The owner's `credit.hold.expired` ends only an active hold with that expires_at.
    @Test func theOwnersExpiryEndsOnlyTheHoldWithThatExpiresAt() throws {
        let t = try ledger()
        t.hold("acme", "run-1", credits: "30", ttl: 600, at: "2026-11-02T00:00:00Z", id: "q1")             // expires 00:10
        t.extend("acme", "run-1", ttl: 1200, at: "2026-11-02T00:05:00Z", id: "x1")                        // expires 00:25
        // The owner's record for the replaced expires_at (produced before the extend was applied).
        let stale = t.expire("acme", "run-1", expiresAt: "2026-11-02T00:10:00Z")
        #expect(stale.outcome == .applied && stale.hold?.hold?.status == .active && stale.hold?.type == .holdExpired)
        #expect(t.ledger.counters.holdsExpired == 0)
        let due = t.expire("acme", "run-1", expiresAt: "2026-11-02T00:25:00Z")
        #expect(due.hold?.hold?.status == .expired && due.hold?.hold?.endedAt == time("2026-11-02T00:25:00Z"))
        #expect(due.hold?.available == 100_000 && t.ledger.counters.holdsExpired == 1)
        // Redelivered: a duplicate (its id is deterministic).
        #expect(t.expire("acme", "run-1", expiresAt: "2026-11-02T00:25:00Z").outcome == .duplicate)
        // A record dated before expires_at but naming it ends the hold then; it is taken as
        // ended at its expires_at (Rules/Holds.swift `.expire`).
        t.hold("acme", "run-2", credits: "5", ttl: 3600, at: "2026-11-02T01:00:00Z", id: "q2")           // expires 02:00
        let early = t.expire("acme", "run-2", expiresAt: "2026-11-02T02:00:00Z", at: "2026-11-02T01:30:00Z")
        #expect(early.hold?.hold?.status == .expired && early.hold?.hold?.endedAt == time("2026-11-02T02:00:00Z"))
        #expect(t.ledger.counters.holdsExpired == 2)
    }

    /// Release racing expiry: whichever comes first in the log wins; the other changes nothing.
    @Test func releaseRacingExpiryFirstInTheLogWins() throws {
        // The release first (just before expires_at), then the owner's expiry.
        let t = try ledger()
        t.hold("acme", "run-1", credits: "30", ttl: 600, at: "2026-11-02T00:00:00Z", id: "q1")
        t.release("acme", "run-1", at: "2026-11-02T00:09:59Z", id: "r1")
        let expiry = t.expire("acme", "run-1", expiresAt: "2026-11-02T00:10:00Z")
        #expect(expiry.hold?.hold?.status == .released && expiry.hold?.hold?.endedAt == time("2026-11-02T00:09:59Z"))
        #expect(t.ledger.counters.holdsReleased == 1 && t.ledger.counters.holdsExpired == 0)
        // The owner's expiry first, then a release — even one dated before expires_at.
        let u = try ledger()
        u.hold("acme", "run-1", credits: "30", ttl: 600, at: "2026-11-02T00:00:00Z", id: "q1")
        u.expire("acme", "run-1", expiresAt: "2026-11-02T00:10:00Z")
        let release = u.release("acme", "run-1", at: "2026-11-02T00:09:59Z", id: "r1")
        #expect(release.hold?.hold?.status == .expired && release.hold?.hold?.endedAt == time("2026-11-02T00:10:00Z"))
        #expect(u.ledger.counters.holdsReleased == 0 && u.ledger.counters.holdsExpired == 1)
    }

    // MARK: Forgetting

    /// An ended hold is remembered for 7 days of the account clock after it ends: through
    /// end + 7 days (as §14 remembers an id through applied + window), forgotten one
    /// nanosecond later — then its hold_id is a new hold, whatever its data.
    @Test func anEndedHoldIsForgottenSevenDaysOfAccountClockAfterItEnds() throws {
        let t = try ledger(monthly: "1000")
        t.hold("acme", "run-1", credits: "30", at: "2026-11-02T00:00:00Z", id: "q1")
        t.release("acme", "run-1", at: "2026-11-02T00:30:00Z", id: "r1")
        // A late event does not move the clock towards forgetting.
        t.usage("acme", "chat", at: "2026-11-01T12:00:00Z", id: "u0")
        t.usage("acme", "chat", at: "2026-11-09T00:30:00Z", id: "u1")                                  // end + 7 days
        let repeatAt = t.hold("acme", "run-1", credits: "30", at: "2026-11-09T00:30:00Z", id: "q2")
        #expect(repeatAt.hold?.repeated == true && repeatAt.hold?.hold?.status == .released)
        t.usage("acme", "chat", at: "2026-11-09T00:30:00.000000001Z", id: "u2")                        // one ns more
        #expect(t.account("acme").holdBook == nil)
        let fresh = t.hold("acme", "run-1", credits: "45", at: "2026-11-09T01:00:00Z", id: "q3")
        #expect(fresh.hold?.repeated == false && fresh.hold?.hold?.status == .active && fresh.hold?.hold?.number == 2)
        #expect(fresh.hold?.hold?.held == 45_000)
        // A denial ends at once and is forgotten 7 days after its decision; an expiry 7 days
        // after its expires_at.
        let d = t.hold("acme", "no", credits: "5000", at: "2026-11-10T00:00:00Z", id: "q4")
        #expect(d.hold?.hold?.denial == .insufficientCredits)
        t.hold("acme", "gone", credits: "1", ttl: 60, at: "2026-11-10T00:00:00Z", id: "q5")         // expires 00:01
        t.usage("acme", "chat", at: "2026-11-17T00:00:30Z", id: "u3")
        #expect(t.account("acme").holdBook?.holds.map(\.id) == ["gone"])
        t.usage("acme", "chat", at: "2026-11-17T00:01:00.000000001Z", id: "u4")
        #expect(t.account("acme").holdBook == nil)
    }

    /// At most 10,000 ended holds per account, the one ended earliest forgotten first —
    /// whether a denial, a release, the owner's expiry or the pass before an event ends the
    /// next one. Holds the pass expires together all expire (none skipped while the cap
    /// forgets others), and each event reports the hold it names. One state of 10,000
    /// denials serves every case (made without JSON: `FastHolds`).
    @Test func atMostTenThousandEndedHoldsTheEarliestEndedForgottenFirst() throws {
        let t = try ledger()
        t.hold("acme", "a", credits: "1", ttl: 60, at: "2026-11-02T00:00:00Z", id: "qa")
        t.hold("acme", "b", credits: "1", ttl: 60, at: "2026-11-02T00:00:00Z", id: "qb")
        t.hold("acme", "c", credits: "1", ttl: 3600, at: "2026-11-02T00:00:00Z", id: "qc")
        let holds = FastHolds(t.ledger, account: "acme")
        for i in 0..<10_000 { holds.deny("d\(i)", at: time("2026-11-02T00:00:00Z") + Int64(i)) }
        t.hold("acme", "e", credits: "1", ttl: 60, at: "2026-11-02T00:00:01Z", id: "qe")
        var book = try #require(t.account("acme").holdBook)
        #expect(book.endedCount == 10_000 && book.activeCount == 4 && book.holds[3].id == "d0")
        // The pass expires a, b and e (behind 10,000 ended holds): d0, d1, d2 are forgotten.
        let u = t.usage("acme", "chat", at: "2026-11-02T00:02:00Z", id: "u1", holdID: "c")
        #expect(u.outcome == .applied)
        book = try #require(t.account("acme").holdBook)
        for id in ["a", "b", "e"] { #expect(book.hold(id)?.status == .expired, "\(id)") }
        #expect(book.hold("c")?.status == .active && book.hold("c")?.settled == 1_000)
        #expect(book.activeCount == 1 && book.endedCount == 10_000)
        #expect(book.hold("d0") == nil && book.hold("d1") == nil && book.hold("d2") == nil && book.hold("d3") != nil)
        #expect(t.ledger.counters.holdsExpired == 3 && t.account("acme").availableCredits == 99_000)
        // A denial: d3 is forgotten.
        holds.deny("d10000", at: time("2026-11-02T00:02:00Z"))
        book = try #require(t.account("acme").holdBook)
        #expect(book.endedCount == 10_000 && book.hold("d3") == nil && book.hold("d4") != nil)
        // d0 is forgotten: its id is a new hold.
        let again = t.hold("acme", "d0", credits: "1", at: "2026-11-02T00:02:01Z", id: "again")
        #expect(again.hold?.repeated == false && again.hold?.hold?.status == .active && again.hold?.hold?.number == 10_006)
        // Releasing it, the newest hold, forgets d4: the answer is still about d0, released.
        let release = t.release("acme", "d0", at: "2026-11-02T00:02:02Z", id: "r1")
        #expect(release.hold?.hold?.id == "d0" && release.hold?.hold?.status == .released && release.hold?.holdID == "d0")
        #expect(t.ledger.counters.holdsReleased == 1 && t.account("acme").holdBook?.hold("d4") == nil)
        // The oldest active hold (c, before every ended one), released at the cap, is the one
        // reported too, and x after it stays active.
        t.hold("acme", "x", credits: "1", at: "2026-11-02T00:02:03Z", id: "qx")
        t.hold("acme", "y", credits: "1", at: "2026-11-02T00:02:03Z", id: "qy")
        let x = t.release("acme", "c", at: "2026-11-02T00:02:04Z", id: "r2")
        #expect(x.hold?.hold?.id == "c" && x.hold?.hold?.status == .released && t.ledger.counters.holdsReleased == 2)
        #expect(t.account("acme").holdBook?.hold("x")?.status == .active)
        // So is an owner's expiry that ends y before its time.
        let y = t.expire("acme", "y", expiresAt: "2026-11-02T01:02:03Z", at: "2026-11-02T00:02:05Z")
        #expect(y.hold?.hold?.id == "y" && y.hold?.hold?.status == .expired && t.ledger.counters.holdsExpired == 4)
        #expect(t.account("acme").holdBook?.endedCount == 10_000 && t.account("acme").holdBook?.hold("d6") == nil)
        #expect(t.account("acme").holdBook?.hold("d7") != nil)
        expectConserved(t)
    }

    // MARK: Holds and the credits around them

    /// Removals never shrink holds: after a void and a negative adjustment available is
    /// negative and every request is denied.
    @Test func aVoidOrNegativeAdjustmentCanDriveAvailableNegative() throws {
        let t = try TestLedger()
        t.topup("solo", pack: nil, credits: "100", at: "2026-11-02T00:00:00Z", id: "t1")
        t.hold("solo", "run-1", credits: "80", ttl: 86_400, at: "2026-11-02T00:00:00Z", id: "q1")
        t.void("solo", "t1", at: "2026-11-02T01:00:00Z", id: "v1")
        #expect(t.balance("solo") == 0 && t.account("solo").availableCredits == -80_000)
        #expect(t.account("solo").holdBook?.hold("run-1")?.held == 80_000)
        let r = t.hold("solo", "run-2", credits: "0.001", at: "2026-11-02T01:00:00Z", id: "q2")
        #expect(r.hold?.hold?.denial == .insufficientCredits && r.hold?.available == -80_000)
        t.adjust("solo", "-10", at: "2026-11-02T02:00:00Z", id: "a1")
        #expect(t.account("solo").availableCredits == -90_000)
        t.topup("solo", pack: nil, credits: "85", at: "2026-11-02T03:00:00Z", id: "t2")              // 75 − 80
        #expect(t.hold("solo", "run-3", credits: "0.001", at: "2026-11-02T03:00:00Z", id: "q3").hold?.hold?.denial
                == .insufficientCredits)
        expectConserved(t)
    }

    /// A hold event changes no balance, block or alert — though available falls below every
    /// threshold — but, as every event, brings the expiries and cycle starts its time passes:
    /// a grant expiring, then a new cycle whose recovery alert the hold event triggers.
    @Test func holdEventsBringCycleStartsAndExpiriesButChangeNoCredits() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-10T00:00:00Z", quantity: 9, id: "u1")             // 10 of 100: low 10
        t.usage("acme", "chat", at: "2026-11-10T01:00:00Z", quantity: 5, id: "u2")                     // 5
        #expect(t.alerts.map(\.id) == ["acme/\(Self.cycle)/credit.balance.low/10/1"])
        t.grant("acme", "3", at: "2026-11-11T00:00:00Z", expires: "2026-11-20T00:00:00Z", id: "g1")    // 8 of 103
        let before = t.account("acme")
        let granted = t.hold("acme", "run-1", credits: "8", at: "2026-11-12T00:00:00Z", id: "q1")
        #expect(granted.hold?.hold?.status == .active && granted.alerts.isEmpty && granted.requests.isEmpty)
        #expect(t.account("acme").balance == before.balance && t.account("acme").blocks == before.blocks)
        #expect(t.account("acme").alerts == before.alerts && t.account("acme").availableCredits == 0)
        // The grant expires by the hold event's time: history names the hold event.
        let past = t.hold("acme", "run-2", credits: "6", at: "2026-11-21T00:00:00Z", id: "q2")
        #expect(past.hold?.hold?.denial == .insufficientCredits && past.hold?.available == 5_000 && t.balance("acme") == 5_000)
        let view = t.ledger.view(t.ledger.accountIndex("acme")!)
        #expect(view.history.last?.kind == .grantExpired && view.history.last?.eventID == "q2")
        // December starts with a hold request: the cycle start is its, and so is the recovery.
        let december = "2026-12-01T00:00:00Z"
        let r = t.hold("acme", "run-3", credits: "40", at: december, id: "q3")
        #expect(r.hold?.hold?.status == .active && r.hold?.available == 60_000 && t.balance("acme") == 100_000)
        #expect(r.alerts.map(\.id) == ["acme/\(december)/credit.balance.recovered/10/1"])
        #expect(r.alerts.first?.triggeredBy == "q3")
        let decemberView = t.ledger.view(t.ledger.accountIndex("acme")!)
        #expect(decemberView.history.last?.kind == .cycleStarted && decemberView.history.last?.eventID == "q3")
    }

    /// The counters: granted and denied per decision (unknown accounts included, repeats not),
    /// released and expired per hold that ended so, usage naming no active hold.
    @Test func theCountersCountEachOutcomeOnce() throws {
        let t = try ledger()
        t.hold("acme", "a", credits: "10", ttl: 60, at: "2026-11-02T00:00:00Z", id: "q1")        // granted
        t.hold("acme", "a", credits: "10", ttl: 60, at: "2026-11-02T00:00:10Z", id: "q1b")       // repeat
        t.hold("acme", "b", credits: "10", at: "2026-11-02T00:00:00Z", id: "q2")                 // granted
        t.hold("acme", "c", credits: "1000", at: "2026-11-02T00:00:00Z", id: "q3")               // denied
        t.hold("ghost", "g", credits: "1", at: "2026-11-02T00:00:00Z", id: "q4")                 // denied, unknown account
        t.release("acme", "b", at: "2026-11-02T00:00:30Z", id: "r1")                            // released
        t.release("acme", "b", at: "2026-11-02T00:00:40Z", id: "r2")                            // nothing
        t.usage("acme", "chat", at: "2026-11-02T00:00:50Z", id: "u1", holdID: "b")              // unheld
        t.expire("acme", "a", expiresAt: "2026-11-02T00:01:00Z")                                  // expired
        t.usage("acme", "chat", at: "2026-11-02T00:02:00Z", id: "u2", holdID: "a")              // unheld
        let c = t.ledger.counters
        #expect(c.holdsGranted == 2 && c.holdsDenied == 2 && c.holdsReleased == 1 && c.holdsExpired == 1 && c.usageUnheld == 2)
        #expect(c.applied == 11 && c.duplicates == 0 && c.rejected == 0)
    }
}

/// Hold events as JSON.
enum HoldJSON {
    static func request(_ account: String, _ holdID: String, _ data: [(String, EventJSON.Value)], at time: String, id: String,
                        source: String = "credit-meter/http") -> String {
        EventJSON.event("credit.hold.requested", account: account, id: id, time: time, source: source,
                        data: [("hold_id", .s(holdID))] + data)
    }
}

extension TestLedger {
    @discardableResult
    func hold(_ account: String, _ holdID: String, credits: String? = nil, action: String? = nil, quantity: Int? = nil,
              model: String? = nil, inputTokens: Int? = nil, multiplier: Int? = nil, ttl: Int? = nil, member: String? = nil,
              workflow: String? = nil, at time: String, id: String) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = []
        if let credits { data.append(("credits", .n(credits))) }
        if let action { data.append(("action", .s(action))) }
        if let quantity { data.append(("quantity", .n(String(quantity)))) }
        if let model { data.append(("model", .s(model))) }
        if let inputTokens { data.append(("input_tokens", .n(String(inputTokens)))) }
        if let multiplier { data.append(("multiplier", .n(String(multiplier)))) }
        if let ttl { data.append(("ttl_seconds", .n(String(ttl)))) }
        if let member { data.append(("member", .s(member))) }
        if let workflow { data.append(("workflow", .s(workflow))) }
        return apply(HoldJSON.request(account, holdID, data, at: time, id: id))
    }

    @discardableResult
    func extend(_ account: String, _ holdID: String, ttl: Int, at time: String, id: String) -> ApplyResult {
        apply(EventJSON.event("credit.hold.extended", account: account, id: id, time: time, source: "credit-meter/http",
                              data: [("hold_id", .s(holdID)), ("ttl_seconds", .n(String(ttl)))]))
    }

    @discardableResult
    func release(_ account: String, _ holdID: String, at time: String, id: String) -> ApplyResult {
        apply(EventJSON.event("credit.hold.released", account: account, id: id, time: time, source: "credit-meter/http",
                              data: [("hold_id", .s(holdID))]))
    }

    /// The owner's `credit.hold.expired`: id `<account>/<hold_id>/expired/<expires_at>`, time
    /// `expires_at` unless given.
    @discardableResult
    func expire(_ account: String, _ holdID: String, expiresAt: String, at time: String? = nil) -> ApplyResult {
        apply(EventJSON.event("credit.hold.expired", account: account, id: "\(account)/\(holdID)/expired/\(expiresAt)",
                              time: time ?? expiresAt, source: "credit-meter",
                              data: [("hold_id", .s(holdID)), ("expires_at", .s(expiresAt))]))
    }

    /// Usage naming a hold.
    @discardableResult
    func usage(_ account: String, _ action: String, at time: String, quantity: Int = 1, id: String, member: String? = nil,
               holdID: String) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = [("action", .s(action)), ("quantity", .n(String(quantity))), ("hold_id", .s(holdID))]
        if let member { data.append(("member", .s(member))) }
        return apply(EventJSON.event("ai.usage", account: account, id: id, time: time, data: data))
    }
}

/// Many hold requests without JSON: one `DecodedEvent` whose id and hold id are rewritten
/// in place, for the cases that need thousands of ended holds.
final class FastHolds {
    let ledger: PartitionLedger
    let account: [UInt8]
    let source = Array("credit-meter/http".utf8)

    init(_ ledger: PartitionLedger, account: String) {
        self.ledger = ledger
        self.account = Array(account.utf8)
    }

    /// A request the account cannot cover (10¹² credits): denied `insufficient_credits`, so it
    /// ends at once.
    func deny(_ holdID: String, at time: Int64) {
        let id = Array(("fast-" + holdID).utf8), hold = Array(holdID.utf8)
        id.withUnsafeBytes { idBytes in
            hold.withUnsafeBytes { holdBytes in
                source.withUnsafeBytes { sourceBytes in
                    account.withUnsafeBytes { accountBytes in
                        var e = DecodedEvent()
                        e.type = .holdRequested
                        e.id = idBytes; e.source = sourceBytes; e.subject = accountBytes; e.time = time
                        e.holdID = holdBytes
                        e.credits = 1_000_000_000_000_000
                        let r = ledger.apply(e, key: accountBytes, recordTime: time)
                        precondition(r.hold?.hold?.denial == .insufficientCredits, "a fast denial was not denied")
                    }
                }
            }
        }
    }
}
