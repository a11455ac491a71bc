import Testing
import Foundation
import CreditEngine

/// Committed snapshot files of every format version this build must still read. Each one was
/// written by the code of its version from `SnapshotFixture.scenario()` (set
/// `CREDIT_METER_WRITE_SNAPSHOT_FIXTURE=<path>` to write the current format's file again).
enum SnapshotFixture {
    static func scenario() throws -> TestLedger {
        let t = try TestLedger()
        t.plan("acme", "basic", at: "2026-11-01T00:00:00Z", id: "p1")
        t.usage("acme", "web_research", at: "2026-11-02T10:00:00Z", quantity: 3, id: "u1", member: "ana",
                capability: "agents", cost: "0.0123")
        t.grant("acme", "50", at: "2026-11-03T00:00:00Z", expires: "2026-12-15T00:00:00Z", id: "g1")
        t.topup("acme", at: "2026-11-04T00:00:00Z", id: "t1")
        t.usage("acme", "knowledge_sync", at: "2026-11-05T10:00:00Z", quantity: 18, id: "u2", member: "bo",
                capability: "assistant")
        t.adjust("acme", "-5", at: "2026-11-06T00:00:00Z", id: "a1")
        t.pin("acme", "2026-11-01", at: "2026-11-06T01:00:00Z", id: "pin1")
        t.usage("acme", "chat", at: "2026-12-02T00:00:00Z", id: "u3", member: "ana")
        t.grant("solo", "10", at: "2026-11-10T00:00:00Z", id: "g2")
        t.usage("solo", "chat", at: "2026-11-10T01:00:00Z", id: "u4")
        t.plan("low", "trial", at: "2026-11-01T00:00:00Z", id: "p2")
        t.usage("low", "web_research", at: "2026-11-20T00:00:00Z", quantity: 9, id: "u5")
        return t
    }

    /// `scenario()` plus every §12 feature: a void, an auto top-up policy and its request, a
    /// member budget and its alert, a plan with rollover.
    static func scenarioV3() throws -> TestLedger {
        let t = try scenario()
        t.void("acme", "g1", at: "2026-12-03T00:00:00Z", id: "v1")
        t.autoTopup("acme", pack: "pack-1000", below: "100", maxPerCycle: 2, at: "2026-12-03T01:00:00Z", id: "at1")
        t.budget("acme", "ana", "40", at: "2026-12-03T02:00:00Z", id: "b1")
        t.usage("acme", "web_research", at: "2026-12-04T00:00:00Z", quantity: 4, id: "u6", member: "ana")
        t.plan("roll", "basic", at: "2026-11-01T00:00:00Z", rollover: "100", id: "p3")
        t.usage("roll", "web_research", at: "2026-11-02T00:00:00Z", quantity: 30, id: "u7")
        t.usage("roll", "chat", at: "2026-12-02T00:00:00Z", id: "u8")
        return t
    }

    /// `scenarioV3()` plus the §14 state: a member budget removed after its alert (its counts
    /// kept), a re-anchored account (its highest n), a late grant already expired on arrival,
    /// a top-up id remembered past the window, ids remembered by three accounts' own clocks.
    static func scenarioV4() throws -> TestLedger {
        let t = try scenarioV3()
        t.budget("acme", "bo", "50", at: "2026-12-04T01:00:00Z", id: "b2")
        t.usage("acme", "knowledge_sync", at: "2026-12-04T02:00:00Z", quantity: 2, id: "u9", member: "bo")
        t.budget("acme", "bo", nil, at: "2026-12-04T03:00:00Z", id: "b3")
        t.plan("moved", "trial", at: "2026-11-01T00:00:00Z", id: "p4")
        t.usage("moved", "web_research", at: "2026-11-02T00:00:00Z", quantity: 9, id: "u10")
        t.plan("moved", "trial", at: "2026-11-20T00:00:00Z", anchor: "2026-11-15T00:00:00Z", id: "p5")
        t.usage("moved", "web_research", at: "2026-11-21T00:00:00Z", quantity: 9, id: "u11")
        t.grant("moved", "7", at: "2026-11-16T00:00:00Z", expires: "2026-11-18T00:00:00Z", id: "g3")
        t.topup("solo", at: "2026-11-10T02:00:00Z", id: "t2")
        t.usage("solo", "chat", at: "2026-11-12T00:00:00Z", id: "u12")
        return t
    }

