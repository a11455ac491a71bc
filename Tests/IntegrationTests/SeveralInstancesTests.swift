import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Testing

/// Several instances in one group (contract §13), each a separate `credit-meter run` process
/// with a snapshot folder of its own, against a three-broker mock cluster in its own process:
/// state moves between them through the state topic only.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct SeveralInstancesTests {
    static let partitions: Int32 = 12

    @Test func threeInstancesWithNoSharedDiskOneKilledOneLateOneLeavingLoseNothing() async throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-several-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let broker = try await DevBroker(dir: logs, topics: ["ai.usage:\(Self.partitions)", "credit.alerts:4", "ai.usage.dlq:2",
                                                             "credit.balances:4", "credit.requests:4", "credit.state:\(Self.partitions)"],
                                         brokers: 3)
        defer { Task { await broker.stop() } }
        let h = try ServiceHarness(partitions: Self.partitions, externalBootstrap: broker.bootstrap, snapshotInterval: 1, stateTopic: true)
        // One configuration per instance: the same group, separate snapshot folders.
        let base = try String(contentsOfFile: h.configPath, encoding: .utf8)
        var configs: [String: String] = [:]
        for name in ["a", "b", "c"] {
            let path = "\(h.dir)/instance-\(name).yaml"
            try base.replacingOccurrences(of: "\(h.dir)/snapshots,", with: "\(h.dir)/snapshots-\(name),")
                .write(toFile: path, atomically: true, encoding: .utf8)
            configs[name] = path
        }
        func start(_ name: String) throws -> Child {
            try Child(["run", "--config", configs[name]!], logDir: logs, name: "run-\(name)",
                      environment: ["CREDIT_METER_LOG_LEVEL": "info"])
        }
        func waitUntil(_ what: String, _ seconds: Int, _ condition: () throws -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while try !condition() {
                if ContinuousClock.now > deadline { throw TestFailure("timed out waiting until \(what)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        func committedSum() throws -> Int64 { try h.committedAndEnds().committed.values.reduce(0) { $0 + max($1, 0) } }

        var spec = WorkloadSpec()
        spec.seed = 1313
        spec.accounts = 600
        spec.usageEvents = 24_000
        spec.duplicateEvery = 30
        spec.malformed = 10
        let records = Workload.generate(spec)
        let half = records.count / 2
        try h.produce(Array(records[..<half]))

        // A alone: every partition starts from the beginning, once.
        let a = try start("a")
        try await waitUntil("A committed progress", 60) { try committedSum() > 0 }
        // B joins: cooperative rebalancing moves some partitions; A checkpoints them as it lets go.
        let b = try start("b")
        try await waitUntil("B restored partitions", 60) { b.stderr.contains("partitions assigned") && b.stderr.contains("restored from the state topic") }
        try h.produce(Array(records[half...]))
        let progress = try committedSum()
        try await waitUntil("more progress", 60) { try committedSum() > progress }
        // A dies mid-stream, with work done since its last checkpoint.
        a.signal(SIGKILL)
        _ = await a.wait(timeout: .seconds(10))
        // C joins late; then B leaves cleanly.
        let c = try start("c")
        try await waitUntil("C restored partitions", 90) { c.stderr.contains("restored from the state topic") }
        b.signal(SIGTERM)
        #expect(await b.wait(timeout: .seconds(60)) == 0, "B: \(b.stderr.suffix(2000))")
        // C ends up with every partition and catches up with the whole input.
        var lastSeen = ""
        do {
            try await waitUntil("C caught up", 120) {
                let (committed, ends) = try h.committedAndEnds()
                lastSeen = "committed \(committed.sorted { $0.key < $1.key }), ends \(ends.sorted { $0.key < $1.key })"
                // C holds every partition (it logged a restore of each) and the group is at the end.
                let held = Set(c.stderr.split(separator: "\n").filter { $0.contains("restored from") }
                    .compactMap { $0.firstMatch(of: /partition=ai\.usage\/(\d+)/).map { Int($0.1)! } })
                return committed == ends && ends.count == Int(Self.partitions) && held.count == Int(Self.partitions)
            }
        } catch {
            throw TestFailure("\(error): \(lastSeen)")
        }
        // C read only what came after the states it restored, never the input from the
        // beginning: its own /metrics count at least Σ (log end − last restored offset) and at
        // most that over every restore (an assignment C lost is replayed after its next restore).
        let (_, ends) = try h.committedAndEnds()
        var last: [Int32: Int64] = [:]
        var upper: Int64 = 0
        for line in c.stderr.split(separator: "\n") where line.contains("restored from") {
            guard let m = line.firstMatch(of: /next_offset=(\d+) partition=ai\.usage\/(\d+)/) else { continue }
            let (p, offset) = (Int32(m.2)!, Int64(m.1)!)
            last[p] = offset
            upper += ends[p]! - offset
        }
        #expect(last.count == Int(Self.partitions), "C restored \(last); logs in \(logs)")
        let lower = last.reduce(Int64(0)) { $0 + ends[$1.key]! - $1.value }
        let port = try #require(c.stderr.firstMatch(of: /port=(\d+) \[CreditMeterCLI\] HTTP listening/).map { Int($0.1)! })
        let metrics = try await LoopbackHTTPClient(port: port).request("/metrics").text
        let counted = ["applied", "duplicate", "dead_lettered"].reduce(Int64(0)) { sum, outcome in
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("credit_meter_records_total{outcome=\"\(outcome)\"} ") }
            return sum + (line.flatMap { Int64($0.split(separator: " ").last!) } ?? 0)
        }
        #expect(counted >= lower && counted <= upper, "C's /metrics count \(counted) records, expected \(lower)...\(upper) of \(records.count)")
        #expect(counted < Int64(records.count))
        c.signal(SIGTERM)
        #expect(await c.wait(timeout: .seconds(60)) == 0, "C: \(c.stderr.suffix(2000))")

        // Partitions were rebuilt from the input only when nothing of them existed yet (A's
        // first assignment): every later owner restored from the state topic.
        let fromBeginning = [a, b, c].map { $0.stderr.components(separatedBy: "no snapshot: starting from the beginning").count - 1 }
        #expect(fromBeginning == [Int(Self.partitions), 0, 0], "from the beginning per instance: \(fromBeginning)")
        // A local snapshot is only ever an instance's own (a partition that came back to it).
        for (name, child) in [("b", b), ("c", c)] {
            let lines = child.stderr.split(separator: "\n").filter { $0.contains("restored from snapshot") }
            #expect(lines.allSatisfy { $0.contains("/snapshots-\(name)/") }, "\(name): \(lines)")
        }

        // Balances: the state topic's final checkpoints equal one uninterrupted run's.
        let config = try h.config()
        let reference = Reference(records: records, config: config.engine)
        let tps = (0..<Self.partitions).map { TopicPartition("ai.usage", $0) }
        let checkpoints = try StateTopic.checkpoints(config, bootstrap: h.bootstrap, partitions: tps, logger: h.logger)
        #expect(checkpoints.count == Int(Self.partitions))
        let documents = StateTopicTests.documents(checkpoints.values.map(\.ledger))
        #expect(documents.count == reference.documents.count)
        let mismatched = reference.documents.filter { documents[$0.key] != $0.value }.map(\.key).sorted()
        #expect(mismatched.isEmpty, "\(mismatched.count) accounts differ, e.g. \(mismatched.first ?? "")")

        // Alerts: at least once, never two different contents under one id; the same ids.
        let alerts = try h.readAll("credit.alerts")
        var contents: [String: Set<String>] = [:]
        for r in alerts { if let id = r.json["id"] as? String { contents[id, default: []].insert(r.value) } }
        #expect(contents.filter { $0.value.count > 1 }.isEmpty, "alert ids with two contents: \(contents.filter { $0.value.count > 1 }.keys.sorted().prefix(3))")
        #expect(Set(contents.keys) == Set(reference.alerts.keys))
        // (The logs stay in the temp folder for a failed run's diagnosis.)
    }
}
