import Foundation
import PropertyBased
import Testing
@testable import CreditEngine

/// Hold events (§15) for tests, as JSON through the real decoder.
extension TestLedger {
    /// `credit.hold.requested` with `credits`, or with an action (`quantity`, `multiplier`).
    @discardableResult
    func holdRequest(_ account: String, _ holdID: String, credits: String? = nil, action: String? = nil, quantity: Int? = nil,
                     multiplier: Int? = nil, ttl: Int? = nil, member: String? = nil, workflow: String? = nil,
                     at time: String, id: String) -> ApplyResult {
        var data: [(String, EventJSON.Value)] = [("hold_id", .s(holdID))]
        if let credits { data.append(("credits", .n(credits))) }
        if let action { data.append(("action", .s(action))) }
        if let quantity { data.append(("quantity", .n(String(quantity)))) }
        if let multiplier { data.append(("multiplier", .n(String(multiplier)))) }
        if let ttl { data.append(("ttl_seconds", .n(String(ttl)))) }
        if let member { data.append(("member", .s(member))) }
        if let workflow { data.append(("workflow", .s(workflow))) }
        return apply(EventJSON.event("credit.hold.requested", account: account, id: id, time: time, data: data))
    }

    @discardableResult
    func holdRelease(_ account: String, _ holdID: String, at time: String, id: String) -> ApplyResult {
        apply(EventJSON.event("credit.hold.released", account: account, id: id, time: time, data: [("hold_id", .s(holdID))]))
    }

    /// `credit.hold.expired` as the partition's owner produces it (§15).
    @discardableResult
    func holdExpired(_ account: String, _ holdID: String, expiresAt: String) -> ApplyResult {
        apply(EventJSON.event("credit.hold.expired", account: account, id: "\(account)/\(holdID)/expired/\(expiresAt)", time: expiresAt,
                              source: "credit-meter", data: [("hold_id", .s(holdID)), ("expires_at", .s(expiresAt))]))
    }

    /// `ai.usage` settling against `holdID`.
    @discardableResult
    func heldUsage(_ account: String, _ action: String, hold holdID: String, quantity: Int = 1, at time: String, id: String) -> ApplyResult {
        apply(EventJSON.event("ai.usage", account: account, id: id, time: time,
                              data: [("action", .s(action)), ("quantity", .n(String(quantity))), ("hold_id", .s(holdID))]))
    }

    /// Every account's holds and next hold number, in account order.
    var holdBooks: [[Hold]] { ledger.accounts.map { $0.features?.holds.holds ?? [] } }
    var nextHoldNumbers: [Int64] { ledger.accounts.map { $0.features?.holds.nextNumber ?? 1 } }
    var available: [Int64] { ledger.accounts.map(\.availableCredits) }
}

/// Logs that exercise holds: plans, top-ups, expiring grants and usage beside hold requests
/// (credits or an action with a multiplier; members, workflows, short and long ttls, budgets
/// that deny), settling usage (on active, ended and unknown holds), extensions, releases,
/// expiries as the owner produces them, repeats with the same and with other data, late
/// events, and requests for an account with no state.
enum HoldLogGen {
    struct Requested {
        var account: String
        var hold: String
        var data: [(String, EventJSON.Value)]
        var time: String
        var expiresAt: Int64
    }