    /// `scenarioV4()` plus the §16 state: an account's own thresholds set after an alert (a
    /// removed threshold's counts retired, a kept one's mark kept, an added one fired by the
    /// next event), and an account's own thresholds set before its plan.
    static func scenarioV5() throws -> TestLedger {
        let t = try scenarioV4()
        t.thresholds("low", [50, 20], at: "2026-11-21T00:00:00Z", id: "th1")
        t.usage("low", "read_ticket", at: "2026-11-22T00:00:00Z", id: "u13")
        t.thresholds("own", [80, 30, 5], at: "2026-11-01T00:00:00Z", id: "th2")
        t.plan("own", "trial", at: "2026-11-01T00:00:00Z", id: "p6")
        t.usage("own", "web_research", at: "2026-11-02T00:00:00Z", quantity: 3, id: "u14")
        return t
    }

    /// `scenarioV5()` plus holds (§15): on acme an active hold (member, workflow, settled by
    /// usage), a released one priced from an action with a multiplier (settled), one expired
    /// as the owner's event arrives (settled), three denials (insufficient credits, a member's
    /// exhausted budget, an unknown action) and a repeat; on solo an active hold with no
    /// labels; a request for an account with no state and usage naming an unknown hold.
    static func scenarioV6() throws -> TestLedger {
        let t = try scenarioV5()
        t.holdRequest("acme", "run-1", credits: "30", ttl: 86_400, member: "bo", workflow: "agent run", at: "2026-12-05T00:00:00Z", id: "h1")
        t.heldUsage("acme", "web_research", hold: "run-1", quantity: 2, at: "2026-12-05T00:10:00Z", id: "u15")
        t.holdRequest("acme", "run-2", action: "web_research", quantity: 2, multiplier: 3, workflow: "nightly sync",
                      at: "2026-12-05T00:20:00Z", id: "h2")
        t.heldUsage("acme", "chat", hold: "run-2", at: "2026-12-05T00:25:00Z", id: "u16")
        t.holdRelease("acme", "run-2", at: "2026-12-05T00:30:00Z", id: "h3")
        t.holdRequest("acme", "big", credits: "1000000", at: "2026-12-05T00:40:00Z", id: "h4")
        t.holdRequest("acme", "ana-run", credits: "1", member: "ana", at: "2026-12-05T00:45:00Z", id: "h5")
        t.holdRequest("acme", "odd", action: "teleport", at: "2026-12-05T00:50:00Z", id: "h6")
        t.holdRequest("acme", "short", credits: "5", ttl: 600, member: "bo", at: "2026-12-05T01:00:00Z", id: "h7")
        t.heldUsage("acme", "chat", hold: "short", at: "2026-12-05T01:05:00Z", id: "u17")
        t.holdExpired("acme", "short", expiresAt: "2026-12-05T01:10:00Z")
        t.holdRequest("acme", "run-1", credits: "30", ttl: 86_400, member: "bo", workflow: "agent run", at: "2026-12-05T01:20:00Z", id: "h8")
        t.heldUsage("acme", "chat", hold: "gone", at: "2026-12-05T01:30:00Z", id: "u18")
        t.holdRequest("solo", "s-1", credits: "2.5", at: "2026-11-12T01:00:00Z", id: "h9")
        t.holdRequest("ghost", "g-1", credits: "1", at: "2026-12-05T00:00:00Z", id: "h10")
        return t
    }

    static func encode(_ t: TestLedger) -> [UInt8] {
        SnapshotCodec.encode(t.ledger, topic: "ai.usage", partition: 5, nextOffset: 1234, metadata: 99)
    }

    static func path(_ name: String) -> String {
        Fixtures.repoRoot.appendingPathComponent("Tests/CreditEngineTests/Fixtures/\(name)").path
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else { throw SnapshotError.damaged("fixture \(name) missing") }
        return [UInt8](data)
    }
}

