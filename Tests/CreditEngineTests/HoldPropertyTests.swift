import Foundation
import Testing
import CreditEngine

/// Random logs of holds (contract §15) beside ordinary traffic — plans, grants with expiries,
/// top-ups, adjustments, voids, member budgets, usage with and without a `hold_id`, requests by
/// credits and by action with a multiplier, repeats (new event ids, other key orders, defaults
/// written out or left out), conflicts, extends, releases, the owner's `credit.hold.expired`
/// (also for an `expires_at` an extend replaced), redeliveries, late events and days-long
/// gaps — checked record by record against `HoldModel`, written from the contract alone:
///
/// 1. every record's outcome, every hold event's report (the hold, repeated, available) and,
///    after every record, the account's whole hold book (ids, order, status, denial, held,
///    settled, remaining, member, workflow, expires_at) and available credits are the model's;
/// 2. each granted hold fit in available when decided (counting only the grant credits that
///    do not expire before its `expires_at`), so available after a grant is never negative;
/// 3. the counters are the model's;
/// 4. the same log over one ledger and over one ledger per account gives every record the same outcome and every account the same holds;
/// 5. every ledger conserves credits (`audit()`);
/// 6. each ledger is snapshotted and restored once mid-log (the restored one encodes to the
///    same bytes) and every check after it holds as if it had never stopped.
///
/// Seeded: a failure names the seed and the record.
@Suite struct HoldPropertyTests {
    static let seedsPerCase = 80

    /// 400 seeds in 5 parallel cases; each case shows its logs reached every corner.
    @Test(arguments: 0..<5)
    func holdsFollowTheContract(chunk: Int) throws {
        let config = try Fixtures.engine(cards: [Fixtures.card(ModelCard.yaml)])
        var reached = HoldCheck.Reached()
        for seed in (chunk * Self.seedsPerCase)..<((chunk + 1) * Self.seedsPerCase) {
            let check = try HoldCheck(config: config, seed: seed)
            try check.run()
            reached.add(check.reached)
            if check.failed { break }
        }
        for reason in ["unknown_account", "unknown_action", "unknown_model", "too_many_holds", "insufficient_credits",
                       "member_budget_exhausted"] {
            #expect(reached.denials[reason, default: 0] > 0, "no \(reason) denial")
        }
        #expect(reached.granted > 0 && reached.repeats > 0 && reached.repeatedDenials > 0 && reached.conflicts > 0)
        #expect(reached.expiredByPass > 0 && reached.expiredAtTheOwnersEvent > 0 && reached.staleExpiries > 0)
        #expect(reached.forgotten > 0 && reached.reusedAfterForgetting > 0)
        #expect(reached.settled > 0 && reached.overspent > 0 && reached.unheld > 0 && reached.unheldOnEnded > 0)
        #expect(reached.extended > 0 && reached.extendedEnded > 0 && reached.released > 0 && reached.releasedEnded > 0)
        #expect(reached.holdDuplicates > 0 && reached.negativeAvailable > 0 && reached.deniedByExpiringGrants > 0)
        #expect(reached.grantedAtTheEdge > 0 && reached.grantedAtTheMembersEdge > 0 && reached.lateRequests > 0 && reached.lateExtends > 0)
        #expect(reached.grantedExpiringWithAGrant > 0)
        #expect(reached.restores >= 2 * Self.seedsPerCase)
    }
}

/// One record of a generated log, with what the model needs to read it.
struct HoldRecord {
    var json: String
    var account: String
    var source: String
    var id: String
    var time: Int64
    var recordTime: Int64
    var forever: Bool
    var kind: HoldModel.Kind
}

/// Generates a log for one seed and applies it, record by record, to the model and to two
/// spreads of ledgers.
final class HoldCheck {
    static let hour = EventTime.nanosPerHour
    static let day = EventTime.nanosPerDay
    static let second = EventTime.nanosPerSecond

    let config: EngineConfiguration
    let seed: Int
    let decoder = EventDecoder()
    var rng: SplitMix
    var model: HoldModel
    private(set) var failed = false
    /// During a burst the whole book is compared once, at its end.
    private var inBurst = false

    /// The accounts of the random traffic, and those with "crowd" (the burst's own account).
    let traffic: [String]
    let accounts: [String]
    var together: PartitionLedger
    var alone: [PartitionLedger]
    var log: [HoldRecord] = []
    var now: Int64
    var counter = 0
    /// The hold ids requested per account, with the data of their first request.
    var requested: [String: [(id: String, request: HoldModel.Request)]] = [:]
    /// Grant and top-up ids per account (for voids).
    var purchases: [String: [String]] = [:]
    /// expires_at values a hold had before an extend replaced them (the owner's stale expiries).
    var replacedExpiries: [(account: String, hold: String, expiresAt: Int64)] = []
    var lastRequested: String?

