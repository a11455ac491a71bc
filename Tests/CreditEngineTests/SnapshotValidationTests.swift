import Foundation
import Testing
@testable import CreditEngine

/// Restore-time validation, field by field: a real state (plan, member budget, auto top-up,
/// fired alerts) is encoded, one field is set to a value the ledger never writes, and the
/// re-encoded snapshot — checksum valid — must be refused with a SnapshotError. Each value
/// here passed validation before and trapped later: in the account document (member
/// references), at the next rollover (cycle index), or on the next `+= 1` (counts).
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

    enum Corruption: String, CaseIterable, Sendable {
        case alertMemberPastTable, budgetMemberPastTable, budgetMemberNegative, budgetDuplicateMember, budgetNotPositive,
             budgetCountsWrongLength, cycleIndexPastCalendar, cycleIndexMin, eventsAtMax, appliedAtMax, rolloverNegative,
             requestSequenceAtMax, runwaySequenceNegative, policyMaxPerCycleZero, monthlyNegative, pinUntilMin

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
        default: break
        }
        do {
            _ = try Self.roundTrip(ledger)
            Issue.record("\(c): a corrupt snapshot was accepted")
        } catch {
            #expect(error.message.contains(c.reason), "\(c): \(error.message)")
        }
    }
}