    static func log(_ ops: [Int]) -> [String] {
        var time = EventTime.parse("2026-11-01T00:00:00Z")!
        var out: [String] = []
        var requested: [Requested] = []
        for (i, op) in ops.enumerated() {
            time += Int64(op / 1000 % 20) * 60 * EventTime.nanosPerSecond
            let t = op % 17 == 0 ? time - 2 * EventTime.nanosPerHour : time  // late
            let ts = EventTime.format(t)
            let account = op % 23 == 0 ? "ghost" : "h\(op % 3)"
            let id = "op-\(i)"
            // One of the last few requests, mostly (older ones have often ended).
            let earlier = requested.isEmpty ? nil : requested[requested.count - 1 - op / 7 % min(requested.count, op % 9 == 0 ? 50 : 4)]
            switch (op / 3) % 16 {
            case 0:
                out.append(EventJSON.event("credit.plan.assigned", account: account, id: id, time: ts,
                                           data: [("plan", .s(["trial", "basic", "pro"][op / 36 % 3]))]))
            case 1:
                var data: [(String, EventJSON.Value)] = [("credits", .n(String(5 + op % 60)))]
                if op % 2 == 0 { data.append(("expires_at", .s(EventTime.format(t + Int64(1 + op % 30) * EventTime.nanosPerHour)))) }
                out.append(EventJSON.event("credit.grant.issued", account: account, id: id, time: ts, data: data))
            case 2, 3, 4:
                var data: [(String, EventJSON.Value)] = [("action", .s(["chat", "web_research", "knowledge_sync"][op / 36 % 3]))]
                if op % 4 == 0 { data.append(("member", .s("m\(op % 2)"))) }
                // Mostly on the newest hold.
                let newest = requested.last
                if let newest, op % 5 < 4 { data.append(("hold_id", .s(op % 5 == 0 ? "unknown" : newest.hold))) }
                out.append(EventJSON.event("ai.usage", account: newest?.account ?? account, id: id, time: ts, data: data))
            case 5, 6, 7:
                let hold = "hold-\(i)"
                var data: [(String, EventJSON.Value)] = [("hold_id", .s(hold))]
                if op % 3 == 0 {
                    data.append(("action", .s(["web_research", "doc_search", "teleport"][op / 45 % 3])))
                    data.append(("multiplier", .n(String(1 + op % 4))))
                } else {
                    data.append(("credits", .n(String(op % 11 == 1 ? 5000 : 1 + op % 120) + ".5")))
                }
                let ttl = [60, 600, 7200, 86_400][op / 9 % 4]
                if op % 4 != 0 { data.append(("ttl_seconds", .n(String(ttl)))) }
                if op % 5 < 2 { data.append(("member", .s("m\(op % 2)"))) }
                if op % 7 < 3 { data.append(("workflow", .s("wf \(op % 3)"))) }
                out.append(EventJSON.event("credit.hold.requested", account: account, id: id, time: ts, data: data))
                requested.append(Requested(account: account, hold: hold, data: data, time: ts,
                                           expiresAt: t + Int64(op % 4 != 0 ? ttl : 3600) * EventTime.nanosPerSecond))
            case 8 where earlier != nil:
                let earlier = earlier!
                out.append(EventJSON.event("credit.hold.extended", account: earlier.account, id: id, time: ts,
                                           data: [("hold_id", .s(earlier.hold)), ("ttl_seconds", .n(String(60 + op % 86_400)))]))
            case 9 where earlier != nil:
                let earlier = earlier!
                out.append(EventJSON.event("credit.hold.released", account: earlier.account, id: id, time: ts,
                                           data: [("hold_id", .s(earlier.hold))]))
            case 10 where earlier != nil:
                let earlier = earlier!
                let at = EventTime.format(earlier.expiresAt)
                out.append(EventJSON.event("credit.hold.expired", account: earlier.account, id: "\(earlier.account)/\(earlier.hold)/expired/\(at)",
                                           time: at, source: "credit-meter", data: [("hold_id", .s(earlier.hold)), ("expires_at", .s(at))]))
            case 11 where earlier != nil:
                // The same request again (a repeat), or other data under its hold_id (bad input),
                // under a new event id.
                let earlier = earlier!
                var data = earlier.data
                if op % 2 == 1 { data = data.filter { $0.0 != "ttl_seconds" } + [("ttl_seconds", EventJSON.Value.n("7"))] }
                out.append(EventJSON.event("credit.hold.requested", account: earlier.account, id: id, time: op % 3 == 0 ? earlier.time : ts,
                                           data: data))
            case 12:
                out.append(EventJSON.event("credit.member.budget.set", account: account, id: id, time: ts,
                                           data: [("member", .s("m\(op % 2)")), ("monthly_credits", op % 5 == 0 ? .null : .n(String(1 + op % 80)))]))
            default:
                out.append(EventJSON.event("credit.topup.purchased", account: account, id: id, time: ts,
                                           data: op % 2 == 0 ? [("pack", .s("pack-1000"))] : [("credits", .n("12.345"))]))
            }
        }
        return out
    }
}

@Suite struct HoldSnapshotTests {
    static func encode(_ ledger: PartitionLedger) -> [UInt8] {
        SnapshotCodec.encode(ledger, topic: "ai.usage", partition: 2, nextOffset: 77, metadata: 5)
    }

