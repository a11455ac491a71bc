import Testing
import CreditEngine

/// Contract §11 reads: runway, usage by day, history, fired alerts, check, summary, and the one
/// account document.
@Suite struct RunwayTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var events: @Sendable (TestLedger) -> Void
        var perDay: Int64
        var exhaustedAt: String?
        var beforeCycleEnd: Bool?
        var description: String { name }
    }

    static let cases: [Case] = [
        // D = Nov 3…9 (n 7), C = 20 + 15 + 7 = 42 → 6/day; 458 × 7 × 86400 ÷ 42 = 6,595,200 s
        // = 76 d 8 h after 2026-11-09T08:30:15Z (fraction dropped).
        Case(name: "seven full days", events: { t in
            t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
            t.usage("a", "web_research", at: "2026-11-03T10:00:00Z", quantity: 2)
            t.usage("a", "doc_search", at: "2026-11-05T12:00:00Z", quantity: 5)
            t.usage("a", "chat", at: "2026-11-09T08:30:15.5Z", quantity: 7)
        }, perDay: 6_000, exhaustedAt: "2027-01-24T16:30:15Z", beforeCycleEnd: false),
        // First usage on Nov 8: D = Nov 8…9 (n 2), C = 35 → 17.5/day; 65 × 2 × 86400 ÷ 35 =
        // 320,914.28… → 320,914 s = 3 d 17:08:34.
        Case(name: "first usage inside the week", events: { t in
            t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
            t.usage("a", "web_research", at: "2026-11-08T23:00:00Z", quantity: 3)
            t.usage("a", "chat", at: "2026-11-09T01:00:00Z", quantity: 5)
        }, perDay: 17_500, exhaustedAt: "2026-11-12T18:08:34Z", beforeCycleEnd: true),
        // t is the latest event of any type (a grant on Nov 12): D = Nov 10…12 (n 3), C = 2 →
        // 0.667/day (half up); balance 108 × 3 × 86400 ÷ 2 = 13,996,800 s = 162 d after Nov 12.
        Case(name: "t moves with non-usage events, half up", events: { t in
            t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
            t.usage("a", "chat", at: "2026-11-10T05:00:00Z", quantity: 2)
            t.grant("a", "10", at: "2026-11-12T06:00:00Z")
        }, perDay: 667, exhaustedAt: "2027-04-23T06:00:00Z", beforeCycleEnd: false),
        // Usage older than the week is outside D: C = 1 (Nov 20) over n = 7.
        Case(name: "older usage leaves the window", events: { t in
            t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
            t.usage("a", "web_research", at: "2026-11-02T00:00:00Z")
            t.usage("a", "chat", at: "2026-11-20T00:00:00Z")
        }, perDay: 143, exhaustedAt: "2028-08-04T00:00:00Z", beforeCycleEnd: false),
        Case(name: "no usage", events: { t in
            t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        }, perDay: 0, exhaustedAt: nil, beforeCycleEnd: nil),
        Case(name: "balance at or below zero", events: { t in
            t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
            t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 10)
        }, perDay: 100_000, exhaustedAt: nil, beforeCycleEnd: nil),
        Case(name: "free usage only: C = 0", events: { t in
            t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
            t.usage("a", "read_ticket", at: "2026-11-02T00:00:00Z")
        }, perDay: 0, exhaustedAt: nil, beforeCycleEnd: nil),
        // No plan: no cycle end, so before_cycle_end is null.
        Case(name: "no plan", events: { t in
            t.grant("a", "70", at: "2026-11-01T00:00:00Z")
            t.usage("a", "web_research", at: "2026-11-01T12:00:00Z")
        }, perDay: 10_000, exhaustedAt: "2026-11-07T12:00:00Z", beforeCycleEnd: nil),
    ]

    @Test(arguments: cases)
    func runway(_ c: Case) throws {
        let t = try TestLedger()
        c.events(t)
        let r = t.account("a").runway
        #expect(r.creditsPerDay == c.perDay)
        #expect(r.exhaustedAt.map(EventTime.format) == c.exhaustedAt)
        #expect(r.beforeCycleEnd == c.beforeCycleEnd)
    }

    @Test func byDayCountsLateChargesOnTheCycleStartDay() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T10:00:00Z")
        t.usage("a", "chat", at: "2026-11-30T09:00:00Z")
        t.usage("a", "doc_search", at: "2026-12-02T00:00:00Z")           // new cycle from Dec 1 10:00
        t.usage("a", "chat", at: "2026-11-30T23:00:00Z", quantity: 2)    // late: counts on Dec 1
        t.usage("a", "web_research", at: "2026-12-01T12:00:00Z")
        let days = t.account("a").usageByDay.map { "\(EventTime.formatDay($0.day)) \($0.amount)" }
        #expect(days == ["2026-12-01 12000", "2026-12-02 3000"])
        #expect(t.account("a").usedThisCycle == 15_000)
    }
}

