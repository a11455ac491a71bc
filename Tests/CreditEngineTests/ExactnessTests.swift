import Testing
import CreditEngine

/// Contract §14, one case per rule, with the figures of the cases that showed each corner.
@Suite struct ExactnessTests {
    static func usageJSON(_ account: String, _ action: String, quantity: Int, at time: String, id: String, member: String? = nil) -> String {
        var data: [(String, EventJSON.Value)] = [("action", .s(action)), ("quantity", .n(String(quantity)))]
        if let member { data.append(("member", .s(member))) }
        return EventJSON.event("ai.usage", account: account, id: id, time: time, data: data)
    }

    // MARK: Dedupe per account

    /// A's usage is redelivered after a neighbour in its partition has moved 30 h ahead: A's own
    /// clock has not, so the redelivery is a duplicate — 86 credits left, not 74.
    @Test(arguments: [30, 20])
    func aRedeliveryIsADuplicateWhateverItsNeighboursClocks(neighbourHoursAhead: Int) throws {
        let t = try TestLedger()
        t.plan("A", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("A", "chat", at: "2026-11-01T23:00:00Z", quantity: 2, id: "u0")                          // 98
        let u1 = Self.usageJSON("A", "doc_search", quantity: 4, at: "2026-11-02T00:00:00Z", id: "u1")    // 86
        t.apply(u1)
        let neighbour = EventTime.format(EventTime.parse("2026-11-02T00:00:00Z")! + Int64(neighbourHoursAhead) * EventTime.nanosPerHour)
        t.usage("B", "chat", at: neighbour, id: "b1")
        let again = t.apply(u1, recordTime: EventTime.format(EventTime.parse(neighbour)! + EventTime.nanosPerSecond))
        #expect(again.outcome == .duplicate)
        #expect(t.balance("A") == 86_000)
        // A dead-lettered neighbour moves nothing either.
        t.usage("C", "no_such_action", at: neighbour, id: "c1")
        #expect(t.apply(u1, recordTime: neighbour).outcome == .duplicate)
        #expect(t.balance("A") == 86_000)
        // A's own clock is what forgets: once it passes u1's application + 24 h, u1 is charged again.
        t.usage("A", "chat", at: "2026-11-03T00:00:01Z", id: "u2")                                       // 85
        #expect(t.apply(u1, recordTime: "2026-11-03T00:00:02Z").outcome == .applied)
        #expect(t.balance("A") == 73_000)
        #expect(t.ledger.counters.duplicates == 2)
        expectConserved(t)
    }

    /// The window is exact on the account clock: remembered while the clock ≤ applied + 24 h,
    /// forgotten one nanosecond after; a record is checked before it moves the clock.
    @Test func theWindowEndsToTheNanosecondOfTheAccountsClock() throws {
        let t = try TestLedger()
        t.plan("A", "pro", at: "2026-11-01T00:00:00Z")
        let u1 = Self.usageJSON("A", "chat", quantity: 1, at: "2026-11-02T00:00:00.5Z", id: "u1")
        t.apply(u1)
        t.usage("A", "chat", at: "2026-11-03T00:00:00.5Z", id: "u2")          // clock = applied + 24 h exactly
        #expect(t.apply(u1).outcome == .duplicate)
        t.usage("A", "chat", at: "2026-11-03T00:00:00.500000001Z", id: "u3")  // one nanosecond past
        #expect(t.apply(u1).outcome == .applied)
        // A redelivery that would itself move the clock past the window is still checked first.
        let u4 = Self.usageJSON("A", "chat", quantity: 1, at: "2026-11-04T00:00:00Z", id: "u4")
        t.apply(u4)
        let u4Later = Self.usageJSON("A", "chat", quantity: 1, at: "2026-11-05T12:00:00Z", id: "u4")
        #expect(t.apply(u4Later).outcome == .duplicate)
        #expect(t.account("A").clock == EventTime.parse("2026-11-04T00:00:00Z")!)
    }

    /// The same log, whatever the spread of accounts over ledgers, gives every account the same
    /// outcome per record and the same document.
    @Test func theSpreadOfAccountsOverPartitionsChangesNothing() throws {
        var log: [(json: String, recordTime: String?)] = []
        log.append((EventJSON.event("credit.plan.assigned", account: "A", id: "p", time: "2026-11-01T00:00:00Z", data: [("plan", .s("trial"))]), nil))
        let u1 = Self.usageJSON("A", "doc_search", quantity: 4, at: "2026-11-02T00:00:00Z", id: "u1")
        log.append((u1, nil))
        log.append((Self.usageJSON("B", "chat", quantity: 1, at: "2026-11-03T06:00:00Z", id: "b1"), nil))
        log.append((u1, "2026-11-03T06:00:01Z"))
        let together = try TestLedger(), a = try TestLedger(), b = try TestLedger()
        var outcomes: [[ApplyResult.Outcome]] = [[], []]
        for (json, recordTime) in log {
            outcomes[0].append(together.apply(json, recordTime: recordTime).outcome)
            outcomes[1].append((json.contains(#""subject":"A""#) ? a : b).apply(json, recordTime: recordTime).outcome)
        }
        #expect(outcomes[0] == outcomes[1])
        #expect(together.document("A") == a.document("A") && together.document("B") == b.document("B"))
    }

    // MARK: Money-adding ids are remembered for good

    /// A top-up redelivered days later is a duplicate: counted as one, not charged, not
    /// dead-lettered — never credited twice (+72 credits). So is a grant.
    @Test func aPurchaseRedeliveredDaysLaterIsNotCreditedAgain() throws {
        let t = try TestLedger()
        t.plan("A", "trial", at: "2026-11-01T00:00:00Z")
        t.topup("A", pack: nil, credits: "72", at: "2026-11-02T00:00:00Z", id: "t1")
        t.grant("A", "5", at: "2026-11-02T01:00:00Z", id: "g1")
        t.usage("A", "chat", at: "2026-11-06T00:00:00Z", id: "u1")                // four days on
        let balance = t.balance("A")
        #expect(balance == 100_000 + 72_000 + 5_000 - 1_000)
        #expect(t.topup("A", pack: nil, credits: "72", at: "2026-11-02T00:00:00Z", id: "t1").outcome == .duplicate)
        #expect(t.grant("A", "5", at: "2026-11-02T01:00:00Z", id: "g1").outcome == .duplicate)
        // Same id, other content, months later: still the same purchase.
        #expect(t.topup("A", pack: "pack-1000", at: "2027-03-01T00:00:00Z", id: "t1").outcome == .duplicate)
        #expect(t.balance("A") == balance && t.account("A").granted == 177_000)
        #expect(t.ledger.counters.duplicates == 3 && t.rejections.isEmpty)
        // From another source it is another purchase.
        #expect(t.apply(EventJSON.event("credit.topup.purchased", account: "A", id: "t1", time: "2026-11-06T00:00:00Z", source: "shop",
                                        data: [("credits", .n("1"))])).outcome == .applied)
        // Still voidable (the same remembered id).
        #expect(t.void("A", "t1", at: "2026-11-06T01:00:00Z").outcome == .applied)
        #expect(t.ledger.rememberedIDs.purchases == 3)
        expectConserved(t)
    }

    /// The ids survive a snapshot: a restored ledger refuses the same redelivery.
    @Test func purchaseIdsAreRememberedAcrossARestore() throws {
        let t = try TestLedger()
        t.topup("A", pack: nil, credits: "72", at: "2026-11-02T00:00:00Z", id: "t1")
        t.usage("A", "chat", at: "2026-11-09T00:00:00Z", id: "u1")
        let bytes = SnapshotCodec.encode(t.ledger, topic: "t", partition: 0, nextOffset: 2, metadata: 0)
        t.adopt(try SnapshotCodec.decode(bytes, config: t.ledger.config).0)
        #expect(t.topup("A", pack: nil, credits: "72", at: "2026-11-02T00:00:00Z", id: "t1").outcome == .duplicate)
        #expect(t.balance("A") == 71_000)
    }

    // MARK: Ids never reused with other content

    /// A member budget removed and set again in the cycle keeps its counts: the second
    /// exhaustion (budget 6.5, used 42) is …/0/2, not a second …/0/1 (budget 13, used 20).
    @Test func memberAlertIdsNeverRepeatAfterABudgetIsRemovedAndSetAgain() throws {
        let t = try TestLedger()
        t.plan("a", "pro", at: "2026-11-01T00:00:00Z")
        t.budget("a", "m1", "13", at: "2026-11-01T01:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 2, member: "m1")      // used 20 ≥ 13
        t.budget("a", "m1", nil, at: "2026-11-03T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-04T00:00:00Z", quantity: 2, member: "m1")      // 40
        t.usage("a", "chat", at: "2026-11-04T01:00:00Z", quantity: 2, member: "m1")              // 42
        t.budget("a", "m1", "6.5", at: "2026-11-05T00:00:00Z")
        #expect(t.alerts.map(\.id) == ["a/2026-11-01T00:00:00Z/m1/credit.member.budget.exhausted/0/1",
                                       "a/2026-11-01T00:00:00Z/m1/credit.member.budget.exhausted/0/2"])
        #expect(t.alerts.map { "\(Credits.format($0.budget)) \(Credits.format($0.used))" } == ["13 20", "6.5 42"])
        // A new cycle starts counting afresh (the account was never re-anchored).
        t.budget("a", "m1", nil, at: "2026-12-02T00:00:00Z")
        t.budget("a", "m1", "1", at: "2026-12-02T01:00:00Z")
        t.usage("a", "chat", at: "2026-12-03T00:00:00Z", quantity: 2, member: "m1")
        #expect(t.alerts.last?.id == "a/2026-12-01T00:00:00Z/m1/credit.member.budget.exhausted/0/1")
    }

