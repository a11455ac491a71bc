import Foundation
import Testing
import CreditEngine

/// Random logs built around the ledger's corners (contract §5, §6, §12, §14, §16) — redeliveries
/// after a neighbour's clock has jumped, purchases redelivered days later, member budgets
/// removed and set again, re-anchors back to an earlier cycle start, late grants already
/// expired, accounts' own alert thresholds changed around their alerts, beside ordinary traffic — checked against rules stated without the ledger's code:
///
/// 1. dedupe: a record is a duplicate exactly when its account has applied the same (source,
///    id) and its account clock (the maximum event time of the account's applied records)
///    has not passed that application's clock + the window — or the id was an adjustment's,
///    or it is a purchase whose id the account ever applied as one. So nothing is charged
///    twice within the window, and no grant or top-up is credited twice, ever;
/// 2. every published id (alerts, member alerts, runway alerts, top-up requests) is published
///    once, with one content;
/// 3. a grant already expired on arrival changes no balance, entitlement, grant total or
///    pending request, and publishes nothing;
/// 4. every account conserves credits (granted − charged − expired − voided + adjusted = balance);
/// 5. the same log over one ledger, over a few by account, and over one per account with a
///    snapshot and restore half-way gives every record the same outcome, every account the
///    same document and the same alerts: whether an account's record is a duplicate depends on
///    nothing else.
///
/// Seeded (`CornerLog.generate(seed:)`): a failure names the seed and the record.
@Suite struct CornerPropertyTests {
    static let seedsPerCase = 250

    /// 2,000 seeds in 8 parallel cases; each case also shows that its logs reach every corner
    /// they are meant to (so the rules above are exercised, not passed vacuously).
    @Test(arguments: 0..<8)
    func cornersKeepTheRules(chunk: Int) throws {
        let config = try Fixtures.engine(runwayDays: 7)
        var reached = CornerCheck.Reached()
        for seed in (chunk * Self.seedsPerCase)..<((chunk + 1) * Self.seedsPerCase) {
            let check = CornerCheck(config: config, seed: seed)
            try check.run(CornerLog.generate(seed: UInt64(seed)))
            reached.add(check.reached)
        }
        #expect(reached.duplicatesAfterANeighboursJump > 0)
        #expect(reached.usageChargedAgainAfterItsWindow > 0)
        #expect(reached.purchasesRedeliveredPastTheWindow > 0)
        #expect(reached.budgetsSetAgainAfterAnAlert > 0)
        #expect(reached.reAnchorsToAStartMetBefore > 0)
        #expect(reached.lateGrantsExpiredOnArrival > 0)
        #expect(reached.memberAlerts > 0 && reached.balanceAlerts > 0 && reached.requests > 0 && reached.runwayAlerts > 0)
        #expect(reached.ownThresholdAlerts > 0)
    }
}

extension SplitMix {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

/// One record of a generated log.
struct CornerRecord {
    var json: String
    var account: String
    var source: String
    var id: String
    var type: String
    var eventTime: Int64
    var recordTime: Int64
    var expiresAt: Int64?
    /// A record sent again (a producer retry, a replayed batch).
    var isRedelivery = false
    var isPurchase: Bool { type == "credit.topup.purchased" || type == "credit.grant.issued" }
}

enum CornerLog {
    static let hour = EventTime.nanosPerHour
    static let day = EventTime.nanosPerDay

