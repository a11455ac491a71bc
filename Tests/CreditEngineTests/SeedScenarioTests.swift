import Testing
import CreditEngine

/// The three seed customers' workloads, end to end through the engine.
@Suite struct SeedScenarioTests {
    /// AgencyPro: plans 500/2000/10000, a task that overruns the cap completes, top-up 1000.
    @Test func agencyPro() throws {
        let t = try TestLedger()
        t.plan("agency-1", "pro", at: "2026-11-01T00:00:00Z")
        t.plan("agency-2", "basic", at: "2026-11-01T00:00:00Z")
        t.plan("agency-3", "plus", at: "2026-11-01T00:00:00Z")
        for i in 0..<130 {
            t.usage("agency-1", "action_execution", at: "2026-11-02T00:00:00Z", id: "a1-\(i)", member: "m\(i % 3)", capability: "agents")
        }
        #expect(t.balance("agency-1") == 50_000)
        // A long task (3 knowledge syncs in one action) overruns the cap and completes.
        let overrun = t.usage("agency-1", "knowledge_sync", at: "2026-11-03T00:00:00Z", quantity: 3, id: "a1-long")
        #expect(overrun.charged == 75_000)
        #expect(t.account("agency-1").overage == 25_000)
        t.topup("agency-1", at: "2026-11-03T01:00:00Z", id: "a1-topup")
        #expect(t.account("agency-1").blocks.withoutOrigins == [Block(kind: .topup, remaining: 975_000)])
        #expect(t.alertLines == [
            "credit.balance.low/20/1 395",       // after the 107th action
            "credit.balance.low/10/1 200",       // after the 120th: exactly 10 %
            "credit.balance.exhausted/0/1 -25",
            "credit.balance.recovered/0/1 975",  // 975 / 3000 = 32.5 %
        ])
        #expect(t.alerts.map(\.triggeredBy) == ["a1-106", "a1-119", "a1-long", "a1-topup"])
        let doc = t.document("agency-1")
        #expect(doc.contains("\"usage\":{\"by_capability\":{\"agents\":1950},\"by_member\":{\"m0\":660,\"m1\":645,\"m2\":645},"))
        // §11 fixes money as decimal strings.
        #expect(doc.contains("\"money\":{\"currency\":\"USD\",\"credits_bought\":3000,\"paid\":\"89\",\"price_per_credit\":\"0.029666\","))
        #expect(t.balance("agency-2") == 500_000)
        #expect(t.balance("agency-3") == 10_000_000)
        expectConserved(t)
    }

    /// AI-employee CRM: reply 1 credit, knowledge sync 25; the allowance is consumed before top-ups.
    @Test func aiEmployeeCRM() throws {
        let t = try TestLedger()
        t.topup("crm", at: "2026-10-28T00:00:00Z")             // bought before the plan
        t.plan("crm", "basic", at: "2026-11-01T00:00:00Z")
        for i in 0..<100 { t.usage("crm", "chat", at: "2026-11-02T00:00:00Z", id: "reply-\(i)") }
        var a = t.account("crm")
        #expect(a.allowance == 400_000)
        #expect(a.blocks.withoutOrigins == [Block(kind: .topup, remaining: 1_000_000)])
        for i in 0..<20 { t.usage("crm", "knowledge_sync", at: "2026-11-03T00:00:00Z", id: "sync-\(i)") }
        a = t.account("crm")
        #expect(a.allowance == 0)
        #expect(a.blocks.withoutOrigins == [Block(kind: .topup, remaining: 900_000)])
        #expect(a.entitlement == 1_500_000)
        #expect(t.alerts.isEmpty)  // 900 / 1500 = 60 %
        // Next month: the allowance resets, the top-up carries over and is used after it.
        t.usage("crm", "chat", at: "2026-12-01T00:00:00Z", id: "reply-dec")
        a = t.account("crm")
        #expect(a.allowance == 499_000)
        #expect(a.blocks.withoutOrigins == [Block(kind: .topup, remaining: 900_000)])
        #expect(a.entitlement == 1_400_000)
        expectConserved(t)
    }

    /// Protodesk: zero-cost actions, top-ups that stack and never expire.
    @Test func protodesk() throws {
        let t = try TestLedger()
        t.plan("proto", "trial", at: "2026-11-01T00:00:00Z")
        for i in 0..<500 { t.usage("proto", "read_ticket", at: "2026-11-02T00:00:00Z", id: "read-\(i)") }
        #expect(t.balance("proto") == 100_000)
        #expect(t.account("proto").charged == 0)
        for i in 0..<3 { t.topup("proto", at: "2026-11-0\(3 + i)T00:00:00Z", id: "pack-\(i)") }
        #expect(t.account("proto").blocks.count == 3)
        // A year later the top-ups are all still there; the trial allowance reset each month.
        t.usage("proto", "doc_search", at: "2027-11-02T00:00:00Z", quantity: 40, id: "late-search")  // 120: 100 + 20
        let a = t.account("proto")
        #expect(a.blocks.map(\.remaining) == [980_000, 1_000_000, 1_000_000])
        #expect(a.expired == 100_000 * 12)
        #expect(t.alerts.isEmpty)
        expectConserved(t)
    }
}
