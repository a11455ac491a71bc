import CreditEngine
import Foundation

/// A deterministic synthetic workload (demo, benchmarks, crash tests): accounts on the price
/// book's plans, top-ups and grants, usage with the seed customers' action mix, duplicates and
/// a few malformed records. Same spec ⇒ same records, byte for byte.
public struct WorkloadSpec: Sendable {
    public var seed: UInt64 = 2026
    public var accounts = 300
    public var usageEvents = 200_000
    /// One usage event in `duplicateEvery` is delivered twice.
    public var duplicateEvery = 100
    public var malformed = 20
    /// Fractions (percent) of accounts that buy a top-up / receive a grant.
    public var topupPercent = 15
    public var grantPercent = 8
    /// Event times run from `start` over `spanDays`.
    public var start: Int64 = EventTime.parse("2026-11-01T00:00:00Z")!
    public var spanDays = 20
    /// §12 (the demo turns them on; off by default so benchmark and crash-test workloads stay as
    /// they were): percent of accounts with an auto top-up policy, percent with a member budget
    /// for `u-0`, and how many scheduled top-ups are refunded (voided) an hour later.
    public var autoTopupPercent = 0
    public var budgetPercent = 0
    public var refunds = 0
    /// §16: percent of accounts that set their own alert thresholds (50 % and 25 % remaining)
    /// just after their plan (off by default, like §12).
    public var alertThresholdsPercent = 0
    /// Usage event ids are `<idPrefix><n>` (a second batch with another prefix is new work).
    public var idPrefix = "evt-"
    public init() {}
}

public struct WorkloadRecord: Sendable {
    public enum Kind: Sendable { case setup, usage, duplicate, malformed }
    public var key: [UInt8]?
    public var value: [UInt8]
    public var timestampMs: Int64
    public var kind: Kind
    /// Usage records and their duplicates: the event's number, and the `/check` query a
    /// product service asks before starting that work (the demo's gated mode).
    public var usageIndex = -1
    public var check: String?
    /// A top-up the generator schedules because it estimates the account ran out; the demo's
    /// gated mode leaves these out and buys packs when `/check` refuses work instead.
    public var isRefill = false

    public init(key: [UInt8]?, value: [UInt8], timestampMs: Int64, kind: Kind) {
        self.key = key
        self.value = value
        self.timestampMs = timestampMs
        self.kind = kind
    }
}

public enum Workload {
    static let actions: [(String, Int)] = [("chat", 55), ("doc_search", 15), ("summarize_thread", 10), ("web_research", 10),
                                           ("action_execution", 5), ("read_ticket", 3), ("knowledge_sync", 2)]
    static let capabilityOf: [String: String] = ["chat": "assistant", "doc_search": "assistant", "summarize_thread": "assistant",
                                                 "web_research": "agents", "action_execution": "agents", "read_ticket": "chatbot",
                                                 "knowledge_sync": "agents"]
    static let plans: [(String, Int)] = [("trial", 20), ("basic", 35), ("pro", 30), ("plus", 15)]