    struct Reached {
        var denials: [String: Int] = [:]
        var granted = 0, repeats = 0, repeatedDenials = 0, conflicts = 0
        var expiredByPass = 0, expiredAtTheOwnersEvent = 0, staleExpiries = 0
        var forgotten = 0, reusedAfterForgetting = 0
        var settled = 0, overspent = 0, unheld = 0, unheldOnEnded = 0
        var extended = 0, extendedEnded = 0, released = 0, releasedEnded = 0
        var holdDuplicates = 0, negativeAvailable = 0, deniedByExpiringGrants = 0, grantedAtTheEdge = 0
        var grantedAtTheMembersEdge = 0, lateRequests = 0, lateExtends = 0, grantedExpiringWithAGrant = 0
        var restores = 0

        mutating func add(_ o: Reached) {
            denials.merge(o.denials, uniquingKeysWith: +)
            granted += o.granted; repeats += o.repeats; repeatedDenials += o.repeatedDenials; conflicts += o.conflicts
            expiredByPass += o.expiredByPass; expiredAtTheOwnersEvent += o.expiredAtTheOwnersEvent; staleExpiries += o.staleExpiries
            forgotten += o.forgotten; reusedAfterForgetting += o.reusedAfterForgetting
            settled += o.settled; overspent += o.overspent; unheld += o.unheld; unheldOnEnded += o.unheldOnEnded
            extended += o.extended; extendedEnded += o.extendedEnded; released += o.released; releasedEnded += o.releasedEnded
            holdDuplicates += o.holdDuplicates; negativeAvailable += o.negativeAvailable
            deniedByExpiringGrants += o.deniedByExpiringGrants; grantedAtTheEdge += o.grantedAtTheEdge
            grantedAtTheMembersEdge += o.grantedAtTheMembersEdge; lateRequests += o.lateRequests; lateExtends += o.lateExtends
            grantedExpiringWithAGrant += o.grantedExpiringWithAGrant
            restores += o.restores
        }
    }
    private(set) var reached = Reached()
    /// Ids forgotten per account (a request naming one again is a new hold).
    private var forgottenIDs: Set<String> = []

    init(config: EngineConfiguration, seed: Int) throws {
        self.config = config
        self.seed = seed
        // The seed goes through one SplitMix step first: seeds a multiple of its increment
        // apart would walk one stream shifted by a step.
        var mixer = SplitMix(seed: UInt64(seed))
        rng = SplitMix(seed: mixer.next())
        model = HoldModel(windowHours: config.dedupeWindowHours, card: ModelCard())
        // "late" has no state for the first part of the log: its hold events meet no account.
        traffic = (0..<(2 + rng.below(3))).map { "a\($0)" } + ["late"]
        accounts = traffic + ["crowd"]
        together = PartitionLedger(config: config)
        alone = accounts.map { _ in PartitionLedger(config: config) }
        now = EventTime.parse("2026-11-01T00:00:00Z")! + Int64(rng.below(48)) * Self.hour
    }

    // MARK: Generating

    func run() throws {
        let steps = 70 + rng.below(90)
        let burstAt = seed % HoldPropertyTests.seedsPerCase == 5 ? rng.below(steps) : -1
        // Where the ledgers stop and restore from their snapshots (not drawn from `rng`, so the
        // logs stay those of the seed): every later check holds as if they had never stopped.
        let restoreOneAt = steps / 2 + seed % 7, restoreEachAt = steps / 3 + seed % 5
        for k in 0..<steps {
            if failed { return }
            if k == restoreOneAt { together = try restored(together) }
            if k == restoreEachAt { alone = try alone.map(restored) }
            now += Int64(rng.below(40)) * 60 * Self.second
            ownerExpiries()
            if k == burstAt { burst(); continue }
            let lateStarted = k > steps / 4
            let creditAccounts = lateStarted ? traffic : traffic.filter { $0 != "late" }
            // Most records go to the account of the latest request, so holds meet their usage.
            let focus = rng.chance(60) ? lastRequested : nil
            let account = focus ?? traffic[rng.below(traffic.count)]
            let creditAccount = focus.flatMap { creditAccounts.contains($0) ? $0 : nil } ?? creditAccounts[rng.below(creditAccounts.count)]
            switch rng.below(100) {
            case 0..<5: plan(creditAccount)
            case 5..<10: grant(creditAccount)
            case 10..<13: topup(creditAccount)
            case 13..<17: adjust(creditAccount)
            case 17..<19: void(creditAccount)
            case 19..<22: budget(creditAccount)
            case 22..<37: usage(creditAccount, at: now)
            case 37..<55: request(account, newRequest(), id: "h\(counter)")
            case 55..<61: repeatOrConflict(account)
            case 61..<66: extend(account)
            case 66..<71: release(account)
            case 71..<75: staleExpiry()
            case 75..<83: redeliver()
            case 83..<88:  // a late event: its time some hours behind
                let late = now - Int64(1 + rng.below(30)) * Self.hour
                if rng.chance(50) { usage(creditAccount, at: late) } else { request(account, newRequest(), id: "h\(counter)", at: late) }
            case 88..<92:  // days pass: holds expire and, after 7 days, are forgotten
                now += Int64(1 + rng.below(9)) * Self.day + Int64(rng.below(24)) * Self.hour
            default:  // a request sized to the account's available credits exactly (the edge)
                edgeRequest(account)
            }
        }
        try finish()
    }

