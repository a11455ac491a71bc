import Foundation
import PropertyBased
import Testing
@testable import CreditEngine

/// Restore-time validation, field by field: a real state (plan, member budget, auto top-up,
/// fired alerts) is encoded, one field is set to a value the ledger never writes, and the
/// re-encoded snapshot — checksum valid — must be refused as `SnapshotError.damaged`, with the
/// reason that names it. Without its rule, each value here would be trusted and trap later (in
/// the account document, at the next rollover, on the next `+= 1`) or change what later events
/// do (an account that lookups never reach, a void that bisection misses, a cycle that starts
/// off its anchor).
@Suite struct SnapshotValidationTests {
    /// Account "a": pro plan, member "m1" with a budget and usage, an auto top-up policy,
    /// low-balance alerts fired.
    static func state() throws -> PartitionLedger {
        let t = try TestLedger()
        t.plan("a", "pro", at: "2026-11-01T00:00:00Z")
        t.budget("a", "m1", "100", at: "2026-11-01T00:00:01Z")
        t.autoTopup("a", below: "50", maxPerCycle: 2, at: "2026-11-01T00:00:02Z")
        for i in 0..<3 { t.usage("a", "knowledge_sync", at: "2026-11-02T00:00:0\(i)Z", quantity: 25, member: "m1") }
        return t.ledger
    }

    static func roundTrip(_ ledger: PartitionLedger) throws(SnapshotError) -> PartitionLedger {
        let bytes = SnapshotCodec.encode(ledger, topic: "ai.usage", partition: 0, nextOffset: 10, metadata: 1)
        return try SnapshotCodec.decode(bytes, config: ledger.config).0
    }

    @Test func theUnchangedStateRestores() throws {
        let ledger = try Self.state()
        let a = try #require(ledger.account("a"))
        // The fixture exercises what the cases below corrupt.
        #expect(a.extras.first?.budgets.count == 1 && a.extras.first?.autoTopup != nil)
        #expect(!a.cycleAlerts.isEmpty)
        let restored = try Self.roundTrip(ledger)
        #expect(restored.accountDocument(0) == ledger.accountDocument(0))
    }

    /// No rule refuses a state the ledger reaches: after every event of random logs — plans
    /// anchored to month ends, to the past and to the future, re-anchored, late events, many
    /// cycles crossed at once — the snapshot restores to the same documents.
    @Test func everyStateTheLedgerReachesRestores() async {
        await propertyCheck(count: 40, input: Gen.int(in: 0...9_999_999).array(of: 1...60)) { ops in
            let t = try TestLedger()
            var time = EventTime.parse("2026-01-31T12:00:00Z")!
            let anchors = ["2026-01-31T00:00:00Z", "2025-12-31T23:59:59Z", "2024-02-29T00:00:00Z", "2027-03-31T00:00:00Z"]
            for op in ops {
                time += Int64(op % 600) * EventTime.nanosPerHour
                let at = op % 11 == 0 ? time - 5 * EventTime.nanosPerDay : time  // some late
                let ts = EventTime.format(at)
                let account = "r\(op % 2)"
                switch (op / 2) % 6 {
                case 0:
                    let anchor = [nil, ts, EventTime.format(at + 10 * EventTime.nanosPerDay), anchors[(op / 12) % anchors.count]][(op / 12) % 4]
                    if op % 3 == 0 { t.plan(account, nil, at: ts, monthly: "300", anchor: anchor) } else { t.plan(account, "basic", at: ts, anchor: anchor) }
                case 1: t.grant(account, "40", at: ts, expires: EventTime.format(at + Int64(1 + op % 9) * EventTime.nanosPerDay))
                case 2: t.topup(account, at: ts)
                default: t.usage(account, "web_research", at: ts, quantity: 1 + op % 7)
                }
                let bytes = SnapshotCodec.encode(t.ledger, topic: "ai.usage", partition: 0, nextOffset: 1, metadata: 0)
                let restored = try SnapshotCodec.decode(bytes, config: t.ledger.config).0
                #expect((0..<restored.accountCount).map { restored.accountDocument($0) } == (0..<t.ledger.accountCount).map { t.ledger.accountDocument($0) })
            }
        }
    }

    enum Corruption: String, CaseIterable, Sendable {
        case alertMemberPastTable, budgetMemberPastTable, budgetMemberNegative, budgetDuplicateMember, budgetNotPositive,
             budgetCountsWrongLength, cycleIndexPastCalendar, cycleIndexMin, eventsAtMax, appliedAtMax, rolloverNegative,
             requestSequenceAtMax, runwaySequenceNegative, policyMaxPerCycleZero, monthlyNegative, pinUntilMin,
             duplicateAccountID, grantIDsOutOfOrder, grantIDRepeated, cycleStartOffItsAnchor, cycleEndOffItsAnchor, anchorMoved,
             clockAtCycleEnd, clockPastCycleEnd