@Suite struct SnapshotFixtureWriter {
    /// Writes the current format's fixture when asked to (a tool, not a check).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["CREDIT_METER_WRITE_SNAPSHOT_FIXTURE"] != nil))
    func writeCurrentFormatFixture() throws {
        let path = ProcessInfo.processInfo.environment["CREDIT_METER_WRITE_SNAPSHOT_FIXTURE"]!
        let bytes = SnapshotFixture.encode(try SnapshotFixture.scenarioV6())
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

@Suite struct SnapshotVersionTests {
    func balanceDocuments(_ l: PartitionLedger) -> [String] {
        (0..<l.accountCount).map { i in
            var out: [UInt8] = []
            l.writeBalanceDocument(i, into: &out)
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Written by the v1 code (commit b6efebc; generator beside the file) from the scenario's events.
    @Test func version1StillDecodesToExactValues() throws {
        let bytes = try SnapshotFixture.bytes("snapshot-v1.snap")
        #expect(bytes[7] == 1)
        let config = try Fixtures.engine()
        let (l, header) = try SnapshotCodec.decode(bytes, config: config)
        #expect(header.topic == "ai.usage" && header.partition == 5 && header.nextOffset == 1234 && header.metadata == 99)
        #expect(header.accounts == 3)
        #expect((0..<3).map(l.accountID) == ["acme", "solo", "low"])
        let acme = l.account("acme")!
        #expect(acme.balance == 1_549_000 && acme.entitlement == 1_550_000 && acme.usedThisCycle == 1_000)
        #expect(acme.allowance == 499_000 && acme.overage == 0)
        #expect(acme.blocks == [Block(kind: .grant, remaining: 50_000, expiresAt: EventTime.parse("2026-12-15T00:00:00Z")!),
                                Block(kind: .topup, remaining: 1_000_000)])
        #expect(acme.cycleStart == EventTime.parse("2026-12-01T00:00:00Z")! && acme.cycleEnd == EventTime.parse("2027-01-01T00:00:00Z")!)
        #expect(acme.granted == 2_050_000 && acme.charged == 481_000 && acme.expired == 15_000 && acme.adjusted == -5_000)
        #expect(acme.creditsBought == 2_000_000 && acme.moneyPaidMicros == 88_000_000 && acme.costNanoUSD == 12_300_000)
        #expect(acme.pinnedVersion == 0 && acme.events == 8)
        #expect(l.lastEventID(0) == "u3")
        // v1 kept daily cells for 35 days: the oldest is the first usage day.
        #expect(acme.firstUsageDay == EventTime.day(of: EventTime.parse("2026-11-02T00:00:00Z")!))
        #expect(acme.history.isEmpty && acme.cycleAlerts.isEmpty)
        let low = l.account("low")!
        #expect(low.balance == 10_000 && low.alerts.fired == 0b11 && low.alerts.counts == [0, 1, 0, 0, 0, 0])
        #expect(l.account("solo")!.blocks == [Block(kind: .grant, remaining: 9_000)])
        #expect(l.audit().isClean)
        // Every §6 field equals what the current code computes from the same events.
        #expect(balanceDocuments(l) == balanceDocuments(try SnapshotFixture.scenario().ledger))
    }

    /// Written by the format-2 code (commit 5770f41) from `scenario()`.
    @Test func version2StillDecodesToExactValues() throws {
        let t = try SnapshotFixture.scenario()
        let bytes = try SnapshotFixture.bytes("snapshot-v2.snap")
        #expect(bytes[7] == 2)
        let (l, _) = try SnapshotCodec.decode(bytes, config: t.ledger.config)
        #expect((0..<l.accountCount).map { String(decoding: l.accountDocument($0), as: UTF8.self) } == t.documents())
        #expect(l.view(0).history == t.ledger.view(0).history)
        #expect(l.view(0).history.map(\.kind) == [.cycleStarted, .planAssigned, .grant, .topup, .adjusted,
                                                   .allowanceForfeited, .cycleStarted])
        #expect(l.view(0).history.map(\.credits) == [500_000, 0, 50_000, 1_000_000, -5_000, -15_000, 500_000])
        #expect(l.view(2).alerts.map(\.id) == ["low/2026-11-01T00:00:00Z/credit.balance.low/10/1"])
        #expect(l.account("acme")!.voided == 0 && l.account("acme")!.extras.isEmpty)
        // Format 2 remembered no grant ids: those grants cannot be voided (documented).
        #expect(l.account("acme")!.blocks.allSatisfy { $0.origin == 0 })
    }

