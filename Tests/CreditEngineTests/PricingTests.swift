import Foundation
import Testing
import CreditEngine
import CreditConfig

@Suite struct PricingTests {
    let t: TestLedger
    init() throws { t = try TestLedger() }

    /// Prices one usage event on the standard card (2026-11-01).
    func price(_ action: String, quantity: Int? = nil, model: String? = nil, inputTokens: Int? = nil) -> Int64? {
        let r = t.usage("acct", action, at: "2026-11-10T00:00:00Z", quantity: quantity, model: model, inputTokens: inputTokens)
        return r.outcome == .applied ? r.charged : nil
    }

    @Test func flatActionsFromTheStandardCard() {
        #expect(price("chat") == 1_000)
        #expect(price("doc_search") == 3_000)
        #expect(price("web_research") == 10_000)
        #expect(price("action_execution") == 15_000)
        #expect(price("knowledge_sync") == 25_000)
        #expect(price("read_ticket") == 0)
        #expect(price("web_research", quantity: 3) == 30_000)
    }

    @Test func modelMultipliers() {
        #expect(price("chat", model: "reasoning") == 6_000)
        #expect(price("chat", model: "standard") == 1_000)
        #expect(price("chat", model: "unlisted-model") == 1_000)  // falls back to default
    }

    @Test func tokenComponentIsExactAndRoundedOnce() {
        #expect(price("summarize_thread", inputTokens: 10_000) == 1_500)   // 1 + 0.05×10
        #expect(price("summarize_thread", inputTokens: 10) == 1_001)       // 1.0005 → half_up
        #expect(price("summarize_thread", inputTokens: 9) == 1_000)        // 1.00045 → 1.000
        #expect(price("summarize_thread", inputTokens: 30_000) == 2_000)   // 2.5 clamped to max 2
        #expect(price("summarize_thread", model: "reasoning", inputTokens: 1_000) == 2_000) // 6.3 → clamp after multiplier
    }

    @Test func unknownActionIsBadInputAndChangesNothing() {
        #expect(price("teleport") == nil)
        #expect(t.rejections.last == "unknown action for rate card 2026-11-01")
        #expect(t.ledger.accountCount == 0)
    }

    @Test(arguments: [
        // increment, mode, credits, expected millicredits
        ("1", "up", "1.2", Int64(2_000)), ("1", "down", "1.9", 1_000), ("1", "half_up", "1.5", 2_000),
        ("1", "half_up", "1.499999", 1_000), ("0.1", "up", "0.01", 100), ("0.01", "half_up", "0.005", 10),
        ("0.01", "down", "0.019999", 10), ("0.001", "up", "0.000001", 1), ("0.001", "half_up", "0.0005", 1),
        ("0.001", "half_up", "0.000499", 0),
    ])
    func roundingModesAndIncrements(increment: String, mode: String, credits: String, expected: Int64) throws {
        let card = try Fixtures.card("""
            version: "r"
            effective_from: "2026-01-01T00:00:00Z"
            rounding: { increment: \(increment), mode: \(mode) }
            actions: { x: { credits: \(credits) } }
            """)
        let tl = try TestLedger(cards: [card])
        let r = tl.usage("a", "x", at: "2026-02-01T00:00:00Z")
        #expect(r.charged == expected)
    }

    @Test func minAndMaxClampsAndToolCalls() throws {
        let card = try Fixtures.card("""
            version: "c"
            effective_from: "2026-01-01T00:00:00Z"
            model_multipliers: { fast: 0.5 }
            actions:
              agent: { credits: 0, per_tool_call: 0.25, per_1k_output_tokens: 0.1, min_credits: 1, max_credits: 4 }
            """)
        let tl = try TestLedger(cards: [card])
        func run(_ tools: Int, _ out: Int, model: String? = nil) -> Int64 {
            var data: [(String, EventJSON.Value)] = [("action", .s("agent")), ("tool_calls", .n(String(tools))), ("output_tokens", .n(String(out)))]
            if let model { data.append(("model", .s(model))) }
            return tl.apply(EventJSON.event("ai.usage", account: "a", id: "t\(tools)-\(out)-\(model ?? "")", time: "2026-02-01T00:00:00Z", data: data)).charged
        }
        #expect(run(1, 0) == 1_000)       // 0.25 → min 1
        #expect(run(6, 5_000) == 2_000)   // 1.5 + 0.5
        #expect(run(30, 0) == 4_000)      // 7.5 → max 4
        // No default multiplier and an unknown model: bad input.
        #expect(run(6, 0, model: "fast") == 1_000)   // 0.75 → min 1
        let r = tl.apply(EventJSON.event("ai.usage", account: "a", id: "m", time: "2026-02-01T00:00:00Z",
                                         data: [("action", .s("agent")), ("model", .s("slow"))]))
        #expect(r.outcome == .rejected(.pricing(.unknownModel(version: "c"))))
    }

    @Test func overflowIsAnErrorNotAWrap() throws {
        let card = try Fixtures.card("""
            version: "huge"
            effective_from: "2026-01-01T00:00:00Z"
            model_multipliers: { default: 1000000 }
            actions: { x: { credits: 9000000000000 } }
            """)
        let tl = try TestLedger(cards: [card])
        let r = tl.usage("a", "x", at: "2026-02-01T00:00:00Z", quantity: 1_000_000_000)
        #expect(r.outcome == .rejected(.pricing(.overflow)))
        #expect(tl.ledger.accountCount == 0)
        // Direct formula check at the edge of Int128.
        let a = ActionPrice(credits: Int64.max)
        #expect(Pricing.price(a, quantity: 1_000_000_000, inputTokens: 0, outputTokens: 0, toolCalls: 0,
                              multiplier: Int64.max, incrementMillicredits: 1, mode: .up) == nil)
    }
}