    public static func accountID(_ i: Int) -> String {
        let digits = String(i)
        return "acct-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// All records in produce order.
    public static func generate(_ spec: WorkloadSpec) -> [WorkloadRecord] {
        var rng = SplitMix64(seed: spec.seed)
        var out: [WorkloadRecord] = []
        out.reserveCapacity(spec.usageEvents + spec.usageEvents / max(spec.duplicateEvery, 1) + spec.accounts * 2 + spec.malformed)
        let span = Int64(spec.spanDays) * EventTime.nanosPerDay
        func pick(_ table: [(String, Int)]) -> String {
            var r = Int(rng.next() % 100)
            for (name, weight) in table { if r < weight { return name }; r -= weight }
            return table[0].0
        }
        // Plans at the start; some top-ups and grants scheduled during the span.
        var scheduled: [(Int64, Int, Int)] = []  // (time, account, 0 topup / 1 grant)
        // Most customers buy a pack when they run out (the generator estimates their spend).
        var allowance = [Double](repeating: 0, count: spec.accounts)
        var spent = [Double](repeating: 0, count: spec.accounts)
        var packsBought = [Int](repeating: 0, count: spec.accounts)
        var buysWhenOut = [Bool](repeating: false, count: spec.accounts)
        // §12 choices come from their own generator: enabling them adds records, changes none.
        var extra = SplitMix64(seed: spec.seed ^ 0x5EC7_1012)
        var own = SplitMix64(seed: spec.seed ^ 0x5EC7_1016)
        for i in 0..<spec.accounts {
            let t = spec.start + Int64(rng.next() % 3_600_000) * 1_000_000
            let plan = pick(plans)
            allowance[i] = ["trial": 100, "basic": 500, "pro": 2000, "plus": 10000][plan] ?? 0
            buysWhenOut[i] = rng.next() % 100 < 70
            out.append(setup(type: "credit.plan.assigned", account: i, id: "plan-\(i)", time: t,
                             data: "{\"plan\":\"\(plan)\"}"))
            if Int(extra.next() % 100) < spec.autoTopupPercent {
                out.append(setup(type: "credit.autotopup.configured", account: i, id: "autotopup-\(i)", time: t + EventTime.nanosPerSecond,
                                 data: "{\"pack\":\"pack-1000\",\"below_credits\":\(Int(allowance[i]) / 10),\"max_per_cycle\":2}"))
            }
            if Int(extra.next() % 100) < spec.budgetPercent {
                out.append(setup(type: "credit.member.budget.set", account: i, id: "budget-\(i)", time: t + 2 * EventTime.nanosPerSecond,
                                 data: "{\"member\":\"u-0\",\"monthly_credits\":\(max(1, Int(allowance[i]) / 20))}"))
            }
            if spec.alertThresholdsPercent > 0 && Int(own.next() % 100) < spec.alertThresholdsPercent {
                out.append(setup(type: "credit.alerts.configured", account: i, id: "thresholds-\(i)", time: t + 3 * EventTime.nanosPerSecond,
                                 data: "{\"thresholds_percent\":[50,25]}"))
            }
            if Int(rng.next() % 100) < spec.topupPercent { scheduled.append((spec.start + Int64(rng.next() % UInt64(span)), i, 0)) }
            if Int(rng.next() % 100) < spec.grantPercent { scheduled.append((spec.start + Int64(rng.next() % UInt64(span)), i, 1)) }
        }
        scheduled.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        // Zipf-like activity (s = 0.5): a few heavy accounts, a long tail.
        var cumulative: [Double] = []
        var total = 0.0
        for i in 0..<spec.accounts { total += 1.0 / pow(Double(i + 1), 0.5); cumulative.append(total) }
        var order = Array(0..<spec.accounts)
        order.shuffle(using: &rng)  // heavy accounts are not simply the first ids
        var next = 0
        var refundsLeft = spec.refunds
        var malformedLeft = spec.malformed
        let malformedEvery = spec.malformed > 0 ? max(1, spec.usageEvents / spec.malformed) : Int.max
        for n in 0..<spec.usageEvents {
            let t = spec.start + EventTime.nanosPerHour + Int64(n) * ((span - EventTime.nanosPerHour) / Int64(max(spec.usageEvents, 1)))
            while next < scheduled.count && scheduled[next].0 <= t {
                let (st, account, kind) = scheduled[next]
                if kind == 0 {
                    out.append(setup(type: "credit.topup.purchased", account: account, id: "topup-\(account)-\(next)", time: st,
                                     data: "{\"pack\":\"pack-1000\"}"))
                    if refundsLeft > 0 {
                        refundsLeft -= 1
                        out.append(setup(type: "credit.grant.voided", account: account, id: "refund-\(account)-\(next)",
                                         time: st + EventTime.nanosPerHour,
                                         data: "{\"grant_id\":\"topup-\(account)-\(next)\",\"reason\":\"refund\"}"))
                    }
                } else {
                    let expires = EventTime.format(st + 10 * EventTime.nanosPerDay)
                    out.append(setup(type: "credit.grant.issued", account: account, id: "grant-\(account)-\(next)", time: st,
                                     data: "{\"credits\":250,\"expires_at\":\"\(expires)\",\"reason\":\"promo\"}"))
                }
                next += 1
            }
            let u = Double(rng.next() >> 11) / Double(1 << 53) * total
            var lo = 0, hi = cumulative.count - 1
            while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] < u { lo = mid + 1 } else { hi = mid } }
            let account = order[lo]
            let action = pick(actions)
            let (record, estimate) = usage(&rng, account: account, n: n, time: t, pick: action, idPrefix: spec.idPrefix)
            out.append(record)
            spent[account] += estimate
            if buysWhenOut[account] && packsBought[account] < 40 && spent[account] > allowance[account] + 1000 * Double(packsBought[account]) {
                packsBought[account] += 1
                var refill = setup(type: "credit.topup.purchased", account: account, id: "refill-\(account)-\(packsBought[account])",
                                   time: t + EventTime.nanosPerSecond, data: "{\"pack\":\"pack-1000\"}")
                refill.isRefill = true
                out.append(refill)
            }
            if spec.duplicateEvery > 0 && rng.next() % UInt64(spec.duplicateEvery) == 0 {
                var dup = record
                dup.kind = .duplicate
                dup.timestampMs += 250  // a producer retry, a moment later
                out.append(dup)
            }
            if malformedLeft > 0 && n % malformedEvery == malformedEvery / 2 {
                out.append(malformed(kind: spec.malformed - malformedLeft, account: account, time: t))
                malformedLeft -= 1
            }
        }
        return out
    }

    static func setup(type: String, account: Int, id: String, time: Int64, data: String) -> WorkloadRecord {
        event(type: type, subject: accountID(account), id: id, source: "//billing.example/subscriptions", time: time, data: data, kind: .setup)
    }

    /// One event keyed by its subject (the account), its Kafka timestamp a second after its time.
    static func event(type: String, subject: String, id: String, source: String, time: Int64, data: String,
                      kind: WorkloadRecord.Kind) -> WorkloadRecord {
        let json = "{\"specversion\":\"1.0\",\"id\":\"\(id)\",\"source\":\"\(source)\",\"type\":\"\(type)\","
            + "\"subject\":\"\(subject)\",\"time\":\"\(EventTime.format(time))\",\"datacontenttype\":\"application/json\",\"data\":\(data)}"
        return WorkloadRecord(key: Array(subject.utf8), value: Array(json.utf8), timestampMs: time / 1_000_000 + 1000, kind: kind)
    }

    /// Nominal credits per action on the standard card (for the generator's spend estimate only).
    static let nominal: [String: Double] = ["chat": 1, "doc_search": 3, "summarize_thread": 1.1, "web_research": 10,
                                            "action_execution": 15, "read_ticket": 0, "knowledge_sync": 25]

    private static func usage(_ rng: inout SplitMix64, account: Int, n: Int, time: Int64, pick action: String,
                              idPrefix: String) -> (WorkloadRecord, Double) {
        let acct = accountID(account)
        var data = "{\"action\":\"\(action)\",\"quantity\":1"
        var check = "action=\(action)&quantity=1"
        let m = rng.next() % 10
        var estimate = nominal[action] ?? 0
        if m == 0 { data += ",\"model\":\"reasoning\""; check += "&model=reasoning"; estimate = action == "summarize_thread" ? 2 : estimate * 6 }
        else if m < 7 { data += ",\"model\":\"standard\""; check += "&model=standard" }
        let member = "u-\(rng.next() % 8)"
        data += ",\"capability\":\"\(capabilityOf[action]!)\",\"member\":\"\(member)\""
        let input = 200 + rng.next() % 4000
        let output = 50 + rng.next() % 800
        data += ",\"input_tokens\":\(input),\"output_tokens\":\(output)"
        check += "&member=\(member)&input_tokens=\(input)&output_tokens=\(output)&time=\(EventTime.format(time))"
        data += ",\"cost_usd\":\"0.00\(10 + rng.next() % 89)\"}"
        let idDigits = String(n)
        let id = idPrefix + String(repeating: "0", count: max(0, 10 - idDigits.count)) + idDigits
        var record = event(type: "ai.usage", subject: acct, id: id, source: "//ai.example/\(capabilityOf[action]!)", time: time, data: data,
                           kind: .usage)
        record.usageIndex = n
        record.check = check
        return (record, estimate)
    }

    private static func malformed(kind: Int, account: Int, time: Int64) -> WorkloadRecord {
        let acct = accountID(account)
        let ts = EventTime.format(time)
        let json: String
        var key = acct
        switch kind % 5 {
        case 0: json = "{\"specversion\":\"1.0\",\"id\":\"bad-\(kind)\",\"source\":\"//ai.example\",\"type\":\"ai.usage\",\"subject\":\"\(acct)\",\"time\":\"\(ts)\",\"data\":{\"action\":\"chat\""  // truncated
        case 1: json = "{\"specversion\":\"1.0\",\"id\":\"bad-\(kind)\",\"source\":\"//ai.example\",\"type\":\"ai.usage\",\"subject\":\"\(acct)\",\"time\":\"\(ts)\",\"data\":{\"action\":\"teleport\"}}"
        case 2:
            json = "{\"specversion\":\"1.0\",\"id\":\"bad-\(kind)\",\"source\":\"//ai.example\",\"type\":\"ai.usage\",\"subject\":\"\(acct)\",\"time\":\"\(ts)\",\"data\":{\"action\":\"chat\"}}"
            key = "someone-else"
        case 3: json = "{\"specversion\":\"1.0\",\"id\":\"bad-\(kind)\",\"source\":\"//ai.example\",\"type\":\"ai.usage\",\"subject\":\"\(acct)\",\"time\":\"\(ts)\",\"data\":{\"action\":\"chat\",\"quantity\":-3}}"
        default: json = "{\"specversion\":\"1.0\",\"id\":\"bad-\(kind)\",\"source\":\"//ai.example\",\"type\":\"ai.usage\",\"subject\":\"\(acct)\",\"time\":\"\(ts)\"}"
        }
        return WorkloadRecord(key: Array(key.utf8), value: Array(json.utf8), timestampMs: time / 1_000_000 + 1000, kind: .malformed)
    }
}

/// SplitMix64: small, fast, deterministic.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