    private func emit(_ type: String, _ account: String, at time: Int64? = nil, source: String = "test", id: String? = nil,
                      forever: Bool = false, _ kind: HoldModel.Kind, _ data: [(String, EventJSON.Value)]) {
        counter += 1
        let id = id ?? "e\(counter)"
        let t = time ?? now
        let json = EventJSON.event(type, account: account, id: id, time: EventTime.format(t), source: source, data: data)
        apply(HoldRecord(json: json, account: account, source: source, id: id, time: t, recordTime: max(now, t),
                         forever: forever, kind: kind))
    }

    private func plan(_ account: String) {
        var data: [(String, EventJSON.Value)] = rng.chance(70) ? [("plan", .s(["trial", "basic", "pro"][rng.below(3)]))]
            : [("monthly_credits", .n(String(10 + rng.below(300))))]
        if rng.chance(20) { data.append(("cycle_anchor", .s(EventTime.format(now)))) }
        emit("credit.plan.assigned", account, .credit, data)
    }

    private func grant(_ account: String) {
        var data: [(String, EventJSON.Value)] = [("credits", .n(Credits.format(Int64(1 + rng.below(200_000)))))]
        if rng.chance(60) {
            data.append(("expires_at", .s(EventTime.format(now + Int64(1 + rng.below(200)) * Self.hour + Int64(rng.below(3600)) * Self.second))))
        }
        emit("credit.grant.issued", account, forever: true, .credit, data)
        purchases[account, default: []].append("e\(counter)")
    }

    private func topup(_ account: String) {
        emit("credit.topup.purchased", account, forever: true, .credit, [("credits", .n(String(10 + rng.below(400))))])
        purchases[account, default: []].append("e\(counter)")
    }

    private func adjust(_ account: String) {
        let credits = (rng.chance(65) ? "-" : "") + String(1 + rng.below(250))
        emit("credit.adjusted", account, source: "ops", forever: true, .credit, [("credits", .n(credits)), ("reason", .s("ops"))])
    }

    private func void(_ account: String) {
        guard let ids = purchases[account], !ids.isEmpty else { return }
        emit("credit.grant.voided", account, .credit, [("grant_id", .s(ids[rng.below(ids.count)])), ("reason", .s("refund"))])
    }

    private func budget(_ account: String) {
        emit("credit.member.budget.set", account, .credit,
             [("member", .s("m\(rng.below(2))")), ("monthly_credits", rng.chance(15) ? .null : .n(String(1 + rng.below(120))))])
    }

    /// Usage, with a `hold_id` half the time: one of the account's (active or ended) or an unknown one.
    private func usage(_ account: String, at time: Int64) {
        let action = ["chat", "search", "think", "free"][rng.below(4)]
        let quantity = Int64(1 + rng.below(6))
        let tokens = rng.chance(40) ? Int64(rng.below(90_000)) : 0
        let modelName: String? = rng.chance(30) ? ["standard", "reasoning", "reasoning", "gpt-x"][rng.below(4)] : nil
        var data: [(String, EventJSON.Value)] = [("action", .s(action)), ("quantity", .n(String(quantity)))]
        if tokens > 0 { data.append(("input_tokens", .n(String(tokens)))) }
        if let modelName { data.append(("model", .s(modelName))) }
        if rng.chance(40) { data.append(("member", .s("m\(rng.below(2))"))) }
        var holdID: String?
        if rng.chance(55) {
            if let ids = requested[account], !ids.isEmpty, rng.chance(85) {
                holdID = ids[ids.count - 1 - rng.below(min(ids.count, 8))].id
            } else {
                holdID = "nohold\(rng.below(3))"
            }
            data.append(("hold_id", .s(holdID!)))
        }
        // A price the model's card gives; an unknown model is dead-lettered by the ledger.
        let priced = ModelCard().price(action: action, quantity: quantity, model: modelName, inputTokens: tokens)
        let price: Int64 = if case .price(let p) = priced { p } else { 0 }
        emit("ai.usage", account, at: time, .usage(holdID: holdID, price: price), data)
    }