@Suite struct RateCardVersionTests {
    static let newer = """
        version: "2026-12-01"
        effective_from: "2026-12-01T00:00:00Z"
        model_multipliers: { default: 1 }
        actions: { chat: { credits: 2 }, web_research: { credits: 8 } }
        """

    @Test func versionInForceByEffectiveFromAndRecordedOnEachCharge() throws {
        let t = try TestLedger(cards: try Fixtures.standardCards() + [Fixtures.card(Self.newer)])
        let before = t.usage("a", "chat", at: "2026-11-30T23:59:59Z")
        let after = t.usage("a", "chat", at: "2026-12-01T00:00:00Z")
        #expect(before.charged == 1_000)
        #expect(after.charged == 2_000)
        #expect(t.ledger.config.rateCards.version(before.version) == "2026-11-01")
        #expect(t.ledger.config.rateCards.version(after.version) == "2026-12-01")
        // Earlier than every effective_from: bad input.
        let early = t.usage("a", "chat", at: "2026-10-31T00:00:00Z")
        #expect(early.outcome == .rejected(.pricing(.noRateCard)))
    }

    @Test func pinsHoldUntilTheirEndAndCanBeRemoved() throws {
        let t = try TestLedger(cards: try Fixtures.standardCards() + [Fixtures.card(Self.newer)])
        t.pin("a", "2026-11-01", until: "2026-12-15T00:00:00Z", at: "2026-11-20T00:00:00Z")
        #expect(t.usage("a", "chat", at: "2026-12-10T00:00:00Z").charged == 1_000)  // pinned
        #expect(t.usage("b", "chat", at: "2026-12-10T00:00:00Z").charged == 2_000)  // not pinned
        #expect(t.usage("a", "chat", at: "2026-12-15T00:00:00Z").charged == 2_000)  // pin ended
        t.pin("c", "2026-11-01", at: "2026-12-02T00:00:00Z")
        #expect(t.usage("c", "chat", at: "2026-12-03T00:00:00Z").charged == 1_000)
        t.pin("c", nil, at: "2026-12-04T00:00:00Z")
        #expect(t.usage("c", "chat", at: "2026-12-05T00:00:00Z").charged == 2_000)
        // Unknown version: bad input.
        #expect(t.pin("c", "1999-01-01", at: "2026-12-06T00:00:00Z").outcome == .rejected(.unknownRateCardVersion))
    }

    @Test func contentHashChangesWithPricesNotLayout() throws {
        let a = try Fixtures.card(Self.newer)
        let b = try Fixtures.card("# a comment\n" + Self.newer.replacingOccurrences(of: "{ chat: { credits: 2 }", with: "{ chat: { credits: 2.0 }"))
        let c = try Fixtures.card(Self.newer.replacingOccurrences(of: "credits: 2 }", with: "credits: 3 }"))
        #expect(a.contentHash == b.contentHash)
        #expect(a.contentHash != c.contentHash)
        let book = try RateCardBook([a])
        #expect(book.changedVersions(comparedTo: ["2026-12-01": c.contentHash]) == ["2026-12-01"])
        #expect(book.changedVersions(comparedTo: ["2026-12-01": a.contentHash]).isEmpty)
    }
}

@Suite struct ConfigErrorTests {
    static let valid = """
        version: "v1"
        effective_from: "2026-01-01T00:00:00Z"
        rounding: { increment: 0.001, mode: half_up }
        actions: { chat: { credits: 1 } }
        """

    @Test(arguments: [
        (valid.replacingOccurrences(of: "chat: { credits: 1 }", with: "chat: { credits: 1, credit: 2 }"), "test-card.yaml: actions.chat.credit: unknown key"),
        (valid.replacingOccurrences(of: "credits: 1", with: "credits: -1"), "test-card.yaml: actions.chat.credits: must not be negative"),
        (valid.replacingOccurrences(of: "increment: 0.001", with: "increment: 0.5"), "test-card.yaml: rounding.increment: must be 1, 0.1, 0.01 or 0.001"),
        (valid.replacingOccurrences(of: "mode: half_up", with: "mode: nearest"), "test-card.yaml: rounding.mode: must be up, half_up or down"),
        (valid.replacingOccurrences(of: "credits: 1", with: "credits: 0.0000001"), "test-card.yaml: actions.chat.credits: has more than 6 fraction digits"),
        (valid + "\ncolour: blue", "test-card.yaml: colour: unknown key"),
        (valid.replacingOccurrences(of: "2026-01-01T00:00:00Z", with: "soon"), "test-card.yaml: effective_from: \"soon\" is not an RFC 3339 time"),
    ])
    func rateCardErrorsNameFileAndKey(yaml: String, expectedPrefix: String) {
        #expect(throws: ConfigError.self) { try Fixtures.card(yaml) }
        do { _ = try Fixtures.card(yaml) } catch { #expect(error.description.hasPrefix(expectedPrefix), "\(error.description)") }
    }

    @Test func duplicateVersionsAreRefused() throws {
        let a = try Fixtures.card(Self.valid)
        let b = try Fixtures.card(Self.valid.replacingOccurrences(of: "2026-01-01", with: "2026-02-01"))
        #expect(throws: ConfigError(key: "version", "duplicate rate-card version \"v1\"")) { try RateCardBook([a, b]) }
    }

    @Test func priceBookErrorsNameFileAndKey() {
        do {
            _ = try RateCardLoader.parsePriceBook("currency: USD\nplans: { pro: { monthly_credits: 2000, price: \"-5\" } }", file: "pb.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "pb.yaml: plans.pro.price: must not be negative")
        }
    }
}
