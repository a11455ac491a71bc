import Testing
import CreditEngine

/// Cases found in review, each pinned by a test.
@Suite struct ReviewRegressionTests {
    @Test func entitlementDroppingToZeroIsNotARecovery() throws {
        let t = try TestLedger()
        t.plan("z", nil, at: "2026-11-01T00:00:00Z", monthly: "100")
        t.usage("z", "chat", at: "2026-11-02T00:00:00Z", quantity: 91)        // 9 %: low 10
        t.plan("z", nil, at: "2026-11-03T00:00:00Z", monthly: "0")             // entitlement 0, balance 0
        #expect(t.alertLines == ["credit.balance.low/10/1 9", "credit.balance.exhausted/0/1 0"])
        expectConserved(t)
    }

    @Test func reAnchoringBackToAnEarlierCycleStartNeverRepeatsAnAlertID() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("a", "chat", at: "2026-11-02T00:00:00Z", quantity: 85)                              // low 20 in 11-01's cycle
        t.plan("a", "trial", at: "2026-11-20T00:00:00Z", anchor: "2026-11-15T00:00:00Z")           // fresh cycle from 11-15
        t.plan("a", "trial", at: "2026-11-21T00:00:00Z", anchor: "2026-11-01T00:00:00Z")           // back to 11-01
        t.usage("a", "chat", at: "2026-11-22T00:00:00Z", quantity: 85)                              // low 20 again
        // Once re-anchored, a counter's first id in a cycle takes one more than the highest n
        // the account has used (§14).
        #expect(t.alerts.map(\.id) == [
            "a/2026-11-01T00:00:00Z/credit.balance.low/20/1",
            "a/2026-11-15T00:00:00Z/credit.balance.recovered/20/2",  // the re-anchor owed this recovery
            "a/2026-11-01T00:00:00Z/credit.balance.low/20/3",
        ])
        #expect(Set(t.alerts.map(\.id)).count == t.alerts.count)
        expectConserved(t)
    }

    @Test func aLateGrantAlreadyExpiredPaysNothingOff() throws {
        let t = try TestLedger()
        t.usage("g", "web_research", at: "2026-12-15T00:00:00Z")                                    // −10
        t.grant("g", "5", at: "2026-12-01T00:00:00Z", expires: "2026-12-10T00:00:00Z")             // already expired
        let a = t.account("g")
        #expect(a.balance == -10_000)
        #expect(a.overage == 10_000)
        #expect(a.expired == 0 && a.granted == 0)  // history alone (§14): never granted, so never expired
        expectConserved(t)
    }

    @Test func idsSeenBefore1970ExpireLikeAnyOtherAcrossARestore() throws {
        let straight = try TestLedger()
        let restored = try TestLedger()
        for t in [straight, restored] {
            t.grant("old", "1", at: "1969-06-01T00:00:00Z", id: "X")
            t.grant("old", "1", at: "1969-06-01T12:00:00Z", id: "Y")
        }
        let bytes = SnapshotCodec.encode(restored.ledger, topic: "t", partition: 0, nextOffset: 2, metadata: 0)
        restored.adopt(try SnapshotCodec.decode(bytes, config: restored.ledger.config).0)
        for t in [straight, restored] { t.grant("old", "1", at: "1969-06-04T01:00:00Z", id: "X") }  // past the 24 h window
        #expect(straight.balance("old") == 2_000)  // a grant id is remembered for good (§14)
        #expect(restored.documents() == straight.documents())
    }

    @Test func usageIdsSeenBefore1970ExpireLikeAnyOtherAcrossARestore() throws {
        let card = try Fixtures.card("""
            version: "1969-01-01"
            effective_from: "1969-01-01T00:00:00Z"
            rounding: { increment: 0.001, mode: half_up }
            actions:
              chat: { credits: 1 }
            """)
        let straight = try TestLedger(cards: [card])
        let restored = try TestLedger(cards: [card])
        for t in [straight, restored] {
            t.grant("old", "10", at: "1969-05-31T00:00:00Z", id: "G")
            t.usage("old", "chat", at: "1969-06-01T00:00:00Z", id: "X")
            t.usage("old", "chat", at: "1969-06-01T12:00:00Z", id: "Y")
        }
        let bytes = SnapshotCodec.encode(restored.ledger, topic: "t", partition: 0, nextOffset: 3, metadata: 0)
        restored.adopt(try SnapshotCodec.decode(bytes, config: restored.ledger.config).0)
        for t in [straight, restored] {
            #expect(t.usage("old", "chat", at: "1969-06-01T12:00:00Z", id: "Y").outcome == .duplicate)
            t.usage("old", "chat", at: "1969-06-02T00:00:01Z", id: "Z")  // the clock passes X's window
            #expect(t.usage("old", "chat", at: "1969-06-01T00:00:00Z", id: "X").outcome == .applied)
        }
        #expect(straight.balance("old") == 6_000)
        #expect(restored.documents() == straight.documents())
    }
}
