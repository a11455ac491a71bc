import Testing
import CreditEngine
import CreditConfig

/// Contract §12: one suite per rule, exact credits and exact ids.
func historyLines(_ t: TestLedger, _ account: String) -> [String] {
    t.ledger.view(t.ledger.accountIndex(account)!).history.reversed()
        .map { "\(EventTime.format($0.time)) \($0.kind.name) \(Credits.format($0.credits)) \($0.eventID)" }
}

@Suite struct GrantVoidTests {
    @Test func voidRemovesWhatIsLeftAndEntitlementFalls() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.grant("a", "50", at: "2026-11-01T01:00:00Z", id: "g1")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 12, id: "u1")  // 100 allowance + 20 of g1
        #expect(t.account("a").blocks.map(\.remaining) == [30_000])
        #expect(t.void("a", "g1", at: "2026-11-03T00:00:00Z", id: "v1").outcome == .applied)
        let a = t.account("a")
        #expect(a.blocks.isEmpty && a.balance == 0 && a.voided == 30_000)
        #expect(a.entitlement == 120_000)  // 150 − 30
        #expect(historyLines(t, "a").first == "2026-11-03T00:00:00Z grant_voided -30 v1")
        let json = String(decoding: t.ledger.view(0).history(limit: 1), as: UTF8.self)
        #expect(json == #"{"account":"a","entries":[{"time":"2026-11-03T00:00:00Z","kind":"grant_voided","credits":-30,"event_id":"v1","detail":{"grant_id":"g1","reason":"refund"}}]}"#)
        #expect(t.alerts.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.balance.low/20/1", "a/2026-11-01T00:00:00Z/credit.balance.exhausted/0/1"])
        #expect(t.alerts.last?.triggeredBy == "v1")
        #expect(t.document("a").contains(#""audit":{"granted_credits":150,"charged_credits":120,"expired_credits":0,"voided_credits":30,"adjusted_credits":0}"#))
        expectConserved(t)
    }

    @Test func voidingATopUpLeavesMoneyAlone() throws {
        let t = try TestLedger()
        t.topup("a", at: "2026-11-01T00:00:00Z", id: "t1")
        t.usage("a", "doc_search", at: "2026-11-01T01:00:00Z", quantity: 5)
        t.void("a", "t1", at: "2026-11-02T00:00:00Z", id: "v1")
        let a = t.account("a")
        #expect(a.balance == 0 && a.voided == 985_000 && a.entitlement == 15_000)
        #expect(a.moneyPaidMicros == 10_000_000 && a.creditsBought == 1_000_000)
        expectConserved(t)
    }

    @Test func aSpentOrVoidedBlockRemovesZero() throws {
        let t = try TestLedger()
        t.grant("a", "10", at: "2026-11-01T00:00:00Z", id: "g1")
        t.usage("a", "chat", at: "2026-11-01T01:00:00Z", quantity: 10)
        #expect(t.void("a", "g1", at: "2026-11-02T00:00:00Z", id: "v1").outcome == .applied)
        t.grant("a", "7", at: "2026-11-02T01:00:00Z", id: "g2")
        #expect(t.void("a", "g2", at: "2026-11-02T02:00:00Z", id: "v2").outcome == .applied)
        #expect(t.void("a", "g2", at: "2026-11-02T03:00:00Z", id: "v3").outcome == .applied)
        #expect(Array(historyLines(t, "a").prefix(4)) == [
            "2026-11-02T03:00:00Z grant_voided 0 v3", "2026-11-02T02:00:00Z grant_voided -7 v2",
            "2026-11-02T01:00:00Z grant 7 g2", "2026-11-02T00:00:00Z grant_voided 0 v1",
        ])
        #expect(t.account("a").voided == 7_000 && t.balance("a") == 0)
        expectConserved(t)
    }

    @Test func grantSourceDefaultsToTheVoidsSource() throws {
        let t = try TestLedger()
        t.apply(EventJSON.event("credit.grant.issued", account: "a", id: "g1", time: "2026-11-01T00:00:00Z", source: "billing",
                                data: [("credits", .n("40"))]))
        let before = t.documents()
        #expect(t.void("a", "g1", at: "2026-11-02T00:00:00Z", id: "v1").outcome == .rejected(.unknownGrant))
        #expect(t.documents() == before)
        #expect(t.void("a", "g1", at: "2026-11-02T00:00:00Z", grantSource: "billing", id: "v1").outcome == .applied)
        #expect(t.balance("a") == 0 && t.account("a").voided == 40_000)
    }

    @Test func aRedeliveredVoidIsADuplicate() throws {
        let t = try TestLedger()
        t.grant("a", "10", at: "2026-11-01T00:00:00Z", id: "g1")
        t.void("a", "g1", at: "2026-11-01T01:00:00Z", id: "v1")
        #expect(t.void("a", "g1", at: "2026-11-01T01:00:00Z", id: "v1").outcome == .duplicate)
        #expect(historyLines(t, "a").count == 2 && t.account("a").voided == 10_000)
    }

    struct Bad: Sendable, CustomStringConvertible {
        var name: String
        var account: String
        var grant: String
        var description: String { name }
    }

    @Test(arguments: [
        Bad(name: "unknown id", account: "a", grant: "nope"),
        Bad(name: "an adjustment cannot be voided", account: "a", grant: "adj"),
        Bad(name: "another account's grant", account: "b", grant: "g1"),
        Bad(name: "an account with no state", account: "z", grant: "g1"),
        Bad(name: "a usage event's id", account: "a", grant: "u1"),
    ])
    func unknownGrantsAreBadInputAndChangeNothing(_ bad: Bad) throws {
        let t = try TestLedger()
        t.grant("a", "10", at: "2026-11-01T00:00:00Z", id: "g1")
        t.adjust("a", "5", at: "2026-11-01T00:00:00Z", id: "adj")
        t.usage("a", "chat", at: "2026-11-01T00:00:00Z", id: "u1")
        t.grant("b", "10", at: "2026-11-01T00:00:00Z", id: "g9")
        let before = t.documents()
        let counters = t.ledger.counters
        #expect(t.void(bad.account, bad.grant, at: "2026-11-02T00:00:00Z", id: "v1").outcome == .rejected(.unknownGrant))
        #expect(t.documents() == before)
        #expect(t.ledger.counters.applied == counters.applied && t.ledger.counters.rejected == counters.rejected + 1)
    }

    @Test(arguments: [
        (#"{"reason":"x"}"#, #"missing required field "data.grant_id""#),
        (#"{"grant_id":""}"#, #"field "data.grant_id" must not be empty"#),
        (#"{"grant_id":"g1","grant_source":""}"#, #"field "data.grant_source" must not be empty"#),
        (#"{"grant_id":7}"#, #"field "data.grant_id" must be a string"#),
    ])
    func malformedVoidsAreRefused(_ data: String, _ reason: String) throws {
        let t = try TestLedger()
        t.grant("a", "10", at: "2026-11-01T00:00:00Z", id: "g1")
        let json = #"{"specversion":"1.0","id":"v","source":"s","type":"credit.grant.voided","subject":"a","time":"2026-11-02T00:00:00Z","data":"# + data + "}"
        let before = t.documents()
        guard case .rejected = t.apply(json).outcome else { Issue.record("accepted"); return }
        #expect(t.rejections.last?.hasPrefix(reason) == true, "\(t.rejections.last ?? "")")
        #expect(t.documents() == before)
    }
}

@Suite struct AutoTopupTests {
    @Test func aRequestWhenAtOrBelowTheLineThenPendingThenOnePerCycle() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.autoTopup("a", below: "20", at: "2026-11-01T00:00:01Z", id: "c1")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 8, id: "u1")   // 20 left: request
        #expect(t.requests.count == 1)
        #expect(String(decoding: t.requests[0].json(), as: UTF8.self) == #"{"specversion":"1.0","id":"a/2026-11-01T00:00:00Z/credit.topup.requested/1","source":"credit-meter","type":"credit.topup.requested","subject":"a","time":"2026-11-02T00:00:00Z","datacontenttype":"application/json","data":{"account":"a","pack":"pack-1000","credits":1000,"balance_credits":20,"below_credits":20,"triggered_by":"u1","request_number":1,"max_per_cycle":1}}"#)
        t.usage("a", "chat", at: "2026-11-02T01:00:00Z", id: "u2")                       // pending: none
        t.topup("a", at: "2026-11-03T00:00:00Z", id: "t1")                                  // clears pending; 1019
        t.usage("a", "knowledge_sync", at: "2026-11-04T00:00:00Z", quantity: 40, id: "u3") // 19: max 1 reached
        #expect(t.requests.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.topup.requested/1"])
        t.usage("a", "chat", at: "2026-12-01T00:00:00Z", id: "u4")                        // new cycle: 118
        t.usage("a", "web_research", at: "2026-12-02T00:00:00Z", quantity: 10, id: "u5")  // 18: request 1 of December
        #expect(t.requests.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.topup.requested/1",
                                         "a/2026-12-01T00:00:00Z/credit.topup.requested/1"])
        #expect(t.requests.map(\.balance) == [20_000, 18_000])
        #expect(t.requests.last?.triggeredBy == "u5")
        #expect(t.document("a").contains(#""auto_topup":{"pack":"pack-1000","credits":1000,"below_credits":20,"max_per_cycle":1,"requests_this_cycle":1,"pending":true}"#))
    }

    @Test func aSecondRequestInACycleOnlyAfterATopUpInBetween() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.autoTopup("a", pack: nil, credits: "30", below: "50", maxPerCycle: 2, at: "2026-11-01T00:00:01Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 6, id: "u1")   // 40: request 1
        t.usage("a", "chat", at: "2026-11-02T01:00:00Z", id: "u2")                        // 39: pending
        t.topup("a", pack: nil, credits: "5", at: "2026-11-02T02:00:00Z", id: "t1")       // 44: request 2
        t.topup("a", pack: nil, credits: "5", at: "2026-11-02T03:00:00Z", id: "t2")       // 49: max reached
        #expect(t.requests.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.topup.requested/1", "a/2026-11-01T00:00:00Z/credit.topup.requested/2"])
        #expect(t.requests.map(\.triggeredBy) == ["u1", "t1"])
        #expect(t.requests.map(\.balance) == [40_000, 44_000])
        #expect(t.requests.allSatisfy { $0.pack == nil && $0.credits == 30_000 && $0.maxPerCycle == 2 })
    }

    @Test func aVoidThatDropsTheBalanceRequests() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.topup("a", at: "2026-11-01T01:00:00Z", id: "t1")
        t.autoTopup("a", below: "100", at: "2026-11-01T02:00:00Z")
        #expect(t.requests.isEmpty)
        t.void("a", "t1", at: "2026-11-03T00:00:00Z", id: "v1")
        #expect(t.requests.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.topup.requested/1"])
        #expect(t.requests.first?.triggeredBy == "v1" && t.requests.first?.balance == 100_000)
    }

    @Test func beforeAnyPlanTheCycleIsADash() throws {
        let t = try TestLedger()
        t.grant("a", "50", at: "2026-11-01T00:00:00Z")
        t.autoTopup("a", below: "10", at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 4, id: "u1")
        #expect(t.requests.map(\.id) == ["a/-/credit.topup.requested/1"])
        t.plan("a", "trial", at: "2026-11-03T00:00:00Z")  // a cycle start: pending cleared, count reset; 110 left
        t.usage("a", "knowledge_sync", at: "2026-11-04T00:00:00Z", quantity: 4, id: "u2")  // 10
        #expect(t.requests.map(\.id) == ["a/-/credit.topup.requested/1", "a/2026-11-03T00:00:00Z/credit.topup.requested/1"])
    }

    @Test func theEventThatStartsACycleCanRequestAtOnce() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.autoTopup("a", below: "60", at: "2026-11-01T00:00:00Z")
        t.usage("a", "knowledge_sync", at: "2026-11-02T00:00:00Z", quantity: 6, id: "u1")  // −50
        t.usage("a", "chat", at: "2026-12-02T00:00:00Z", id: "u2")                          // 100 pays 50: 49
        #expect(t.requests.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.topup.requested/1", "a/2026-12-01T00:00:00Z/credit.topup.requested/1"])
        #expect(t.requests.map(\.balance) == [-50_000, 49_000])
    }

    @Test func configuringClearsNeitherAndDisablingStops() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.autoTopup("a", below: "50", maxPerCycle: 3, at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 6)            // 40: request 1
        t.autoTopup("a", below: "80", maxPerCycle: 3, at: "2026-11-02T01:00:00Z")        // still pending
        t.usage("a", "chat", at: "2026-11-02T02:00:00Z")
        #expect(t.requests.count == 1)
        #expect(t.autoTopup("a", pack: nil, below: nil, enabled: false, at: "2026-11-02T03:00:00Z").outcome == .applied)
        t.grant("a", "1", at: "2026-11-02T04:00:00Z")                                    // clears; no policy
        #expect(t.requests.count == 1)
        #expect(!t.document("a").contains("auto_topup"))
    }

    struct Clearing: Sendable, CustomStringConvertible {
        var name: String
        var event: @Sendable (TestLedger) -> Void
        var requests: [String]
        var description: String { name }
    }

    /// What clears a pending request (then the still-low balance requests again at once).
    @Test(arguments: [
        Clearing(name: "a positive adjustment", event: { $0.adjust("a", "1", at: "2026-11-03T00:00:00Z", id: "x") },
                 requests: ["a/2026-11-01T00:00:00Z/credit.topup.requested/1", "a/2026-11-01T00:00:00Z/credit.topup.requested/2"]),
        Clearing(name: "a grant", event: { $0.grant("a", "1", at: "2026-11-03T00:00:00Z", id: "x") },
                 requests: ["a/2026-11-01T00:00:00Z/credit.topup.requested/1", "a/2026-11-01T00:00:00Z/credit.topup.requested/2"]),
        Clearing(name: "a plan raising the allowance", event: { $0.plan("a", nil, at: "2026-11-03T00:00:00Z", monthly: "150", id: "x") },
                 requests: ["a/2026-11-01T00:00:00Z/credit.topup.requested/1", "a/2026-11-01T00:00:00Z/credit.topup.requested/2"]),
        Clearing(name: "a negative adjustment does not", event: { $0.adjust("a", "-1", at: "2026-11-03T00:00:00Z", id: "x") },
                 requests: ["a/2026-11-01T00:00:00Z/credit.topup.requested/1"]),
        Clearing(name: "a plan lowering the allowance does not", event: { $0.plan("a", nil, at: "2026-11-03T00:00:00Z", monthly: "95", id: "x") },
                 requests: ["a/2026-11-01T00:00:00Z/credit.topup.requested/1"]),
        Clearing(name: "usage does not", event: { $0.usage("a", "chat", at: "2026-11-03T00:00:00Z", id: "x") },
                 requests: ["a/2026-11-01T00:00:00Z/credit.topup.requested/1"]),
    ])
    func whatClearsAPendingRequest(_ c: Clearing) throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.autoTopup("a", below: "100", maxPerCycle: 5, at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 9)   // 10 left: request 1
        c.event(t)
        #expect(t.requests.map(\.id) == c.requests)
        if c.requests.count == 2 { #expect(t.requests[1].triggeredBy == "x") }
    }

    struct Bad: Sendable, CustomStringConvertible {
        var data: String
        var reason: String
        var description: String { data }
    }

    @Test(arguments: [
        Bad(data: #"{"pack":"pack-1000","below_credits":10,"max_per_cycle":0}"#, reason: #"field "data.max_per_cycle" must be an integer ≥ 1"#),
        Bad(data: #"{"pack":"pack-1000","below_credits":10,"max_per_cycle":1.5}"#, reason: #"field "data.max_per_cycle""#),
        Bad(data: #"{"pack":"pack-1000","below_credits":10,"max_per_cycle":2.0}"#, reason: #"field "data.max_per_cycle""#),
        Bad(data: #"{"pack":"pack-9","below_credits":10}"#, reason: "unknown top-up pack"),
        Bad(data: #"{"credits":0,"below_credits":10}"#, reason: #"field "data.credits" must be greater than 0"#),
        Bad(data: #"{"pack":"pack-1000","below_credits":-1}"#, reason: #"field "data.below_credits" must not be negative"#),
        Bad(data: #"{"below_credits":10}"#, reason: #"missing required field "data.pack""#),
        Bad(data: #"{"pack":"pack-1000"}"#, reason: #"missing required field "data.below_credits""#),
        Bad(data: #"{"pack":"pack-1000","below_credits":10,"enabled":"yes"}"#, reason: #"field "data.enabled""#),
    ])
    func badPoliciesAreDeadLetteredWithNothingChanged(_ bad: Bad) throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.autoTopup("a", below: "5", at: "2026-11-01T00:00:00Z")
        let before = t.documents()
        let json = #"{"specversion":"1.0","id":"c","source":"s","type":"credit.autotopup.configured","subject":"a","time":"2026-11-02T00:00:00Z","data":"# + bad.data + "}"
        guard case .rejected = t.apply(json).outcome else { Issue.record("accepted"); return }
        #expect(t.rejections.last?.hasPrefix(bad.reason) == true, "\(t.rejections.last ?? "")")
        #expect(t.documents() == before)
        #expect(t.account("a").features?.autoTopup == AutoTopupPolicy(pack: 0, credits: 1_000_000, below: 5_000, maxPerCycle: 1))
    }
}

@Suite struct MemberBudgetTests {
    @Test func alertsOnEdgesAndARaisedBudgetReArms() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        t.budget("a", "ana", "100", at: "2026-11-01T01:00:00Z", id: "b1")
        t.usage("a", "chat", at: "2026-11-02T00:00:00Z", quantity: 70, id: "u1", member: "ana")   // 30 % left
        t.usage("a", "chat", at: "2026-11-02T01:00:00Z", quantity: 50, id: "x1", member: "bo")    // another member
        t.usage("a", "chat", at: "2026-11-02T02:00:00Z", quantity: 10, id: "u2", member: "ana")   // 20 %: low/20
        t.usage("a", "chat", at: "2026-11-02T03:00:00Z", quantity: 15, id: "u3", member: "ana")   // 5 %: low/10
        t.usage("a", "chat", at: "2026-11-02T04:00:00Z", quantity: 5, id: "u4", member: "ana")    // 0: exhausted
        t.usage("a", "chat", at: "2026-11-02T05:00:00Z", id: "u5", member: "ana")                 // already fired
        t.budget("a", "ana", "200", at: "2026-11-03T00:00:00Z", id: "b2")                         // 101 of 200: re-armed
        t.usage("a", "chat", at: "2026-11-04T00:00:00Z", quantity: 64, id: "u6", member: "ana")   // 35 left: low/20 #2
        #expect(t.alerts.map(\.id) == [
            "a/2026-11-01T00:00:00Z/ana/credit.member.budget.low/20/1",
            "a/2026-11-01T00:00:00Z/ana/credit.member.budget.low/10/1",
            "a/2026-11-01T00:00:00Z/ana/credit.member.budget.exhausted/0/1",
            "a/2026-11-01T00:00:00Z/ana/credit.member.budget.low/20/2",
        ])
        #expect(t.alerts.map(\.triggeredBy) == ["u2", "u3", "u4", "u6"])
        #expect(String(decoding: t.alerts[3].json(), as: UTF8.self) == #"{"specversion":"1.0","id":"a/2026-11-01T00:00:00Z/ana/credit.member.budget.low/20/2","source":"credit-meter","type":"credit.member.budget.low","subject":"a","time":"2026-11-04T00:00:00Z","datacontenttype":"application/json","data":{"account":"a","member":"ana","threshold_percent":20,"budget_credits":200,"used_credits":165,"remaining_credits":35,"cycle_start":"2026-11-01T00:00:00Z","cycle_end":"2026-12-01T00:00:00Z","triggered_by":"u6"}}"#)
        // The pool is charged exactly as before: 215 of 500.
        #expect(t.balance("a") == 285_000)
        #expect(t.document("a").contains(#""member_budgets":{"ana":{"budget_credits":200,"used_credits":165,"remaining_credits":35}}"#))
        #expect(t.document("a").contains(#""alerts":[{"id":"a/2026-11-01T00:00:00Z/ana/credit.member.budget.low/20/1","type":"credit.member.budget.low","threshold_percent":20,"time":"2026-11-02T02:00:00Z"},"#))
        // A new cycle re-arms and restarts `used`.
        t.usage("a", "chat", at: "2026-12-02T00:00:00Z", quantity: 170, id: "u7", member: "ana")
        #expect(t.alerts.last?.id == "a/2026-12-01T00:00:00Z/ana/credit.member.budget.low/20/1")
        expectConserved(t)
    }

    @Test func usageBeforeTheBudgetCountsAndTheSetItselfCanAlert() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        t.usage("a", "chat", at: "2026-11-02T00:00:00Z", quantity: 95, member: "ana")
        t.budget("a", "ana", "100", at: "2026-11-03T00:00:00Z", id: "b1")
        #expect(t.alerts.map(\.id) == ["a/2026-11-01T00:00:00Z/ana/credit.member.budget.low/10/1"])
        #expect(t.alerts.first?.triggeredBy == "b1")
    }

    @Test func aBudgetSetBeforeAnyPlanCountsFromTheFirstCycle() throws {
        let t = try TestLedger()
        t.grant("a", "500", at: "2026-11-01T00:00:00Z")
        t.budget("a", "ana", "100", at: "2026-11-01T00:00:00Z")
        t.usage("a", "chat", at: "2026-11-01T01:00:00Z", quantity: 90, member: "ana")   // no cycle: no alert
        #expect(t.alerts.isEmpty)
        t.plan("a", "trial", at: "2026-11-02T00:00:00Z")
        t.usage("a", "chat", at: "2026-11-03T00:00:00Z", quantity: 85, member: "ana", )
        #expect(t.alerts.map(\.id) == ["a/2026-11-02T00:00:00Z/ana/credit.member.budget.low/20/1"])
    }

    @Test func checkHonoursTheMembersBudget() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        t.budget("a", "ana", "200", at: "2026-11-01T00:00:00Z")
        t.usage("a", "chat", at: "2026-11-02T00:00:00Z", quantity: 165, member: "ana")
        let view = t.ledger.view(0)
        let now = EventTime.parse("2026-11-03T00:00:00Z")!
        func check(_ q: Int64, _ mode: AccessMode, _ member: String? = "ana") -> String {
            String(decoding: view.check(CheckRequest(action: "chat", quantity: q, member: member), mode: mode, now: now).json(), as: UTF8.self)
        }
        #expect(check(40, .soft) == #"{"allowed":true,"credits":40,"balance_credits":335,"available_credits":335,"rate_card_version":"2026-11-01","reason":null}"#)
        #expect(check(36, .hard) == #"{"allowed":false,"credits":36,"balance_credits":335,"available_credits":335,"rate_card_version":"2026-11-01","reason":"member_budget_exhausted"}"#)
        #expect(check(35, .hard) == #"{"allowed":true,"credits":35,"balance_credits":335,"available_credits":335,"rate_card_version":"2026-11-01","reason":null}"#)
        #expect(check(36, .hard, "bo") == #"{"allowed":true,"credits":36,"balance_credits":335,"available_credits":335,"rate_card_version":"2026-11-01","reason":null}"#)
        #expect(check(400, .hard) == #"{"allowed":false,"credits":400,"balance_credits":335,"available_credits":335,"rate_card_version":"2026-11-01","reason":"insufficient_credits"}"#)
        t.usage("a", "chat", at: "2026-11-02T01:00:00Z", quantity: 35, member: "ana")
        let spent = t.ledger.view(0).check(CheckRequest(action: "chat", member: "ana"), mode: .soft, now: now)
        #expect(spent.reason == .memberBudgetExhausted && !spent.allowed)
    }

    @Test func removingABudget() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        t.budget("a", "ana", "10", at: "2026-11-01T00:00:00Z")
        #expect(t.document("a").contains(#""member_budgets":{"ana":{"budget_credits":10,"used_credits":0,"remaining_credits":10}}"#))
        t.budget("a", "ana", nil, at: "2026-11-01T01:00:00Z")
        #expect(!t.document("a").contains("member_budgets"))
        t.usage("a", "chat", at: "2026-11-02T00:00:00Z", quantity: 20, member: "ana")
        #expect(t.alerts.isEmpty)
    }

    @Test(arguments: [
        (#"{"member":"ana","monthly_credits":-5}"#, #"field "data.monthly_credits" must be greater than 0"#),
        (#"{"member":"ana","monthly_credits":0}"#, #"field "data.monthly_credits" must be greater than 0"#),
        (#"{"member":"ana"}"#, #"missing required field "data.monthly_credits""#),
        (#"{"monthly_credits":5}"#, #"missing required field "data.member""#),
        (#"{"member":"a/b","monthly_credits":5}"#, #"field "data.member" must not contain '/'"#),
        (#"{"member":"","monthly_credits":5}"#, #"field "data.member" must be 1 to 128 characters"#),
    ])
    func badBudgetsAreDeadLetteredWithNothingChanged(_ data: String, _ reason: String) throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        t.budget("a", "ana", "10", at: "2026-11-01T00:00:00Z")
        let before = t.documents()
        let json = #"{"specversion":"1.0","id":"b","source":"s","type":"credit.member.budget.set","subject":"a","time":"2026-11-02T00:00:00Z","data":"# + data + "}"
        guard case .rejected = t.apply(json).outcome else { Issue.record("accepted"); return }
        #expect(t.rejections.last?.hasPrefix(reason) == true, "\(t.rejections.last ?? "")")
        #expect(t.documents() == before)
    }
}

@Suite struct RolloverTests {
    @Test func cappedRolloverBecomesAGrantExpiringAtTheNewCyclesEnd() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z", rollover: "100")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 30)   // 200 unused
        t.usage("a", "chat", at: "2026-12-02T00:00:00Z", id: "u2")
        let a = t.account("a")
        #expect(a.blocks.withoutOrigins == [Block(kind: .grant, remaining: 100_000, expiresAt: EventTime.parse("2027-01-01T00:00:00Z")!)])
        #expect(a.allowance == 499_000 && a.entitlement == 600_000 && a.balance == 599_000 && a.expired == 100_000)
        #expect(Array(historyLines(t, "a").prefix(3)) == [
            "2026-12-01T00:00:00Z cycle_started 500 u2", "2026-12-01T00:00:00Z rollover 100 u2",
            "2026-12-01T00:00:00Z allowance_forfeited -100 u2",
        ])
        #expect(String(decoding: t.ledger.view(0).history(limit: 2), as: UTF8.self).contains(#"{"time":"2026-12-01T00:00:00Z","kind":"rollover","credits":100,"event_id":"u2","detail":{"expires_at":"2027-01-01T00:00:00Z"}}"#))
        expectConserved(t)
    }

    @Test func nothingRollsOverWhenTheAllowanceWasFullyUsed() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z", rollover: "100")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 55)   // 550: 50 overage
        t.usage("a", "chat", at: "2026-12-02T00:00:00Z", id: "u2")
        #expect(Array(historyLines(t, "a").prefix(3)) == [
            "2026-12-01T00:00:00Z cycle_started 500 u2", "2026-12-01T00:00:00Z rollover 0 u2",
            "2026-12-01T00:00:00Z allowance_forfeited 0 u2",
        ])
        #expect(t.account("a").blocks.isEmpty && t.balance("a") == 449_000)
        expectConserved(t)
    }

    @Test func rolloverAcrossASkippedCycle() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z", rollover: "100")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 30)
        t.usage("a", "chat", at: "2027-01-15T00:00:00Z", id: "u2")
        #expect(Array(historyLines(t, "a").prefix(7)) == [
            "2027-01-01T00:00:00Z cycle_started 500 u2", "2027-01-01T00:00:00Z rollover 100 u2",
            "2027-01-01T00:00:00Z allowance_forfeited -400 u2", "2027-01-01T00:00:00Z grant_expired -100 u2",
            "2026-12-01T00:00:00Z cycle_started 500 u2", "2026-12-01T00:00:00Z rollover 100 u2",
            "2026-12-01T00:00:00Z allowance_forfeited -100 u2",
        ])
        let a = t.account("a")
        #expect(a.blocks.withoutOrigins == [Block(kind: .grant, remaining: 100_000, expiresAt: EventTime.parse("2027-02-01T00:00:00Z")!)])
        #expect(a.balance == 599_000 && a.entitlement == 600_000)
        expectConserved(t)
    }

    @Test func thePriceBookSetsTheCapAndAReAnchorRollsOverUnderTheEndingPlan() throws {
        let book = try RateCardLoader.parsePriceBook("""
            currency: USD
            plans:
              roll: { monthly_credits: 100, price: "5", rollover_max_credits: 30 }
              flat: { monthly_credits: 200, price: "9" }
            topups: { pack-1000: { credits: 1000, price: "10" } }
            """, file: "price-book.yaml")
        #expect(book.plans.map(\.rolloverMaxCredits) == [30_000, 0])
        let t = TestLedger(try Fixtures.engine(book: book))
        t.plan("a", "roll", at: "2026-11-01T00:00:00Z")
        t.usage("a", "chat", at: "2026-11-02T00:00:00Z", quantity: 10)                      // 90 unused
        t.plan("a", "flat", at: "2026-11-10T00:00:00Z", anchor: "2026-11-10T00:00:00Z", id: "p2")  // re-anchor: a cycle start
        #expect(Array(historyLines(t, "a").prefix(4)) == [
            "2026-11-10T00:00:00Z plan_assigned 0 p2", "2026-11-10T00:00:00Z cycle_started 200 p2",
            "2026-11-10T00:00:00Z rollover 30 p2", "2026-11-10T00:00:00Z allowance_forfeited -60 p2",
        ])
        t.usage("a", "chat", at: "2026-12-11T00:00:00Z", id: "u3")                        // flat: no rollover
        #expect(Array(historyLines(t, "a").prefix(3)) == [
            "2026-12-10T00:00:00Z cycle_started 200 u3", "2026-12-10T00:00:00Z allowance_forfeited -200 u3",
            "2026-12-10T00:00:00Z grant_expired -30 u3",
        ])
        expectConserved(t)
    }

    @Test func aNegativeCapIsBadInput() throws {
        let t = try TestLedger()
        let json = #"{"specversion":"1.0","id":"p","source":"s","type":"credit.plan.assigned","subject":"a","time":"2026-11-01T00:00:00Z","data":{"plan":"basic","rollover_max_credits":-1}}"#
        guard case .rejected = t.apply(json).outcome else { Issue.record("accepted"); return }
        #expect(t.rejections.last == #"field "data.rollover_max_credits" must not be negative"#)
        #expect(t.ledger.accountCount == 0)
        #expect(throws: ConfigError.self) {
            _ = try RateCardLoader.parsePriceBook("plans: { p: { monthly_credits: 1, price: \"1\", rollover_max_credits: -1 } }", file: "b.yaml")
        }
    }
}