    /// A hold event's decision as it reports it (§15), for comparing runs.
    static func decision(_ r: ApplyResult) -> String? {
        r.hold.map { "\($0.type) \($0.holdID) \(String(describing: $0.hold)) \($0.repeated) \(String(describing: $0.available))" }
    }

    /// The generator reaches every kind of hold.
    @Test func theLogsHoldEveryKindOfHold() throws {
        let t = try TestLedger()
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15  // xorshift64: arbitrary, repeatable ops
        let ops = (0..<300).map { _ in
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return Int(x % 10_000_000)
        }
        for e in HoldLogGen.log(ops) { t.apply(e) }
        let holds = t.holdBooks.joined()
        #expect(Set(holds.map(\.status)) == [.active, .denied, .released, .expired])
        #expect(Set(holds.compactMap(\.denial)).isSuperset(of: [.unknownAction, .insufficientCredits]))
        #expect(holds.contains { $0.settled > 0 } && holds.contains { $0.member != nil } && holds.contains { $0.workflow != nil })
        let c = t.ledger.counters
        #expect(c.holdsGranted > 0 && c.holdsDenied > 0 && c.holdsReleased > 0 && c.holdsExpired > 0 && c.usageUnheld > 0)
    }

    /// Encode → decode → encode gives the same bytes, and the restored holds are the ledger's,
    /// field for field, after every event of random logs.
    @Test func aLedgerWithHoldsRoundTripsByteForByte() async {
        await propertyCheck(count: 40, input: Gen.int(in: 0...9_999_999).array(of: 1...120)) { ops in
            let t = try TestLedger()
            for e in HoldLogGen.log(ops) {
                t.apply(e)
                let bytes = Self.encode(t.ledger)
                let (restored, _) = try SnapshotCodec.decode(bytes, config: t.ledger.config)
                #expect(Self.encode(restored) == bytes)
                let back = TestLedger(t.ledger.config)
                back.adopt(restored)
                #expect(back.holdBooks == t.holdBooks)
                #expect(back.nextHoldNumbers == t.nextHoldNumbers)
                #expect(back.available == t.available)
                #expect(restored.counters == t.ledger.counters)
            }
        }
    }

    /// Applying a log in one go equals applying part of it, snapshotting, restoring and
    /// applying the rest: the holds, every hold decision, available credits, the counters, the
    /// documents and the snapshot bytes.
    @Test func restoringAndContinuingEqualsAnUninterruptedRun() async {
        await propertyCheck(count: 60, input: Gen.int(in: 0...9_999_999).array(of: 2...150), Gen.int(in: 0...100)) { ops, cut in
            let log = HoldLogGen.log(ops)
            let split = log.count * cut / 100
            let straight = try TestLedger()
            let straightDecisions = log.map { Self.decision(straight.apply($0)) }
            let first = try TestLedger()
            var decisions = log[..<split].map { Self.decision(first.apply($0)) }
            let (restored, _) = try SnapshotCodec.decode(Self.encode(first.ledger), config: first.ledger.config)
            let continued = TestLedger(first.ledger.config)
            continued.adopt(restored)
            decisions += log[split...].map { Self.decision(continued.apply($0)) }
            #expect(decisions == straightDecisions)
            #expect(continued.holdBooks == straight.holdBooks)
            #expect(continued.nextHoldNumbers == straight.nextHoldNumbers)
            #expect(continued.available == straight.available)
            #expect(continued.ledger.counters == straight.ledger.counters)
            #expect(continued.documents() == straight.documents())
            #expect(Self.encode(continued.ledger) == Self.encode(straight.ledger))
            #expect(continued.ledger.audit().isClean)
        }
    }

