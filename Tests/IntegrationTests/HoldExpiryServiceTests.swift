import CreditConfig
import CreditEngine
import CreditMeterService
import CreditMeterTools
import Foundation
import Kafka
import KafkaMockCluster
import Logging
import Synchronization
import Testing

/// Holds expire without other traffic (contract §15): the partition's owner writes
/// `credit.hold.expired` to the input once its wall clock passes an active hold's `expires_at`,
/// and applies it like any event. The wall clock is the service's injectable one, set by the
/// test (it stands still in between); every wait is for something the service reports — a
/// hold's status in the read model, its counts, a log line — never for time.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct HoldExpiryServiceTests {
    /// A wall clock that shows what the test last set.
    final class SetClock: Sendable {
        private let time: Mutex<Int64>
        init(_ text: String) { time = Mutex(EventTime.parse(text)!) }
        func set(_ text: String) { let t = EventTime.parse(text)!; time.withLock { $0 = t } }
        var now: WallClock { { [self] in time.withLock { $0 } } }
    }

    /// A service running on `clock` until `stop`.
    struct Running {
        let service: MeterService
        let task: Task<Void, any Error>

        init(_ config: ServiceConfiguration, clock: SetClock, logger: Logger) {
            self.init(config, wallClock: clock.now, logger: logger)
        }

        init(_ config: ServiceConfiguration, wallClock: @escaping WallClock, logger: Logger) {
            let service = MeterService(config: config, logger: logger, wallClock: wallClock)
            self.service = service
            task = Task { try await service.run() }
        }

        /// The hold as the service's read model shows it (nil: not readable or not known).
        func hold(_ account: String, _ id: String) -> Hold? {
            guard case .found(let view) = service.readModel.account(account) else { return nil }
            return view.state.holdBook?.hold(id)
        }

        func until(_ what: String, seconds: Int = 30, _ condition: () -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while !condition() {
                guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what): \(service.status)") }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func stop() async throws -> [TopicPartition: PartitionLedger] {
            service.requestStop()
            try await task.value
            return service.finalLedgers()
        }
    }

    static func t(_ text: String) -> Int64 { EventTime.parse(text)! }

    /// The configuration of one instance of the harness's group: its own snapshot folder.
    static func instanceConfig(_ h: ServiceHarness, _ name: String) throws -> ServiceConfiguration {
        let path = "\(h.dir)/instance-\(name).yaml"
        try String(contentsOfFile: h.configPath, encoding: .utf8)
            .replacingOccurrences(of: "\(h.dir)/snapshots,", with: "\(h.dir)/snapshots-\(name),")
            .write(toFile: path, atomically: true, encoding: .utf8)
        return try ServiceConfiguration.load(path: path)
    }

    static func request(_ account: String, _ hold: String, credits: Int, ttl: Int, at time: String) -> String {
        event("credit.hold.requested", account, id: "req-\(hold)", time: time,
              data: #"{"hold_id":"\#(hold)","credits":\#(credits),"ttl_seconds":\#(ttl)}"#)
    }

    /// The record the owner writes, exactly.
    static func expiredJSON(_ account: String, _ hold: String, _ expiresAt: String) -> String {
        #"{"specversion":"1.0","id":"\#(account)/\#(hold)/expired/\#(expiresAt)","source":"credit-meter","type":"credit.hold.expired","#
            + #""subject":"\#(account)","time":"\#(expiresAt)","datacontenttype":"application/json","#
            + #""data":{"hold_id":"\#(hold)","expires_at":"\#(expiresAt)"}}"#
    }

    static func expiries(_ h: ServiceHarness) throws -> [ServiceHarness.Record] {
        try h.readAll("ai.usage").filter { $0.json["type"] as? String == "credit.hold.expired" }
    }

    @Test func holdsExpireWithoutOtherTrafficOnceTheWallClockPassesThem() async throws {
        let h = try ServiceHarness(partitions: 2)
        let records = [
            event("credit.plan.assigned", "acme", id: "p1", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#),
            Self.request("acme", "h1", credits: 10, ttl: 600, at: "2026-11-01T00:00:10Z"),  // expires 00:10:10
            Self.request("acme", "h2", credits: 10, ttl: 600, at: "2026-11-01T00:00:10Z"),  // 00:10:10, released first
            Self.request("acme", "h3", credits: 10, ttl: 600, at: "2026-11-01T00:00:20Z"),  // 00:10:20, then 00:29:00
            event("credit.hold.released", "acme", id: "rel-h2", time: "2026-11-01T00:05:00Z", data: #"{"hold_id":"h2"}"#),
            event("credit.hold.extended", "acme", id: "ext-h3", time: "2026-11-01T00:09:00Z", data: #"{"hold_id":"h3","ttl_seconds":1200}"#),
        ]
        for r in records { try h.produce(r, key: "acme") }
        let clock = SetClock("2026-11-01T00:09:30Z")
        let run = Running(try h.config(), clock: clock, logger: h.logger)
        try await run.until("the holds are applied") {
            run.service.status.processed == 6 && run.hold("acme", "h3")?.expiresAt == Self.t("2026-11-01T00:29:00Z")
        }
        #expect(run.hold("acme", "h1")?.status == .active && run.hold("acme", "h2")?.status == .released)

        // Past h1's expiry (and past where h2 and h3 would have expired): h1 alone expires.
        clock.set("2026-11-01T00:10:30Z")
        try await run.until("h1 expired") { run.hold("acme", "h1")?.status == .expired && run.service.status.holdExpiriesProduced == 1 }
        #expect(run.hold("acme", "h1")?.endedAt == Self.t("2026-11-01T00:10:10Z"))
        #expect(run.hold("acme", "h3")?.status == .active && run.hold("acme", "h2")?.status == .released)

        // Exactly at the extended hold's new expires_at.
        clock.set("2026-11-01T00:29:00Z")
        try await run.until("h3 expired") { run.hold("acme", "h3")?.status == .expired && run.service.status.holdExpiriesProduced == 2 }
        let ledgers = try await run.stop()

        // On the input topic: one record per expired hold, in the account's partition, keyed by
        // it, exactly as §15 writes it, stamped with the wall clock when it was produced.
        let partition = KeyPartitioner.partition(account: "acme", count: 2)
        let written = try Self.expiries(h)
        #expect(written.map(\.value) == [Self.expiredJSON("acme", "h1", "2026-11-01T00:10:10Z"),
                                         Self.expiredJSON("acme", "h3", "2026-11-01T00:29:00Z")])
        #expect(written.allSatisfy { $0.key == "acme" && $0.partition == partition })
        #expect(written.map(\.timestampMs) == [Self.t("2026-11-01T00:10:30Z") / 1_000_000, Self.t("2026-11-01T00:29:00Z") / 1_000_000])
        // The ledger: both ended at their expires_at, the released one untouched.
        let ledger = try #require(ledgers[TopicPartition("ai.usage", partition)])
        let book = try #require(ledger.account("acme")?.holdBook)
        #expect(book.holds.map(\.status) == [.expired, .released, .expired])
        #expect(book.holds.map(\.endedAt) == [Self.t("2026-11-01T00:10:10Z"), Self.t("2026-11-01T00:05:00Z"), Self.t("2026-11-01T00:29:00Z")])
        #expect(ledger.counters.holdsExpired == 2 && ledger.counters.holdsReleased == 1)
        #expect(ledger.dueHolds(at: .max).isEmpty)
    }

    /// A produce the broker refuses is forgotten, and the next pass produces the expiry again;
    /// the failure stops nothing (it is no output a snapshot waits for).
    @Test func aRefusedProduceIsProducedAgainByTheNextPass() async throws {
        let h = try ServiceHarness(partitions: 1)
        try h.produce(event("credit.plan.assigned", "acme", id: "p1", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#), key: "acme")
        try h.produce(Self.request("acme", "h1", credits: 10, ttl: 60, at: "2026-11-01T00:00:00Z"), key: "acme")
        let clock = SetClock("2026-11-01T00:00:30Z")
        let capture = SnapshotRestoreTests.Capture()
        capture.logLevel = .debug
        let run = Running(try h.config(), clock: clock, logger: Logger(label: "test.expiry") { _ in capture })
        try await run.until("the hold is active") { run.hold("acme", "h1")?.status == .active }
        // Once a snapshot covers both records, their balances documents are acknowledged and the
        // service is idle: its next produce request is the expiry's, and the broker refuses it.
        try await run.until("a snapshot covers both records") { (try? h.committedAndEnds().committed[0]) == 2 }
        h.cluster!.cluster.pushRequestErrors(.produce, [KafkaErrorCode.messageSizeTooLarge])
        clock.set("2026-11-01T00:01:00Z")
        try await run.until("the refusal is reported") { !capture.lines("hold expiry not produced; the next pass tries again").isEmpty }
        try await run.until("h1 expired") { run.hold("acme", "h1")?.status == .expired && run.service.status.holdExpiriesProduced == 1 }
        #expect(run.service.status.running && run.service.status.deliveryFailures == 0)
        _ = try await run.stop()
        #expect(try Self.expiries(h).map(\.value) == [Self.expiredJSON("acme", "h1", "2026-11-01T00:01:00Z")])
        #expect(capture.lines("hold expiry produced").count == 2)
    }

    /// Two instances of one group on the same topic; the partitions move from one to the other
    /// while a hold is open. Whoever owns a partition when a hold is due writes its expiry; a
    /// copy written by a second owner (here written by the test, as an owner that has not yet
    /// noticed the move would) is a duplicate. The holds each instance ends with are those of
    /// one ledger applying the input log as it ends up.
    @Test func twoInstancesWithAPartitionMovingWhileAHoldIsOpenExpireItOnce() async throws {
        let h = try ServiceHarness(partitions: 2)
        func config(_ name: String) throws -> ServiceConfiguration { try Self.instanceConfig(h, name) }
        let other = try #require((0..<100).map { "acct-\($0)" }.first {
            KeyPartitioner.partition(account: $0, count: 2) != KeyPartitioner.partition(account: "acme", count: 2)
        })
        var records: [(String, String)] = []
        for a in ["acme", other] {
            records.append((event("credit.plan.assigned", a, id: "p-\(a)", time: "2026-11-01T00:00:00Z", data: #"{"plan":"basic"}"#), a))
            records.append((Self.request(a, "short", credits: 10, ttl: 600, at: "2026-11-01T00:00:00Z"), a))   // expires 00:10:00
            records.append((Self.request(a, "long", credits: 20, ttl: 1800, at: "2026-11-01T00:00:00Z"), a))   // 00:30:00
            records.append((event("ai.usage", a, id: "u-\(a)", time: "2026-11-01T00:01:00Z", data: #"{"action":"chat","hold_id":"long"}"#), a))
        }
        for (json, key) in records { try h.produce(json, key: key) }
        let clock = SetClock("2026-11-01T00:05:00Z")

        // A owns both partitions; the short holds expire there.
        let a = Running(try config("a"), clock: clock, logger: h.logger)
        try await a.until("A applied the holds") { a.service.status.processed == 8 && a.hold(other, "long")?.status == .active }
        clock.set("2026-11-01T00:10:00Z")
        try await a.until("A expired the short holds") {
            a.hold("acme", "short")?.status == .expired && a.hold(other, "short")?.status == .expired
        }
        #expect(a.hold("acme", "long")?.status == .active && a.hold("acme", "long")?.settled == 1_000)
        _ = try await a.stop()

        // B takes both partitions over (its own folder: it rebuilds them from the input) with the
        // long holds still open, and expires them when its clock passes them.
        let b = Running(try config("b"), clock: clock, logger: h.logger)
        try await b.until("B replayed") { b.hold("acme", "long")?.status == .active && b.hold(other, "long")?.status == .active }
        #expect(b.hold("acme", "short")?.status == .expired && b.service.status.holdExpiriesProduced == 0)
        clock.set("2026-11-01T00:30:00Z")
        try await b.until("B expired the long holds") {
            b.hold("acme", "long")?.status == .expired && b.hold(other, "long")?.status == .expired
                && b.service.status.holdExpiriesProduced == 2
        }
        // A second owner's copy of one of them: applied once, the copy a duplicate.
        let copy = try #require(try Self.expiries(h).first { $0.key == "acme" && ($0.json["id"] as? String)?.hasPrefix("acme/long/") == true })
        let duplicates = b.service.status.duplicates
        try h.produce(copy.value, key: "acme")
        try await b.until("B read the copy") { b.service.status.duplicates == duplicates + 1 }
        let ledgers = try await b.stop()

        // Each expiry id once per owner that wrote it; every copy the same bytes.
        let written = try Self.expiries(h)
        var byID: [String: Set<String>] = [:]
        for r in written { byID[r.json["id"] as? String ?? "?", default: []].insert(r.value) }
        #expect(byID.keys.sorted() == ["acme", other].flatMap { a in
            ["\(a)/long/expired/2026-11-01T00:30:00Z", "\(a)/short/expired/2026-11-01T00:10:00Z"]
        }.sorted())
        #expect(byID.values.allSatisfy { $0.count == 1 })
        #expect(written.count == 5)  // four expiries, one copy

        // One ledger per partition applying the input log as it ends up: the same holds, and
        // each expiry applied once.
        let config = try h.config()
        let decoder = EventDecoder()
        var replayed: [Int32: PartitionLedger] = [:]
        var applied: [String: Int] = [:]
        for r in try h.readAll("ai.usage") {
            let ledger = replayed[r.partition] ?? PartitionLedger(config: config.engine)
            replayed[r.partition] = ledger
            let value = Array(r.value.utf8), key = Array((r.key ?? "").utf8)
            let result: ApplyResult = try value.withUnsafeBytes { v in
                let e = try decoder.decode(v)
                return key.withUnsafeBytes { ledger.apply(e, key: $0, recordTime: r.timestampMs.map { $0 * 1_000_000 }) }
            }
            if r.json["type"] as? String == "credit.hold.expired", result.outcome == .applied {
                applied[r.json["id"] as? String ?? "?", default: 0] += 1
            }
        }
        #expect(applied.count == 4 && applied.values.allSatisfy { $0 == 1 }, "\(applied)")
        for account in ["acme", other] {
            let p = KeyPartitioner.partition(account: account, count: 2)
            let held = try #require(ledgers[TopicPartition("ai.usage", p)]?.account(account)?.holdBook)
            let reference = try #require(replayed[p]?.account(account)?.holdBook)
            #expect(held == reference, "\(account)")
            #expect(held.holds.map(\.status) == [.expired, .expired])
            #expect(held.holds.map(\.endedAt) == [Self.t("2026-11-01T00:10:00Z"), Self.t("2026-11-01T00:30:00Z")])
            #expect(ledgers[TopicPartition("ai.usage", p)]?.counters.holdsExpired == replayed[p]?.counters.holdsExpired)
        }
    }
}
