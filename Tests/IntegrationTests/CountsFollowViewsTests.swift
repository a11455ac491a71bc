import CreditMeterService
import CreditMeterTools
import Foundation
import Testing

/// The service's counts never run ahead of what readers can see: a partition's records are
/// counted only once its views and position are published (`RecordCounts`), even though a
/// views round is spread over several loop iterations (`OutputCadence.publishViews(round:…)`).
@Suite struct CountsFollowViewsTests {
    @Test func noCountIsAheadOfThePublishedPositions() async throws {
        let h = try ServiceHarness(partitions: 16, snapshotInterval: 3600)
        let service = MeterService(config: try h.config(), logger: h.logger)
        let running = Task { try await service.run() }
        defer { service.requestStop() }
        // Every partition assigned and published (empty: no replay) before the first record.
        let assigned = ContinuousClock.now + .seconds(120)
        while service.status.positions.count < 16 {
            guard ContinuousClock.now < assigned else { Issue.record("\(service.status.positions.count) of 16 partitions assigned"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
        // trial: 100 credits; 10 × web_research (10 credits) each, over 2,000 accounts: alerts at
        // the 8th (20 % left), 9th (10 %) and 10th (exhausted); a views round has thousands of
        // changed accounts, more than one step publishes.
        let accounts = (0..<2_000).map { "cv-\($0)" }
        var records: [WorkloadRecord] = []
        func add(_ json: String, _ key: String) {
            records.append(WorkloadRecord(key: Array(key.utf8), value: Array(json.utf8), timestampMs: 1_793_500_000_000, kind: .usage))
        }
        for a in accounts { add(event("credit.plan.assigned", a, id: "p-\(a)", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), a) }
        for i in 0..<10 {
            for a in accounts {
                add(event("ai.usage", a, id: "u\(i)-\(a)", time: String(format: "2026-11-02T00:%02d:00Z", i), data: #"{"action":"web_research"}"#), a)
            }
        }
        let total = Int64(records.count)
        // `status` reads the counts, then the positions: every record counted must be below a
        // published position (the topics start at offset 0, every record is counted once, and
        // the one consumer of the group keeps every partition).
        // Records go in 1,000 at a time; until the service has counted each batch, its status
        // is read every millisecond.
        var samples = 0, ahead = 0
        let deadline = ContinuousClock.now + .seconds(180)
        for chunk in stride(from: 0, to: records.count, by: 1_000) {
            let batch = Array(records[chunk..<min(chunk + 1_000, records.count)])
            try await onOwnThread { try h.produce(batch) }
            let through = Int64(chunk + batch.count)
            while ContinuousClock.now < deadline {
                let s = service.status
                let covered = s.positions.values.reduce(Int64(0)) { $0 + max(0, $1) }
                samples += 1
                // Alerts by type are counted with the same views as the alerts they break down.
                let byType = s.alertsByType.values.reduce(0, +)
                if s.processed > covered || byType != s.alertsPublished {
                    if ahead == 0 {
                        Issue.record("counted \(s.processed) records, positions cover \(covered); alerts \(s.alertsPublished), by type \(byType)")
                    }
                    ahead += 1
                }
                if s.processed >= through && covered >= through { break }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        let end = service.status
        #expect(end.processed == total && end.applied == total, "processed \(end.processed) of \(total)")
        #expect(end.positions.values.reduce(0, +) == total)
        #expect(end.alertsPublished == 3 * Int64(accounts.count) && end.alertsByType.values.reduce(0, +) == end.alertsPublished)
        #expect(ahead == 0, "\(ahead) of \(samples) samples counted ahead of the published views")
        service.requestStop()
        try await running.value
    }
}
