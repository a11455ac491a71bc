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
        var grants: [(account: String, id: String)] = []
        for (i, op) in ops.enumerated() {
            time += Int64(op / 1000 % (spanHours + 1)) * EventTime.nanosPerHour / 10
            var t = time
            if op % 13 == 0 { t -= 3 * EventTime.nanosPerDay }  // late event
            t = max(t, EventTime.parse("2026-11-01T00:00:00Z")!)
            let ts = EventTime.format(t)
            let account = "p\(op % 4)"
            let id = "op-\(i)"
            switch (op / 4) % 13 {
            case 0...5:
                var data: [(String, EventJSON.Value)] = [("action", .s(actions[(op / 40) % actions.count])),
                                                         ("quantity", .n(String(1 + (op / 280) % 5)))]
                if op % 3 == 0 { data.append(("input_tokens", .n(String(op % 40_000)))) }
                if op % 5 == 0 { data.append(("model", .s("reasoning"))) }
                if op % 7 < 3 { data.append(("member", .s("m\(op % 7)"))) }
                out.append(EventJSON.event("ai.usage", account: account, id: id, time: ts, data: data))
            case 6:
                let plan = plans[(op / 40) % plans.count]
                var data: [(String, EventJSON.Value)] = []
                if let plan { data.append(("plan", .s(plan))) } else { data.append(("monthly_credits", .n("750.5"))) }
                if op % 7 == 0 { data.append(("cycle_anchor", .s(ts))) }
                if op % 3 == 1 { data.append(("rollover_max_credits", .n(String(op % 400)))) }
                out.append(EventJSON.event("credit.plan.assigned", account: account, id: id, time: ts, data: data))
            case 7:
                out.append(EventJSON.event("credit.topup.purchased", account: account, id: id, time: ts,
                                           data: op % 2 == 0 ? [("pack", .s("pack-1000"))] : [("credits", .n("12.345"))]))
                grants.append((account, id))
            case 8:
                var data: [(String, EventJSON.Value)] = [("credits", .n(String(1 + op % 300)))]
                if op % 2 == 0 { data.append(("expires_at", .s(EventTime.format(t + Int64(1 + op % 20) * EventTime.nanosPerDay)))) }
                out.append(EventJSON.event("credit.grant.issued", account: account, id: id, time: ts, data: data))
                grants.append((account, id))
            case 10:
                // A void of an earlier grant or top-up (or, with none, of an unknown one: dead-lettered).
                let target = grants.isEmpty ? (account, "nothing") : grants[op % grants.count]
                out.append(EventJSON.event("credit.grant.voided", account: target.0, id: id, time: ts,
                                           data: [("grant_id", .s(target.1)), ("reason", .s("refund"))]))
            case 11:
                var data: [(String, EventJSON.Value)] = op % 3 == 0 ? [("credits", .n(String(op % 90 + 10)))] : [("pack", .s("pack-1000"))]
                data.append(("below_credits", .n(String(op % 150))))
                data.append(("max_per_cycle", .n(String(1 + op % 3))))
                if op % 11 == 0 { data.append(("enabled", .n("false"))) }
                out.append(EventJSON.event("credit.autotopup.configured", account: account, id: id, time: ts, data: data))
            case 12:
                let budget: EventJSON.Value = op % 9 == 0 ? .null : .n(String(1 + op % 200))
                out.append(EventJSON.event("credit.member.budget.set", account: account, id: id, time: ts,
                                           data: [("member", .s("m\(op % 3)")), ("monthly_credits", budget)]))
            case 9 where op % 5 == 0:
                // The account's own alert thresholds (§16): 1–3 of a few percents, or back to the default.
                let pool = [90, 75, 50, 30, 20, 10, 5]
                var picked: [Int] = []
                for k in 0...(op / 2401 % 3) where !picked.contains(pool[op / [7, 49, 343][k] % 7]) { picked.append(pool[op / [7, 49, 343][k] % 7]) }
                let list: EventJSON.Value = op % 7 == 0 ? .null : .n("[" + picked.map(String.init).joined(separator: ",") + "]")
                out.append(EventJSON.event("credit.alerts.configured", account: account, id: id, time: ts, data: [("thresholds_percent", list)]))
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
            #expect(a.requests == b.requests)
            #expect(a.requests.map(\.id) == b.requests.map(\.id))
            #expect(a.ledger.counters == b.ledger.counters)
        }
    }

    /// The generator reaches the §12 paths (so the properties above cover them).
    @Test func generatedLogsExerciseVoidsRolloversRequestsAndBudgets() throws {
        let t = try LogGen.run(LogGen.log((0..<3_000).map { ($0 * 7_919 + 12_345) % 10_000_000 }))
        let accounts = t.ledger.accounts
        #expect(accounts.contains { $0.voided > 0 })
        #expect(accounts.contains { $0.history.contains { $0.kind == .rollover && $0.credits > 0 } })
        #expect(!t.requests.isEmpty)
        #expect(t.alerts.contains { $0.kind == .memberLow || $0.kind == .memberExhausted })
        #expect(t.ledger.audit().isClean)
    }

    /// The generator reaches §16: accounts with their own thresholds, alerts at them.
    @Test func generatedLogsExerciseOwnAlertThresholds() throws {
        let t = try LogGen.run(LogGen.log((0..<3_000).map { ($0 * 7_919 + 12_345) % 10_000_000 }))
        #expect(t.ledger.accounts.contains { !($0.features?.alertThresholds ?? []).isEmpty })
        #expect(t.alerts.contains { $0.kind == .low && ![20, 10].contains($0.thresholdPercent) })
    }
}