    static func generate(seed: UInt64) -> [CornerRecord] {
        var rng = SplitMix(seed: seed &* 0x2545_F491_4F6C_DD1D &+ 17)
        let accounts = (0..<(2 + rng.below(4))).map { "a\($0)" }
        var now = EventTime.parse("2026-11-10T00:00:00Z")! + Int64(rng.below(48)) * hour
        var out: [CornerRecord] = []
        var purchases: [String: [String]] = [:]
        var counter = 0
        func emit(_ type: String, _ account: String, at time: Int64, source: String = "test", expires: Int64? = nil,
                  _ data: [(String, EventJSON.Value)]) {
            counter += 1
            let id = "e\(counter)"
            let json = EventJSON.event(type, account: account, id: id, time: EventTime.format(time), source: source, data: data)
            out.append(CornerRecord(json: json, account: account, source: source, id: id, type: type, eventTime: time,
                                    recordTime: max(now, time - 23 * hour), expiresAt: expires))
        }
        let events = 30 + rng.below(50)
        for _ in 0..<events {
            now += Int64(rng.below(90)) * 60 * EventTime.nanosPerSecond
            let account = accounts[rng.below(accounts.count)]
            switch rng.below(100) {
            case 0..<30:  // usage, now or a little ahead (a producer's clock), sometimes a bad action
                let actions = ["chat", "doc_search", "web_research", "read_ticket", "knowledge_sync"]
                var data: [(String, EventJSON.Value)] = [("action", .s(rng.chance(3) ? "no_such_action" : actions[rng.below(actions.count)])),
                                                         ("quantity", .n(String(1 + rng.below(6))))]
                if rng.chance(50) { data.append(("member", .s("m\(rng.below(2))"))) }
                emit("ai.usage", account, at: now + (rng.chance(10) ? Int64(rng.below(23)) * hour : 0), data)
            case 30..<34:  // late usage
                emit("ai.usage", account, at: now - Int64(1 + rng.below(5)) * day, [("action", .s("chat")), ("member", .s("m0"))])
            case 34..<50:  // a redelivery of an earlier record, sent again now
                guard !out.isEmpty else { continue }
                var again = out[rng.chance(50) ? out.count - 1 - rng.below(min(out.count, 6)) : rng.below(out.count)]
                again.recordTime = max(now, again.recordTime)
                again.isRedelivery = true
                out.append(again)
            case 50..<55:  // the clock jumps a day or more (the next redelivery meets it)
                now += Int64(20 + rng.below(60)) * hour
            case 55..<62:  // a plan, sometimes re-anchored (to the 1st or the 15th: back and forth)
                var data: [(String, EventJSON.Value)] = rng.chance(80) ? [("plan", .s(["trial", "basic", "pro"][rng.below(3)]))]
                    : [("monthly_credits", .n(String(20 + rng.below(200))))]
                if rng.chance(45) {
                    let (y, m, _) = EventTime.civilFromDays(EventTime.day(of: now))
                    let anchorDay = rng.chance(50) ? 1 : 15
                    data.append(("cycle_anchor", .s(String(format: "%04d-%02d-%02dT00:00:00Z", Int(y), Int(m), anchorDay))))
                }
                emit("credit.plan.assigned", account, at: now, data)
            case 62..<68:  // a top-up
                emit("credit.topup.purchased", account, at: now, rng.chance(30) ? [("pack", .s("pack-1000"))] : [("credits", .n(String(5 + rng.below(80))))])
                purchases[account, default: []].append("e\(counter)")
            case 68..<73:  // a grant, sometimes expiring
                var data: [(String, EventJSON.Value)] = [("credits", .n(String(1 + rng.below(60))))]
                var expires: Int64?
                if rng.chance(50) { expires = now + Int64(1 + rng.below(10 * 24)) * hour; data.append(("expires_at", .s(EventTime.format(expires!)))) }
                emit("credit.grant.issued", account, at: now, expires: expires, data)
                purchases[account, default: []].append("e\(counter)")
            case 73..<78:  // a late grant, its expiry before now: usually expired on arrival
                let time = now - Int64(2 + rng.below(5)) * day
                let expires = time + Int64(1 + rng.below(24)) * hour
                emit("credit.grant.issued", account, at: time, expires: expires,
                     [("credits", .n(String(1 + rng.below(60)))), ("expires_at", .s(EventTime.format(expires)))])
                purchases[account, default: []].append("e\(counter)")
            case 78..<86:  // a member budget set, or removed — or removed and set again at once
                let member = "m\(rng.below(2))"
                let again = rng.chance(40)
                emit("credit.member.budget.set", account, at: now,
                     [("member", .s(member)), ("monthly_credits", again || rng.chance(35) ? .null : .n(String(1 + rng.below(30))))])
                if again { emit("credit.member.budget.set", account, at: now, [("member", .s(member)), ("monthly_credits", .n(String(1 + rng.below(10))))]) }
            case 86..<90:
                emit("credit.autotopup.configured", account, at: now,
                     [("credits", .n(String(10 + rng.below(50)))), ("below_credits", .n(String(rng.below(60)))),
                      ("max_per_cycle", .n(String(1 + rng.below(3))))])
            case 90..<94:
                emit("credit.adjusted", account, at: now, source: "ops",
                     [("credits", .n((rng.chance(50) ? "-" : "") + String(1 + rng.below(40)))), ("reason", .s("ops"))])
            case 94..<97:  // the account's own alert thresholds (§16), or back to the default
                let pool = [90, 50, 30, 20, 10, 5]
                var picked: [Int] = []
                for _ in 0...rng.below(3) { let p = pool[rng.below(pool.count)]; if !picked.contains(p) { picked.append(p) } }
                emit("credit.alerts.configured", account, at: now,
                     [("thresholds_percent", rng.chance(20) ? .null : .n("[" + picked.map(String.init).joined(separator: ",") + "]"))])
            default:  // a void of one of the account's purchases
                guard let ids = purchases[account], !ids.isEmpty else { continue }
                emit("credit.grant.voided", account, at: now, [("grant_id", .s(ids[rng.below(ids.count)])), ("reason", .s("refund"))])
            }
        }
        return out
    }
}

/// Applies a generated log to three spreads of ledgers and checks the rules of
/// `CornerPropertyTests` record by record.
final class CornerCheck {
    let config: EngineConfiguration
    let seed: Int
    let decoder = EventDecoder()
    let window: Int64

