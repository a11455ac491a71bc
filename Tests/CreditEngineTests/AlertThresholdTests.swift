import Foundation
import Testing
import CreditEngine

/// Per-account alert thresholds (contract §16): `credit.alerts.configured` sets the account's
/// own low-balance thresholds, in force from the next applied event; ids as §6 and §14.
@Suite struct AlertThresholdTests {
    static let cycle = "2026-11-01T00:00:00Z"

    /// A custom plan of 1000 credits from 2026-11-01 (web_research costs 10, chat 1).
    func ledger(thresholds: [Int] = [20, 10]) throws -> TestLedger {
        let t = try TestLedger(thresholds: thresholds)
        t.plan("acme", nil, at: Self.cycle, monthly: "1000", id: "p1")
        return t
    }

    func id(_ type: String, _ threshold: Int, _ n: Int, cycle: String = cycle) -> String {
        "acme/\(cycle)/credit.balance.\(type)/\(threshold)/\(n)"
    }

    @Test func theAccountsOwnThresholdFiresWithItsExactIdAndData() throws {
        let t = try ledger()
        let set = t.thresholds("acme", [80], at: "2026-11-01T01:00:00Z", id: "th1")
        #expect(set.outcome == .applied && set.alerts.isEmpty)
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 20, id: "u1")  // 800: 80 % → low 80
        t.usage("acme", "web_research", at: "2026-11-03T00:00:00Z", quantity: 65, id: "u2")  // 150: 15 %, no 20 any more
        t.usage("acme", "web_research", at: "2026-11-04T00:00:00Z", quantity: 16, id: "u3")  // −10 → exhausted
        t.adjust("acme", "900", at: "2026-11-05T00:00:00Z", id: "a1")                         // 890: 89 % → recovered
        #expect(t.alerts.map(\.id) == [id("low", 80, 1), id("exhausted", 0, 1), id("recovered", 0, 1)])
        #expect(t.alertLines == ["credit.balance.low/80/1 800", "credit.balance.exhausted/0/1 -10", "credit.balance.recovered/0/1 890"])
        let json = String(decoding: t.alerts[0].json(), as: UTF8.self)
        #expect(json == #"{"specversion":"1.0","id":"acme/2026-11-01T00:00:00Z/credit.balance.low/80/1","source":"credit-meter","type":"credit.balance.low","subject":"acme","time":"2026-11-02T00:00:00Z","datacontenttype":"application/json","data":{"account":"acme","threshold_percent":80,"remaining_credits":800,"entitlement_credits":1000,"remaining_percent":80.0,"cycle_start":"2026-11-01T00:00:00Z","cycle_end":"2026-12-01T00:00:00Z","triggered_by":"u1","rate_card_version":"2026-11-01"}}"#)
        #expect(t.document("acme").contains(#""alert_thresholds_percent":[80],"#))
        expectConserved(t)
    }

    @Test func anAddedThresholdAlreadyCrossedFiresOnTheNextEventMostSevereOnly() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 50, id: "u1")  // 500: 50 %, nothing
        // 70 and 60 are crossed already: the configuring event itself publishes nothing.
        let set = t.thresholds("acme", [20, 60, 70], at: "2026-11-03T00:00:00Z", id: "th1")
        #expect(set.alerts.isEmpty && t.alerts.isEmpty)
        #expect(t.document("acme").contains(#""alert_thresholds_percent":[70,60,20],"#))
        // The next event fires once, for the most severe (60), and marks 70 fired.
        let next = t.usage("acme", "chat", at: "2026-11-03T01:00:00Z", id: "u2")  // 499: 49.9 %
        #expect(next.alerts.map(\.id) == [id("low", 60, 1)])
        #expect(t.account("acme").alerts.fired == 0b011)
        t.usage("acme", "chat", at: "2026-11-03T02:00:00Z", id: "u3")                          // 498: nothing new
        t.usage("acme", "web_research", at: "2026-11-04T00:00:00Z", quantity: 30, id: "u4")  // 198: 19.8 % → low 20
        #expect(t.alertLines == ["credit.balance.low/60/1 499", "credit.balance.low/20/1 198"])
        #expect(t.alerts.map(\.triggeredBy) == ["u2", "u4"])
        // Any applied event is the next one, not only usage.
        let u = try ledger()
        u.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 50, id: "u1")
        u.thresholds("acme", [70], at: "2026-11-03T00:00:00Z", id: "th1")
        let pin = u.pin("acme", "2026-11-01", at: "2026-11-03T01:00:00Z", id: "pin1")
        #expect(pin.alerts.map(\.id) == [id("low", 70, 1)])
    }

    @Test func aKeptThresholdKeepsItsMark() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 85, id: "u1")  // 150: 15 % → low 20
        t.thresholds("acme", [20, 5], at: "2026-11-03T00:00:00Z", id: "th1")
        t.usage("acme", "web_research", at: "2026-11-03T01:00:00Z", id: "u2")                // 140: 20 stays fired
        t.usage("acme", "web_research", at: "2026-11-03T02:00:00Z", quantity: 10, id: "u3")  // 40: 4 % → low 5 (10 is gone)
        #expect(t.alerts.map(\.id) == [id("low", 20, 1), id("low", 5, 1)])
    }

    @Test func aRemovedThresholdsMarkIsDroppedAndItsIdsContinueWhenSetAgain() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 85, id: "u1")  // 150: 15 % → low 20
        t.thresholds("acme", [10], at: "2026-11-03T00:00:00Z", id: "th1")                     // 20 removed: its mark dropped
        t.usage("acme", "chat", at: "2026-11-03T01:00:00Z", id: "u2")                          // 149: nothing
        t.thresholds("acme", [20, 10], at: "2026-11-03T02:00:00Z", id: "th2")                 // 20 again: unfired
        t.usage("acme", "chat", at: "2026-11-03T03:00:00Z", id: "u3")                          // 148: 20 fires again, n = 2
        #expect(t.alerts.map(\.id) == [id("low", 20, 1), id("low", 20, 2)])
        #expect(t.account("acme").features?.retiredAlertCounts == [])
        // Back to the default: the account keeps no list of its own; the counts stay.
        t.thresholds("acme", nil, at: "2026-11-03T04:00:00Z", id: "th3")
        #expect(t.account("acme").features?.alertThresholds == [])
        #expect(t.account("acme").alerts.counts == [2, 0, 0, 0, 0, 0])
        expectConserved(t)
    }

    @Test func droppingEveryFiredMarkEndsTheEpisodeWithoutARecovery() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 85, id: "u1")  // 150: low 20
        t.thresholds("acme", [10], at: "2026-11-03T00:00:00Z", id: "th1")
        t.adjust("acme", "500", at: "2026-11-04T00:00:00Z", id: "a1")                         // 650: 65 %, nothing fired to recover
        #expect(t.alerts.map(\.id) == [id("low", 20, 1)])
        #expect(t.account("acme").alerts == AlertState())
    }

    @Test func anEpisodeWhoseLowestThresholdWasRemovedRecoversFromTheLowestStillFired() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 95, id: "u1")  // 50: 5 % → low 10 (20 marked)
        t.thresholds("acme", [30, 20], at: "2026-11-03T00:00:00Z", id: "th1")                 // 10 removed; 20 kept; 30 added
        t.usage("acme", "chat", at: "2026-11-03T01:00:00Z", id: "u2")                          // 49: low 30 (added, crossed)
        t.adjust("acme", "500", at: "2026-11-04T00:00:00Z", id: "a1")                         // 549: above all → recovered 20
        #expect(t.alerts.map(\.id) == [id("low", 10, 1), id("low", 30, 1), id("recovered", 20, 1)])
    }

    @Test func theConfiguringEventIsEvaluatedOnTheThresholdsBeforeIt() throws {
        let t = try ledger()
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 85, id: "u1")  // 150: low 20
        // It starts December (1000 of 1000: above 20): the recovery owed is the old list's.
        let set = t.thresholds("acme", [95], at: "2026-12-01T00:00:00Z", id: "th1")
        #expect(set.alerts.map(\.id) == [id("recovered", 20, 1, cycle: "2026-12-01T00:00:00Z")])
        let next = t.usage("acme", "chat", at: "2026-12-01T01:00:00Z", id: "u2")  // 999 of 1000: 99.9 %
        #expect(next.alerts.isEmpty)
        t.usage("acme", "web_research", at: "2026-12-02T00:00:00Z", quantity: 6, id: "u3")  // 939: 93.9 % → low 95
        #expect(t.alerts.map(\.id).last == id("low", 95, 1, cycle: "2026-12-01T00:00:00Z"))
    }

    @Test func retiredCountsEndWithTheCycleAndThresholdsSetBeforeAPlanApplyFromTheFirst() throws {
        let t = try TestLedger()
        t.thresholds("acme", [50], at: "2026-11-01T00:00:00Z", id: "th1")
        #expect(t.account("acme").features?.alertThresholds == [50])
        t.plan("acme", nil, at: "2026-11-01T00:00:00Z", monthly: "1000", id: "p1")
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 50, id: "u1")  // 500: low 50
        t.thresholds("acme", [40], at: "2026-11-03T00:00:00Z", id: "th2")                     // 50 retired with n = 1
        #expect(t.account("acme").features?.retiredAlertCounts == [RetiredAlertCounts(percent: 50, low: 1, recovered: 0)])
        t.usage("acme", "chat", at: "2026-12-01T00:00:00Z", id: "u2")                          // December: dropped
        #expect(t.account("acme").features?.retiredAlertCounts == [])
        t.thresholds("acme", [50], at: "2026-12-02T00:00:00Z", id: "th3")
        t.usage("acme", "web_research", at: "2026-12-03T00:00:00Z", quantity: 50, id: "u3")   // 499 of 1000: low 50, n = 1
        #expect(t.alerts.map(\.id) == [id("low", 50, 1), id("low", 50, 1, cycle: "2026-12-01T00:00:00Z")])
    }

    @Test func memberBudgetAlertsKeepTheConfiguredDefault() throws {
        let t = try ledger()
        t.thresholds("acme", [90, 5], at: "2026-11-01T01:00:00Z", id: "th1")
        t.budget("acme", "ana", "100", at: "2026-11-01T02:00:00Z", id: "b1")
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 8, id: "u1", member: "ana")  // ana 80 of 100
        #expect(t.alerts.map(\.id) == ["acme/\(Self.cycle)/ana/credit.member.budget.low/20/1"])
        // ana 100 of 100: exhausted; the account 900 of 1000: its own 90 (not the default 20).
        t.usage("acme", "web_research", at: "2026-11-02T01:00:00Z", quantity: 2, id: "u2", member: "ana")
        #expect(t.alerts.map(\.id) == ["acme/\(Self.cycle)/ana/credit.member.budget.low/20/1", id("low", 90, 1),
                                       "acme/\(Self.cycle)/ana/credit.member.budget.exhausted/0/1"])
    }

    @Test func nullReturnsToTheConfiguredDefault() throws {
        let t = try ledger(thresholds: [25])
        t.thresholds("acme", [60, 40], at: "2026-11-01T01:00:00Z", id: "th1")
        #expect(t.document("acme").contains(#""alert_thresholds_percent":[60,40],"#))
        t.thresholds("acme", nil, at: "2026-11-01T02:00:00Z", id: "th2")
        #expect(t.document("acme").contains(#""alert_thresholds_percent":[25],"#))
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 60, id: "u1")  // 400: 40 % — 60 and 40 are gone
        t.usage("acme", "web_research", at: "2026-11-02T01:00:00Z", quantity: 20, id: "u2")  // 200: 20 % → low 25
        #expect(t.alerts.map(\.id) == [id("low", 25, 1)])
        // An account that never had a list of its own: null creates no §12 state.
        t.thresholds("solo", nil, at: "2026-11-01T00:00:00Z", id: "th3")
        #expect(t.account("solo").extras.isEmpty)
    }

    @Test(arguments: [
        (#"{}"#, #"missing required field "data.thresholds_percent""#),
        (#"{"thresholds_percent":[]}"#, #"field "data.thresholds_percent" must hold 1 to 5 thresholds (null returns to the configured default)"#),
        (#"{"thresholds_percent":[90,80,70,60,50,40]}"#, #"field "data.thresholds_percent" must hold 1 to 5 thresholds (null returns to the configured default)"#),
        (#"{"thresholds_percent":[0]}"#, #"field "data.thresholds_percent" must hold integers from 1 to 99"#),
        (#"{"thresholds_percent":[100]}"#, #"field "data.thresholds_percent" must hold integers from 1 to 99"#),
        (#"{"thresholds_percent":[-5]}"#, #"field "data.thresholds_percent" must hold integers from 1 to 99"#),
        (#"{"thresholds_percent":[99999999999999999999999]}"#, #"field "data.thresholds_percent" must hold integers from 1 to 99"#),
        (#"{"thresholds_percent":[20,20]}"#, #"field "data.thresholds_percent" must not repeat a threshold"#),
        (#"{"thresholds_percent":[20.0]}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":[2e1]}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":["20"]}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":[null]}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":[[20]]}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":20}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":"20,10"}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":{"low":20}}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":true}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
        (#"{"thresholds_percent":[20,10],"thresholds_percent":null}"#, #"malformed event: duplicate key "data.thresholds_percent""#),
        (#"{"thresholds_percent":[20 10]}"#, #"malformed JSON at byte 163: expected ',' or ']'"#),
        (#"{"thresholds_percent":[20,]}"#, #"field "data.thresholds_percent" must be an array of 1 to 5 distinct integers from 1 to 99, or null"#),
    ])
    func badInputIsDeadLetteredWithItsReasonAndChangesNothing(data: String, reason: String) throws {
        let t = try ledger()
        t.thresholds("acme", [50], at: "2026-11-01T01:00:00Z", id: "th1")
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 40, id: "u1")
        let before = t.documents(), counters = t.ledger.counters, account = t.account("acme")
        let json = #"{"specversion":"1.0","id":"bad","source":"test","type":"credit.alerts.configured","subject":"acme","time":"2026-11-03T00:00:00Z","data":"#
            + data + "}"
        let result = t.apply(json)
        guard case .rejected(let why) = result.outcome else {
            Issue.record("applied: \(data)")
            return
        }
        #expect(why.description == reason)
        #expect(t.documents() == before && t.account("acme") == account)
        #expect(t.ledger.counters.applied == counters.applied)
        // The same id with valid data is then applied: a dead letter is not remembered.
        let ok = t.apply(json.replacingOccurrences(of: #""data":"# + data, with: #""data":{"thresholds_percent":[ 5 , 80 ,30 ]}"#))
        #expect(ok.outcome == .applied)
        #expect(t.account("acme").features?.alertThresholds == [80, 30, 5])
    }

    @Test func aDuplicateIsIgnoredWhateverItsData() throws {
        let t = try ledger()
        #expect(t.thresholds("acme", [50], at: "2026-11-01T01:00:00Z", id: "th1").outcome == .applied)
        let before = t.documents()
        #expect(t.thresholds("acme", [50], at: "2026-11-01T01:00:00Z", id: "th1").outcome == .duplicate)
        #expect(t.thresholds("acme", [70], at: "2026-11-01T02:00:00Z", id: "th1").outcome == .duplicate)
        #expect(t.documents() == before && t.ledger.counters.duplicates == 2)
        t.usage("acme", "chat", at: "2026-11-02T01:30:00Z", id: "u1")  // the account clock passes th1's + 24 h
        // Like every event but purchases and adjustments, it is remembered for the window only.
        let later = t.thresholds("acme", [70], at: "2026-11-02T02:00:00Z", id: "th1")
        #expect(later.outcome == .applied && t.account("acme").features?.alertThresholds == [70])
    }

    /// A log that sets, changes and clears thresholds around alerts, re-anchors and cycle starts.
    static func log() -> [(TestLedger) -> Void] {
        [
            { $0.plan("acme", nil, at: "2026-11-01T00:00:00Z", monthly: "1000", id: "p1") },
            { $0.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 85, id: "u1") },
            { $0.thresholds("acme", [50, 5], at: "2026-11-03T00:00:00Z", id: "th1") },
            { $0.usage("acme", "chat", at: "2026-11-03T01:00:00Z", id: "u2") },
            { $0.thresholds("acme", [20, 10], at: "2026-11-04T00:00:00Z", id: "th2") },
            { $0.usage("acme", "web_research", at: "2026-11-04T01:00:00Z", quantity: 10, id: "u3") },
            { $0.thresholds("acme", [50, 30], at: "2026-11-05T00:00:00Z", id: "th3") },
            { $0.adjust("acme", "300", at: "2026-11-06T00:00:00Z", id: "a1") },
            { $0.plan("acme", nil, at: "2026-11-07T00:00:00Z", monthly: "1000", anchor: "2026-11-05T00:00:00Z", id: "p2") },
            { $0.usage("acme", "web_research", at: "2026-11-16T00:00:00Z", quantity: 40, id: "u4") },
            { $0.thresholds("acme", nil, at: "2026-11-17T00:00:00Z", id: "th4") },
            { $0.usage("acme", "web_research", at: "2026-12-06T00:00:00Z", quantity: 90, id: "u5") },
            { $0.thresholds("solo", [75], at: "2026-11-02T00:00:00Z", id: "th5") },
            { $0.plan("solo", "trial", at: "2026-11-02T00:00:00Z", id: "p3") },
            { $0.usage("solo", "web_research", at: "2026-11-03T00:00:00Z", quantity: 3, id: "u6") },
        ]
    }

    @Test func restoringAtAnyPointAndContinuingEqualsTheUninterruptedRun() throws {
        let steps = Self.log()
        let straight = try TestLedger()
        for step in steps { step(straight) }
        let encode = { (l: PartitionLedger) in SnapshotCodec.encode(l, topic: "ai.usage", partition: 0, nextOffset: 1, metadata: 0) }
        #expect(straight.alerts.map(\.id) == [id("low", 20, 1), id("low", 50, 1), id("low", 10, 1), id("low", 50, 2),
                                               // The re-anchor starts Nov 5: above the account's highest n (§14).
                                               id("recovered", 50, 3, cycle: "2026-11-05T00:00:00Z"),
                                               "solo/2026-11-02T00:00:00Z/credit.balance.low/75/1"])
        for cut in 0...steps.count {
            let first = try TestLedger()
            for step in steps[..<cut] { step(first) }
            let bytes = encode(first.ledger)
            let (restored, _) = try SnapshotCodec.decode(bytes, config: first.ledger.config)
            #expect(encode(restored) == bytes, "cut \(cut): the round trip is not byte-identical")
            let continued = TestLedger(first.ledger.config)
            continued.adopt(restored)
            for step in steps[cut...] { step(continued) }
            #expect(continued.documents() == straight.documents(), "cut \(cut)")
            #expect((first.alerts + continued.alerts).map { $0.json() } == straight.alerts.map { $0.json() }, "cut \(cut)")
            #expect(encode(continued.ledger) == encode(straight.ledger), "cut \(cut)")
        }
        // No id is published twice.
        #expect(Set(straight.alerts.map(\.id)).count == straight.alerts.count)
    }

    @Test func aRetiredThresholdThatTheConfiguredDefaultGainsContinuesItsIdsAfterARestore() throws {
        let t = try ledger()
        t.thresholds("acme", [50], at: "2026-11-01T01:00:00Z", id: "th1")
        t.usage("acme", "web_research", at: "2026-11-02T00:00:00Z", quantity: 55, id: "u1")  // 450: low 50
        t.thresholds("acme", nil, at: "2026-11-03T00:00:00Z", id: "th2")                      // back to [20, 10]: 50 retired
        let bytes = SnapshotCodec.encode(t.ledger, topic: "ai.usage", partition: 0, nextOffset: 1, metadata: 0)
        let (restored, _) = try SnapshotCodec.decode(bytes, config: try Fixtures.engine(thresholds: [50, 20, 10]))
        let continued = TestLedger(restored.config)
        continued.adopt(restored)
        #expect(continued.account("acme").features?.retiredAlertCounts == [])
        continued.usage("acme", "chat", at: "2026-11-03T01:00:00Z", id: "u2")  // 449: 50 is unfired under the new default
        #expect(continued.alerts.map(\.id) == [id("low", 50, 2)])
    }

    @Test func restoreRefusesImpossibleThresholds() throws {
        let t = try ledger()
        t.thresholds("acme", [60, 30], at: "2026-11-01T01:00:00Z", id: "th1")
        let bytes = SnapshotCodec.encode(t.ledger, topic: "ai.usage", partition: 0, nextOffset: 1, metadata: 0)
        // The list is written as its count, then each value: [60, 30] is 02 3C 1E. Unsorted,
        // repeated, 0 and 100 under a valid checksum:
        let at = try #require((0..<(bytes.count - 2)).first { bytes[$0] == 2 && bytes[$0 + 1] == 60 && bytes[$0 + 2] == 30 })
        for bad: [UInt8] in [[30, 60], [60, 60], [60, 0], [100, 30]] {
            var b = Array(bytes[..<(bytes.count - 8)])
            b[at + 1] = bad[0]; b[at + 2] = bad[1]
            #expect(throws: SnapshotError.damaged("account 0: alert thresholds out of range (corrupt snapshot)")) {
                _ = try SnapshotCodec.decode(SnapshotHardeningTests.sealed(b), config: t.ledger.config)
            }
        }
    }
}
