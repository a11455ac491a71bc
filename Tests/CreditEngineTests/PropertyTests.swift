import Testing
import PropertyBased
import CreditEngine

/// Random event logs, generated from integer "op codes" so the library can shrink them.
enum LogGen {
    static let actions = ["chat", "doc_search", "web_research", "action_execution", "summarize_thread", "knowledge_sync", "read_ticket"]
    static let plans: [String?] = ["trial", "basic", "pro", "plus", nil]

    /// Turns op codes into CloudEvents JSON. `spanHours` bounds how far event time moves per op.
    static func log(_ ops: [Int], spanHours: Int = 72) -> [String] {
        var time = EventTime.parse("2026-11-01T00:00:00Z")!
        var out: [String] = []
        for (i, op) in ops.enumerated() {
            time += Int64(op / 1000 % (spanHours + 1)) * EventTime.nanosPerHour / 10
            var t = time
            if op % 13 == 0 { t -= 3 * EventTime.nanosPerDay }  // late event
            t = max(t, EventTime.parse("2026-11-01T00:00:00Z")!)
            let ts = EventTime.format(t)
            let account = "p\(op % 4)"
            let id = "op-\(i)"
            switch (op / 4) % 10 {
            case 0...5:
                var data: [(String, EventJSON.Value)] = [("action", .s(actions[(op / 40) % actions.count])),
                                                         ("quantity", .n(String(1 + (op / 280) % 5)))]
                if op % 3 == 0 { data.append(("input_tokens", .n(String(op % 40_000)))) }
                if op % 5 == 0 { data.append(("model", .s("reasoning"))) }
                out.append(EventJSON.event("ai.usage", account: account, id: id, time: ts, data: data))
            case 6:
                let plan = plans[(op / 40) % plans.count]
                var data: [(String, EventJSON.Value)] = []
                if let plan { data.append(("plan", .s(plan))) } else { data.append(("monthly_credits", .n("750.5"))) }
                if op % 7 == 0 { data.append(("cycle_anchor", .s(ts))) }
                out.append(EventJSON.event("credit.plan.assigned", account: account, id: id, time: ts, data: data))
            case 7:
                out.append(EventJSON.event("credit.topup.purchased", account: account, id: id, time: ts,
                                           data: op % 2 == 0 ? [("pack", .s("pack-1000"))] : [("credits", .n("12.345"))]))
            case 8:
                var data: [(String, EventJSON.Value)] = [("credits", .n(String(1 + op % 300)))]
                if op % 2 == 0 { data.append(("expires_at", .s(EventTime.format(t + Int64(1 + op % 20) * EventTime.nanosPerDay)))) }
                out.append(EventJSON.event("credit.grant.issued", account: account, id: id, time: ts, data: data))
            default:
                let credits = (op % 2 == 0 ? "-" : "") + String(op % 500) + ".25"
                out.append(EventJSON.event("credit.adjusted", account: account, id: id, time: ts, source: "ops",
                                           data: [("credits", .n(credits)), ("reason", .s("fuzz"))]))
            }
        }
        return out
    }

    static func run(_ log: [String]) throws -> TestLedger {
        let t = try TestLedger()
        for e in log { t.apply(e) }
        return t
    }

}

@Suite struct LedgerPropertyTests {
    @Test func randomLogsConserveCredits() async {
        await propertyCheck(count: 150, input: Gen.int(in: 0...9_999_999).array(of: 1...150)) { ops in
            let t = try LogGen.run(LogGen.log(ops))
            let report = t.ledger.audit()
            #expect(report.failures.isEmpty, "\(report.failures)")
            #expect(report.totalConserved)
            for i in 0..<t.ledger.accountCount {
                let a = t.ledger.accounts[i]
                #expect(a.overage >= 0 && a.allowance >= 0 && a.blocks.allSatisfy { $0.remaining > 0 })
            }
        }
    }

    @Test func everyEventDeliveredTwiceGivesTheSameState() async {
        await propertyCheck(count: 100, input: Gen.int(in: 0...9_999_999).array(of: 1...150)) { ops in
            let log = LogGen.log(ops)
            let once = try LogGen.run(log)
            let twice = try LogGen.run(log.flatMap { [$0, $0] })
            #expect(twice.documents() == once.documents())
            #expect(twice.alertLines == once.alertLines)
            #expect(twice.ledger.counters.duplicates == once.ledger.counters.applied)
        }
    }

    @Test func aWholeLogRedeliveredWithinTheWindowChangesNothing() async {
        await propertyCheck(count: 100, input: Gen.int(in: 0...9_999_999).array(of: 1...150)) { ops in
            let log = LogGen.log(ops, spanHours: 1)  // ≤ 150 × 6 min: within 24 h
            let once = try LogGen.run(log)
            let again = try LogGen.run(log + log)
            #expect(again.documents() == once.documents())
            #expect(again.alerts == once.alerts)
        }
    }

    @Test func theSameLogAlwaysGivesTheSameState() async {
        await propertyCheck(count: 100, input: Gen.int(in: 0...9_999_999).array(of: 1...150)) { ops in
            let log = LogGen.log(ops)
            let a = try LogGen.run(log)
            let b = try LogGen.run(log)
            #expect(a.documents() == b.documents())
            #expect(a.alerts == b.alerts)
            #expect(a.ledger.counters == b.ledger.counters)
        }
    }
}