    /// What the rules see: the account clock from outcomes alone, and the ids applied.
    private var clock: [String: Int64] = [:]
    private var appliedAt: [String: Int64] = [:]
    private var forever: Set<String> = []
    private var purchased: Set<String> = []
    private var published: [String: [UInt8]] = [:]

    struct Reached {
        var duplicatesAfterANeighboursJump = 0, usageChargedAgainAfterItsWindow = 0, purchasesRedeliveredPastTheWindow = 0
        var budgetsSetAgainAfterAnAlert = 0, reAnchorsToAStartMetBefore = 0, lateGrantsExpiredOnArrival = 0
        var memberAlerts = 0, balanceAlerts = 0, runwayAlerts = 0, requests = 0
        /// Balance alerts at a threshold the configured default does not have (§16).
        var ownThresholdAlerts = 0

        mutating func add(_ o: Reached) {
            duplicatesAfterANeighboursJump += o.duplicatesAfterANeighboursJump
            usageChargedAgainAfterItsWindow += o.usageChargedAgainAfterItsWindow
            purchasesRedeliveredPastTheWindow += o.purchasesRedeliveredPastTheWindow
            budgetsSetAgainAfterAnAlert += o.budgetsSetAgainAfterAnAlert
            reAnchorsToAStartMetBefore += o.reAnchorsToAStartMetBefore
            lateGrantsExpiredOnArrival += o.lateGrantsExpiredOnArrival
            memberAlerts += o.memberAlerts; balanceAlerts += o.balanceAlerts; runwayAlerts += o.runwayAlerts; requests += o.requests
            ownThresholdAlerts += o.ownThresholdAlerts
        }
    }
    private(set) var reached = Reached()
    private var memberAlerted: Set<String> = []
    private var removedAfterAlert: Set<String> = []
    private var cycleStartsMet: [String: Set<Int64>] = [:]

    init(config: EngineConfiguration, seed: Int) {
        self.config = config
        self.seed = seed
        window = config.dedupeWindowHours * EventTime.nanosPerHour
    }

