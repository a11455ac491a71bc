import Testing
import CreditEngine

/// Checks the conservation audit after a scenario, for every account and in total.
func expectConserved(_ t: TestLedger, sourceLocation: SourceLocation = #_sourceLocation) {
    let report = t.ledger.audit()
    #expect(report.failures.isEmpty, "conservation failed for \(report.failures)", sourceLocation: sourceLocation)
    #expect(report.totalConserved, sourceLocation: sourceLocation)
}

@Suite struct BurnOrderAndOverageTests {
    @Test func allowanceThenGrantsBySoonestExpiryThenTopupsOldestFirst() throws {
        let t = try TestLedger()
        t.topup("a", pack: nil, credits: "30", at: "2026-11-01T00:00:00Z")              // top-up #1
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")                                 // allowance 100
        t.grant("a", "20", at: "2026-11-01T01:00:00Z")                                   // never expires
        t.grant("a", "10", at: "2026-11-01T02:00:00Z", expires: "2026-11-20T00:00:00Z")  // expires later
        t.grant("a", "5", at: "2026-11-01T03:00:00Z", expires: "2026-11-10T00:00:00Z")   // expires soonest
        t.topup("a", pack: nil, credits: "40", at: "2026-11-01T04:00:00Z")              // top-up #2
        #expect(t.account("a").blocks.map(\.remaining) == [5_000, 10_000, 20_000, 30_000, 40_000])
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 10)  // 100: the allowance
        #expect(t.account("a").allowance == 0)
        #expect(t.account("a").blocks.map(\.remaining) == [5_000, 10_000, 20_000, 30_000, 40_000])
        t.usage("a", "action_execution", at: "2026-11-02T00:00:01Z")           // 15: 5 + 10
        #expect(t.account("a").blocks.map(\.remaining) == [20_000, 30_000, 40_000])
        t.usage("a", "knowledge_sync", at: "2026-11-02T00:00:02Z")             // 25: 20 + 5 of top-up #1
        #expect(t.account("a").blocks.map(\.remaining) == [25_000, 40_000])
        #expect(t.account("a").blocks.map(\.kind) == [.topup, .topup])
        #expect(t.balance("a") == 65_000)
        expectConserved(t)
    }

    @Test func aUsageEventIsChargedInFullAndOveragePaysDownFirst() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("a", "knowledge_sync", at: "2026-11-02T00:00:00Z", quantity: 5)  // 125 on 100
        var a = t.account("a")
        #expect(a.charged == 125_000)
        #expect(a.overage == 25_000)
        #expect(a.balance == -25_000)
        t.grant("a", "10", at: "2026-11-03T00:00:00Z")
        a = t.account("a")
        #expect(a.overage == 15_000)
        #expect(a.blocks.isEmpty)
        t.topup("a", at: "2026-11-04T00:00:00Z")  // pack-1000
        a = t.account("a")
        #expect(a.overage == 0)
        #expect(a.blocks.withoutOrigins == [Block(kind: .topup, remaining: 985_000)])
        #expect(a.entitlement == 1_110_000)  // 100 + 10 + 1000 (in full, even the part that paid overage)
        #expect(a.moneyPaidMicros == 10_000_000)
        expectConserved(t)
    }

    @Test func expiredGrantCreditsAreGoneAtExpiry() throws {
        let t = try TestLedger()
        t.grant("a", "50", at: "2026-11-01T00:00:00Z", expires: "2026-11-05T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-04T23:59:59Z")  // 10 from the grant
        #expect(t.balance("a") == 40_000)
        t.usage("a", "read_ticket", at: "2026-11-05T00:00:00Z")   // at expiry: gone
        let a = t.account("a")
        #expect(a.balance == 0)
        #expect(a.expired == 40_000)
        expectConserved(t)
    }

    @Test func adjustmentsBurnOrBecomeGrants() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", quantity: 7)  // allowance 30 left
        t.grant("a", "100", at: "2026-11-02T01:00:00Z", expires: "2026-12-15T00:00:00Z")
        t.adjust("a", "-50", at: "2026-11-03T00:00:00Z")   // 30 allowance + 20 grant
        var a = t.account("a")
        #expect(a.allowance == 0)
        #expect(a.blocks.map(\.remaining) == [80_000])
        t.adjust("a", "-100", at: "2026-11-03T01:00:00Z")  // 80 grant + 20 overage
        a = t.account("a")
        #expect(a.overage == 20_000)
        #expect(a.balance == -20_000)
        t.adjust("a", "70.5", at: "2026-11-03T02:00:00Z")  // pays 20, 50.5 becomes a non-expiring grant
        a = t.account("a")
        #expect(a.overage == 0)
        #expect(a.blocks.withoutOrigins == [Block(kind: .grant, remaining: 50_500)])
        #expect(a.adjusted == -79_500)
        #expect(a.entitlement == 200_000)  // adjustments do not change entitlement
        expectConserved(t)
    }
}

