import CreditConfig
import CreditEngine
import CreditMeterReplay
import CreditMeterService
import Foundation
import Kafka
import Testing

@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReplayTests {
    static let december = """
        version: "2026-12-01"
        effective_from: "2026-12-01T00:00:00Z"
        rounding: { increment: 0.001, mode: half_up }
        model_multipliers: { default: 1 }
        actions:
          chat:         { credits: 2 }
          web_research: { credits: 8 }
          doc_search:   { credits: 3 }
        """

    /// A harness whose rate cards are the standard one plus "2026-12-01".
    func harness() throws -> (ServiceHarness, String) {
        let cards = FileManager.default.temporaryDirectory.appendingPathComponent("cm-cards-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: cards, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ServiceHarness.repoRoot.appendingPathComponent("configs/rate-cards/2026-11-01.yaml").path,
                                         toPath: cards + "/2026-11-01.yaml")
        try Self.december.write(toFile: cards + "/2026-12-01.yaml", atomically: true, encoding: .utf8)
        return (try ServiceHarness(partitions: 4, rateCardsDir: cards), cards)
    }

    func chat(_ a: String, _ id: String, _ time: String) -> String { event("ai.usage", a, id: id, time: time, data: #"{"action":"chat"}"#) }

    /// The log: see the expected report in `replayReportsExactDeltas…`.
    func produceLog(_ h: ServiceHarness) throws {
        try h.produce(event("credit.plan.assigned", "A", id: "pA", time: "2026-11-01T00:00:00Z", data: #"{"plan":"pro"}"#), key: "A")
        for i in 0..<10 { try h.produce(chat("A", "a\(i)", "2026-11-02T00:00:0\(i)Z"), key: "A") }
        try h.produce(chat("A", "a3", "2026-11-02T00:00:03Z"), key: "A")  // duplicate: not charged, not re-rated
        for i in 0..<4 { try h.produce(event("ai.usage", "A", id: "w\(i)", time: "2026-11-03T00:00:0\(i)Z", data: #"{"action":"web_research"}"#), key: "A") }
        try h.produce(event("ai.usage", "A", id: "bad", time: "2026-11-03T00:00:09Z", data: #"{"action":"teleport"}"#), key: "A")
        try h.produce(event("credit.plan.assigned", "B", id: "pB", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#), key: "B")
        for i in 0..<3 { try h.produce(event("ai.usage", "B", id: "k\(i)", time: "2026-11-04T00:00:0\(i)Z", data: #"{"action":"knowledge_sync"}"#), key: "B") }
        for i in 0..<2 { try h.produce(chat("B", "b\(i)", "2026-11-05T00:00:0\(i)Z"), key: "B") }
        try h.produce(event("credit.ratecard.pinned", "C", id: "pinC", time: "2026-11-01T00:00:00Z", data: #"{"version":"2026-12-01"}"#), key: "C")
        for i in 0..<5 { try h.produce(chat("C", "c\(i)", "2026-11-06T00:00:0\(i)Z"), key: "C") }
        for i in 0..<3 { try h.produce(chat("D", "d\(i)", "2026-11-19T23:59:5\(i)Z"), key: "D") }
        for i in 0..<2 { try h.produce(chat("D", "d-late\(i)", "2026-11-20T00:00:0\(i)Z"), key: "D") }  // at `to`: outside
        try h.produce(chat("E", "e0", "2026-11-01T12:00:00Z"), key: "E")  // before `from`: outside
        try h.produce(chat("E", "e1", "2026-11-03T00:00:00Z"), key: "E")
        try h.produce(chat("F", "f0", "2026-11-10T00:00:00Z"), key: "F")  // produced last, in range by event time
    }

    static let logSize: Int64 = 1 + 10 + 1 + 4 + 1 + 1 + 3 + 2 + 1 + 5 + 3 + 2 + 1 + 1 + 1

    func options(publish: Bool = false, from: String = "2026-11-02T00:00:00Z") -> ReplayOptions {
        var o = ReplayOptions(from: EventTime.parse(from), to: EventTime.parse("2026-11-20T00:00:00Z"), version: "2026-12-01")
        o.publishAdjustments = publish
        return o
    }

    func replay(_ h: ServiceHarness, _ o: ReplayOptions) throws -> ReplayReport {
        try Replay.run(config: h.config(), options: o, logger: h.logger, now: EventTime.parse("2026-11-22T00:00:00Z")!) { _ in }
    }

    @Test func replayReportsExactDeltasWithPinsDuplicatesAndBadRecordsAsCharged() throws {
        let (h, _) = try harness()
        try produceLog(h)
        let report = try replay(h, options())
        #expect(report.json() == """
            {"rate_card_version":"2026-12-01","from":"2026-11-02T00:00:00Z","to":"2026-11-20T00:00:00Z","accounts":[\
            {"account":"A","events":14,"charged_credits":50,"rerated_credits":52,"delta_credits":2},\
            {"account":"B","events":2,"charged_credits":2,"rerated_credits":4,"delta_credits":2},\
            {"account":"C","events":5,"charged_credits":10,"rerated_credits":10,"delta_credits":0},\
            {"account":"D","events":3,"charged_credits":3,"rerated_credits":6,"delta_credits":3},\
            {"account":"E","events":1,"charged_credits":1,"rerated_credits":2,"delta_credits":1},\
            {"account":"F","events":1,"charged_credits":1,"rerated_credits":2,"delta_credits":1}],\
            "totals":{"events":26,"charged_credits":67,"rerated_credits":76,"delta_credits":9},\
            "unpriceable":[{"account":"B","events":3,"charged_credits":75,"reason":"unknown action for rate card 2026-12-01"}]}
            """)
        #expect(report.csv() == """
            account,events,charged_credits,rerated_credits,delta_credits
            A,14,50,52,2
            B,2,2,4,2
            C,5,10,10,0
            D,3,3,6,3
            E,1,1,2,1
            F,1,1,2,1

            """)
        // The mock cluster answers offsets-for-times with -1: the replay noticed and scanned.
        #expect(report.modes.values.filter { !$0.hasPrefix("empty") }.allSatisfy { $0.hasPrefix("scan from the beginning (broker answered") })
        #expect(report.recordsRead == Self.logSize)
    }

    /// §12 events go through the same ledger: "as charged" is unchanged by voids, budgets and
    /// rollovers, and replay publishes neither alerts nor top-up requests.
    @Test func creditFeatureEventsReplayAsChargedAndPublishNothing() throws {
        let (h, _) = try harness()
        try h.produce(event("credit.plan.assigned", "G", id: "pG", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic","rollover_max_credits":50}"#), key: "G")
        try h.produce(event("credit.grant.issued", "G", id: "g1", time: "2026-11-01T00:00:00Z", data: #"{"credits":100}"#), key: "G")
        try h.produce(event("credit.autotopup.configured", "G", id: "c1", time: "2026-11-01T00:00:00Z",
                            data: #"{"pack":"pack-1000","below_credits":2000}"#), key: "G")
        try h.produce(event("credit.member.budget.set", "G", id: "b1", time: "2026-11-01T00:00:00Z", data: #"{"member":"ana","monthly_credits":1}"#), key: "G")
        for i in 0..<3 {
            try h.produce(event("ai.usage", "G", id: "gu\(i)", time: "2026-11-03T00:00:0\(i)Z", data: #"{"action":"chat","member":"ana"}"#), key: "G")
        }
        try h.produce(event("credit.grant.voided", "G", id: "v1", time: "2026-11-04T00:00:00Z", data: #"{"grant_id":"g1"}"#), key: "G")
        try h.produce(chat("G", "gu3", "2026-11-05T00:00:00Z"), key: "G")
        let report = try replay(h, options())
        #expect(report.json().contains(#""accounts":[{"account":"G","events":4,"charged_credits":4,"rerated_credits":8,"delta_credits":4}],"totals":{"events":4,"charged_credits":4,"rerated_credits":8,"delta_credits":4}"#))
        #expect(try h.held("credit.requests") == 0)
        #expect(try h.held("credit.alerts") == 0)
    }

    @Test func holdEventsReplayAsAppliedAndUsageUnderAHoldIsReratedLikeAnyUsage() throws {
        let (h, _) = try harness()
        try h.produce(event("credit.plan.assigned", "H", id: "pH", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#), key: "H")
        try h.produce(event("credit.hold.requested", "H", id: "h1", time: "2026-11-03T00:00:00Z", data: #"{"hold_id":"run-1","credits":20}"#), key: "H")
        for i in 0..<3 {
            try h.produce(event("ai.usage", "H", id: "hu\(i)", time: "2026-11-03T00:00:0\(i + 1)Z", data: #"{"action":"chat","hold_id":"run-1"}"#), key: "H")
        }
        try h.produce(event("ai.usage", "H", id: "hu3", time: "2026-11-03T00:00:04Z", data: #"{"action":"chat","hold_id":"gone"}"#), key: "H")
        try h.produce(event("credit.hold.released", "H", id: "r1", time: "2026-11-03T00:00:05Z", data: #"{"hold_id":"run-1"}"#), key: "H")
        try h.produce(event("credit.hold.requested", "nobody", id: "h2", time: "2026-11-03T00:00:00Z", data: #"{"hold_id":"x","credits":1}"#), key: "nobody")
        let report = try replay(h, options())
        // Four usage events (three settling, one naming no active hold) re-rated 1 → 2 each; hold
        // events charge nothing and publish nothing.
        #expect(report.json().contains(#""accounts":[{"account":"H","events":4,"charged_credits":4,"rerated_credits":8,"delta_credits":4}],"totals":{"events":4,"charged_credits":4,"rerated_credits":8,"delta_credits":4}"#))
        #expect(try h.held("credit.requests") == 0)
        #expect(try h.held("credit.alerts") == 0)
    }

    @Test func seekingWithAPinsOnlyPrepassGivesTheSameReport() throws {
        let (h, _) = try harness()
        try produceLog(h)
        let full = try replay(h, options())
        // What a correct broker answers for from − 48 h − window − 1 h: the first record at or
        // after that time. Everything before it (A's plan and chats, C's pin …) is skipped by
        // pass 2; pins there come from the pins-only pre-pass.
        let target = (EventTime.parse("2026-11-06T00:00:00Z")! - 73 * EventTime.nanosPerHour) / 1_000_000
        let records = try h.readAll("ai.usage")
        var seek: [TopicPartition: Int64] = [:]
        for p in 0..<h.inputPartitions {
            let inPartition = records.filter { $0.partition == p }
            seek[TopicPartition("ai.usage", p)] = inPartition.first { ($0.timestampMs ?? 0) >= target }?.offset ?? Int64(inPartition.count)
        }
        #expect(seek.values.reduce(0, +) > 10)  // a real skip
        var o = options(from: "2026-11-06T00:00:00Z")
        let scanned = try replay(h, o)
        o.forcedSeek = seek
        let sought = try replay(h, o)
        #expect(sought.rows == scanned.rows)
        #expect(sought.rows.first { $0.account == "C" }?.delta == 0)  // C's pin sits before the seek point
        #expect(full.rows.count > scanned.rows.count)
    }

    @Test func publishedAdjustmentsMoveBalancesByExactlyTheDeltaOnce() async throws {
        let (h, _) = try harness()
        try produceLog(h)
        let before = try await h.runService(until: Self.logSize)
        func balances(_ s: MeterService) -> [String: Int64] {
            var out: [String: Int64] = [:]
            for l in s.finalLedgers().values { for i in 0..<l.accountCount { out[l.accountID(i)] = l.accounts[i].balance } }
            return out
        }
        let b0 = balances(before)

        let report = try replay(h, options(publish: true))
        #expect(report.published.count == 5)
        // The adjustment records, exactly as the contract shapes them.
        let input = try h.readAll("ai.usage")
        let adjustments = input.filter { $0.value.contains(#""source":"credit-meter/replay""#) }
        #expect(adjustments.count == 5)
        let a = try #require(adjustments.first { $0.key == "A" })
        #expect(a.value == #"{"specversion":"1.0","id":"replay/A/2026-11-02T00:00:00Z/2026-11-20T00:00:00Z/2026-12-01","source":"credit-meter/replay","type":"credit.adjusted","subject":"A","time":"2026-11-20T00:00:00Z","datacontenttype":"application/json","data":{"credits":-2,"reason":"rerate","ref":"replay/A/2026-11-02T00:00:00Z/2026-11-20T00:00:00Z/2026-12-01"}}"#)
        let aPartition = input.first { $0.key == "A" }!.partition
        #expect(a.partition == aPartition)

        let after = try await h.runService(until: 5)
        let b1 = balances(after)
        for row in report.rows { #expect(b1[row.account]! - b0[row.account]! == -row.delta, "\(row.account)") }
        #expect(b1["A"]! == b0["A"]! - 2_000)

        // Twice: nothing new is published, and the ledger would ignore it anyway.
        let again = try replay(h, options(publish: true))
        #expect(again.published.isEmpty)
        #expect(again.alreadyPublished.count == 5)
        #expect(again.rows == report.rows)
        #expect(try h.held("ai.usage") == Self.logSize + 5)

        // An overlapping range under other ids would correct the same events twice: refused.
        #expect(throws: ServiceError.self) { try replay(h, options(publish: true, from: "2026-11-05T00:00:00Z")) }
    }

    @Test func theCommandLineWritesReportsAndASummary() async throws {
        let (h, _) = try harness()
        try produceLog(h)
        let out = h.dir + "/report.csv"
        let child = try Child(["replay", "--config", h.configPath, "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-20T00:00:00Z",
                               "--rate-card", "2026-12-01", "--report", out], logDir: h.dir, name: "replay")
        #expect(await child.wait(timeout: .seconds(60)) == 0, "\(child.stderr)")
        #expect(child.stdout.contains("charged 67  rerated 76  delta 9 credits"))
        #expect(try String(contentsOfFile: out, encoding: .utf8).hasPrefix("account,events,charged_credits,rerated_credits,delta_credits\nA,14,50,52,2\n"))
        let bad = try Child(["replay", "--config", h.configPath, "--from", "yesterday", "--rate-card", "2026-12-01"], logDir: h.dir, name: "bad")
        #expect(await bad.wait(timeout: .seconds(30)) == 1)
        #expect(bad.stderr == "credit-meter: --from yesterday: expected an RFC 3339 time or 'beginning'\n")
    }
}