@Suite struct HistoryTests {
    func entries(_ t: TestLedger, _ account: String, limit: Int = 100) -> String {
        String(decoding: t.ledger.view(t.ledger.accountIndex(account)!).history(limit: limit), as: UTF8.self)
    }

    @Test func anEventPassingACycleStartListsExpiriesForfeitureCycleStartInOrder() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z", id: "p1")
        t.grant("a", "10", at: "2026-11-01T01:00:00Z", expires: "2026-11-20T00:00:00Z", id: "g1")
        t.grant("a", "5", at: "2026-11-01T02:00:00Z", expires: "2026-12-10T00:00:00Z", id: "g2")
        t.usage("a", "chat", at: "2026-11-02T00:00:00Z", quantity: 30)
        t.usage("a", "chat", at: "2026-12-15T00:00:00Z", id: "u2")
        let view = t.ledger.view(0)
        let lines = view.history.reversed().map { "\(EventTime.format($0.time)) \($0.kind.name) \($0.credits) \($0.eventID)" }
        #expect(lines == [
            "2026-12-10T00:00:00Z grant_expired -5000 u2",
            "2026-12-01T00:00:00Z cycle_started 100000 u2",
            "2026-12-01T00:00:00Z allowance_forfeited -70000 u2",
            "2026-11-20T00:00:00Z grant_expired -10000 u2",
            "2026-11-01T02:00:00Z grant 5000 g2",
            "2026-11-01T01:00:00Z grant 10000 g1",
            "2026-11-01T00:00:00Z plan_assigned 0 p1",
            "2026-11-01T00:00:00Z cycle_started 100000 p1",
        ])
        #expect(entries(t, "a", limit: 2) == #"{"account":"a","entries":[{"time":"2026-12-10T00:00:00Z","kind":"grant_expired","credits":-5,"event_id":"u2","detail":{}},{"time":"2026-12-01T00:00:00Z","kind":"cycle_started","credits":100,"event_id":"u2","detail":{"cycle_end":"2027-01-01T00:00:00Z","plan":"trial"}}]}"#)
    }

    @Test func everyKindWithItsDetail() throws {
        let t = try TestLedger()
        t.topup("a", at: "2026-11-01T00:00:00Z", id: "t1")
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z", id: "p1")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 10)   // 100 of 500
        t.plan("a", "trial", at: "2026-11-03T00:00:00Z", id: "p2")               // 100 − 100 used = 0: −400
        t.plan("a", "pro", at: "2026-11-04T00:00:00Z", id: "p3")                 // 2000 − 100 = 1900: +1900
        t.adjust("a", "-2.5", at: "2026-11-05T00:00:00Z", id: "a1")
        t.grant("a", "3", at: "2026-11-06T00:00:00Z", id: "g1")
        #expect(entries(t, "a") == #"{"account":"a","entries":["#
            + #"{"time":"2026-11-06T00:00:00Z","kind":"grant","credits":3,"event_id":"g1","detail":{"expires_at":null,"reason":"promo"}},"#
            + #"{"time":"2026-11-05T00:00:00Z","kind":"adjusted","credits":-2.5,"event_id":"a1","detail":{"reason":"manual","ref":"T-1"}},"#
            + #"{"time":"2026-11-04T00:00:00Z","kind":"plan_assigned","credits":1900,"event_id":"p3","detail":{"plan":"pro","monthly_credits":2000}},"#
            + #"{"time":"2026-11-03T00:00:00Z","kind":"plan_assigned","credits":-400,"event_id":"p2","detail":{"plan":"trial","monthly_credits":100}},"#
            + #"{"time":"2026-11-01T00:00:00Z","kind":"plan_assigned","credits":0,"event_id":"p1","detail":{"plan":"basic","monthly_credits":500}},"#
            + #"{"time":"2026-11-01T00:00:00Z","kind":"cycle_started","credits":500,"event_id":"p1","detail":{"cycle_end":"2026-12-01T00:00:00Z","plan":"basic"}},"#
            + #"{"time":"2026-11-01T00:00:00Z","kind":"topup","credits":1000,"event_id":"t1","detail":{"pack":"pack-1000","ref":null}}]}"#)
    }

    @Test func aLateGrantThatAlreadyExpiredListsGrantThenExpiry() throws {
        let t = try TestLedger()
        t.usage("a", "chat", at: "2026-11-10T00:00:00Z")
        t.grant("a", "4", at: "2026-11-01T00:00:00Z", expires: "2026-11-05T00:00:00Z", id: "late")
        let lines = t.ledger.view(0).history.map { "\(EventTime.format($0.time)) \($0.kind.name) \($0.credits) \($0.eventID)" }
        #expect(lines == ["2026-11-01T00:00:00Z grant 4000 late", "2026-11-05T00:00:00Z grant_expired -4000 late"])
    }

    @Test func onlyTheNewestHundredAreKeptAndTheirStringsSurviveCompaction() throws {
        let t = try TestLedger()
        for i in 0..<3_000 {
            t.grant("acct-\(i % 7)", "1", at: "2026-11-01T00:00:00Z", id: "grant-with-a-long-event-id-\(i)")
        }
        let view = t.ledger.view(t.ledger.accountIndex("acct-3")!)
        #expect(view.history.count == 100)
        #expect(view.history.first?.eventID == "grant-with-a-long-event-id-2306")
        #expect(view.history.last?.eventID == "grant-with-a-long-event-id-2999")
        #expect(view.history.allSatisfy { $0.text == "promo" && $0.kind == .grant && $0.credits == 1_000 })
    }
}