    /// The data of a new request: credits, or an action (sometimes unknown, or with an unknown model).
    private func newRequest() -> HoldModel.Request {
        var r = HoldModel.Request()
        if rng.chance(50) {
            r.credits = rng.chance(70) ? Int64(1 + rng.below(150_000)) : Int64(1 + rng.below(3)) * 1_000
        } else {
            r.action = rng.chance(6) ? "teleport" : ["chat", "search", "think", "free"][rng.below(4)]
            r.quantity = Int64(1 + rng.below(8))
            if rng.chance(35) { r.model = rng.chance(20) ? "gpt-x" : ["standard", "reasoning"][rng.below(2)] }
            if rng.chance(40) { r.inputTokens = Int64(rng.below(120_000)) }
            if rng.chance(50) { r.multiplier = Int64(1 + rng.below(7)) }
        }
        if rng.chance(60) {
            r.ttl = [60, 600, 3600, 7200, 86_400, 3 * 86_400, 604_800][rng.below(7)] - (rng.chance(30) ? Int64(rng.below(50)) : 0)
        }
        if rng.chance(40) {
            r.member = "m\(rng.below(2))"
            if r.credits != nil { r.credits = Int64(1 + rng.below(30_000)) }
        }
        if rng.chance(25) { r.workflow = ["agent run", "nightly/sync", "ünïcode"][rng.below(3)] }
        return r
    }

    /// A request's `data`: defaults sometimes written out, keys in a random order.
    private func requestData(_ holdID: String, _ r: HoldModel.Request) -> [(String, EventJSON.Value)] {
        var pairs: [(String, EventJSON.Value)] = [("hold_id", .s(holdID))]
        if let c = r.credits { pairs.append(("credits", .n(Credits.format(c)))) }
        if let a = r.action {
            pairs.append(("action", .s(a)))
            if r.quantity != 1 || rng.chance(30) { pairs.append(("quantity", .n(String(r.quantity)))) }
            if let m = r.model { pairs.append(("model", .s(m))) }
            if r.inputTokens != 0 || rng.chance(20) { pairs.append(("input_tokens", .n(String(r.inputTokens)))) }
            if r.multiplier != 1 || rng.chance(30) { pairs.append(("multiplier", .n(String(r.multiplier)))) }
        }
        if r.ttl != 3600 || rng.chance(30) { pairs.append(("ttl_seconds", .n(String(r.ttl)))) }
        if let m = r.member { pairs.append(("member", .s(m))) }
        if let w = r.workflow { pairs.append(("workflow", .s(w))) }
        pairs.shuffle(using: &rng)
        return pairs
    }

    private func request(_ account: String, _ r: HoldModel.Request, id holdID: String, at time: Int64? = nil) {
        lastRequested = account
        if !requested[account, default: []].contains(where: { $0.id == holdID }) {
            requested[account, default: []].append((holdID, r))
        }
        if forgottenIDs.contains(account + "/" + holdID), model.accounts[account]?.holds[holdID] == nil { reached.reusedAfterForgetting += 1 }
        emit("credit.hold.requested", account, at: time, source: rng.chance(70) ? "credit-meter/http" : "billing",
             .request(holdID: holdID, r), requestData(holdID, r))
    }

    /// A request naming an earlier hold id: the same data (a repeat) or, now and then, other data.
    private func repeatOrConflict(_ account: String) {
        guard let ids = requested[account], !ids.isEmpty else { return request(account, newRequest(), id: "h\(counter)") }
        let (id, first) = ids[rng.chance(60) ? ids.count - 1 - rng.below(min(ids.count, 4)) : rng.below(ids.count)]
        var r = first
        if rng.chance(25) {  // other data: one field changed
            switch rng.below(5) {
            case 0: if r.credits != nil { r.credits! += 1 } else { r.quantity += 1 }
            case 1: r.member = r.member == nil ? "m0" : nil
            case 2: r.workflow = r.workflow == "other" ? nil : "other"
            case 3: r.ttl = r.ttl == 3600 ? 3601 : 3600
            default: if r.credits != nil { r.credits! *= 2 } else { r.multiplier += 1 }
            }
        }
        request(account, r, id: id)
    }