@Suite struct CycleTests {
    @Test func lazyResetInEventTimeWithMonthEndAnchors() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2027-01-31T10:00:00Z")
        t.usage("a", "web_research", at: "2027-02-10T00:00:00Z", quantity: 30)  // 300 of 500
        var a = t.account("a")
        #expect(EventTime.format(a.cycleEnd) == "2027-02-28T10:00:00Z")
        #expect(a.usedThisCycle == 300_000)
        t.usage("a", "chat", at: "2027-02-28T10:00:00Z")  // first event of the new cycle
        a = t.account("a")
        #expect(EventTime.format(a.cycleStart) == "2027-02-28T10:00:00Z")
        #expect(EventTime.format(a.cycleEnd) == "2027-03-31T10:00:00Z")
        #expect(a.allowance == 499_000)
        #expect(a.usedThisCycle == 1_000)
        #expect(a.expired == 200_000)  // no rollover
        // Skip two cycles at once: each started and forfeited its allowance.
        t.usage("a", "chat", at: "2027-05-31T10:00:00Z")
        a = t.account("a")
        #expect(EventTime.format(a.cycleStart) == "2027-05-31T10:00:00Z")
        #expect(a.granted == 500_000 * 5)
        #expect(a.moneyPaidMicros == 39_000_000 * 5)
        expectConserved(t)
    }

    @Test func lateEventsApplyToTheCurrentCycle() throws {
        let t = try TestLedger()
        t.plan("a", "basic", at: "2026-11-01T00:00:00Z")
        t.usage("a", "chat", at: "2026-12-01T00:00:00Z")        // cycle 2 begins
        t.usage("a", "web_research", at: "2026-11-20T00:00:00Z") // late: cycle 2 is charged
        let a = t.account("a")
        #expect(EventTime.format(a.cycleStart) == "2026-12-01T00:00:00Z")
        #expect(a.usedThisCycle == 11_000)
        #expect(a.allowance == 489_000)
        expectConserved(t)
    }

    @Test func overageIsPaidByTheNextCyclesAllowance() throws {
        let t = try TestLedger()
        t.plan("a", "trial", at: "2026-11-01T00:00:00Z")
        t.usage("a", "knowledge_sync", at: "2026-11-02T00:00:00Z", quantity: 5)  // overage 25
        t.usage("a", "chat", at: "2026-12-01T00:00:00Z")
        let a = t.account("a")
        #expect(a.overage == 0)
        #expect(a.allowance == 74_000)
        #expect(a.allowanceUsed == 26_000)
        expectConserved(t)
    }

    @Test func planChangesMidCycle() throws {
        let t = try TestLedger()
        // Upgrade: allowance = new monthly − used; entitlement moves by the difference.
        t.plan("up", "basic", at: "2026-11-01T00:00:00Z")
        t.usage("up", "web_research", at: "2026-11-05T00:00:00Z", quantity: 40)  // used 400
        t.plan("up", "pro", at: "2026-11-10T00:00:00Z")
        var a = t.account("up")
        #expect(a.allowance == 1_600_000)
        #expect(a.entitlement == 2_000_000)
        #expect(EventTime.format(a.cycleStart) == "2026-11-01T00:00:00Z")  // same cycle
        #expect(a.moneyPaidMicros == 79_000_000)  // 39 + (79 − 39)
        // Downgrade below what was used: allowance 0, not negative.
        t.plan("down", "pro", at: "2026-11-01T00:00:00Z")
        t.usage("down", "action_execution", at: "2026-11-05T00:00:00Z", quantity: 100)  // used 1500
        t.plan("down", "basic", at: "2026-11-06T00:00:00Z")
        a = t.account("down")
        #expect(a.allowance == 0)
        #expect(a.balance == 0)
        #expect(a.entitlement == 500_000)
        // Back up again: used is remembered.
        t.plan("down", "pro", at: "2026-11-07T00:00:00Z")
        #expect(t.account("down").allowance == 500_000)
        // Re-anchoring starts a fresh cycle on the new plan.
        t.plan("down", "plus", at: "2026-11-08T00:00:00Z", anchor: "2026-11-08T00:00:00Z")
        a = t.account("down")
        #expect(EventTime.format(a.cycleStart) == "2026-11-08T00:00:00Z")
        #expect(a.allowance == 10_000_000)
        #expect(a.usedThisCycle == 0)
        expectConserved(t)
    }

    @Test func noAllowanceBeforeAPlanButGrantsCount() throws {
        let t = try TestLedger()
        t.grant("a", "100", at: "2026-11-01T00:00:00Z")
        t.usage("a", "web_research", at: "2026-11-02T00:00:00Z")
        #expect(t.balance("a") == 90_000)
        #expect(t.alerts.isEmpty)
        #expect(t.document("a").contains("\"cycle_start\":null,\"cycle_end\":null"))
        t.plan("a", "trial", at: "2026-11-03T00:00:00Z")
        #expect(t.account("a").entitlement == 190_000)  // 100 monthly + 90 carried in
        expectConserved(t)
    }
}