    /// A snapshot of a format without holds restores with none: every book empty, numbering
    /// from 1, the hold counters 0 — and a request then decides as on a fresh account.
    @Test func formatsWithoutHoldsRestoreWithNone() throws {
        let t = try SnapshotFixture.scenarioV5()
        for version in 1...5 {
            let bytes = try SnapshotFixture.bytes("snapshot-v\(version).snap")
            let (l, _) = try SnapshotCodec.decode(bytes, config: t.ledger.config)
            #expect(l.accounts.allSatisfy { $0.holdBook == nil && ($0.features?.holds ?? HoldBook()) == HoldBook() })
            let c = l.counters
            #expect([c.holdsGranted, c.holdsDenied, c.holdsReleased, c.holdsExpired, c.usageUnheld] == [0, 0, 0, 0, 0])
            let continued = TestLedger(l.config)
            continued.adopt(l)
            let r = continued.holdRequest("acme", "first", credits: "5", at: "2026-12-20T00:00:00Z", id: "hr-after-v\(version)")
            #expect(r.hold?.hold?.number == 1 && r.hold?.hold?.status == .active && r.hold?.hold?.held == 5_000)
        }
    }

    // MARK: Refusals

    /// Account "a" (pro plan) with one hold of each status: h1 active (member, workflow,
    /// settled), h2 released, h3 denied, h4 expired.
    static func state() throws -> PartitionLedger {
        let t = try TestLedger()
        t.plan("a", "pro", at: "2026-11-01T00:00:00Z", id: "p")
        t.holdRequest("a", "h1", credits: "40", ttl: 7200, member: "m1", workflow: "agent run", at: "2026-11-02T00:00:00Z", id: "r1")
        t.heldUsage("a", "web_research", hold: "h1", at: "2026-11-02T00:01:00Z", id: "u1")
        t.holdRequest("a", "h2", action: "doc_search", multiplier: 2, at: "2026-11-02T00:02:00Z", id: "r2")
        t.holdRelease("a", "h2", at: "2026-11-02T00:03:00Z", id: "x2")
        t.holdRequest("a", "h3", credits: "1000000", at: "2026-11-02T00:04:00Z", id: "r3")
        t.holdRequest("a", "h4", credits: "1", ttl: 60, at: "2026-11-02T00:05:00Z", id: "r4")
        t.usage("a", "chat", at: "2026-11-02T00:07:00Z", id: "u2")
        #expect(t.holdBooks[0].map(\.status) == [.active, .released, .denied, .expired])
        return t.ledger
    }

    /// `ledger`'s snapshot with account 0's holds written as `holds` (next number `next`), or
    /// as `raw` bytes, and a valid checksum.
    static func spliced(_ ledger: PartitionLedger, holds: [Hold]? = nil, next: Int64? = nil, raw: [UInt8]? = nil) throws -> [UInt8] {
        let book = ledger.accounts[0].features!.holds
        let original = SnapshotErrorTests.writer { SnapshotCodec.writeHolds(book, into: &$0) }
        let replacement = raw ?? SnapshotErrorTests.writer {
            SnapshotCodec.writeHolds(holds ?? book.holds, nextNumber: next ?? book.nextNumber, into: &$0)
        }
        return SnapshotErrorTests.sealed(try SnapshotErrorTests.patched(encode(ledger), original, replacement).dropLast(8))
    }

    /// The holds `a` and `b` encoded (they differ in one byte: a status or a denial), `a`'s
    /// encoding with that byte set to `value`.
    static func withByte(_ ledger: PartitionLedger, _ a: [Hold], _ b: [Hold], _ value: UInt8) throws -> [UInt8] {
        let next = ledger.accounts[0].features!.holds.nextNumber
        var x = SnapshotErrorTests.writer { SnapshotCodec.writeHolds(a, nextNumber: next, into: &$0) }
        let y = SnapshotErrorTests.writer { SnapshotCodec.writeHolds(b, nextNumber: next, into: &$0) }
        let differing = x.indices.filter { x[$0] != y[$0] }
        try #require(differing.count == 1 && x.count == y.count)
        x[differing[0]] = value
        return x
    }

    enum Corruption: String, CaseIterable, Sendable {
        case moreThan1000Active, moreThan10000Ended, activeAtItsExpiry, activePastItsExpiry, heldNegative, settledNegative,
             activeHeldPastLimit, numbersNotAscending, numberRepeated, numberAtNextNumber, nextNumberZero, repeatedID, emptyID,
             emptyMember, statusOutOfRange, denialOutOfRange, deniedWithoutDenial, activeWithDenial, releasedWithDenial,
             unknownAccountStored, deniedSettled, requestedAtMin, endedAtMax

