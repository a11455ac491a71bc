import CreditConfig
import CreditEngine
@testable import CreditMeterHTTP
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import ServiceLifecycle
import Synchronization
import Testing

/// The wall clock jumps under a running service — 400 days
/// back, then ten years ahead — and a restart finds snapshots stamped "in the future". The
/// ledger runs on event time, so no balance may change; the wall clock only stamps snapshots
/// (their metadata), ages them in /metrics and is `/check`'s default time. Every snapshot must
/// stay trusted, and the snapshot age must never go negative.
///
/// The clock is the service's injectable `wallClock`, moved by the test. (libfaketime was
/// tried first, on the real binary: librdkafka 2.0.2 waits on absolute CLOCK_REALTIME
/// deadlines computed from the faked clock while the kernel waits in real time, so a process
/// whose clock ran ahead hung on stop and one started with its clock behind failed to create
/// its clients at once — artefacts of faking one process's clock, which made that test flaky.)
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ClockJumpTests {
    static let day: Int64 = 86_400 * 1_000_000_000

    final class MovableClock: Sendable {
        private let offset = Mutex<Int64>(0)
        func set(days: Int64) { offset.withLock { $0 = days * ClockJumpTests.day } }
        var now: WallClock { { [self] in systemWallClock() + offset.withLock { $0 } } }
    }

    /// The service and its HTTP server on `clock`.
    struct Running {
        let service: MeterService
        let http: ServiceGroup
        let httpTask: Task<Void, any Error>
        let serviceTask: Task<Void, any Error>
        let client: LoopbackHTTPClient

        init(_ h: ServiceHarness, clock: MovableClock) async throws {
            let service = MeterService(config: try h.config(), logger: h.logger, wallClock: clock.now)
            self.service = service
            let port = Mutex<Int?>(nil)
            let server = try HTTPServer.forService(service, listen: "127.0.0.1:0", logger: h.logger) { p in port.withLock { $0 = p } }
            let group = ServiceGroup(configuration: .init(services: [.init(service: server)], logger: h.logger))
            http = group
            httpTask = Task { try await group.run() }
            let deadline = ContinuousClock.now + .seconds(20)
            while port.withLock({ $0 }) == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            client = LoopbackHTTPClient(port: try #require(port.withLock { $0 }))
            serviceTask = Task { try await service.run() }
        }

        func stop() async throws {
            service.requestStop()
            try await serviceTask.value
            await http.triggerGracefulShutdown()
            try await httpTask.value
        }

        func snapshotAge() async throws -> Double? {
            try await client.request("/metrics").text.split(separator: "\n")
                .first { $0.hasPrefix("credit_meter_snapshot_age_seconds ") }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        }
    }

    @Test func wallClockJumpsChangeNoBalanceAndLeaveSnapshotsTrusted() async throws {
        let h = try ServiceHarness(partitions: 2, snapshotInterval: 1)
        var spec = WorkloadSpec()
        spec.seed = 7
        spec.accounts = 10
        spec.usageEvents = 240
        spec.duplicateEvery = 20
        spec.malformed = 2
        let records = Workload.generate(spec)
        let reference = Reference(records: records, config: try h.config().engine)
        let third = records.count / 3
        let parts = [Array(records[..<third]), Array(records[third..<(2 * third)]), Array(records[(2 * third)...])]
        let clock = MovableClock()
        func waitForDurableEnd() async throws {
            let deadline = ContinuousClock.now + .seconds(60)
            while true {
                let (committed, ends) = try h.committedAndEnds()
                if ends.allSatisfy({ $0.value == 0 || committed[$0.key] == $0.value }) { return }
                guard ContinuousClock.now < deadline else { throw TestFailure("not committed to the end: \(committed) of \(ends)") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        func newestStamps() throws -> [Int64] {
            try (0..<2).map { p in
                let newest = try #require(SnapshotStore(dir: h.dir + "/snapshots", keep: 3).files(TopicPartition("ai.usage", Int32(p))).first)
                return try SnapshotCodec.header([UInt8](try Data(contentsOf: URL(fileURLWithPath: newest)))).metadata
            }
        }
        let realNow = { systemWallClock() / 1_000_000 }
        let dayMillis = Self.day / 1_000_000

        try h.produce(parts[0])
        let first = try await Running(h, clock: clock)
        try await waitForDurableEnd()

        // 400 days back: the last snapshot now lies 400 days "ahead"; its age must not go negative.
        clock.set(days: -400)
        let ageAfterJumpBack = try #require(try await first.snapshotAge())
        #expect(ageAfterJumpBack >= 0, "snapshot age \(ageAfterJumpBack)")
        // /check's default time is the clock: before every rate card's effective_from, so a 400
        // naming `time` (not a crash, not a price); with an explicit time it is answered.
        let account = try #require(reference.balances.keys.sorted().first)
        let checkNow = try await first.client.request("/v1/accounts/\(account)/check?action=chat")
        #expect(checkNow.status == 400 && checkNow.text.contains("time"), "\(checkNow.status) \(checkNow.text)")
        let checkAt = try await first.client.request("/v1/accounts/\(account)/check?action=chat&time=2026-11-21T10:00:00Z")
        #expect(checkAt.status == 200 && checkAt.json["credits"] as? Int == 1, "\(checkAt.status) \(checkAt.text)")
        try h.produce(parts[1])
        try await waitForDurableEnd()
        let stampsBehind = try newestStamps()
        #expect(stampsBehind.allSatisfy { $0 < realNow() - 399 * dayMillis }, "stamps \(stampsBehind)")

        // Ten years ahead: the snapshots written now are stamped 2036.
        clock.set(days: 3650)
        try h.produce(parts[2])
        try await waitForDurableEnd()
        let ageAfterJumpAhead = try #require(try await first.snapshotAge())
        #expect(ageAfterJumpAhead >= 0 && ageAfterJumpAhead < 86_400, "snapshot age \(ageAfterJumpAhead)")
        try await first.stop()
        let stampsAhead = try newestStamps()
        #expect(stampsAhead.allSatisfy { $0 > realNow() + 3649 * dayMillis }, "stamps \(stampsAhead)")

        // Restart with the clock 400 days back: the newest snapshots (stamped ten years ahead of
        // the real time) are restored, so nothing is replayed.
        clock.set(days: -400)
        let second = try await Running(h, clock: clock)
        let ends = try h.committedAndEnds().ends
        let deadline = ContinuousClock.now + .seconds(60)
        func restoredAtTheEnd() -> Bool {
            let parts = second.service.readModel.partitions
            return parts.count == 2 && parts.allSatisfy { $0.value.restored && $0.value.position == ends[$0.key.partition] }
        }
        while !restoredAtTheEnd() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(restoredAtTheEnd(), "\(second.service.readModel.partitions)")
        let ageAfterRestart = try #require(try await second.snapshotAge())
        #expect(ageAfterRestart >= 0 || ageAfterRestart == -1, "snapshot age \(ageAfterRestart)")  // -1: none written yet
        try await second.stop()
        #expect(second.service.status.processed == 0, "replayed \(second.service.status.processed) records: a snapshot was distrusted")

        // No balance changed: the balances topic's last record per account, and the ledgers.
        var last: [String: String] = [:]
        for r in try h.readAll("credit.balances") { if let k = r.key { last[k] = r.value } }
        #expect(last == reference.balances)
        var documents: [String: String] = [:]
        for (_, ledger) in second.service.finalLedgers() {
            #expect(ledger.audit().isClean)
            for i in 0..<ledger.accountCount { documents[ledger.accountID(i)] = String(decoding: ledger.accountDocument(i), as: UTF8.self) }
        }
        #expect(documents == reference.documents)
    }
}