@Suite struct FiredAlertListTests {
    @Test func thisCyclesAlertsWithIdsAndTheyClearAtANewCycle() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 8, id: "u1")   // 20 % left: low/20
        t.usage("a", "web_research", at: "2026-11-03T00:00:00Z", quantity: 2, id: "u2")   // 0: exhausted
        let view = t.ledger.view(0)
        #expect(view.alerts.map(\.id) == [
            "a/2026-11-01T00:00:00Z/credit.balance.low/20/1", "a/2026-11-01T00:00:00Z/credit.balance.exhausted/0/1",
        ])
        #expect(String(decoding: view.document(), as: UTF8.self).contains(
            #""alerts":[{"id":"a/2026-11-01T00:00:00Z/credit.balance.low/20/1","type":"credit.balance.low","threshold_percent":20,"time":"2026-11-02T00:00:00Z"},{"id":"a/2026-11-01T00:00:00Z/credit.balance.exhausted/0/1","type":"credit.balance.exhausted","threshold_percent":0,"time":"2026-11-03T00:00:00Z"}]"#))
        t.usage("a", "chat", at: "2026-12-01T00:00:00Z", id: "u3")   // new cycle: recovered
        let next = t.ledger.view(0)
        #expect(next.alerts.map(\.id) == ["a/2026-12-01T00:00:00Z/credit.balance.recovered/0/1"])
    }
}

