import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import KafkaMockCluster
import Testing

/// The service keeps going while the mock cluster misbehaves —
/// request errors injected on Fetch, Produce, OffsetCommit, JoinGroup, SyncGroup and
/// Heartbeat, raised round-trip times, the broker going down and up mid-stream — and ends
/// with exactly the balances and alert ids of an undisturbed run. The service runs in this
/// process (the harness's in-process mock cluster), not as a child process.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct FaultInjectionTests {
    static let accounts = ["fa", "fb", "fc", "fd"]

    /// basic = 500 credits; 20 × knowledge_sync (25) = 500: low 20 % at the 16th, low 10 %
    /// at the 18th, exhausted at the 20th.
    static func records(_ from: Int, _ to: Int) -> [(String, String)] {
        var out: [(String, String)] = []
        for i in from..<to {
            for a in accounts {
                if i == 0 {
                    out.append((event("credit.plan.assigned", a, id: "p-\(a)", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#), a))
                } else {
                    out.append((event("ai.usage", a, id: "u\(i)-\(a)", time: "2026-11-02T00:00:\(String(format: "%02d", i))Z",
                                      data: #"{"action":"knowledge_sync"}"#), a))
                }
            }
        }
        return out
    }

    static let expectedAlertIDs: Set<String> = Set(accounts.flatMap { a in [
        "\(a)/2026-11-01T00:00:00Z/credit.balance.low/20/1",
        "\(a)/2026-11-01T00:00:00Z/credit.balance.low/10/1",
        "\(a)/2026-11-01T00:00:00Z/credit.balance.exhausted/0/1",
    ] })

    @Test func requestErrorsSlowBrokersAndAnOutageChangeNothing() async throws {
        let h = try ServiceHarness(partitions: 4)
        let cluster = try #require(h.cluster).cluster
        for (json, key) in Self.records(0, 8) { try h.produce(json, key: key) }

        // Trouble before the service even joins: coordinator and group errors.
        cluster.pushRequestErrors(.findCoordinator, [KafkaErrorCode.coordinatorNotAvailable])
        cluster.pushRequestErrors(.joinGroup, [KafkaErrorCode.coordinatorNotAvailable, KafkaErrorCode.requestTimedOut])
        let service = MeterService(config: try h.config(), logger: h.logger)
        let task = Task { try await service.run() }
        func waitFor(_ n: Int64, _ seconds: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while service.status.processed < n && ContinuousClock.now < deadline && service.status.running || service.status.processed == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await waitFor(Int64(4 * 8), 60)
        #expect(service.status.processed >= Int64(4 * 8), "processed \(service.status.processed)")

        // Mid-stream: errors on fetches, produces (alerts, balances), offset commits, heartbeats; slow broker.
        cluster.pushRequestErrors(.fetch, [KafkaErrorCode.notLeaderForPartition, KafkaErrorCode.requestTimedOut, KafkaErrorCode.requestTimedOut])
        cluster.pushRequestErrors(.produce, [KafkaErrorCode.notEnoughReplicas, KafkaErrorCode.requestTimedOut, KafkaErrorCode.notLeaderForPartition])
        cluster.pushRequestErrors(.offsetCommit, [KafkaErrorCode.requestTimedOut, KafkaErrorCode.coordinatorNotAvailable])
        cluster.pushRequestErrors(.heartbeat, [KafkaErrorCode.requestTimedOut])
        try cluster.setRoundTripTime(broker: 1, milliseconds: 250)
        for (json, key) in Self.records(8, 14) { try h.produce(json, key: key) }
        try await waitFor(Int64(4 * 14), 60)
        try cluster.setRoundTripTime(broker: 1, milliseconds: 0)

        // The broker goes down for 3 s; records produced meanwhile wait in the producer.
        try cluster.setBrokerDown(1)
        try await Task.sleep(for: .seconds(3))
        try cluster.setBrokerUp(1)
        for (json, key) in Self.records(14, 21) { try h.produce(json, key: key) }
        try await waitFor(Int64(4 * 21), 90)
        // Each record is counted once per process, so `processed` reaches 84 even while an
        // assignment lost to the outage (the member expelled: heartbeats missed the 6 s session)
        // is still being rejoined; a stop then would hold no partition to hand over. Wait until
        // the loop holds all four at the log end again.
        try await Self.waitUntilHoldingEverything(service, partitions: 4, records: 4 * 21)

        service.requestStop()
        try await task.value
        let status = service.status
        #expect(status.processed == Int64(4 * 21), "processed \(status.processed)")
        #expect(status.deadLettered == 0 && status.duplicates == 0)
        #expect(status.deliveryFailures == 0)

        // Balances: exactly an undisturbed run's (every account used its 500 credits).
        #expect(service.finalBalances(of: Self.accounts) == Dictionary(uniqueKeysWithValues: Self.accounts.map { ($0, 0) }))
        // Alerts: at least once, never different — the same id set as an undisturbed run.
        let alerts = try h.readAll("credit.alerts")
        #expect(Set(alerts.compactMap { $0.json["id"] as? String }) == Self.expectedAlertIDs)
    }

    /// An assignment lost without a snapshot (the member expelled: a heartbeat answered
    /// UNKNOWN_MEMBER_ID) comes back restored from older state — here none, so from the
    /// beginning — and its records are applied again: balances and alert ids stay exact, and
    /// the status and `/metrics` count every record once, the repeat work apart (`reread`).
    @Test func aLostAssignmentIsAppliedAgainButCountedOnce() async throws {
        let h = try ServiceHarness(partitions: 2, snapshotInterval: 3600)
        let cluster = try #require(h.cluster).cluster
        for (json, key) in Self.records(0, 8) { try h.produce(json, key: key) }
        let service = MeterService(config: try h.config(), logger: h.logger)
        let task = Task { try await service.run() }
        _ = try await OwnershipDirectoryTests.eventually(60) { service.status.processed >= Int64(4 * 8) }
        #expect(service.status.processed == Int64(4 * 8))

        cluster.pushRequestErrors(.heartbeat, [KafkaErrorCode.unknownMemberID])
        _ = try await OwnershipDirectoryTests.eventually(60) { service.status.reread >= Int64(4 * 8) }
        #expect(service.status.reread >= Int64(4 * 8), "reread \(service.status.reread)")
        for (json, key) in Self.records(8, 21) { try h.produce(json, key: key) }
        _ = try await OwnershipDirectoryTests.eventually(60) { service.status.processed >= Int64(4 * 21) }
        try await Self.waitUntilHoldingEverything(service, partitions: 2, records: 4 * 21)

        service.requestStop()
        try await task.value
        let status = service.status
        #expect(status.processed == Int64(4 * 21) && status.applied == Int64(4 * 21), "processed \(status.processed)")
        #expect(status.consumed == Int64(4 * 21))
        #expect(status.deadLettered == 0 && status.duplicates == 0)
        // 4 accounts × 20 uses × 25 credits, once.
        #expect(status.creditsChargedMillicredits == 4 * 20 * 25_000)
        #expect(status.alertsByType == ["credit.balance.low": 8, "credit.balance.exhausted": 4])
        #expect(service.finalBalances(of: Self.accounts) == Dictionary(uniqueKeysWithValues: Self.accounts.map { ($0, 0) }))
        let alerts = try h.readAll("credit.alerts")
        #expect(Set(alerts.compactMap { $0.json["id"] as? String }) == Self.expectedAlertIDs)
    }
}

extension FaultInjectionTests {
    /// Waits (up to a minute) until the loop holds `partitions` partitions whose positions add
    /// up to `records` (every record of a topic written from offset 0; an empty partition's
    /// position is negative), and requires it.
    static func waitUntilHoldingEverything(_ service: MeterService, partitions: Int, records: Int64) async throws {
        func holding() -> Bool {
            let p = service.status.positions
            return p.count == partitions && p.values.reduce(0) { $0 + max($1, 0) } == records  // < 0: nothing read yet
        }
        try #require(try await OwnershipDirectoryTests.eventually(60, holding), "positions \(service.status.positions)")
    }
}

extension MeterService {
    /// The balance (millicredits) of each of these accounts in the ledgers at the stop.
    func finalBalances(of accounts: [String]) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for (_, ledger) in finalLedgers() {
            for a in accounts { if let acct = ledger.account(a) { out[a] = acct.balance } }
        }
        return out
    }
}