    /// Written by the format-3 code (commit 434ba22) from `scenarioV3()`.
    @Test func version3StillDecodesToExactValues() throws {
        let t = try SnapshotFixture.scenarioV3()
        let bytes = try SnapshotFixture.bytes("snapshot-v3.snap")
        #expect(bytes[7] == 3)
        let (l, _) = try SnapshotCodec.decode(bytes, config: t.ledger.config)
        #expect((0..<l.accountCount).map { String(decoding: l.accountDocument($0), as: UTF8.self) } == t.documents())
        #expect((0..<l.accountCount).map { l.view($0).history } == (0..<l.accountCount).map { t.ledger.view($0).history })
        #expect(l.account("acme")!.extras == t.account("acme").extras)
        #expect(l.account("acme")!.features?.budgets.map(\.budget) == [40_000])
        #expect(l.account("acme")!.features?.autoTopup == AutoTopupPolicy(pack: 0, credits: 1_000_000, below: 100_000, maxPerCycle: 2))
        #expect(l.account("acme")!.voided == 50_000)
        #expect(l.counters == t.ledger.counters)
        // Format 3 kept ids on the partition clock: they are carried as they were (the
        // adjustment a1 for good; v1, at1, b1, u6 and roll's three late events, seen within the
        // partition clock's last 24 h), and format 3 kept no highest n: each account's event
        // count stands in for it.
        #expect(l.dedupe.count == 8)
        #expect(l.dedupe.remembered(clocks: l.accounts.map(\.clock), partitionClock: l.watermark).allSatisfy { $0.owner == DedupeTable.carried })
        #expect(l.rememberedIDs.purchases == 3)  // g1, t1, g2
        #expect((0..<l.accountCount).map { l.accounts[$0].highestSequence } == (0..<l.accountCount).map { l.accounts[$0].events })
        #expect(!l.accounts.contains { $0.reanchored })
        // snapshot inspect's detached configuration describes them identically.
        let detached = try SnapshotCodec.detachedConfiguration(bytes)
        let (d, _) = try SnapshotCodec.decode(bytes, config: detached, verifyRateCards: false)
        #expect((0..<d.accountCount).map { String(decoding: d.accountDocument($0), as: UTF8.self) } == t.documents())
    }

    /// Ids carried from a format-3 snapshot are judged on their own account's clock: a
    /// neighbour 60 h ahead does not make acme forget u6, applied before the upgrade. A sweep
    /// keeps carried ids for 30 days of partition time past their window, then drops them (the
    /// adjustment a1 stays, for good).
    @Test func idsCarriedFromVersion3IgnoreTheirNeighboursClocks() throws {
        let t = try SnapshotFixture.scenarioV3()
        let (l, _) = try SnapshotCodec.decode(try SnapshotFixture.bytes("snapshot-v3.snap"), config: t.ledger.config)
        t.adopt(l)
        let before = t.balance("acme")
        t.usage("solo", "chat", at: "2026-12-06T12:00:00Z", id: "n1")
        let again = t.usage("acme", "web_research", at: "2026-12-04T00:00:00Z", quantity: 4, id: "u6", member: "ana")
        #expect(again.outcome == .duplicate)
        #expect(t.balance("acme") == before)
        func carried() -> Int {
            t.ledger.dedupe.remembered(clocks: t.ledger.accounts.map(\.clock), partitionClock: t.ledger.watermark)
                .filter { $0.owner == DedupeTable.carried }.count
        }
        #expect(carried() == 8)
        t.usage("solo", "chat", at: "2027-01-05T02:00:00Z", id: "n2")  // u6's hour + 25 h + 720 h passed
        #expect(carried() == 1)
    }

    /// Written by the format-4 code (commit 7f183f8) from `scenarioV4()`.
    @Test func version4StillDecodesToExactValues() throws {
        let t = try SnapshotFixture.scenarioV4()
        let bytes = try SnapshotFixture.bytes("snapshot-v4.snap")
        #expect(bytes[7] == 4)
        let (l, _) = try SnapshotCodec.decode(bytes, config: t.ledger.config)
        #expect((0..<l.accountCount).map { String(decoding: l.accountDocument($0), as: UTF8.self) } == t.documents())
        #expect((0..<l.accountCount).map { l.view($0).history } == (0..<l.accountCount).map { t.ledger.view($0).history })
        func numbering(_ a: Account) -> String {
            "\(a.clock) \(a.alerts) \(a.cycleAlerts) \(a.extras) \(a.highestSequence) \(a.reanchored)"
        }
        #expect(l.accounts.map(numbering) == t.ledger.accounts.map(numbering))
        #expect(l.counters == t.ledger.counters)
        // The ids remembered now (the straight run still holds expired ones until a sweep).
        let clocks = l.accounts.map(\.clock)
        let remembered = l.dedupe.remembered(clocks: clocks, partitionClock: l.watermark)
        #expect(remembered == t.ledger.dedupe.remembered(clocks: clocks, partitionClock: t.ledger.watermark))
        #expect(l.dedupe.count == remembered.count && remembered.count == 11)
        #expect(l.rememberedIDs.purchases == 5)
        // The §14 state it carries.
        let acme = try #require(l.account("acme"))
        #expect(acme.features?.removedBudgetCounts.count == 1)
        let moved = try #require(l.account("moved"))
        #expect(moved.reanchored && moved.highestSequence == 3)
        #expect(moved.granted == 100_000 + 100_000)  // two cycles' allowance; the late grant g3 is history alone
        #expect(l.account("solo")!.features?.grantIDs.count == 2)
        // Read back, it is the state of the straight run: the current format writes both alike.
        #expect(SnapshotCodec.encode(l, topic: "ai.usage", partition: 5, nextOffset: 1234, metadata: 99) == SnapshotFixture.encode(t))
        // snapshot inspect's detached configuration describes them identically.
        let detached = try SnapshotCodec.detachedConfiguration(bytes)
        let (d, _) = try SnapshotCodec.decode(bytes, config: detached, verifyRateCards: false)
        #expect((0..<d.accountCount).map { String(decoding: d.accountDocument($0), as: UTF8.self) } == t.documents())
    }

