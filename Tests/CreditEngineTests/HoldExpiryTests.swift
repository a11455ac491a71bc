import CreditConfig
import CreditEngine
import Testing

/// Hold events for tests (§15).
extension TestLedger {
    @discardableResult
    func holdRequest(_ account: String, _ hold: String, credits: String, ttl: Int? = nil, at time: String, id: String? = nil) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = [("hold_id", .s(hold)), ("credits", .n(credits))]
        if let ttl { data.append(("ttl_seconds", .n(String(ttl)))) }
        return apply(EventJSON.event("credit.hold.requested", account: account, id: id ?? "req-\(hold)-\(time)", time: time, data: data))
    }

    @discardableResult
    func holdExtend(_ account: String, _ hold: String, ttl: Int, at time: String) -> ApplyResult {
        apply(EventJSON.event("credit.hold.extended", account: account, id: "ext-\(hold)-\(time)", time: time,
                              data: [("hold_id", .s(hold)), ("ttl_seconds", .n(String(ttl)))]))
    }

    @discardableResult
    func holdRelease(_ account: String, _ hold: String, at time: String) -> ApplyResult {
        apply(EventJSON.event("credit.hold.released", account: account, id: "rel-\(hold)-\(time)", time: time,
                              data: [("hold_id", .s(hold))]))
    }

    /// The expiry the partition's owner writes, applied as the service applies it (record time:
    /// the wall clock when it was produced).
    @discardableResult
    func holdExpiry(_ expiry: HoldExpiry, producedAt: String) -> ApplyResult {
        apply(String(decoding: expiry.json(), as: UTF8.self), recordTime: producedAt)
    }

    func status(_ account: String, _ hold: String) -> Hold.Status? {
        ledger.account(account)?.holdBook?.hold(hold)?.status
    }
}

/// Holds expire without other traffic (§15): which holds a partition has due at a wall-clock
/// time, and the `credit.hold.expired` its owner writes for them.
@Suite struct HoldExpiryTests {
    static func t(_ text: String) -> Int64 { EventTime.parse(text)! }

    /// Every active hold with `expires_at` ≤ `time`, by brute force over the accounts.
    static func bruteForceDue(_ ledger: PartitionLedger, at time: Int64) -> [HoldExpiry] {
        var out: [(Int, Hold)] = []
        for i in 0..<ledger.accountCount {
            for h in ledger.accounts[i].holdBook?.holds ?? [] where h.isActive && h.expiresAt <= time { out.append((i, h)) }
        }
        return out.sorted { ($0.1.expiresAt, $0.0, $0.1.number) < ($1.1.expiresAt, $1.0, $1.1.number) }
            .map { HoldExpiry(account: ledger.accountID($0.0), holdID: $0.1.id, expiresAt: $0.1.expiresAt) }
    }