    /// A request for exactly what the model says is available now (or one millicredit more):
    /// for an hour, without the grants that expire within it, or for a week, with every grant
    /// (so those expiring within the week deny it).
    private func edgeRequest(_ account: String) {
        guard let a = together.account(account), model.accounts[account]?.exists == true else {
            return request(account, newRequest(), id: "h\(counter)")
        }
        var r = HoldModel.Request()
        let available = model.available(account, balance: a.balance)
        let member = "m\(rng.below(2))"
        if rng.chance(35), let b = together.view(together.accountIndex(account)!).memberBudget(member) {
            // Exactly what the member's budget leaves (or one millicredit more).
            let holds = model.accounts[account]!.holds.values
            let remaining = holds.reduce(Int64(0)) { $0 + ($1.status == .active && $1.member == member ? $1.remaining : 0) }
            r.member = member
            r.credits = b.budget - b.used - remaining + (rng.chance(30) ? 1 : 0)
        } else if rng.chance(40), let e = a.blocks.filter({ $0.kind == .grant && $0.expiresAt > max(now, a.clock) && $0.expiresAt != .max }).first,
                  (e.expiresAt - max(now, a.clock)) % Self.second == 0, (e.expiresAt - max(now, a.clock)) / Self.second <= 604_800 {
            // A hold that expires with a grant: the grant counts.
            r.ttl = (e.expiresAt - max(now, a.clock)) / Self.second
            r.credits = available - grantsExpiring(a, before: e.expiresAt)
            expiresWithAGrant = true
        } else if rng.chance(50) {
            r.credits = available - grantsExpiring(a, before: now + r.ttl * Self.second) + (rng.chance(30) ? 1 : 0)
        } else {
            r.ttl = 604_800
            r.credits = available
        }
        defer { expiresWithAGrant = false }
        guard r.credits! > 0 else { return request(account, newRequest(), id: "h\(counter)") }
        request(account, r, id: "h\(counter)")
    }

    /// The request being applied expires exactly with one of the account's grants.
    private var expiresWithAGrant = false

    private func extend(_ account: String) {
        let hold = pick(account)
        let ttl = Int64(rng.chance(50) ? [86_400, 604_800][rng.below(2)] : [1, 60, 3600, 7200][rng.below(4)])
        if let h = model.accounts[account]?.holds[hold], h.status == .active {
            replacedExpiries.append((account, hold, h.expiresAt))
        }
        emit("credit.hold.extended", account, at: lateOrNow(), .extend(holdID: hold, ttl: ttl),
             [("hold_id", .s(hold)), ("ttl_seconds", .n(String(ttl)))].shuffled(using: &rng))
    }

    private func release(_ account: String) {
        let hold = pick(account)
        emit("credit.hold.released", account, at: lateOrNow(), .release(holdID: hold), [("hold_id", .s(hold))])
    }

    /// Now, or now and then a few hours back (a late record).
    private func lateOrNow() -> Int64 { rng.chance(20) ? now - Int64(1 + rng.below(5 * 60)) * 60 * Self.second : now }

    /// A hold id of the account: mostly an active one, else a recent one (maybe ended or
    /// forgotten), now and then one never requested.
    private func pick(_ account: String) -> String {
        let active = (model.accounts[account]?.active ?? []).map(\.id).sorted()
        if !active.isEmpty && rng.chance(60) { return active[rng.below(active.count)] }
        guard let ids = requested[account], !ids.isEmpty, rng.chance(90) else { return "unknown\(rng.below(3))" }
        return ids[ids.count - 1 - rng.below(min(ids.count, 6))].id
    }

    /// The owner's `credit.hold.expired`: for an active hold whose `expires_at` the wall clock
    /// passed (usually; sometimes another event meets the expiry first).
    private func ownerExpiries() {
        var due: [(String, HoldModel.Hold)] = []
        for a in traffic {
            for h in model.accounts[a]?.holds.values ?? [:].values where h.status == .active && h.expiresAt < now {
                due.append((a, h))
            }
        }
        due.sort { ($0.1.expiresAt, $0.0, $0.1.id) < ($1.1.expiresAt, $1.0, $1.1.id) }
        for (a, h) in due where rng.chance(70) { expiredEvent(a, h.id, h.expiresAt) }
        // An owner that read the hold before an extend produces its old expiry too.
        if let k = replacedExpiries.firstIndex(where: { $0.expiresAt < now }) {
            let (a, hold, expiresAt) = replacedExpiries.remove(at: k)
            expiredEvent(a, hold, expiresAt)
        }
    }

    /// The owner's expiry for an `expires_at` an extend has replaced: it ends nothing.
    private func staleExpiry() {
        guard !replacedExpiries.isEmpty else { return }
        let (a, hold, expiresAt) = replacedExpiries.remove(at: rng.below(replacedExpiries.count))
        guard expiresAt <= now else { return replacedExpiries.append((a, hold, expiresAt)) }
        expiredEvent(a, hold, expiresAt)
    }