@Suite struct RunwayAlertTests {
    @Test func firesOncePerCycleReArmsWhenLiftedOut() throws {
        let t = TestLedger(try Fixtures.engine(runwayDays: 10))
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 10, id: "u1")  // 400 at 100/day: 4 days
        t.usage("a", "chat", at: "2026-11-02T01:00:00Z", id: "u2")                       // already fired
        t.topup("a", at: "2026-11-02T02:00:00Z", id: "t1")                                // ~13.8 days: lifted out
        t.usage("a", "knowledge_sync", at: "2026-11-02T03:00:00Z", quantity: 40, id: "u3")  // back in: #2
        #expect(t.alerts.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.balance.runway/10/1", "a/2026-11-01T00:00:00Z/credit.balance.runway/10/2"])
        #expect(String(decoding: t.alerts[0].json(), as: UTF8.self) == #"{"specversion":"1.0","id":"a/2026-11-01T00:00:00Z/credit.balance.runway/10/1","source":"credit-meter","type":"credit.balance.runway","subject":"a","time":"2026-11-02T00:00:00Z","datacontenttype":"application/json","data":{"account":"a","threshold_percent":null,"remaining_credits":400,"entitlement_credits":500,"remaining_percent":80.0,"cycle_start":"2026-11-01T00:00:00Z","cycle_end":"2026-12-01T00:00:00Z","triggered_by":"u1","rate_card_version":"2026-11-01","runway_days":10,"runway":{"credits_per_day":100,"exhausted_at":"2026-11-06T00:00:00Z","before_cycle_end":true}}}"#)
        #expect(t.document("a").contains(#"{"id":"a/2026-11-01T00:00:00Z/credit.balance.runway/10/1","type":"credit.balance.runway","threshold_percent":null,"time":"2026-11-02T00:00:00Z"}"#))
        t.usage("a", "chat", at: "2026-12-01T00:00:00Z", id: "u4")  // new cycle: 899 + 500, re-armed, n restarts
        t.usage("a", "knowledge_sync", at: "2026-12-01T01:00:00Z", quantity: 30, id: "u5")  // 148 left at ~107/day
        #expect(t.alerts.last?.id == "a/2026-12-01T00:00:00Z/credit.balance.runway/10/1")
    }

    @Test func offUnlessConfiguredAndNeverAfterTheCycleEnd() throws {
        let off = try TestLedger()
        off.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        off.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 10)
        #expect(off.alerts.isEmpty)
        let t = TestLedger(try Fixtures.engine(runwayDays: 10))
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-28T00:00:00Z", quantity: 5)  // 450 at 50/day: 9 days, after Dec 1
        #expect(t.alerts.isEmpty)
    }
}