@Suite struct IdempotencyTests {
    @Test func duplicatesWithinTheWindowChangeNothing() throws {
        let t = try TestLedger()
        t.plan("a", "pro", at: "2026-11-01T00:00:00Z")
        let first = t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", id: "u-1")
        let before = t.document("a")
        let again = t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", id: "u-1")
        #expect(first.outcome == .applied)
        #expect(again.outcome == .duplicate)
        #expect(t.document("a") == before)
        #expect(t.ledger.counters.duplicates == 1)
        // Same id from another source is another event.
        #expect(t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", id: "u-1", source: "other").outcome == .applied)
        // 25 h of event time later, the id is forgotten.
        t.usage("a", "chat", at: "2026-11-03T01:00:01Z", id: "u-2")
        #expect(t.usage("a", "web_research", at: "2026-11-02T00:00:00Z", id: "u-1").outcome == .applied)
        expectConserved(t)
    }

    @Test func lateEventsAreRememberedForAFullWindowAfterTheyAreSeen() throws {
        let t = try TestLedger()
        t.usage("a", "chat", at: "2026-11-10T00:00:00Z", id: "now")
        t.usage("a", "chat", at: "2026-11-01T00:00:00Z", id: "backfill")  // 9 days late
        #expect(t.usage("a", "chat", at: "2026-11-01T00:00:00Z", id: "backfill").outcome == .duplicate)
    }

    @Test func adjustmentIdsAreRememberedForever() throws {
        let t = try TestLedger()
        t.plan("a", "pro", at: "2026-11-01T00:00:00Z")
        t.adjust("a", "-10", at: "2026-11-02T00:00:00Z", id: "replay/a/x")
        t.usage("a", "chat", at: "2027-06-01T00:00:00Z")  // months later
        #expect(t.adjust("a", "-10", at: "2026-11-02T00:00:00Z", id: "replay/a/x").outcome == .duplicate)
        #expect(t.account("a").adjusted == -10_000)
    }

    @Test func dedupeTableStaysCompactAndForgetsExpiredIds() {
        let hour = EventTime.nanosPerHour
        var table = DedupeTable(windowHours: 24)
        for i in 0..<10_000 {
            table.insert(UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15, owner: 0, applied: (1000 + Int64(i / 1000)) * hour, forever: false,
                         probe: DedupeTable.Probe(), partitionClock: 0)
        }
        #expect(table.contains(0x9E37_79B9_7F4A_7C15, owner: 0, clock: 1010 * hour))
        let bytesPerId = Double(table.byteSize) / Double(table.count)
        #expect(bytesPerId <= 28.6)  // 20 B per slot, at least 70 % full
        // The account's clock moves to hour 1029 (one more id): hours 1000…1004 fall out of its window.
        table.insert(1, owner: 0, applied: 1029 * hour, forever: false, probe: DedupeTable.Probe(), partitionClock: 0)
        table.sweep(partitionClock: 0)
        #expect(table.count == 5_001)
        #expect(!table.contains(0x9E37_79B9_7F4A_7C15, owner: 0, clock: 1029 * hour))
    }
}