        var reason: String {
            switch self {
            case .moreThan1000Active: "more than 1000 active holds"
            case .moreThan10000Ended: "more than 10000 ended holds"
            case .activeAtItsExpiry, .activePastItsExpiry: "active hold at or past its expiry"
            case .heldNegative, .settledNegative, .activeHeldPastLimit, .deniedSettled: "hold credits out of range"
            case .numbersNotAscending, .numberRepeated, .numberAtNextNumber, .nextNumberZero: "hold numbers out of order"
            case .repeatedID: "repeated hold id"
            case .emptyID, .emptyMember: "empty hold id or label"
            case .statusOutOfRange, .denialOutOfRange: "hold status or denial out of range"
            case .deniedWithoutDenial, .activeWithDenial, .releasedWithDenial, .unknownAccountStored: "hold status and denial do not match"
            case .requestedAtMin, .endedAtMax: "hold time out of range"
            }
        }
    }

    @Test func theUnchangedHoldsRestore() throws {
        let ledger = try Self.state()
        let bytes = try Self.spliced(ledger)
        #expect(bytes == Self.encode(ledger))
        let (restored, _) = try SnapshotCodec.decode(bytes, config: ledger.config)
        #expect(restored.accounts[0].features?.holds.holds == ledger.accounts[0].features?.holds.holds)
    }

    @Test(arguments: Corruption.allCases)
    func holdsNoLedgerLeavesAreRefused(_ c: Corruption) throws {
        let ledger = try Self.state()
        let book = ledger.accounts[0].features!.holds
        let clock = ledger.accounts[0].clock
        var h = book.holds
        var next = book.nextNumber
        func many(_ n: Int, like model: Hold) -> [Hold] {
            (0..<n).map { k in
                var x = model
                x.id = "bulk-\(k)"
                x.number = next + Int64(k)
                return x
            }
        }
        var raw: [UInt8]?
        switch c {
        case .moreThan1000Active:
            var small = h[0]
            small.held = 1; small.settled = 0
            h += many(HoldBook.maxActive, like: small)  // h1 is active too
            next += Int64(HoldBook.maxActive)
        case .moreThan10000Ended:
            h += many(HoldBook.maxEnded - 2, like: h[1])  // h2, h3 and h4 have ended too
            next += Int64(HoldBook.maxEnded - 2)
        case .activeAtItsExpiry: h[0].expiresAt = clock
        case .activePastItsExpiry: h[0].expiresAt = clock - EventTime.nanosPerHour
        case .heldNegative: h[1].held = -1
        case .settledNegative: h[0].settled = -1
        case .activeHeldPastLimit:
            h[0].held = SnapshotCodec.amountLimit - 1
            var second = h[0]
            second.id = "second"; second.number = next; second.held = 2
            h.append(second)
            next += 1
        case .numbersNotAscending: h.swapAt(1, 2)
        case .numberRepeated: h[2].number = h[1].number
        case .numberAtNextNumber: h[3].number = next
        case .nextNumberZero: next = 0
        case .repeatedID: h[3].id = h[0].id
        case .emptyID: h[2].id = ""
        case .emptyMember: h[1].member = ""
        case .statusOutOfRange:
            var a = h, b = h
            a[3].status = .released; b[3].status = .expired
            raw = try Self.withByte(ledger, a, b, 4)
        case .denialOutOfRange:
            var a = h, b = h
            a[2].denial = .unknownAction; b[2].denial = .unknownModel
            raw = try Self.withByte(ledger, a, b, 7)
        case .deniedWithoutDenial: h[2].denial = nil
        case .activeWithDenial: h[0].denial = .insufficientCredits
        case .releasedWithDenial: h[1].denial = .tooManyHolds
        case .unknownAccountStored: h[2].denial = .unknownAccount
        case .deniedSettled: h[2].settled = 1
        case .requestedAtMin: h[0].requestedAt = .min
        case .endedAtMax: h[3].endedAt = .max
        }
        let bytes = try raw.map { try Self.spliced(ledger, raw: $0) } ?? Self.spliced(ledger, holds: h, next: next)
        do {
            _ = try SnapshotCodec.decode(bytes, config: ledger.config)
            Issue.record("\(c): a corrupt snapshot was accepted")
        } catch {
            #expect(error.message.contains(c.reason), "\(c): \(error.message)")
            #expect(error.isDamaged, "\(c): \(error)")
        }
    }
}