    /// One spread: ledgers and which one holds an account.
    final class Spread {
        var ledgers: [PartitionLedger]
        let place: (String) -> Int
        var outcomes: [ApplyResult.Outcome] = []
        var alerts: [String: [[UInt8]]] = [:]

        init(_ count: Int, config: EngineConfiguration, place: @escaping (String) -> Int) {
            ledgers = (0..<count).map { _ in PartitionLedger(config: config) }
            self.place = place
        }

        func ledger(_ account: String) -> PartitionLedger { ledgers[place(account)] }

        func document(_ account: String) -> String? {
            let l = ledger(account)
            return l.accountIndex(account).map { String(decoding: l.accountDocument($0), as: UTF8.self) }
        }
    }

    func apply(_ r: CornerRecord, to ledger: PartitionLedger) -> ApplyResult {
        var bytes = Array(r.json.utf8)
        var key = Array(r.account.utf8)
        return bytes.withUnsafeMutableBytes { raw in
            let e: DecodedEvent
            do throws(DecodeFailure) { e = try decoder.decode(UnsafeRawBufferPointer(raw)) } catch {
                Issue.record("seed \(seed): a generated record does not decode (\(error)): \(r.json)")
                return ApplyResult(outcome: .rejected(.decode(error)))
            }
            return key.withUnsafeMutableBytes { ledger.apply(e, key: UnsafeRawBufferPointer($0), recordTime: r.recordTime) }
        }
    }

    func fail(_ what: String, _ k: Int, _ log: [CornerRecord]) {
        Issue.record("seed \(seed), record \(k) (\(log[k].json), record time \(EventTime.format(log[k].recordTime))): \(what)")
    }

    func run(_ log: [CornerRecord]) throws {
        let accounts = Array(Set(log.map(\.account))).sorted()
        let together = Spread(1, config: config) { _ in 0 }
        let byHash = Spread(3, config: config) { a in Int(a.utf8.reduce(UInt32(7)) { $0 &* 31 &+ UInt32($1) } % 3) }
        let alone = Spread(accounts.count, config: config) { a in accounts.firstIndex(of: a)! }
        for (k, r) in log.enumerated() {
            // Half-way, the per-account spread restarts from snapshots.
            if k == log.count / 2 {
                alone.ledgers = try alone.ledgers.enumerated().map { p, l in
                    try SnapshotCodec.decode(SnapshotCodec.encode(l, topic: "t", partition: Int32(p), nextOffset: Int64(k), metadata: 0), config: config).0
                }
            }
            let ledger = together.ledgers[0]
            let before = ledger.account(r.account)
            let result = apply(r, to: ledger)
            check(r, k, log, before: before, after: ledger.account(r.account), result)
            together.outcomes.append(result.outcome)
            together.alerts[r.account, default: []] += result.alerts.map { $0.json() } + result.requests.map { $0.json() }
            for spread in [byHash, alone] {
                let result = apply(r, to: spread.ledger(r.account))
                spread.outcomes.append(result.outcome)
                spread.alerts[r.account, default: []] += result.alerts.map { $0.json() } + result.requests.map { $0.json() }
            }
        }
        for spread in [byHash, alone] {
            if let k = together.outcomes.indices.first(where: { together.outcomes[$0] != spread.outcomes[$0] }) {
                fail("outcome \(spread.outcomes[k]) over \(spread.ledgers.count) ledgers, \(together.outcomes[k]) over one", k, log)
                return
            }
            for a in accounts where spread.document(a) != together.document(a) || spread.alerts[a] != together.alerts[a] {
                Issue.record("seed \(seed): account \(a) differs over \(spread.ledgers.count) ledgers:\n\(spread.document(a) ?? "-")\n\(together.document(a) ?? "-")")
                return
            }
        }
        for spread in [together, byHash, alone] {
            for l in spread.ledgers {
                let audit = l.audit()
                if !audit.isClean { Issue.record("seed \(seed): conservation fails: \(audit.failures)") }
            }
        }
    }

