import Testing
import CreditEngine

@Suite struct AlertTests {
    /// Custom plan of 1000 credits (custom = monthly_credits without a price-book plan).
    func ledger() throws -> TestLedger {
        let t = try TestLedger()
        t.plan("acme", nil, at: "2026-11-01T00:00:00Z", monthly: "1000")
        return t
    }

    @Test func edgesRecoveryReArmAndNewCycle() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 81)       // 190 left: 19 %
        t.adjust("acme", "100", at: "2026-11-03T00:00:00Z")                            // 290: 29 % → recovered
        t.usage("acme", "web_research", at: "2026-11-04T00:00:00Z", quantity: 15)       // 140: 14 % → low 20 again
        t.usage("acme", "web_research", at: "2026-11-05T00:00:00Z", quantity: 10)       // 40: 4 % → low 10
        t.usage("acme", "web_research", at: "2026-11-06T00:00:00Z", quantity: 10)       // −60 → exhausted
        t.usage("acme", "web_research", at: "2026-11-06T01:00:00Z")                     // −70: nothing new
        t.usage("acme", "chat", at: "2026-12-01T00:00:00Z")                            // new cycle: 1000 − 70 − 1
        #expect(t.alertLines == [
            "credit.balance.low/20/1 190",
            "credit.balance.recovered/20/1 290",
            "credit.balance.low/20/2 140",
            "credit.balance.low/10/1 40",
            "credit.balance.exhausted/0/1 -60",
            "credit.balance.recovered/0/1 929",
        ])
        #expect(t.alerts.map(\.id) == [
            "acme/2026-11-01T00:00:00Z/credit.balance.low/20/1",
            "acme/2026-11-01T00:00:00Z/credit.balance.recovered/20/1",
            "acme/2026-11-01T00:00:00Z/credit.balance.low/20/2",
            "acme/2026-11-01T00:00:00Z/credit.balance.low/10/1",
            "acme/2026-11-01T00:00:00Z/credit.balance.exhausted/0/1",
            "acme/2026-12-01T00:00:00Z/credit.balance.recovered/0/1",
        ])
        expectConserved(t)
    }

    @Test func oneEventCrossingSeveralThresholdsAlertsOnceForTheMostSevere() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 95)  // 5 %: crosses 20 and 10
        t.adjust("acme", "100", at: "2026-11-03T00:00:00Z")                       // 15 %: 10 re-arms, 20 stays fired
        t.usage("acme", "web_research", at: "2026-11-04T00:00:00Z", quantity: 10)  // 5 %: low 10 again, not 20
        t.adjust("acme", "500", at: "2026-11-05T00:00:00Z")                       // 55 %: above all → recovered(10)
        #expect(t.alertLines == [
            "credit.balance.low/10/1 50",
            "credit.balance.low/10/2 50",
            "credit.balance.recovered/10/1 550",
        ])
    }

    @Test func exhaustedWinsOverLowAndThresholdIsInclusive() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 80)   // exactly 20 % → low 20
        t.usage("acme", "web_research", at: "2026-11-02T01:00:00Z", quantity: 20)   // exactly 0 → exhausted
        #expect(t.alertLines == ["credit.balance.low/20/1 200", "credit.balance.exhausted/0/1 0"])
    }

    @Test func alertDocumentMatchesTheContract() throws {
        let t = try ledger()
        t.usage("acme", "summarize_thread", at: "2026-11-02T00:00:00.250Z", quantity: 1, inputTokens: 10, id: "evt-\"q\"")
        t.usage("acme", "web_research", at: "2026-11-02T09:30:00Z", quantity: 81, id: "evt-2")
        let alert = try #require(t.alerts.last)
        #expect(String(decoding: alert.json(), as: UTF8.self) == """
            {"specversion":"1.0","id":"acme/2026-11-01T00:00:00Z/credit.balance.low/20/1","source":"credit-meter",\
            "type":"credit.balance.low","subject":"acme","time":"2026-11-02T09:30:00Z","datacontenttype":"application/json",\
            "data":{"account":"acme","threshold_percent":20,"remaining_credits":188.999,"entitlement_credits":1000,\
            "remaining_percent":18.8,"cycle_start":"2026-11-01T00:00:00Z","cycle_end":"2026-12-01T00:00:00Z",\
            "triggered_by":"evt-2","rate_card_version":"2026-11-01"}}
            """)
    }

    @Test func remainingPercentRoundsDownIncludingNegatives() {
        var a = Alert(kind: .exhausted, thresholdPercent: 0, sequence: 1, account: "x", remaining: -33, entitlement: 1000,
                      cycleStart: 0, cycleEnd: 0, triggeredBy: "e", rateCardVersion: nil, time: 0)
        #expect(a.remainingPermille == -33)   // −3.3 %
        a.remaining = -1
        #expect(a.remainingPermille == -1)    // −0.1 % (floor of −0.1)
        a.remaining = 999
        #expect(a.remainingPermille == 999)
        a.remaining = 1
        a.entitlement = 3
        #expect(a.remainingPermille == 333)   // 33.3 %
        a.entitlement = 0
        #expect(a.remainingPermille == nil)
    }

    @Test func noAlertsWithoutACycle() throws {
        let t = try TestLedger()
        t.grant("solo", "10", at: "2026-11-01T00:00:00Z")
        t.usage("solo", "knowledge_sync", at: "2026-11-02T00:00:00Z")
        #expect(t.balance("solo") == -15_000)
        #expect(t.alerts.isEmpty)
    }

    @Test func customThresholds() throws {
        let t = try TestLedger(thresholds: [50, 25, 5])
        t.plan("a", nil, at: "2026-11-01T00:00:00Z", monthly: "100")
        for i in 0..<10 { t.usage("a", "web_research", at: "2026-11-02T00:00:0\(i)Z") }
        #expect(t.alertLines == ["credit.balance.low/50/1 50", "credit.balance.low/25/1 20", "credit.balance.exhausted/0/1 0"])
    }
}