        /// The refusal that names it (not some other check the corruption happens to break).
        var reason: String {
            switch self {
            case .alertMemberPastTable: "alert member reference out of range"
            case .budgetMemberPastTable, .budgetMemberNegative, .budgetDuplicateMember, .budgetNotPositive, .budgetCountsWrongLength:
                "member budget out of range"
            case .cycleIndexPastCalendar, .cycleIndexMin: "billing cycle index out of range"
            case .eventsAtMax: "event count out of range"
            case .appliedAtMax: "partition counters out of range"
            case .rolloverNegative, .requestSequenceAtMax, .runwaySequenceNegative: "top-up or runway state out of range"
            case .policyMaxPerCycleZero: "auto top-up policy out of range"
            case .monthlyNegative: "negative monthly credits"
            case .pinUntilMin: "time out of range"
            case .duplicateAccountID: "duplicate account id"
            case .grantIDsOutOfOrder, .grantIDRepeated: "remembered grant ids out of order"
            case .cycleStartOffItsAnchor, .cycleEndOffItsAnchor, .anchorMoved: "billing cycle does not match its anchor and index"
            case .clockAtCycleEnd, .clockPastCycleEnd: "clock at or after the end of its billing cycle"
            }
        }
    }

    @Test(arguments: Corruption.allCases)
    func aFieldTheLedgerNeverWritesIsRefused(_ c: Corruption) throws {
        let ledger = try Self.state()
        let members = Int32(ledger.state.members.count)
        ledger.state.accounts[0].withExtras { x in
            switch c {
            case .budgetMemberPastTable: x.budgets[0].member = members
            case .budgetMemberNegative: x.budgets[0].member = -1
            case .budgetDuplicateMember: x.budgets.append(x.budgets[0])
            case .budgetNotPositive: x.budgets[0].budget = Int64.min
            case .budgetCountsWrongLength: x.budgets[0].counts = [1]
            case .rolloverNegative: x.rolloverMax = .min
            case .requestSequenceAtMax: x.requestSequence = .max
            case .runwaySequenceNegative: x.runwaySequence = -1
            case .policyMaxPerCycleZero: x.autoTopup?.maxPerCycle = 0
            case .grantIDsOutOfOrder: x.grantIDs = [9, 3]
            case .grantIDRepeated: x.grantIDs = [3, 7, 7]
            default: break
            }
        }
        switch c {
        case .alertMemberPastTable:
            ledger.state.accounts[0].cycleAlerts[0].kind = .memberLow
            ledger.state.accounts[0].cycleAlerts[0].member = members + 2
        case .cycleIndexPastCalendar: ledger.state.accounts[0].cycleIndex = 3000
        case .cycleIndexMin: ledger.state.accounts[0].cycleIndex = .min
        case .eventsAtMax: ledger.state.accounts[0].events = .max
        case .appliedAtMax: ledger.state.counters.applied = .max
        case .monthlyNegative: ledger.state.accounts[0].monthly = -1
        case .pinUntilMin:
            ledger.state.accounts[0].pinnedVersion = 0
            ledger.state.accounts[0].pinUntil = .min
        case .duplicateAccountID:  // a second account under the first one's id
            let id = Array(ledger.accountID(0).utf8)
            _ = id.withUnsafeBytes { ledger.state.ids.insert($0, hash: ByteHash.hash($0)) }
            ledger.state.accounts.append(ledger.state.accounts[0])
            ledger.state.lastIdRefs.append(ledger.state.lastIdRefs[0])
        case .cycleStartOffItsAnchor: ledger.state.accounts[0].cycleStart += EventTime.nanosPerHour
        case .cycleEndOffItsAnchor: ledger.state.accounts[0].cycleEnd -= 1
        case .anchorMoved: ledger.state.accounts[0].anchor += EventTime.nanosPerDay
        case .clockAtCycleEnd: ledger.state.accounts[0].clock = ledger.state.accounts[0].cycleEnd
        case .clockPastCycleEnd: ledger.state.accounts[0].clock = ledger.state.accounts[0].cycleEnd + 40 * EventTime.nanosPerDay
        default: break
        }
        do {
            _ = try Self.roundTrip(ledger)
            Issue.record("\(c): a corrupt snapshot was accepted")
        } catch {
            #expect(error.message.contains(c.reason), "\(c): \(error.message)")
            #expect(error.isDamaged, "\(c): \(error)")
        }
    }
}