    @Test func theExpiryEventIsExactAndDeterministic() {
        let expiry = HoldExpiry(account: "acme", holdID: "run-7", expiresAt: Self.t("2026-11-01T01:00:00.250Z"))
        #expect(expiry.id == "acme/run-7/expired/2026-11-01T01:00:00.250Z")
        #expect(String(decoding: expiry.json(), as: UTF8.self) == """
            {"specversion":"1.0","id":"acme/run-7/expired/2026-11-01T01:00:00.250Z","source":"credit-meter",\
            "type":"credit.hold.expired","subject":"acme","time":"2026-11-01T01:00:00.250Z","datacontenttype":"application/json",\
            "data":{"hold_id":"run-7","expires_at":"2026-11-01T01:00:00.250Z"}}
            """)
        // Text that needs escaping is escaped; the same hold always gives the same bytes.
        let odd = HoldExpiry(account: "a\"b", holdID: "h\\1", expiresAt: Self.t("2026-11-01T00:00:00Z"))
        #expect(String(decoding: odd.json(), as: UTF8.self).contains(#""id":"a\"b/h\\1/expired/2026-11-01T00:00:00Z""#))
        #expect(odd.json() == HoldExpiry(account: "a\"b", holdID: "h\\1", expiresAt: Self.t("2026-11-01T00:00:00Z")).json())
    }

    @Test func dueHoldsFollowRequestsExtensionsReleasesAndEnds() throws {
        let l = try TestLedger()
        l.plan("acme", "trial", at: "2026-11-01T00:00:00Z")
        l.plan("beta", "trial", at: "2026-11-01T00:00:00Z")
        #expect(l.ledger.dueHolds(at: Self.t("2100-01-01T00:00:00Z")).isEmpty)
        l.holdRequest("acme", "h1", credits: "10", ttl: 60, at: "2026-11-01T00:00:00Z")     // expires 00:01:00
        l.holdRequest("acme", "h2", credits: "10", ttl: 120, at: "2026-11-01T00:00:00Z")    // 00:02:00
        l.holdRequest("beta", "h1", credits: "10", ttl: 60, at: "2026-11-01T00:00:00Z")     // 00:01:00
        l.holdRequest("beta", "big", credits: "1000", ttl: 10, at: "2026-11-01T00:00:00Z")  // denied: never due
        #expect(l.status("beta", "big") == .denied)
        #expect(l.ledger.dueHolds(at: Self.t("2026-11-01T00:00:59.999Z")).isEmpty)
        #expect(l.ledger.dueHolds(at: Self.t("2026-11-01T00:01:00Z")) == [
            HoldExpiry(account: "acme", holdID: "h1", expiresAt: Self.t("2026-11-01T00:01:00Z")),
            HoldExpiry(account: "beta", holdID: "h1", expiresAt: Self.t("2026-11-01T00:01:00Z")),
        ])
        // An extension moves the expiry (later or earlier); a release ends the hold.
        l.holdExtend("acme", "h1", ttl: 600, at: "2026-11-01T00:00:30Z")  // 00:10:30
        l.holdExtend("acme", "h2", ttl: 5, at: "2026-11-01T00:00:31Z")    // 00:00:36
        l.holdRelease("beta", "h1", at: "2026-11-01T00:00:40Z")
        #expect(l.ledger.dueHolds(at: Self.t("2026-11-01T00:00:35Z")).isEmpty)
        #expect(l.ledger.dueHolds(at: Self.t("2026-11-01T00:09:00Z")) == [HoldExpiry(account: "acme", holdID: "h2", expiresAt: Self.t("2026-11-01T00:00:36Z"))])
        // The expiry the owner writes ends the hold once; a second copy is a duplicate.
        let expiry = HoldExpiry(account: "acme", holdID: "h2", expiresAt: Self.t("2026-11-01T00:00:36Z"))
        #expect(l.holdExpiry(expiry, producedAt: "2026-11-01T00:00:37Z").outcome == .applied)
        #expect(l.status("acme", "h2") == .expired)
        #expect(l.ledger.account("acme")?.holdBook?.hold("h2")?.endedAt == Self.t("2026-11-01T00:00:36Z"))
        #expect(l.holdExpiry(expiry, producedAt: "2026-11-01T00:00:38Z").outcome == .duplicate)
        #expect(l.ledger.counters.holdsExpired == 1)
        #expect(l.ledger.dueHolds(at: Self.t("2026-11-01T00:09:00Z")).isEmpty)
        // An expiry for an `expires_at` the hold no longer has changes nothing (the extension won).
        let stale = HoldExpiry(account: "acme", holdID: "h1", expiresAt: Self.t("2026-11-01T00:01:00Z"))
        #expect(l.holdExpiry(stale, producedAt: "2026-11-01T00:01:01Z").outcome == .applied)
        #expect(l.status("acme", "h1") == .active)
        #expect(l.ledger.dueHolds(at: Self.t("2026-11-01T00:10:30Z")) == [HoldExpiry(account: "acme", holdID: "h1", expiresAt: Self.t("2026-11-01T00:10:30Z"))])
        // Any later event of the account expires it too (the pass before each event).
        l.usage("acme", "chat", at: "2026-11-01T00:11:00Z")
        #expect(l.status("acme", "h1") == .expired)
        #expect(l.ledger.dueHolds(at: Self.t("2100-01-01T00:00:00Z")).isEmpty)
        #expect(l.ledger.counters.holdsExpired == 2 && l.ledger.counters.holdsReleased == 1)
    }

    /// The index is built from the accounts' hold books the first time it is asked (a restored
    /// ledger), kept by `apply` from then on: both answer as a scan of every hold would, at every
    /// step of a random history of hold events.
    @Test(arguments: [UInt64(1), 2, 3, 4])
    func theIndexAnswersAsAScanWhetherBuiltFirstOrLast(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let kept = try TestLedger(), late = try TestLedger()
        let accounts = ["a", "b", "c", "d", "e"]
        let start = Self.t("2026-11-01T00:00:00Z")
        for l in [kept, late] { for a in accounts { l.plan(a, "trial", at: "2026-11-01T00:00:00Z") } }
        #expect(kept.ledger.dueHolds(at: start).isEmpty)  // builds `kept`'s index now, empty
        var now = start
        var requested: [String: [String]] = [:]
        var answered = 0
        for step in 0..<400 {
            now += Int64.random(in: 0...20, using: &rng) * 1_000_000_000
            let time = EventTime.format(now)
            let a = accounts.randomElement(using: &rng)!
            let kind = Int.random(in: 0..<10, using: &rng), ttl = Int.random(in: 1...90, using: &rng)
            // A request names a new hold; an extension or a release one the account asked for.
            let hold = kind < 4 ? "h\(step)" : requested[a, default: []].randomElement(using: &rng) ?? "none"
            if kind < 4 { requested[a, default: []].append(hold) }
            for l in [kept, late] {
                switch kind {
                case 0..<4: l.holdRequest(a, hold, credits: "1", ttl: ttl, at: time)
                case 4..<6: l.holdExtend(a, hold, ttl: ttl, at: time)
                case 6..<8: l.holdRelease(a, hold, at: time)
                default: l.usage(a, "chat", at: time, id: "u\(step)")
                }
            }
            let probe = now + Int64.random(in: -30...60, using: &rng) * 1_000_000_000
            let due = kept.ledger.dueHolds(at: probe)
            #expect(due == Self.bruteForceDue(kept.ledger, at: probe), "step \(step)")
            if !due.isEmpty { answered += 1 }
        }
        #expect(answered > 50, "holds were due at only \(answered) probes")
        #expect(late.ledger.dueHolds(at: now + 100_000_000_000) == Self.bruteForceDue(late.ledger, at: now + 100_000_000_000))
        #expect(kept.ledger.dueHolds(at: now + 100_000_000_000) == late.ledger.dueHolds(at: now + 100_000_000_000))
        #expect(kept.rejections.isEmpty && late.rejections.isEmpty)
    }
}