    private func expiredEvent(_ account: String, _ hold: String, _ expiresAt: Int64) {
        let at = EventTime.format(expiresAt)
        emit("credit.hold.expired", account, at: expiresAt, source: "credit-meter", id: "\(account)/\(hold)/expired/\(at)",
             .expired(holdID: hold, expiresAt: expiresAt), [("hold_id", .s(hold)), ("expires_at", .s(at))])
    }

    /// A record sent again: recent or any, now.
    private func redeliver() {
        guard !log.isEmpty else { return }
        var again = log[rng.chance(60) ? log.count - 1 - rng.below(min(log.count, 5)) : rng.below(log.count)]
        again.recordTime = max(now, again.recordTime)
        apply(again)
    }

    /// 1,001 small requests at one instant on an account of their own: the last meets 1,000
    /// active holds. The account sees no traffic after it.
    private func burst() {
        inBurst = true
        defer { inBurst = false }
        let account = "crowd"
        emit("credit.topup.purchased", account, forever: true, .credit, [("credits", .n("5000"))])
        for i in 0..<(HoldModel.maxActive + 1 - (model.accounts[account]?.activeCount ?? 0)) {
            var r = HoldModel.Request()
            r.credits = 1
            r.ttl = 604_800
            request(account, r, id: "burst\(i)")
        }
        lastRequested = nil
        inBurst = false
        if let a = together.account(account) { compareBook(log.last!, a) }
    }

    // MARK: Applying and checking

    /// The ledger after a snapshot and a restore (contract §8), which must encode to the same
    /// bytes again.
    private func restored(_ ledger: PartitionLedger) throws -> PartitionLedger {
        let bytes = SnapshotCodec.encode(ledger, topic: "ai.usage", partition: 0, nextOffset: Int64(log.count), metadata: 0)
        let (back, _) = try SnapshotCodec.decode(bytes, config: config)
        if SnapshotCodec.encode(back, topic: "ai.usage", partition: 0, nextOffset: Int64(log.count), metadata: 0) != bytes {
            Issue.record("seed \(seed), record \(log.count): the restored ledger encodes to other bytes")
            failed = true
        }
        reached.restores += 1
        return back
    }

    private func apply(_ r: HoldRecord, to ledger: PartitionLedger) -> ApplyResult {
        var bytes = Array(r.json.utf8)
        var key = Array(r.account.utf8)
        return bytes.withUnsafeMutableBytes { raw in
            let e: DecodedEvent
            do throws(DecodeFailure) { e = try decoder.decode(UnsafeRawBufferPointer(raw)) } catch {
                fail("a generated record does not decode (\(error))", r)
                return ApplyResult(outcome: .rejected(.decode(error)))
            }
            return key.withUnsafeMutableBytes { ledger.apply(e, key: UnsafeRawBufferPointer($0), recordTime: r.recordTime) }
        }
    }

    private func fail(_ what: String, _ r: HoldRecord) {
        guard !failed else { return }
        failed = true
        Issue.record("seed \(seed), record \(log.count) (\(r.json), record time \(EventTime.format(r.recordTime))): \(what)")
    }

    private func grantsExpiring(_ a: Account, before time: Int64) -> Int64 {
        a.blocks.reduce(0) { $0 + ($1.kind == .grant && $1.expiresAt < time ? $1.remaining : 0) }
    }