    private func check(_ r: CornerRecord, _ k: Int, _ log: [CornerRecord], before: Account?, after: Account?, _ result: ApplyResult) {
        let key = "\(r.account)\u{0}\(r.source)\u{0}\(r.id)"
        let clockBefore = clock[r.account] ?? .min
        // Rule 1: dedupe.
        let inWindow = appliedAt[key].map { forever.contains(key) || clockBefore <= $0 + window } ?? false
        let remembered = inWindow || (r.isPurchase && purchased.contains(key))
        let isDuplicate = result.outcome == .duplicate
        if remembered != isDuplicate {
            fail(isDuplicate ? "a duplicate, but its account does not remember the id" : "\(result.outcome), but its account remembers the id", k, log)
        }
        if isDuplicate, let at = appliedAt[key] {
            if clock.contains(where: { $0.key != r.account && $0.value > at + window }) { reached.duplicatesAfterANeighboursJump += 1 }
            if r.isPurchase && !inWindow { reached.purchasesRedeliveredPastTheWindow += 1 }
        }
        guard result.outcome == .applied else { return }
        if r.isRedelivery {
            if r.type == "ai.usage" && appliedAt[key] != nil { reached.usageChargedAgainAfterItsWindow += 1 }
        }
        let clockAfter = max(clockBefore, r.eventTime)
        clock[r.account] = clockAfter
        appliedAt[key] = clockAfter
        if r.type == "credit.adjusted" { forever.insert(key) }
        if r.isPurchase { purchased.insert(key) }
        // Rule 3: a grant already expired on arrival is history alone.
        if r.type == "credit.grant.issued", let expires = r.expiresAt, expires <= clockAfter {
            reached.lateGrantsExpiredOnArrival += 1
            let b = before ?? Account(), a = after ?? Account()
            if a.balance != b.balance || a.entitlement != b.entitlement || a.granted != b.granted
                || (a.features?.requestPending ?? false) != (b.features?.requestPending ?? false) || result.alertCount + result.requestCount > 0 {
                fail("a grant expired on arrival changed the account or published something", k, log)
            }
        }
        // Rule 2: one content per published id, published once.
        for (id, bytes) in result.alerts.map({ ($0.id, $0.json()) }) + result.requests.map({ ($0.id, $0.json()) }) {
            if let earlier = published[id] {
                fail(earlier == bytes ? "id \(id) published twice" : "id \(id) published again with other content", k, log)
            }
            published[id] = bytes
        }
        // What the log reached.
        for alert in result.alerts {
            if alert.kind.isMember {
                reached.memberAlerts += 1; memberAlerted.insert("\(r.account)/\(alert.member ?? "")")
            } else if alert.kind == .runway {
                reached.runwayAlerts += 1
            } else {
                reached.balanceAlerts += 1
            }
            if alert.kind == .low && !config.thresholds.contains(Int64(alert.thresholdPercent)) { reached.ownThresholdAlerts += 1 }
        }
        reached.requests += result.requestCount
        if r.type == "credit.member.budget.set", let member = ["m0", "m1"].first(where: { r.json.contains("\"member\":\"\($0)\"") }) {
            let who = "\(r.account)/\(member)"
            if r.json.contains("\"monthly_credits\":null") {
                if memberAlerted.contains(who) { removedAfterAlert.insert(who) }
            } else if removedAfterAlert.remove(who) != nil {
                reached.budgetsSetAgainAfterAnAlert += 1
            }
        }
        if let a = after, a.hasPlan {
            if r.type == "credit.plan.assigned", r.json.contains("cycle_anchor"), before?.cycleStart != a.cycleStart,
               cycleStartsMet[r.account]?.contains(a.cycleStart) == true {
                reached.reAnchorsToAStartMetBefore += 1
            }
            cycleStartsMet[r.account, default: []].insert(a.cycleStart)
        }
    }
}
