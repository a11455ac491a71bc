import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Testing

/// The real binary as a child process against a broker in another process
/// (`credit-meter dev-broker`): clean stops, kill -9 at random instants, corrupt snapshots.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct DurabilityTests {
    @Test func sigtermStopsCleanlyWithExitZeroAndASnapshot() async throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-sigterm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logs) }
        let broker = try await DevBroker(dir: logs, topics: ["ai.usage:4", "credit.alerts:2", "ai.usage.dlq:2", "credit.balances:2"])
        defer { Task { await broker.stop() } }
        let h = try ServiceHarness(partitions: 4, externalBootstrap: broker.bootstrap, snapshotInterval: 60)
        try h.produce(event("credit.plan.assigned", "sig", id: "p", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), key: "sig")
        for i in 0..<9 { try h.produce(event("ai.usage", "sig", id: "u\(i)", time: "2026-11-02T00:00:0\(i)Z", data: #"{"action":"web_research"}"#), key: "sig") }

        let run = try Child(["run", "--config", h.configPath], logDir: logs, name: "run")
        // Wait for the two alerts (20 %, 10 %) to be published.
        let deadline = ContinuousClock.now + .seconds(60)
        while try h.held("credit.alerts") < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        run.signal(SIGTERM)
        let status = await run.wait(timeout: .seconds(30))
        #expect(status == 0, "stderr: \(run.stderr.suffix(2000))")
        // The clean stop wrote a snapshot covering all 10 records and committed its offsets.
        let inspect = try Child(["snapshot", "inspect", h.dir + "/snapshots", "--json", "--account", "sig"], logDir: logs, name: "inspect")
        #expect(await inspect.wait(timeout: .seconds(30)) == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        let offsets = try #require(json["offsets"] as? [String: Any])
        #expect(offsets.values.compactMap { ($0 as? NSNumber)?.int64Value }.max() == 10)
        let accounts = try #require(json["accounts"] as? [[String: Any]])
        #expect(accounts.count == 1)
        #expect(inspect.stdout.contains(#""account":"sig","balance_credits":10,"overage_credits":0,"entitlement_credits":100"#))
        #expect(try h.committedAndEnds().committed.values.max() == 10)
    }

    @Test func badConfigurationExitsNonZeroWithOneLine() async throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-badcfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logs) }
        try "kafka:\n  bootstrap_server: x\n".write(toFile: logs + "/bad.yaml", atomically: true, encoding: .utf8)
        let child = try Child(["run", "--config", logs + "/bad.yaml"], logDir: logs, name: "bad")
        #expect(await child.wait(timeout: .seconds(20)) == 1)
        let lines = child.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("credit-meter: \(logs)/bad.yaml: kafka.bootstrap_server: unknown key") == true, "\(child.stderr)")
    }

    /// Contract §8: after kill -9 at any instant, a restarted service ends with exactly the
    /// balances of an uninterrupted run; alerts may repeat but never differ under one id.
    @Test func killNineAtRandomInstantsEndsExactlyLikeAnUninterruptedRun() async throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-crash-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logs) }
        let partitions: Int32 = 64
        let broker = try await DevBroker(dir: logs, topics: ["ai.usage:\(partitions)", "credit.alerts:8", "ai.usage.dlq:2", "credit.balances:8",
                                                                      "credit.requests:8"])
        defer { Task { await broker.stop() } }
        let h = try ServiceHarness(partitions: partitions, externalBootstrap: broker.bootstrap, snapshotInterval: 1)

        var spec = WorkloadSpec()
        spec.seed = 99
        spec.accounts = 20_000
        spec.usageEvents = 400_000
        spec.duplicateEvery = 40
        spec.malformed = 40
        spec.autoTopupPercent = 10  // §12: requests must survive kill -9 like alerts
        spec.budgetPercent = 10
        spec.refunds = 5
        let records = Workload.generate(spec)
        try h.produce(records)
        #expect(try h.held("ai.usage") == Int64(records.count), "the broker dropped records")
        let reference = Reference(records: records, config: try h.config().engine)
        #expect(reference.auditClean)

        // Each round: start the binary, wait until it has made durable progress (its committed
        // offsets moved), let it run a random moment more, then kill -9 — mid-stream, with
        // work done since the last snapshot that must be redone exactly once.
        var rng = SplitMix64(seed: 20261122)
        var kills = 0
        var restoredRuns = 0
        var lastCommitted: Int64 = 0
        for round in 0..<12 {
            if round == 4 { try corruptNewestSnapshots(in: h.dir + "/snapshots", every: 3) }
            let child = try Child(["run", "--config", h.configPath], logDir: logs, name: "run-\(round)",
                                  environment: ["CREDIT_METER_LOG_LEVEL": "info"])
            var caughtUp = false
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let (committed, ends) = try h.committedAndEnds()
                let sum = committed.values.reduce(0) { $0 + max($1, 0) }
                if committed == ends { caughtUp = true; break }
                if sum > lastCommitted { lastCommitted = sum; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            if caughtUp {
                child.signal(SIGTERM)
                _ = await child.wait(timeout: .seconds(30))
                break
            }
            try await Task.sleep(for: .milliseconds(Int(rng.next() % 900)))
            child.signal(SIGKILL)
            kills += 1
            _ = await child.wait(timeout: .seconds(10))
            if child.stderr.contains("restored from snapshot") { restoredRuns += 1 }
        }
        #expect(kills >= 5, "only \(kills) kills happened mid-stream")
        #expect(restoredRuns >= 3)
        // The last run goes to the end, then stops cleanly.
        let last = try Child(["run", "--config", h.configPath], logDir: logs, name: "run-final",
                             environment: ["CREDIT_METER_LOG_LEVEL": "info"])
        let deadline = ContinuousClock.now + .seconds(240)
        while ContinuousClock.now < deadline {
            let (committed, ends) = try h.committedAndEnds()
            // Stop a running service (earlier rounds may already have caught up).
            if committed == ends && last.stderr.contains("partitions assigned") { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        last.signal(SIGTERM)
        #expect(await last.wait(timeout: .seconds(60)) == 0, "stderr: \(last.stderr.suffix(3000))")

        // Balances: every account's document equals the uninterrupted run's.
        let restored = try SnapshotInspector.load(h.dir + "/snapshots")
        #expect(restored.count == Int(partitions))
        var documents: [String: String] = [:]
        for l in restored {
            #expect(l.ledger.audit().isClean)
            for i in 0..<l.ledger.accountCount {
                documents[l.ledger.accountID(i)] = String(decoding: l.ledger.accountDocument(i), as: UTF8.self)
            }
        }
        #expect(documents.count == reference.documents.count)
        let mismatched = reference.documents.filter { documents[$0.key] != $0.value }.map(\.key).sorted()
        let firstDifference = mismatched.first.map { "\nexpected \(reference.documents[$0] ?? "")\nactual   \(documents[$0] ?? "missing")" } ?? ""
        #expect(mismatched.count == 0, "\(mismatched.count) accounts differ from the uninterrupted run, e.g. \(firstDifference)")

        // Alerts: at-least-once, identical under one id, and exactly the reference's set.
        let alerts = try h.readAll("credit.alerts")
        var byID: [String: Set<String>] = [:]
        for a in alerts { byID[a.json["id"] as? String ?? "?", default: []].insert(a.value) }
        #expect(byID.values.allSatisfy { $0.count == 1 }, "two different alerts share an id")
        #expect(Set(byID.keys) == Set(reference.alerts.keys))
        #expect(byID.allSatisfy { reference.alerts[$0.key] == $0.value.first })
        // Auto top-up requests: the same rule as alerts (at-least-once, identical bytes per id).
        let requests = try h.readAll("credit.requests")
        var requestsByID: [String: Set<String>] = [:]
        for q in requests { requestsByID[q.json["id"] as? String ?? "?", default: []].insert(q.value) }
        #expect(!reference.requests.isEmpty)
        #expect(requestsByID.values.allSatisfy { $0.count == 1 }, "two different requests share an id")
        #expect(Set(requestsByID.keys) == Set(reference.requests.keys))
        #expect(requestsByID.allSatisfy { reference.requests[$0.key] == $0.value.first })
        print("crash test: \(requests.count) request records for \(requestsByID.count) ids")
        print("crash test: \(records.count) records, \(kills) kill -9s mid-stream, \(restoredRuns) restores, \(alerts.count) alert records for \(byID.count) ids, \(reference.documents.count) accounts")
    }

    /// Truncates the newest snapshot of every `every`-th partition.
    private func corruptNewestSnapshots(in dir: String, every: Int) throws {
        var n = 0
        for topic in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            for p in ((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(topic)")) ?? []).sorted() {
                let folder = "\(dir)/\(topic)/\(p)"
                let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".snap") }.sorted()
                guard files.count >= 2, let newest = files.last else { continue }
                n += 1
                guard n % every == 0 else { continue }
                let path = "\(folder)/\(newest)"
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
            }
        }
    }
}