@Suite struct BadInputTests {
    @Test(arguments: [
        ("{\"specversion\":\"1.0\"", "malformed JSON"),
        ("[1,2]", "malformed event: the record value is not a JSON object"),
        (EventJSON.event("ai.usage", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: []), "missing required field \"data.action\""),
        (EventJSON.event("ai.unknown", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: []), "unknown event type"),
        (EventJSON.event("ai.usage", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat")), ("quantity", .n("0"))]), "field \"data.quantity\" must be an integer ≥ 1"),
        (EventJSON.event("ai.usage", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat")), ("quantity", .s("2"))]), "field \"data.quantity\" must be an integer ≥ 1"),
        (EventJSON.event("ai.usage", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat")), ("quantity", .n("1.5"))]), "field \"data.quantity\" must be an integer ≥ 1"),
        (EventJSON.event("ai.usage", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat")), ("input_tokens", .n("-1"))]), "field \"data.input_tokens\" must be an integer ≥ 0"),
        (EventJSON.event("ai.usage", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat")), ("quantity", .n("99999999999"))]), "field \"data.quantity\" is absurdly large"),
        (EventJSON.event("ai.usage", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat")), ("cost_usd", .n("0.1"))]), "field \"data.cost_usd\" must be a decimal string"),
        (EventJSON.event("credit.grant.issued", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("credits", .n("1.0005"))]), "field \"data.credits\" has more than 3 fraction digits"),
        (EventJSON.event("credit.grant.issued", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("credits", .n("-5"))]), "field \"data.credits\" must not be negative"),
        (EventJSON.event("credit.grant.issued", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("credits", .n("5")), ("expires_at", .s("2026-11-01T00:00:00Z"))]), "field \"data.expires_at\" must be after the event's time"),
        (EventJSON.event("ai.usage", account: "", id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat"))]), "field \"subject\" must not be empty"),
        (EventJSON.event("ai.usage", account: String(repeating: "x", count: 129), id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat"))]), "field \"subject\" is longer than 128 characters"),
        (EventJSON.event("ai.usage", account: "a", id: "x", time: "02/11/2026", data: [("action", .s("chat"))]), "field \"time\" is not an RFC 3339 time"),
        ("{\"specversion\":\"1.0\",\"id\":\"x\",\"id\":\"y\"}", "malformed event: duplicate key \"id\""),
        ("{\"specversion\":\"0.3\",\"id\":\"x\"}", "field \"specversion\" must be \"1.0\""),
    ])
    func badRecordsAreRefusedWithAClearReasonAndChangeNothing(json: String, reason: String) throws {
        let t = try TestLedger()
        t.plan("a", "pro", at: "2026-11-01T00:00:00Z")
        let before = t.documents()
        let r = t.apply(json)
        guard case .rejected = r.outcome else { Issue.record("accepted: \(json)"); return }
        #expect(t.rejections.last?.hasPrefix(reason) == true, "\(t.rejections.last ?? "")")
        #expect(t.documents() == before)
    }

    @Test func keyMustEqualSubjectAndTimeMustNotBeFarAhead() throws {
        let t = try TestLedger()
        let usage = EventJSON.event("ai.usage", account: "a", id: "x", time: "2026-11-02T00:00:00Z", data: [("action", .s("chat"))])
        #expect(t.apply(usage, key: "b").outcome == .rejected(.keyMismatch))
        #expect(t.apply(usage, recordTime: "2026-11-00T00:00:00Z").outcome != .rejected(.futureTime))  // unparsable → event time
        #expect(t.apply(EventJSON.event("ai.usage", account: "a", id: "y", time: "2026-11-03T00:00:01Z", data: [("action", .s("chat"))]),
                        recordTime: "2026-11-02T00:00:00Z").outcome == .rejected(.futureTime))
        #expect(t.apply(EventJSON.event("ai.usage", account: "a", id: "z", time: "2026-11-03T00:00:00Z", data: [("action", .s("chat"))]),
                        recordTime: "2026-11-02T00:00:00Z").outcome == .applied)
        #expect(t.ledger.counters.rejected == 2)
    }

    @Test func unknownPlanOrPackIsBadInput() throws {
        let t = try TestLedger()
        #expect(t.plan("a", "platinum", at: "2026-11-01T00:00:00Z").outcome == .rejected(.unknownPlan))
        #expect(t.topup("a", pack: "pack-9", at: "2026-11-01T00:00:00Z").outcome == .rejected(.unknownPack))
        #expect(t.ledger.accountCount == 0)
    }

    /// A price book cannot configure amounts beyond the events' own limit (10¹² credits), so
    /// no plan or pack can build a state past the ledger's bounds.
    @Test func priceBookAmountsAreBoundedLikeEvents() throws {
        let big = Credits.maxAbsolute + 1
        func refusal(_ plans: [PriceBook.Plan], _ packs: [PriceBook.Pack]) -> String? {
            do { _ = try PriceBook(currency: "USD", plans: plans, packs: packs); return nil } catch { return error.key }
        }
        #expect(refusal([.init(id: "p", monthlyCredits: big, priceMicros: 0)], []) == "plans.p.monthly_credits")
        #expect(refusal([.init(id: "p", monthlyCredits: 1, priceMicros: 0, rolloverMaxCredits: big)], []) == "plans.p.rollover_max_credits")
        #expect(refusal([], [.init(id: "k", credits: big, priceMicros: 0)]) == "topups.k.credits")
        #expect(refusal([.init(id: "p", monthlyCredits: Credits.maxAbsolute, priceMicros: 0, rolloverMaxCredits: Credits.maxAbsolute)],
                        [.init(id: "k", credits: Credits.maxAbsolute, priceMicros: 0)]) == nil)
    }

    /// Totals stop at 2⁶⁰ millicredits (≈ 1.15 × 10¹⁵ credits): the event that would cross it
    /// is refused as overflow, and the largest state admitted still restores from its snapshot
    /// (restore-time validation uses the same bound).
    @Test func ledgerTotalsNeverOverflow() throws {
        let t = try TestLedger()
        for i in 0..<1_152 { #expect(t.grant("a", "1000000000000", at: "2026-11-01T00:00:00Z", id: "g\(i)").outcome == .applied) }
        let r = t.grant("a", "1000000000000", at: "2026-11-01T00:00:00Z", id: "one-too-many")
        #expect(r.outcome == .rejected(.overflow))
        #expect(t.account("a").granted == 1_152 * 1_000_000_000_000_000)
        expectConserved(t)
        let bytes = SnapshotCodec.encode(t.ledger, topic: "ai.usage", partition: 0, nextOffset: 1_153, metadata: 1)
        let restored = try SnapshotCodec.decode(bytes, config: t.ledger.config).0
        #expect(restored.accountDocument(0) == t.ledger.accountDocument(0))
    }

    /// Positive adjustments add credit blocks without counting as granted: the block total is
    /// bounded by the incoming amount too, so grants and adjustments together stop at 2⁶⁰ and
    /// the largest state admitted restores.
    @Test func blockTotalsStopAtTheSameBound() throws {
        let t = try TestLedger()
        for i in 0..<600 { #expect(t.grant("a", "1000000000000", at: "2026-11-01T00:00:00Z", id: "g\(i)").outcome == .applied) }
        for i in 0..<552 { #expect(t.adjust("a", "1000000000000", at: "2026-11-01T00:00:00Z", id: "j\(i)").outcome == .applied) }
        #expect(t.account("a").blockCredits == 1_152 * 1_000_000_000_000_000)
        #expect(t.grant("a", "1000000000000", at: "2026-11-01T00:00:00Z", id: "one-too-many").outcome == .rejected(.overflow))
        expectConserved(t)
        let bytes = SnapshotCodec.encode(t.ledger, topic: "ai.usage", partition: 0, nextOffset: 1_153, metadata: 1)
        let restored = try SnapshotCodec.decode(bytes, config: t.ledger.config).0
        #expect(restored.accountDocument(0) == t.ledger.accountDocument(0))
    }
}