@Suite struct CheckTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var request: CheckRequest
        var mode: AccessMode
        var json: String
        var description: String { name }
    }

    // Account "a": trial (100), 95 used → balance 5; pinned to 2026-11-01 until Dec 1; card
    // "2026-12-01" (chat 2, no default model multiplier) from Dec 1.
    static let now = EventTime.parse("2026-11-10T00:00:00Z")!
    static let cases: [Case] = [
        Case(name: "soft: positive balance allows", request: CheckRequest(action: "web_research"), mode: .soft,
             json: #"{"allowed":true,"credits":10,"balance_credits":5,"available_credits":5,"rate_card_version":"2026-11-01","reason":null}"#),
        Case(name: "hard: price above balance", request: CheckRequest(action: "web_research"), mode: .hard,
             json: #"{"allowed":false,"credits":10,"balance_credits":5,"available_credits":5,"rate_card_version":"2026-11-01","reason":"insufficient_credits"}"#),
        Case(name: "hard: price equal to balance", request: CheckRequest(action: "chat", quantity: 5), mode: .hard,
             json: #"{"allowed":true,"credits":5,"balance_credits":5,"available_credits":5,"rate_card_version":"2026-11-01","reason":null}"#),
        Case(name: "tokens and model priced like an event", request: CheckRequest(action: "summarize_thread", model: "reasoning", inputTokens: 3_000), mode: .soft,
             json: #"{"allowed":true,"credits":2,"balance_credits":5,"available_credits":5,"rate_card_version":"2026-11-01","reason":null}"#),
        Case(name: "unknown action", request: CheckRequest(action: "teleport"), mode: .soft,
             json: #"{"allowed":false,"credits":null,"balance_credits":5,"available_credits":5,"rate_card_version":"2026-11-01","reason":"unknown_action"}"#),
        Case(name: "after the pin: the newer card", request: CheckRequest(action: "chat", time: EventTime.parse("2026-12-02T00:00:00Z")), mode: .soft,
             json: #"{"allowed":true,"credits":2,"balance_credits":5,"available_credits":5,"rate_card_version":"2026-12-01","reason":null}"#),
        Case(name: "unknown model on a card without default", request: CheckRequest(action: "chat", model: "turbo", time: EventTime.parse("2026-12-02T00:00:00Z")), mode: .soft,
             json: #"{"allowed":false,"credits":null,"balance_credits":5,"available_credits":5,"rate_card_version":"2026-12-01","reason":"unknown_model"}"#),
        Case(name: "unknown action wins over unknown model", request: CheckRequest(action: "teleport", model: "turbo", time: EventTime.parse("2026-12-02T00:00:00Z")), mode: .hard,
             json: #"{"allowed":false,"credits":null,"balance_credits":5,"available_credits":5,"rate_card_version":"2026-12-01","reason":"unknown_action"}"#),
    ]

    static func ledger() throws -> TestLedger {
        let newer = try Fixtures.card("""
            version: "2026-12-01"
            effective_from: "2026-12-01T00:00:00Z"
            rounding: { increment: 0.001, mode: half_up }
            model_multipliers: { standard: 1 }
            actions:
              chat: { credits: 2 }
              big: { credits: 1000000 }
            """)
        let t = try TestLedger(cards: try Fixtures.standardCards() + [newer])
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.pin("a", "2026-11-01", until: "2026-12-01T00:00:00Z", at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 9)
        t.usage("a", "chat", at: "2026-11-02T00:00:01Z", quantity: 5)
        return t
    }

    @Test(arguments: cases)
    func check(_ c: Case) throws {
        let t = try Self.ledger()
        let decision = t.ledger.view(0).check(c.request, mode: c.mode, now: Self.now)
        #expect(decision.problem == nil)
        #expect(String(decoding: decision.json(), as: UTF8.self) == c.json)
    }

    @Test func zeroBalanceSoftIsNoCredits() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 10)
        let d = t.ledger.view(0).check(CheckRequest(action: "read_ticket"), mode: .soft, now: Self.now)
        #expect(String(decoding: d.json(), as: UTF8.self) == #"{"allowed":false,"credits":0,"balance_credits":0,"available_credits":0,"rate_card_version":"2026-11-01","reason":"no_credits"}"#)
    }

    @Test func availableCreditsDecideAndAMembersRemainingHoldsCountAsUsed() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")  // 100 credits
        t.budget("a", "ana", "30", at: "2026-11-01T00:00:01Z")
        func hold(_ id: String, _ credits: String, member: String? = nil) -> Hold? {
            var data: [(String, EventJSON.Value)] = [("hold_id", .s(id)), ("credits", .n(credits))]
            if let member { data.append(("member", .s(member))) }
            let r = t.apply(EventJSON.event("credit.hold.requested", account: "a", id: "req-\(id)", time: "2026-11-02T00:00:00Z", data: data))
            return r.hold?.hold
        }
        #expect(hold("h1", "60")?.status == .active)
        #expect(hold("h2", "20", member: "ana")?.status == .active)
        let view = t.ledger.view(0)
        func check(_ q: Int64, _ mode: AccessMode, _ member: String? = nil) -> String {
            String(decoding: view.check(CheckRequest(action: "web_research", quantity: q, member: member), mode: mode, now: Self.now).json(),
                   as: UTF8.self)
        }
        // available = 100 − 60 − 20 = 20; web_research costs 10 a unit.
        #expect(check(2, .hard) == #"{"allowed":true,"credits":20,"balance_credits":100,"available_credits":20,"rate_card_version":"2026-11-01","reason":null}"#)
        #expect(check(3, .hard) == #"{"allowed":false,"credits":30,"balance_credits":100,"available_credits":20,"rate_card_version":"2026-11-01","reason":"insufficient_credits"}"#)
        // ana: used 0 + her remaining hold 20; budget 30.
        #expect(check(1, .hard, "ana") == #"{"allowed":true,"credits":10,"balance_credits":100,"available_credits":20,"rate_card_version":"2026-11-01","reason":null}"#)
        #expect(check(2, .hard, "ana") == #"{"allowed":false,"credits":20,"balance_credits":100,"available_credits":20,"rate_card_version":"2026-11-01","reason":"member_budget_exhausted"}"#)
        #expect(check(2, .soft, "ana") == #"{"allowed":true,"credits":20,"balance_credits":100,"available_credits":20,"rate_card_version":"2026-11-01","reason":null}"#)
        let doc = t.document("a")
        #expect(doc.contains(#""available_credits":20,"holds":{"active":2,"held_credits":80,"remaining_credits":80}"#))
    }

    @Test func noVersionInForceIsAProblemNamingTime() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        let d = t.ledger.view(0).check(CheckRequest(action: "chat", time: EventTime.parse("2026-10-31T23:59:59Z")), mode: .soft, now: Self.now)
        #expect(d.problem == .noRateCardInForce)
        #expect(d.problem?.parameter == "time")
        // A pin that holds then counts, even before every effective_from (as in the ledger).
        let p = try Self.ledger()
        let pinned = p.ledger.view(0).check(CheckRequest(action: "chat", time: EventTime.parse("2026-10-31T23:59:59Z")), mode: .soft, now: Self.now)
        #expect(pinned.problem == nil && pinned.rateCardVersion == "2026-11-01")
    }

    @Test func unknownAccountAndUnpriceable() throws {
        #expect(String(decoding: CheckDecision.unknownAccount.json(), as: UTF8.self)
                == #"{"allowed":false,"credits":null,"balance_credits":null,"available_credits":null,"rate_card_version":null,"reason":"unknown_account"}"#)
        let t = try Self.ledger()
        let d = t.ledger.view(0).check(CheckRequest(action: "big", quantity: 1_000_000_000, time: EventTime.parse("2026-12-02T00:00:00Z")),
                                       mode: .soft, now: Self.now)
        #expect(d.problem == .unpriceable)
        #expect(d.problem?.parameter == "quantity")
    }

    @Test func aCheckChangesNothing() throws {
        let t = try Self.ledger()
        let before = t.documents()
        _ = t.ledger.view(0).check(CheckRequest(action: "web_research"), mode: .hard, now: Self.now)
        #expect(t.documents() == before)
    }
}

@Suite struct SummaryTests {
    func row(_ t: TestLedger, _ id: String) -> (String, AccountSummary) {
        let s = t.ledger.summary(t.ledger.accountIndex(id)!)
        var w = JSONWriter()
        s.json(into: &w)
        return (w.string, s)
    }

    @Test func statusesAndRows() throws {
        let t = try TestLedger()
        t.plan("low", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("low", "web_research", at: "2026-11-02T00:00:00Z", quantity: 9)   // 10 left: low
        t.plan("out", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("out", "web_research", at: "2026-11-02T00:00:00Z", quantity: 11)  // −10
        t.plan("idle", "basic", at: "2026-11-01T00:00:00Z")
        t.grant("free", "5", at: "2026-11-01T00:00:00Z")
        t.plan("back", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("back", "web_research", at: "2026-11-02T00:00:00Z", quantity: 9)
        t.topup("back", at: "2026-11-03T00:00:00Z")                               // recovered: not low
        let (lowJSON, low) = row(t, "low")
        #expect(lowJSON == #"{"account":"low","plan":"trial","balance_credits":10,"available_credits":10,"holds":{"active":0,"held_credits":0,"remaining_credits":0},"remaining_percent":10.0,"used_this_cycle_credits":90,"runway_exhausted_at":"2026-11-02T02:40:00Z","last_event_time":"2026-11-02T00:00:00Z"}"#)
        #expect(low.isLow && !low.isExhausted && !low.isIdle)
        let (outJSON, out) = row(t, "out")
        #expect(outJSON == #"{"account":"out","plan":"trial","balance_credits":-10,"available_credits":-10,"holds":{"active":0,"held_credits":0,"remaining_credits":0},"remaining_percent":-10.0,"used_this_cycle_credits":110,"runway_exhausted_at":null,"last_event_time":"2026-11-02T00:00:00Z"}"#)
        #expect(!out.isLow && out.isExhausted && !out.isIdle)
        let (idleJSON, idle) = row(t, "idle")
        #expect(idleJSON == #"{"account":"idle","plan":"basic","balance_credits":500,"available_credits":500,"holds":{"active":0,"held_credits":0,"remaining_credits":0},"remaining_percent":100.0,"used_this_cycle_credits":0,"runway_exhausted_at":null,"last_event_time":"2026-11-01T00:00:00Z"}"#)
        #expect(!idle.isLow && !idle.isExhausted && idle.isIdle)
        let (_, free) = row(t, "free")
        #expect(!free.isLow && !free.isExhausted && !free.isIdle && free.plan == nil)
        let (_, back) = row(t, "back")
        #expect(!back.isLow && !back.isExhausted && !back.isIdle)
    }
}

@Suite struct AccountDocumentTests {
    @Test func theDocumentStartsWithTheBalancesDocumentsFieldsByteForByte() async {
        await propertyCheckDocuments()
    }

    func propertyCheckDocuments() async {
        for seed in 0..<40 {
            let ops = (0..<60).map { ($0 * 7_919 + seed * 104_729) % 10_000_000 }
            guard let t = try? LogGen.run(LogGen.log(ops)) else { Issue.record("log failed"); return }
            for i in 0..<t.ledger.accountCount {
                var balance: [UInt8] = []
                t.ledger.writeBalanceDocument(i, into: &balance)
                let full = t.ledger.accountDocument(i)
                #expect(Array(full.prefix(balance.count - 1)) == Array(balance.dropLast()))
                #expect(full[balance.count - 1] == UInt8(ascii: ","))
            }
        }
    }

    @Test func theWholeDocument() throws {
        let t = try TestLedger()
        t.plan("acme", "basic", at: "2026-11-01T00:00:00Z", id: "p1")
        t.usage("acme", "web_research", at: "2026-11-02T10:00:00Z", quantity: 3, member: "ana", capability: "agents", cost: "0.0123")
        t.grant("acme", "50", at: "2026-11-03T00:00:00Z", expires: "2026-12-15T00:00:00Z", id: "g1")
        t.topup("acme", at: "2026-11-04T00:00:00Z", id: "t1")
        t.usage("acme", "doc_search", at: "2026-11-05T10:00:00Z", id: "u2", member: "bo", capability: "assistant")
        #expect(t.document("acme") == #"{"account":"acme","balance_credits":1517,"overage_credits":0,"entitlement_credits":1550,"used_this_cycle_credits":33,"plan":"basic","monthly_credits":500,"cycle_start":"2026-11-01T00:00:00Z","cycle_end":"2026-12-01T00:00:00Z","blocks":[{"kind":"allowance","credits":467,"expires_at":"2026-12-01T00:00:00Z"},{"kind":"grant","credits":50,"expires_at":"2026-12-15T00:00:00Z"},{"kind":"topup","credits":1000,"expires_at":null}],"rate_card_version":"2026-11-01","last_event_id":"u2","available_credits":1517,"holds":{"active":0,"held_credits":0,"remaining_credits":0},"remaining_percent":97.8,"pinned_rate_card_version":null,"pinned_until":null,"events":5,"last_event_time":"2026-11-05T10:00:00Z","usage":{"by_capability":{"agents":30,"assistant":3},"by_member":{"ana":30,"bo":3},"by_day":{"2026-11-02":30,"2026-11-05":3}},"runway":{"credits_per_day":8.25,"exhausted_at":"2027-05-08T07:05:27Z","before_cycle_end":false},"money":{"currency":"USD","credits_bought":1500,"paid":"49","price_per_credit":"0.032666","provider_cost":"0.0123","margin":"48.9877"},"alerts":[],"alert_thresholds_percent":[20,10],"audit":{"granted_credits":1550,"charged_credits":33,"expired_credits":0,"voided_credits":0,"adjusted_credits":0}}"#)
    }
}