    private func apply(_ r: HoldRecord) {
        log.append(r)
        let before = model.accounts[r.account]
        let result = apply(r, to: together)
        let other = apply(r, to: alone[accounts.firstIndex(of: r.account)!])
        if other.outcome != result.outcome { fail("outcome \(other.outcome) in its own ledger, \(result.outcome) in one", r) }
        let rejected: Bool = if case .rejected = result.outcome { true } else { false }
        let after = together.account(r.account)
        let step = model.apply(account: r.account, source: r.source, id: r.id, time: r.time, forever: r.forever, kind: r.kind,
                               ledgerRejected: rejected) {
            let a = after!
            let view = self.together.view(self.together.accountIndex(r.account)!)
            return HoldModel.CreditSide(balance: a.balance, grantsExpiringBefore: { self.grantsExpiring(a, before: $0) },
                                        budget: { view.memberBudget($0) })
        }
        // Rule 1: the outcome.
        switch (step.outcome, result.outcome) {
        case (.noAccount, .applied):
            if result.account != -1 || after != nil { fail("a hold event for an account with no state left state behind", r) }
            if case .request = r.kind { reached.denials["unknown_account", default: 0] += 1 }
        case (.duplicate, .duplicate):
            if r.kind.isHold { reached.holdDuplicates += 1 }
        case (.conflict, .rejected(.holdConflict)):
            reached.conflicts += 1
        case (.rejected, .rejected), (.applied, .applied):
            break
        default:
            return fail("the model says \(step.outcome), the ledger \(result.outcome)", r)
        }
        if case .usage(_, let price) = r.kind, result.outcome == .applied, result.charged != price {
            fail("charged \(result.charged), the model's card prices \(price)", r)
        }
        guard let a = after else { return }
        let available = model.available(r.account, balance: a.balance)
        // The report of a hold event.
        if r.kind.isHold && step.outcome != .duplicate && step.outcome != .conflict {
            guard let report = result.hold else { return fail("a hold event without a report", r) }
            if step.outcome == .noAccount {
                if report.hold != nil || report.available != nil { fail("a report for an account with no state names a hold", r) }
            } else {
                if report.repeated != step.repeated { fail("repeated \(report.repeated), the model \(step.repeated)", r) }
                if report.available != available { fail("available \(String(describing: report.available)), the model \(available)", r) }
                compare(report.hold, step.hold, r, "the report's hold")
            }
        }
        if step.outcome == .applied { observe(r, step, before: before, available: available) }
        // The whole book, after every record of the account.
        compareBook(r, a)
        // Rule 3: the counters.
        let c = together.counters
        let mine = HoldModel.Counters(granted: c.holdsGranted, denied: c.holdsDenied, released: c.holdsReleased,
                                      expired: c.holdsExpired, unheld: c.usageUnheld)
        if mine != model.counters { fail("counters \(mine), the model \(model.counters)", r) }
    }

    /// What the step reached, and rule 2.
    private func observe(_ r: HoldRecord, _ step: HoldModel.Step, before: HoldModel.Account?, available: Int64) {
        let a = model.accounts[r.account]!
        reached.forgotten += step.forgotten
        if step.forgotten > 0, let before {
            for id in before.holds.keys where a.holds[id] == nil { forgottenIDs.insert(r.account + "/" + id) }
        }
        if step.expired > 0 {
            if case .expired = r.kind { reached.expiredAtTheOwnersEvent += 1 } else { reached.expiredByPass += 1 }
        }
        if available < 0 { reached.negativeAvailable += 1 }
        switch r.kind {
        case .request(let hid, _):
            guard let h = step.hold else { return }
            if step.repeated {
                reached.repeats += 1
                if h.status == .denied { reached.repeatedDenials += 1 }
            } else if h.status == .active {
                reached.granted += 1
                // Rule 2: it fit in available (with the grants expiring before it left out).
                if let fit = step.availableForRequest {
                    if fit < h.held { fail("granted \(h.held) with \(fit) available", r) }
                    if fit == h.held { reached.grantedAtTheEdge += 1 }
                }
                if available < 0 { fail("available \(available) after a grant", r) }
                if r.time < (before?.clock ?? .min) { reached.lateRequests += 1 }
                if expiresWithAGrant, let acct = together.account(r.account),
                   acct.blocks.contains(where: { $0.kind == .grant && $0.expiresAt == h.expiresAt && $0.remaining > 0 }) {
                    reached.grantedExpiringWithAGrant += 1
                }
                if let m = h.member, let b = together.view(together.accountIndex(r.account)!).memberBudget(m) {
                    let remaining = a.holds.values.reduce(Int64(0)) { $0 + ($1.status == .active && $1.member == m ? $1.remaining : 0) }
                    if b.used + remaining == b.budget { reached.grantedAtTheMembersEdge += 1 }
                }
            } else if let d = h.denial {
                reached.denials[d, default: 0] += 1
                if d == "insufficient_credits", let acct = together.account(r.account),
                   available - h.held >= 0, grantsExpiring(acct, before: h.expiresAt) > 0 {
                    reached.deniedByExpiringGrants += 1
                }
            }
            _ = hid
        case .usage(let hid, _):
            if step.settled, let h = a.holds[hid!] {
                reached.settled += 1
                if h.settled > h.held { reached.overspent += 1 }
            }
            if step.unheld {
                reached.unheld += 1
                if before?.holds[hid!] != nil { reached.unheldOnEnded += 1 }
            }
        case .extend(let hid, _):
            if before?.holds[hid]?.status == .active && a.holds[hid]?.status == .active {
                reached.extended += 1
                if r.time < before!.clock { reached.lateExtends += 1 }
            }
            else if let h = a.holds[hid], h.status != .active { reached.extendedEnded += 1 }
        case .release(let hid):
            if step.hold?.status == .released && before?.holds[hid]?.status == .active { reached.released += 1 }
            else if a.holds[hid] != nil { reached.releasedEnded += 1 }
        case .expired(let hid, let expiresAt):
            if a.holds[hid]?.expiresAt != expiresAt, a.holds[hid]?.status == .active { reached.staleExpiries += 1 }
        case .credit:
            break
        }
    }