    /// Written by the format-5 code (commit 19ed5ae) from `scenarioV5()`.
    @Test func version5StillDecodesToExactValues() throws {
        let t = try SnapshotFixture.scenarioV5()
        let bytes = try SnapshotFixture.bytes("snapshot-v5.snap")
        #expect(bytes[7] == 5)
        let (l, _) = try SnapshotCodec.decode(bytes, config: t.ledger.config)
        #expect((0..<l.accountCount).map { String(decoding: l.accountDocument($0), as: UTF8.self) } == t.documents())
        func numbering(_ a: Account) -> String {
            "\(a.clock) \(a.alerts) \(a.cycleAlerts) \(a.extras) \(a.highestSequence) \(a.reanchored)"
        }
        #expect(l.accounts.map(numbering) == t.ledger.accounts.map(numbering))
        #expect(l.counters == t.ledger.counters)
        // The §16 state it carries: own thresholds, a kept mark, a retired threshold's counts.
        let low = try #require(l.account("low"))
        #expect(low.features?.alertThresholds == [50, 20])
        #expect(low.features?.retiredAlertCounts == [RetiredAlertCounts(percent: 10, low: 1, recovered: 0)])
        #expect(low.alerts.fired == 0b11 && low.alerts.episodeLowest == 20)
        #expect(l.view(l.accountIndex("low")!).alerts.map(\.id) == ["low/2026-11-01T00:00:00Z/credit.balance.low/10/1",
                                                                     "low/2026-11-01T00:00:00Z/credit.balance.low/50/1"])
        #expect(l.account("own")!.features?.alertThresholds == [80, 30, 5])
        #expect(l.view(l.accountIndex("own")!).alerts.map(\.id) == ["own/2026-11-01T00:00:00Z/credit.balance.low/80/1"])
        #expect(t.document("own").contains(#""alert_thresholds_percent":[80,30,5]"#))
        #expect(t.document("acme").contains(#""alert_thresholds_percent":[20,10]"#))
        // Read back, it is the state of the straight run: the current format writes both alike.
        #expect(SnapshotCodec.encode(l, topic: "ai.usage", partition: 5, nextOffset: 1234, metadata: 99) == SnapshotFixture.encode(t))
        // snapshot inspect's detached configuration describes them identically.
        let detached = try SnapshotCodec.detachedConfiguration(bytes)
        let (d, _) = try SnapshotCodec.decode(bytes, config: detached, verifyRateCards: false)
        #expect((0..<d.accountCount).map { String(decoding: d.accountDocument($0), as: UTF8.self) } == t.documents())
    }

    @Test func version6IsWrittenByteForByteAndReadBack() throws {
        let t = try SnapshotFixture.scenarioV6()
        let bytes = SnapshotFixture.encode(t)
        #expect(bytes[7] == 6)
        #expect(bytes == (try SnapshotFixture.bytes("snapshot-v6.snap")))
        let (l, _) = try SnapshotCodec.decode(bytes, config: t.ledger.config)
        #expect((0..<l.accountCount).map { String(decoding: l.accountDocument($0), as: UTF8.self) } == t.documents())
        #expect(l.accountIndex("ghost") == nil)  // its request was denied unknown_account and left nothing
        // The §15 state it carries, field for field.
        func at(_ time: String) -> Int64 { EventTime.parse(time)! }
        let acme = try #require(l.account("acme")?.features?.holds)
        let live = try #require(t.account("acme").features?.holds)
        func hold(_ id: String, _ number: Int64, _ status: Hold.Status, _ denial: Hold.Denial?, held: Int64, settled: Int64 = 0,
                  member: String? = nil, workflow: String? = nil, requested: String, expires: String, ended: String?) -> Hold {
            Hold(id: id, number: number, status: status, denial: denial, held: held, settled: settled, member: member, workflow: workflow,
                 requestedAt: at(requested), expiresAt: at(expires), endedAt: ended.map(at) ?? .max,
                 requestHash: live.hold(id)?.requestHash ?? 0)
        }
        #expect(acme.holds == [
            hold("run-1", 1, .active, nil, held: 30_000, settled: 20_000, member: "bo", workflow: "agent run",
                 requested: "2026-12-05T00:00:00Z", expires: "2026-12-06T00:00:00Z", ended: nil),
            hold("run-2", 2, .released, nil, held: 60_000, settled: 1_000, workflow: "nightly sync",
                 requested: "2026-12-05T00:20:00Z", expires: "2026-12-05T01:20:00Z", ended: "2026-12-05T00:30:00Z"),
            hold("big", 3, .denied, .insufficientCredits, held: 1_000_000_000,
                 requested: "2026-12-05T00:40:00Z", expires: "2026-12-05T01:40:00Z", ended: "2026-12-05T00:40:00Z"),
            hold("ana-run", 4, .denied, .memberBudgetExhausted, held: 1_000, member: "ana",
                 requested: "2026-12-05T00:45:00Z", expires: "2026-12-05T01:45:00Z", ended: "2026-12-05T00:45:00Z"),
            hold("odd", 5, .denied, .unknownAction, held: 0,
                 requested: "2026-12-05T00:50:00Z", expires: "2026-12-05T01:50:00Z", ended: "2026-12-05T00:50:00Z"),
            hold("short", 6, .expired, nil, held: 5_000, settled: 1_000, member: "bo",
                 requested: "2026-12-05T01:00:00Z", expires: "2026-12-05T01:10:00Z", ended: "2026-12-05T01:10:00Z"),
        ])
        #expect(acme.holds == live.holds && acme.nextNumber == 7)
        #expect(acme.activeCount == 1 && acme.activeHeld == 30_000 && acme.activeRemaining == 10_000)
        #expect(Set(acme.holds.map(\.requestHash)).count == 6)
        #expect(l.account("acme")!.availableCredits == l.account("acme")!.balance - 10_000)
        let solo = try #require(l.account("solo")?.features?.holds)
        #expect(solo.holds == [Hold(id: "s-1", number: 1, status: .active, denial: nil, held: 2_500, member: nil, workflow: nil,
                                    requestedAt: at("2026-11-12T01:00:00Z"), expiresAt: at("2026-11-12T02:00:00Z"),
                                    requestHash: t.account("solo").features!.holds.holds[0].requestHash)])
        #expect(solo.nextNumber == 2 && l.account("solo")!.availableCredits == l.account("solo")!.balance - 2_500)
        #expect(l.accounts.filter { $0.holdBook != nil }.count == 2)
        let c = l.counters
        #expect([c.holdsGranted, c.holdsDenied, c.holdsReleased, c.holdsExpired, c.usageUnheld] == [4, 4, 1, 1, 1])
        #expect(c == t.ledger.counters)
        #expect(SnapshotCodec.encode(l, topic: "ai.usage", partition: 5, nextOffset: 1234, metadata: 99) == bytes)
        // A repeat of a remembered request after the restore keeps the first decision.
        let continued = TestLedger(l.config)
        continued.adopt(l)
        let again = continued.holdRequest("acme", "big", credits: "1000000", at: "2026-12-05T02:00:00Z", id: "h11")
        #expect(again.hold?.repeated == true && again.hold?.hold == acme.holds[2])
        // snapshot inspect's detached configuration describes them identically.
        let detached = try SnapshotCodec.detachedConfiguration(bytes)
        let (d, _) = try SnapshotCodec.decode(bytes, config: detached, verifyRateCards: false)
        #expect((0..<d.accountCount).map { String(decoding: d.accountDocument($0), as: UTF8.self) } == t.documents())
        #expect(d.account("acme")?.features?.holds.holds == acme.holds)
    }
}
