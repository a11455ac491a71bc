import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import Testing

/// The real binary (`credit-meter run`) in its own process against a
/// three-broker `credit-meter dev-broker --commands` in another, with faults injected
/// mid-stream through the broker's stdin. Every run plays the same workload in three parts
/// (fault injected after the first, lifted after the second) and must end with the balances
/// topic's last record per account byte-equal to the reference model's, the alerts topic
/// holding exactly the reference's alert ids, and the trouble visible in the service's log
/// or `/metrics`.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct OutOfProcessFaultTests {
    static let topics = ["ai.usage:6", "credit.alerts:2", "ai.usage.dlq:2", "credit.balances:2", "credit.requests:2"]

    /// 24 accounts, 600 usage events, duplicates and malformed records: enough for alerts
    /// and dead letters, small enough that a run takes seconds.
    static let records: [WorkloadRecord] = {
        var spec = WorkloadSpec()
        spec.seed = 15
        spec.accounts = 24
        spec.usageEvents = 600
        spec.duplicateEvery = 25
        spec.malformed = 4
        spec.spanDays = 10
        return Workload.generate(spec)
    }()

    enum Fault: String, CaseIterable, CustomTestStringConvertible {
        case brokerDownAndUp, produceErrors, fetchErrors, offsetCommitErrors, joinGroupErrors, slowBrokers,
             coordinatorMoved, leaderMoved
        var testDescription: String { rawValue }

        /// librdkafka retries these failures on its own and, at its default levels, says
        /// nothing about them; its debug contexts (`kafka.properties.debug`, here through the
        /// environment) show them in the service's log.
        var debugContexts: String? {
            switch self {
            case .brokerDownAndUp, .slowBrokers: nil
            case .produceErrors: "msg"
            case .fetchErrors: "fetch"
            case .offsetCommitErrors, .joinGroupErrors, .coordinatorMoved: "cgrp"
            case .leaderMoved: "topic,metadata"
            }
        }

        /// What the service's log must show (any one of them).
        var evidence: [String] {
            switch self {
            case .brokerDownAndUp: ["Connection refused"]
            case .produceErrors: ["Not enough in-sync replicas"]
            case .fetchErrors: ["Not leader for partition", "NOT_LEADER"]
            case .offsetCommitErrors: ["OffsetCommitRequest failed"]
            case .joinGroupErrors: ["Coordinator not available", "COORDINATOR_NOT_AVAILABLE"]
            case .slowBrokers: []
            case .coordinatorMoved: ["Not coordinator", "NOT_COORDINATOR"]
            case .leaderMoved: ["migrating from broker"]
            }
        }
    }

    @Test(arguments: Fault.allCases)
    func faultMidStreamEndsExactlyLikeAnUndisturbedRun(_ fault: Fault) async throws {
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("cm-oopfault-\(fault)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: logs) }
        let broker = try await DevBroker(dir: logs, topics: Self.topics, brokers: 3, commands: true)
        defer { Task { await broker.stop() } }
        // Placement: the input's partitions on brokers 1 and 2, every output partition on
        // broker 3 — so errors aimed at broker 3's Produce reach the service's producer only
        // (the test produces the input through the same cluster).
        for p in 0..<6 { try await broker.command("leader ai.usage \(p) \(p % 2 + 1)") }
        for t in ["credit.alerts", "ai.usage.dlq", "credit.balances", "credit.requests"] {
            for p in 0..<2 { try await broker.command("leader \(t) \(p) 3") }
        }
        // The group's coordinator starts on broker 1 (moved in `coordinatorMoved`).
        try await broker.command("coordinator test-group 1")

        let h = try ServiceHarness(partitions: 6, externalBootstrap: broker.bootstrap, snapshotInterval: 1)
        let reference = Reference(records: Self.records, config: try h.config().engine)
        #expect(reference.auditClean)
        #expect(!reference.alerts.isEmpty)
        let third = Self.records.count / 3
        let parts = [Array(Self.records[..<third]), Array(Self.records[third..<(2 * third)]), Array(Self.records[(2 * third)...])]
        var runner = Runner(h: h, logs: logs,
                            environment: ["CREDIT_METER_LOG_LEVEL": fault.debugContexts == nil ? "info" : "debug"]
                                .merging(fault.debugContexts.map { ["CREDIT_METER_KAFKA_PROPERTIES_DEBUG": $0] } ?? [:]) { a, _ in a })

        try h.produce(parts[0])
        try runner.start()
        try await runner.waitUntilProcessed(parts[0].count)

        // The fault, then the second part of the workload into it.
        switch fault {
        case .brokerDownAndUp:
            // Broker 2 leads half the input: its partitions stall, the others go on; records
            // produced meanwhile wait in the test's producer until it is back.
            try await broker.command("down 2")
            let producing = Task { try await onOwnThread { try h.produce(parts[1]) } }
            try await Task.sleep(for: .seconds(3))
            try await broker.command("up 2")
            try await producing.value
        case .produceErrors:
            // Broker 3 leads every output partition: only the service produces there.
            try await broker.command("errors Produce NOT_ENOUGH_REPLICAS,REQUEST_TIMED_OUT,NOT_LEADER_FOR_PARTITION,NOT_ENOUGH_REPLICAS 3")
            try h.produce(parts[1])
        case .fetchErrors:
            try await broker.command("errors Fetch NOT_LEADER_FOR_PARTITION,REQUEST_TIMED_OUT,UNKNOWN_TOPIC_OR_PART,REQUEST_TIMED_OUT")
            try h.produce(parts[1])
        case .offsetCommitErrors:
            try await broker.command("errors OffsetCommit REQUEST_TIMED_OUT,COORDINATOR_NOT_AVAILABLE,NOT_COORDINATOR")
            try h.produce(parts[1])
        case .joinGroupErrors:
            // A restart mid-stream joins a flaky group: the new instance's JoinGroup fails
            // three times before it gets in.
            try await broker.command("errors JoinGroup COORDINATOR_NOT_AVAILABLE,REQUEST_TIMED_OUT,COORDINATOR_LOAD_IN_PROGRESS")
            try h.produce(parts[1])
            try await runner.restart()
        case .slowBrokers:
            for b in 1...3 { try await broker.command("rtt \(b) 400") }
            try h.produce(parts[1])
        case .coordinatorMoved:
            try await broker.command("coordinator test-group 2")
            try h.produce(parts[1])
        case .leaderMoved:
            // Every input partition changes leader, and one output partition too.
            for p in 0..<6 { try await broker.command("leader ai.usage \(p) \(p % 2 == 0 ? 2 : 1)") }
            try await broker.command("leader credit.balances 0 1")
            try h.produce(parts[1])
        }
        try await runner.waitUntilProcessed(parts[0].count + parts[1].count)
        // …and a durable snapshot of it, taken while the fault is still in force.
        try await runner.waitUntilCommittedToTheEnd()

        // Lift what is still in force, then the rest of the workload.
        switch fault {
        case .slowBrokers: for b in 1...3 { try await broker.command("rtt \(b) 0") }
        case .coordinatorMoved: try await broker.command("coordinator test-group 3")
        case .leaderMoved: for p in 0..<6 { try await broker.command("leader ai.usage \(p) 3") }
        default: break
        }
        try h.produce(parts[2])
        try await runner.waitUntilProcessed(Self.records.count)
        try await runner.waitUntilCommittedToTheEnd()
        let metrics = try await runner.metrics()
        try await runner.stop()

        // Exactly an undisturbed run's balances: the last balances record of every account.
        let balances = try h.readAll("credit.balances")
        var last: [String: String] = [:]
        for r in balances { if let k = r.key { last[k] = r.value } }
        #expect(last.count == reference.balances.count)
        let differing = reference.balances.filter { last[$0.key] != $0.value }.map(\.key).sorted()
        #expect(differing.isEmpty, "\(differing.count) accounts differ, e.g. \(differing.first.map { "\(reference.balances[$0] ?? "")\nactual \(last[$0] ?? "missing")" } ?? "")")
        // Alerts at least once, identical under one id, exactly the reference's ids.
        var alertsByID: [String: Set<String>] = [:]
        for a in try h.readAll("credit.alerts") { alertsByID[a.json["id"] as? String ?? "?", default: []].insert(a.value) }
        #expect(Set(alertsByID.keys) == Set(reference.alerts.keys))
        #expect(alertsByID.allSatisfy { reference.alerts[$0.key] == $0.value.first && $0.value.count == 1 })
        // Records counted once: applied + duplicates + dead letters = what was produced, and
        // the applied count is the reference's (a record redone after a fault counts once).
        if runner.runs == 1 {
            #expect(metrics.contains("credit_meter_records_total{outcome=\"applied\"} \(reference.applied)\n"), "\(metrics.prefix(800))")
        }

        // The trouble shows.
        let log = runner.log
        if fault == .slowBrokers {
            // Each snapshot waits for its outputs' acks: 400 ms round trips put every snapshot
            // taken while they lasted above the 250 ms bucket.
            let slow = Self.metric(metrics, "credit_meter_snapshot_duration_seconds_count")
                - Self.metric(metrics, "credit_meter_snapshot_duration_seconds_bucket{le=\"0.25\"}")
            #expect(slow >= 1, "\(metrics.split(separator: "\n").filter { $0.contains("snapshot_duration") }.joined(separator: "\n"))")
        } else {
            #expect(fault.evidence.contains { log.contains($0) }, "none of \(fault.evidence) in the log: \(log.suffix(2000))")
        }
        let shown = log.split(separator: "\n").first { line in fault.evidence.contains { line.contains($0) } }
        print("fault \(fault): \(runner.restarts) unplanned restart(s); \(shown.map { String($0.prefix(240)) } ?? "see /metrics")")
    }

    static func metric(_ text: String, _ name: String) -> Int {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { $0.split(separator: " ").last }.flatMap { Int($0) } ?? 0
    }

    /// The service child: started, restarted when it stops with a reason, stopped with SIGTERM.
    struct Runner {
        let h: ServiceHarness
        let logs: String
        var child: Child?
        var runs = 0
        var restarts = 0
        /// Every run's stderr, in order.
        var log: String { (0..<runs).map { (try? String(contentsOfFile: "\(logs)/run-\($0).err", encoding: .utf8)) ?? "" }.joined() }

        let environment: [String: String]

        init(h: ServiceHarness, logs: String, environment: [String: String]) {
            self.h = h
            self.logs = logs
            self.environment = environment
        }

        mutating func start() throws {
            child = try Child(["run", "--config", h.configPath], logDir: logs, name: "run-\(runs)", environment: environment)
            runs += 1
        }

        /// A clean stop (SIGTERM → exit 0) and a new process.
        mutating func restart() async throws {
            try await stop()
            try start()
        }

        func stop() async throws {
            guard let child else { return }
            child.signal(SIGTERM)
            let status = await child.wait(timeout: .seconds(60))
            #expect(status == 0, "stderr: \(child.stderr.suffix(2000))")
        }

        /// `/metrics` of the running child.
        func metrics() async throws -> String {
            let deadline = ContinuousClock.now + .seconds(30)
            while child?.httpPort == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            guard let port = child?.httpPort else { throw TestFailure("no HTTP port logged") }
            return try await LoopbackHTTPClient(port: port).request("/metrics").text
        }

        /// Waits until the service has counted `n` records (applied + duplicate + dead-lettered).
        /// A service that stopped must have said why in one line; it is restarted.
        mutating func waitUntilProcessed(_ n: Int, timeout: Duration = .seconds(60)) async throws {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let child, !child.process.isRunning { try restartAfterStop(child) ; continue }
                // Counters start at 0 in each process: after a restart, durable progress
                // (committed offsets at the end of what was produced) says it instead.
                if let text = try? await metrics(), Self.processed(text) >= n { return }
                if runs > 1, try committedToTheEnd() { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("the service did not process \(n) records in time; stderr: \(log.suffix(3000))")
        }

        func committedToTheEnd() throws -> Bool {
            let (committed, ends) = try h.committedAndEnds()
            return ends.allSatisfy { $0.value == 0 || committed[$0.key] == $0.value }
        }

        /// Waits until the group's committed offsets reach the end of every input partition
        /// (what a durable snapshot covers, §8).
        mutating func waitUntilCommittedToTheEnd(timeout: Duration = .seconds(60)) async throws {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let child, !child.process.isRunning { try restartAfterStop(child); continue }
                if try committedToTheEnd() { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw TestFailure("offsets not committed to the end: \(try h.committedAndEnds())")
        }

        private mutating func restartAfterStop(_ stopped: Child) throws {
            let last = stopped.stderr.split(separator: "\n").last.map(String.init) ?? ""
            #expect(stopped.process.terminationStatus != 0 && last.hasPrefix("credit-meter: "),
                    "stopped without a one-line reason: status \(stopped.process.terminationStatus), \(last)")
            restarts += 1
            #expect(restarts <= 3, "restarted \(restarts) times")
            guard restarts <= 3 else { throw TestFailure("too many restarts: \(last)") }
            try start()
        }

        static func processed(_ metrics: String) -> Int {
            metrics.split(separator: "\n").filter { $0.hasPrefix("credit_meter_records_total{") }
                .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
        }
    }
}