    private func compare(_ engine: Hold?, _ mine: HoldModel.Hold?, _ r: HoldRecord, _ what: String) {
        switch (engine, mine) {
        case (nil, nil): return
        case (let e?, let m?):
            if Self.same(e, m) { return }
            fail("\(what): the ledger has\n  \(Self.describe(e))\nthe model\n  \(Self.describe(m))", r)
        default:
            fail("\(what): the ledger has \(engine.map(Self.describe) ?? "none"), the model \(mine.map(Self.describe) ?? "none")", r)
        }
    }

    static func status(_ s: Hold.Status) -> HoldModel.Status {
        switch s {
        case .active: .active
        case .denied: .denied
        case .released: .released
        case .expired: .expired
        }
    }

    static func same(_ e: Hold, _ m: HoldModel.Hold) -> Bool {
        e.id == m.id && status(e.status) == m.status && e.denial?.name == m.denial && e.held == m.held && e.settled == m.settled
            && e.remaining == m.remaining && e.member == m.member && e.workflow == m.workflow && e.expiresAt == m.expiresAt
            && e.endedAt == m.endedAt
    }

    static func describe(_ e: Hold) -> String {
        "\(e.id) \(e.status.name) \(e.denial?.name ?? "-") held \(e.held) settled \(e.settled) remaining \(e.remaining) member \(e.member ?? "-") workflow \(e.workflow ?? "-") expires \(EventTime.format(e.expiresAt)) ended \(e.endedAt == .max ? "-" : EventTime.format(e.endedAt))"
    }

    static func describe(_ m: HoldModel.Hold) -> String {
        "\(m.id) \(m.status) \(m.denial ?? "-") held \(m.held) settled \(m.settled) remaining \(m.remaining) member \(m.member ?? "-") workflow \(m.workflow ?? "-") expires \(EventTime.format(m.expiresAt)) ended \(m.endedAt == .max ? "-" : EventTime.format(m.endedAt))"
    }

    private func compareBook(_ r: HoldRecord, _ a: Account) {
        let available = model.available(r.account, balance: a.balance)
        if a.availableCredits != available { fail("available \(a.availableCredits), the model \(available)", r) }
        let mine = model.accounts[r.account]?.holds ?? [:]
        let engineHolds = a.holdBook?.holds ?? []
        // Large books: their counts and sums after every record, every hold every 8th.
        if inBurst || (mine.count > 64 && log.count % 8 != 0) {
            let m = model.accounts[r.account]!
            let activeHeld = m.holds.values.reduce(Int64(0)) { $0 + ($1.status == .active ? $1.held : 0) }
            let book = a.holdBook ?? HoldBook()
            if book.holds.count != mine.count || book.activeCount != m.activeCount || book.activeHeld != activeHeld
                || book.activeRemaining != m.activeRemaining {
                fail("the ledger's book has \(book.holds.count) holds, \(book.activeCount) active, held \(book.activeHeld), remaining \(book.activeRemaining); the model \(mine.count), \(m.activeCount), \(activeHeld), \(m.activeRemaining)", r)
            }
            return
        }
        let theirs = Set(engineHolds.map(\.id)), ours = Set(mine.keys)
        if theirs != ours {
            return fail("only the ledger remembers \(theirs.subtracting(ours).sorted()), only the model \(ours.subtracting(theirs).sorted())", r)
        }
        // Oldest first, in log order.
        var last = -1
        for h in engineHolds {
            let m = mine[h.id]!
            if m.number <= last { return fail("holds out of log order at \(h.id)", r) }
            last = m.number
            compare(h, m, r, "hold \(h.id)")
        }
    }

    /// Rule 4 and 5 at the end of the log.
    private func finish() throws {
        for (i, name) in accounts.enumerated() {
            let one = together.account(name)?.holdBook?.holds ?? []
            let own = alone[i].account(name)?.holdBook?.holds ?? []
            if one != own { Issue.record("seed \(seed): \(name)'s holds differ between one ledger and its own:\n\(one)\n\(own)"); failed = true }
            if together.account(name)?.availableCredits != alone[i].account(name)?.availableCredits {
                Issue.record("seed \(seed): \(name)'s available credits differ between one ledger and its own"); failed = true
            }
        }
        for l in [together] + alone {
            let audit = l.audit()
            if !audit.isClean { Issue.record("seed \(seed): conservation fails: \(audit.failures)"); failed = true }
        }
    }
}
