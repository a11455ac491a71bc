import CreditEngine
import Foundation

/// Holds in the engine alone (contract §15): how many hold cycles — request, three usage
/// events settling against the hold, release — one core decides and applies per second, and
/// the resident bytes one active hold costs. (Decisions over HTTP: the `hold-latency` phase.)
extension Bench {
    static func holds(accounts: Int, config: EngineConfiguration, say: (String) -> Void) {
        let decoder = EventDecoder()
        let start = EventTime.parse("2026-11-01T00:00:00Z")!
        func record(_ i: Int, _ id: String, _ type: String, _ t: Int64, _ data: String) -> (String, [UInt8]) {
            let account = "org-\(i)"
            return (account, Array("{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"bench\",\"type\":\"\(type)\",\"subject\":\"\(account)\",\"time\":\"\(EventTime.format(t))\",\"data\":\(data)}".utf8))
        }
        func apply(_ ledger: PartitionLedger, _ r: (String, [UInt8])) -> ApplyResult? {
            r.1.withUnsafeBytes { v in
                guard let e = try? decoder.decode(v) else { return nil }
                return r.0.utf8CString.withUnsafeBytes { k in ledger.apply(e, key: UnsafeRawBufferPointer(rebasing: k.dropLast()), recordTime: e.time) }
            }
        }
        func setUp(_ ledger: PartitionLedger, _ n: Int) {
            for i in 0..<n {
                _ = apply(ledger, record(i, "plan-\(i)", "credit.plan.assigned", start, #"{"plan":"pro"}"#))
                _ = apply(ledger, record(i, "top-\(i)", "credit.topup.purchased", start, #"{"credits":1000000}"#))
            }
        }

        // 1. Hold cycles: each account in turn holds 10 credits, spends three times against the
        // hold and releases it; decided and applied on one core.
        let ledger = PartitionLedger(config: config)
        setUp(ledger, accounts)
        let cycles = 50_000
        var records: [(String, [UInt8])] = []
        records.reserveCapacity(cycles * 5)
        for c in 0..<cycles {
            let i = c % accounts
            let t = start + Int64(c + 1) * 1_000_000
            let hold = "run-\(c)"
            records.append(record(i, "h\(c)", "credit.hold.requested", t, "{\"hold_id\":\"\(hold)\",\"credits\":10,\"workflow\":\"agent\"}"))
            for s in 0..<3 { records.append(record(i, "u\(c)-\(s)", "ai.usage", t, "{\"action\":\"chat\",\"hold_id\":\"\(hold)\"}")) }
            records.append(record(i, "r\(c)", "credit.hold.released", t, "{\"hold_id\":\"\(hold)\"}"))
        }
        var granted = 0
        let t0 = ContinuousClock.now
        for r in records {
            if let report = apply(ledger, r)?.hold, report.type == .holdRequested, report.hold?.status == .active { granted += 1 }
        }
        let took = ContinuousClock.now - t0
        say("holds: \(fmt(cycles)) hold cycles on \(fmt(accounts)) accounts (request, 3 usage settling, release; "
            + "\(fmt(records.count)) events) in \(ms(took)): \(rate(cycles, took)) cycles/s, \(rate(records.count, took)) events/s on one core; "
            + "\(fmt(granted)) granted, unheld usage \(ledger.counters.usageUnheld)")

        // 2. Memory per active hold: every account holds 100 at once.
        let perAccount = 100
        let memAccounts = max(1, accounts / 10)
        let held = PartitionLedger(config: config)
        setUp(held, memAccounts)
        let before = ProcessStats.residentBytes()
        for k in 0..<perAccount {
            for i in 0..<memAccounts {
                let t = start + Int64(k + 1) * 1_000_000
                _ = apply(held, record(i, "m\(i)-\(k)", "credit.hold.requested", t,
                                       "{\"hold_id\":\"workflow-run-\(k)\",\"credits\":1,\"workflow\":\"nightly-report\",\"ttl_seconds\":86400}"))
            }
        }
        let after = ProcessStats.residentBytes()
        let active = held.counters.holdsGranted
        say("holds: \(fmt(Int(active))) active holds (\(perAccount) on each of \(fmt(memAccounts)) accounts, 16-character ids, "
            + "a workflow label): \(Int(Double(after - before) / Double(max(1, active)))) B resident per active hold")
    }
}