    /// Once re-anchored, every counter the account starts begins above the highest n it has
    /// used, so a cycle start met again never repeats an id: balance alerts, member alerts and
    /// top-up requests alike. `request_number` stays the request's place in its cycle.
    @Test func idsAfterAReAnchorNumberAboveTheAccountsHighest() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z", id: "p1")
        t.autoTopup("a", pack: nil, credits: "50", below: "15", maxPerCycle: 1, at: "2026-11-01T00:00:01Z")
        t.budget("a", "m", "50", at: "2026-11-01T00:00:02Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 9, id: "u1", member: "m")  // 10 left
        t.plan("a", "trial", at: "2026-11-20T00:00:00Z", anchor: "2026-11-15T00:00:00Z", id: "p2")
        t.plan("a", "trial", at: "2026-11-21T00:00:00Z", anchor: "2026-11-01T00:00:00Z", id: "p3")   // back to 11-01
        t.usage("a", "web_research", at: "2026-11-22T00:00:00Z", quantity: 9, id: "u2", member: "m")
        #expect(t.alerts.map(\.id) == [
            "a/2026-11-01T00:00:00Z/credit.balance.low/10/1",
            "a/2026-11-01T00:00:00Z/m/credit.member.budget.exhausted/0/1",
            "a/2026-11-15T00:00:00Z/credit.balance.recovered/10/2",
            "a/2026-11-01T00:00:00Z/credit.balance.low/10/3",
            "a/2026-11-01T00:00:00Z/m/credit.member.budget.exhausted/0/4",
        ])
        #expect(t.requests.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.topup.requested/1",
                                         "a/2026-11-01T00:00:00Z/credit.topup.requested/5"])
        #expect(t.requests.map(\.number) == [1, 1])
        #expect(String(decoding: t.requests[1].json(), as: UTF8.self).contains(#""request_number":1,"max_per_cycle":1"#))
        #expect(Set(t.alerts.map(\.id) + t.requests.map(\.id)).count == t.alerts.count + t.requests.count)
        #expect(t.account("a").highestSequence == 5 && t.account("a").reanchored)
    }

    /// Thresholds changed between restarts drop a removed threshold's counts; configured again
    /// in the same cycle, its next alert numbers above the account's highest n — never a second
    /// `…/low/20/1` with other content.
    @Test func thresholdsChangedAcrossRestoresNeverRepeatAnID() throws {
        let t = try TestLedger(thresholds: [20, 10])
        t.plan("a", nil, at: "2026-11-01T00:00:00Z", monthly: "100")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 8)        // 20 left: 20 % fired
        #expect(t.alerts.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.balance.low/20/1"])
        let onlyTen = try SnapshotCodec.decode(SnapshotErrorTests.encode(t.ledger), config: try Fixtures.engine(thresholds: [10])).0
        t.adopt(try SnapshotCodec.decode(SnapshotErrorTests.encode(onlyTen), config: try Fixtures.engine(thresholds: [20, 10])).0)
        t.usage("a", "chat", at: "2026-11-03T00:00:00Z", quantity: 1)                   // 19 left: 20 % again
        #expect(t.alerts.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.balance.low/20/1",
                                       "a/2026-11-01T00:00:00Z/credit.balance.low/20/2"])
        #expect(t.account("a").highestSequence == 2)
    }

    /// An open episode whose lowest threshold is no longer configured after a restart follows
    /// the lowest threshold still fired: its `recovered` is `…/recovered/20/2`, never a second
    /// `…/recovered/10/2` with other content.
    @Test func anEpisodeRestoredUnderOtherThresholdsRecoversUnderOneInForce() throws {
        let t = try TestLedger(thresholds: [20, 10])
        t.plan("a", nil, at: "2026-11-01T00:00:00Z", monthly: "100")
        var hour = 0
        func at() -> String { hour += 1; return "2026-11-02T\(hour < 10 ? "0" : "")\(hour):00:00Z" }
        func downTo9() { t.usage("a", "web_research", at: at(), quantity: 9); t.usage("a", "chat", at: at()) }
        downTo9(); t.adjust("a", "91", at: at())                                                   // low/10/1, recovered/10/1
        downTo9(); t.adjust("a", "91", at: at())                                                   // low/10/2, recovered/10/2
        t.usage("a", "web_research", at: at(), quantity: 8); t.usage("a", "chat", at: at(), quantity: 5)  // 15 left: low/20/1
        t.adjust("a", "85", at: at())                                                              // recovered/20/1
        downTo9()                                                                                  // low/10/3
        t.adopt(try SnapshotCodec.decode(SnapshotErrorTests.encode(t.ledger), config: try Fixtures.engine(thresholds: [20])).0)
        t.adjust("a", "91", at: at())
        let prefix = "a/2026-11-01T00:00:00Z/credit.balance."
        #expect(t.alerts.map { String($0.id.dropFirst(prefix.count)) } == [
            "low/10/1", "recovered/10/1", "low/10/2", "recovered/10/2", "low/20/1", "recovered/20/1", "low/10/3", "recovered/20/2",
        ])
        #expect(Set(t.alerts.map(\.id)).count == t.alerts.count)
    }

    /// A restart under another configured default renumbers only accounts whose counts it
    /// moved: one with its own thresholds and no member budgets numbers as §6 says.
    @Test func aChangedDefaultLeavesAnAccountWithItsOwnThresholdsNumberedAsBefore() throws {
        let t = try TestLedger(thresholds: [20, 10])
        t.plan("own", nil, at: "2026-11-01T00:00:00Z", monthly: "100")
        t.thresholds("own", [50], at: "2026-11-01T01:00:00Z")
        t.plan("default", nil, at: "2026-11-01T00:00:00Z", monthly: "100")
        t.adopt(try SnapshotCodec.decode(SnapshotErrorTests.encode(t.ledger), config: try Fixtures.engine(thresholds: [30])).0)
        #expect(!t.account("own").reanchored)
        #expect(t.account("default").reanchored)
        t.usage("own", "web_research", at: "2026-12-02T00:00:00Z", quantity: 6)  // next cycle: 40 % left
        #expect(t.alerts.last?.id == "own/2026-12-01T00:00:00Z/credit.balance.low/50/1")
    }

    // MARK: A new cycle after fired thresholds

    /// Nothing crossed at the start of the new cycle: one `recovered`, with the new cycle's id
    /// and the lowest threshold that had fired — also when the balance had climbed back above
    /// part of them.
    @Test func aNewCycleWithNothingCrossedRecoversFromTheLowestFired() throws {
        let t = try TestLedger()
        t.plan("a", nil, at: "2026-11-01T00:00:00Z", monthly: "1000")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 95)   // 5 %: low 10 (20 marked)
        t.adjust("a", "100", at: "2026-11-03T00:00:00Z")                        // 15 %: 10 re-arms, 20 stays fired
        t.usage("a", "chat", at: "2026-12-01T00:00:00Z")                        // new cycle: 1000 + 100 carried − 1
        #expect(t.alerts.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.balance.low/10/1",
                                       "a/2026-12-01T00:00:00Z/credit.balance.recovered/10/1"])
        #expect(t.alerts.last?.thresholdPercent == 10 && t.alerts.last?.remaining == 1_099_000)
    }

    /// Crossed again at the start of the new cycle: the usual alert for what is crossed, no
    /// `recovered`.
    @Test func aNewCycleThatStartsCrossedAlertsForTheCrossing() throws {
        let t = try TestLedger()
        t.plan("a", nil, at: "2026-11-01T00:00:00Z", monthly: "1000")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 110)  // −100: exhausted
        t.usage("a", "web_research", at: "2026-12-01T00:00:00Z", quantity: 75)   // 1000 − 100 − 750 = 150: 15 %
        #expect(t.alerts.map(\.id) == ["a/2026-11-01T00:00:00Z/credit.balance.exhausted/0/1",
                                       "a/2026-12-01T00:00:00Z/credit.balance.low/20/1"])
    }

    // MARK: A late grant already expired on arrival

    /// History alone: no credits, no entitlement (no spurious `low` from a larger entitlement),
    /// no alert, the pending top-up request stays pending; its id is remembered.
    @Test func aLateGrantAlreadyExpiredIsHistoryAlone() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.autoTopup("a", pack: nil, credits: "50", below: "30", maxPerCycle: 2, at: "2026-11-01T00:00:01Z")
        t.usage("a", "web_research", at: "2026-11-10T00:00:00Z", quantity: 7)   // 30 left (30 %): a request
        t.usage("a", "chat", at: "2026-11-10T01:00:00Z", quantity: 5)           // 25 left: pending, no second
        let before = t.account("a")
        t.grant("a", "30", at: "2026-11-02T00:00:00Z", expires: "2026-11-05T00:00:00Z", id: "late")
        let after = t.account("a")
        #expect(after.balance == 25_000 && after.entitlement == 100_000 && after.granted == before.granted && after.expired == before.expired)
        #expect(t.alerts.isEmpty)
        #expect(t.requests.count == 1 && after.features?.requestPending == true)
        let lines = t.ledger.view(0).history.suffix(2).map { "\(EventTime.format($0.time)) \($0.kind.name) \($0.credits) \($0.eventID)" }
        #expect(lines == ["2026-11-02T00:00:00Z grant 30000 late", "2026-11-05T00:00:00Z grant_expired -30000 late"])
        // The next usage does not request again: the request is still pending.
        t.usage("a", "chat", at: "2026-11-10T02:00:00Z", id: "u3")
        #expect(t.requests.count == 1)
        // Remembered: a redelivery is a duplicate, a void removes 0.
        #expect(t.grant("a", "30", at: "2026-11-02T00:00:00Z", expires: "2026-11-05T00:00:00Z", id: "late").outcome == .duplicate)
        #expect(t.void("a", "late", at: "2026-11-10T03:00:00Z").outcome == .applied)
        #expect(t.account("a").voided == 0 && t.account("a").balance == 24_000)
        expectConserved(t)
    }

    /// A grant whose `expires_at` is still ahead of the account clock is an ordinary grant, even
    /// when late.
    @Test func aLateGrantStillValidCounts() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("a", "chat", at: "2026-11-10T00:00:00Z")
        t.grant("a", "30", at: "2026-11-02T00:00:00Z", expires: "2026-11-10T00:00:00.000000001Z")
        #expect(t.account("a").entitlement == 130_000 && t.balance("a") == 129_000)
    }

    // MARK: Memory

    /// The account record stays four cache lines with §14's fields (MemoryBench figure).
    @Test func theAccountRecordStays256Bytes() {
        #expect(MemoryLayout<Account>.stride == 256)
    }
}
