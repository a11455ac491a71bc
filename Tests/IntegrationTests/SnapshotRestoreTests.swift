import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging
import Testing

/// What a restarted service does with snapshots it cannot read (contract §14), decided by the
/// error's type: a damaged one falls back to older state and says which and why; an
/// incompatible one stops the service with one line naming it; when nothing local is usable,
/// the state topic or the input's beginning rebuilds the partition — unless the input no
/// longer starts at 0 (§13). Every run waits for what the service reports (records processed,
/// its exit), never for time.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SnapshotRestoreTests {
    /// Log records, kept for the test to read.
    final class Capture: LogHandler, @unchecked Sendable {
        struct Line { var message: String; var metadata: [String: String] }
        private let lock = NSLock()
        private var lines: [Line] = []
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).mapValues { "\($0)" }
            lock.lock(); defer { lock.unlock() }
            lines.append(Line(message: "\(event.message)", metadata: fields))
        }
        func lines(_ message: String) -> [Line] { lock.lock(); defer { lock.unlock() }; return lines.filter { $0.message == message } }
    }

    /// Runs the service with a capturing logger until it has processed `records`, then stops it.
    static func run(_ h: ServiceHarness, until records: Int64) async throws -> (MeterService, Capture) {
        let capture = Capture()
        let service = try await h.runService(until: records, logger: Logger(label: "test.restore") { _ in capture })
        return (service, capture)
    }

    static let tp = TopicPartition("ai.usage", 0)

    /// The partition's snapshot files, newest first.
    static func files(_ h: ServiceHarness) throws -> [String] {
        SnapshotStore(dir: try h.config().snapshots.dir, keep: 3).files(tp)
    }

    static func offset(ofFile path: String) -> Int64 { Int64(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)! }

    /// One byte flipped in the middle: the checksum no longer holds.
    static func damage(_ path: String) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A snapshot body re-sealed with the format version after the newest this build reads:
    /// intact bytes of a newer format.
    static func newerFormat(_ bytes: [UInt8]) -> [UInt8] {
        var body = Array(bytes.dropLast(8))
        body[SnapshotCodec.magic.count] = SnapshotCodec.formatVersion + 1
        let sum = body.withUnsafeBytes { ByteHash.hash($0, seed: 0xC4EC) }
        return body + (0..<8).map { UInt8(truncatingIfNeeded: sum >> (8 * UInt64($0))) }
    }

    static func documents(_ service: MeterService) -> [String: String] {
        var out: [String: String] = [:]
        for l in service.finalLedgers().values {
            for i in 0..<l.accountCount { out[l.accountID(i)] = String(decoding: l.accountDocument(i), as: UTF8.self) }
        }
        return out
    }

    /// Two runs over five records: snapshots at two offsets at least.
    static func twoRuns(_ h: ServiceHarness) async throws -> MeterService {
        try h.produce(event("credit.plan.assigned", "acme", id: "p", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), key: "acme")
        for i in 0..<2 { try h.produce(event("ai.usage", "acme", id: "a\(i)", time: "2026-11-02T00:00:0\(i)Z", data: #"{"action":"web_research"}"#), key: "acme") }
        try await h.runService(until: 3)
        for i in 2..<4 { try h.produce(event("ai.usage", "acme", id: "a\(i)", time: "2026-11-02T00:00:0\(i)Z", data: #"{"action":"web_research"}"#), key: "acme") }
        return try await h.runService(until: 2)
    }

    @Test func aDamagedSnapshotFallsBackToTheOlderOneAndSaysWhichAndWhy() async throws {
        let h = try ServiceHarness(partitions: 1)
        let uninterrupted = try await Self.twoRuns(h)
        let files = try Self.files(h)
        try #require(files.count >= 2 && Self.offset(ofFile: files[0]) == 5, "\(files)")
        try Self.damage(files[0])

        let older = Self.offset(ofFile: files[1])
        let (service, log) = try await Self.run(h, until: 5 - older)
        #expect(service.status.restoredFromSnapshot == 1)
        #expect(service.status.consumed == 5 - older, "resumed at the older snapshot's offset \(older)")
        let damaged = log.lines("snapshot is damaged, falling back to the previous one")
        #expect(damaged.map { $0.metadata["path"] } == [files[0]])
        #expect(damaged.first?.metadata["reason"] == "checksum mismatch (corrupt or truncated)")
        #expect(log.lines("restored from snapshot").map { $0.metadata["path"] } == [files[1]])
        #expect(Self.documents(service) == Self.documents(uninterrupted))
    }

    /// Through the command line: exit status 1 and one line naming the file and the reason;
    /// the older snapshots, still valid, are not used in its place.
    @Test func aSnapshotOfANewerFormatStopsTheServiceWithOneLineNamingIt() async throws {
        let h = try ServiceHarness(partitions: 1)
        _ = try await Self.twoRuns(h)
        let files = try Self.files(h)
        try #require(files.count >= 2)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: files[0])))
        try Data(Self.newerFormat(bytes)).write(to: URL(fileURLWithPath: files[0]))

        let run = try Child(["run", "--config", h.configPath], logDir: h.dir, name: "newer-format")
        #expect(await run.wait(timeout: .seconds(60)) == 1, "stderr: \(run.stderr.suffix(1500))")
        let last = run.stderr.split(separator: "\n").last.map(String.init) ?? ""
        let format = SnapshotCodec.formatVersion
        #expect(last == "credit-meter: cannot restore \(files[0]): unsupported snapshot format \(format + 1) "
                    + "(newer than this build, which reads 1…\(format))", "last line: \(last)")
        #expect(try h.committedAndEnds().committed[0] == 5, "the group's offsets moved")
    }

    /// A rate-card version the state refers to, gone from the configuration: the restore stops
    /// with `IncompatibleSnapshot` naming the newest file, not a fallback to older ones.
    @Test func aSnapshotReferringToARemovedRateCardVersionStopsTheService() async throws {
        let cards = try EnvironmentFailureTests.tempDir("cards")
        defer { try? FileManager.default.removeItem(atPath: cards) }
        let shipped = ServiceHarness.repoRoot.appendingPathComponent("configs/rate-cards/2026-11-01.yaml").path
        try FileManager.default.copyItem(atPath: shipped, toPath: cards + "/2026-11-01.yaml")
        let h = try ServiceHarness(partitions: 1, rateCardsDir: cards)
        _ = try await Self.twoRuns(h)
        let files = try Self.files(h)
        // The used version replaced by another one.
        let text = try String(contentsOfFile: cards + "/2026-11-01.yaml", encoding: .utf8)
        try FileManager.default.removeItem(atPath: cards + "/2026-11-01.yaml")
        try text.replacingOccurrences(of: "version: \"2026-11-01\"", with: "version: \"2026-11-02\"")
            .write(toFile: cards + "/2026-11-02.yaml", atomically: true, encoding: .utf8)

        let service = MeterService(config: try h.config(), logger: h.logger)
        let error = await #expect(throws: IncompatibleSnapshot.self) { try await service.run() }
        #expect(error?.source == files.first)
        #expect(error?.reason == "rate-card version 2026-11-01 was used but is no longer configured")
        #expect(service.status.consumed == 0)
    }

    @Test func whenEveryLocalSnapshotIsDamagedThePartitionIsRebuiltFromTheBeginning() async throws {
        let h = try ServiceHarness(partitions: 1)
        let uninterrupted = try await Self.twoRuns(h)
        let files = try Self.files(h)
        for f in files { try Self.damage(f) }

        let (service, log) = try await Self.run(h, until: 5)
        #expect(service.status.restoredFromBeginning == 1 && service.status.restoredFromSnapshot == 0)
        #expect(service.status.consumed == 5)
        #expect(Set(log.lines("snapshot is damaged, falling back to the previous one").compactMap { $0.metadata["path"] }) == Set(files))
        #expect(log.lines("every local snapshot is damaged").map { $0.metadata["files"] } == ["\(files.count)"])
        #expect(Self.documents(service) == Self.documents(uninterrupted))
    }

    @Test func whenEveryLocalSnapshotIsDamagedAndTheInputNoLongerStartsAtZeroTheServiceRefuses() async throws {
        let h = try ServiceHarness(partitions: 1)
        _ = try await Self.twoRuns(h)
        // The mock cluster keeps ~5 MiB per partition: seven records of 900 kB push the log
        // start past the first records (retention would do the same on a real broker).
        let big = String(repeating: "x", count: 900_000)
        for _ in 0..<7 { try h.produce(big, key: "acme", partition: 0) }
        let low = try KafkaConsumer(properties: [("bootstrap.servers", h.bootstrap)], logger: h.logger).watermarks(Self.tp).low
        try #require(low > 0, "the mock kept every record; the test needs it to drop some")
        let files = try Self.files(h)
        for f in files { try Self.damage(f) }

        let service = MeterService(config: try h.config(), logger: h.logger)
        let error = await #expect(throws: ServiceError.self) { try await service.run() }
        let snapshots = files.count == 1 ? "its local snapshot is damaged" : "all \(files.count) local snapshots are damaged"
        #expect(error?.description == "ai.usage/0: no usable state (\(snapshots); the log says why) and the input topic starts at "
                    + "offset \(low), not 0: rebuilding from it would skip records 0..<\(low); refusing")
        #expect(service.status.consumed == 0)
    }

    @Test func whenEveryLocalSnapshotIsDamagedTheStateTopicRestoresThePartition() async throws {
        let h = try ServiceHarness(partitions: 1, stateTopic: true)
        _ = try await Self.twoRuns(h)
        for f in try Self.files(h) { try Self.damage(f) }
        try h.produce(event("ai.usage", "acme", id: "a4", time: "2026-11-02T00:00:04Z", data: #"{"action":"web_research"}"#), key: "acme")

        let (service, log) = try await Self.run(h, until: 1)
        #expect(service.status.restoredFromStateTopic == 1 && service.status.restoredFromBeginning == 0)
        #expect(service.status.consumed == 1, "resumed at the checkpoint's offset 5")
        #expect(!log.lines("every local snapshot is damaged").isEmpty)
        let account = try #require(service.finalLedgers()[Self.tp]?.account("acme"))
        #expect(account.balance == 50_000)  // trial: 100 credits, five web_research at 10
    }

    /// A checkpoint on the state topic newer than the local snapshot: damaged, it is skipped
    /// for the local one (saying why); of a newer format, it stops the service naming it.
    @Test(arguments: [false, true])
    func aStateTopicCheckpointIsJudgedByItsErrorsType(incompatible: Bool) async throws {
        let h = try ServiceHarness(partitions: 1, stateTopic: true)
        _ = try await Self.twoRuns(h)
        let newest = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try #require(try Self.files(h).first))))
        // A checkpoint claiming offset 7 whose bytes match its manifest but not the snapshot format.
        var bytes = newest
        if incompatible { bytes = Self.newerFormat(newest) } else { bytes[bytes.count / 2] ^= 0x20 }
        let producer = try KafkaProducer(properties: [("bootstrap.servers", h.bootstrap)], logger: h.logger) { _ in }
        for (key, value) in StateLayout.records(bytes, tp: Self.tp, nextOffset: 7, slot: 1, writtenAtMillis: 1) {
            try Array(key.utf8).withUnsafeBytes { k in
                try value.withUnsafeBytes { v in try producer.produce(producer.topic("credit.state"), partition: 0, key: k, value: v) }
            }
        }
        try producer.flush(timeoutMs: 10_000)
        for i in 4..<6 { try h.produce(event("ai.usage", "acme", id: "a\(i)", time: "2026-11-02T00:00:0\(i)Z", data: #"{"action":"chat"}"#), key: "acme") }

        if incompatible {
            let service = MeterService(config: try h.config(), logger: h.logger)
            let error = await #expect(throws: IncompatibleSnapshot.self) { try await service.run() }
            #expect(error?.source == "the state topic's checkpoint of ai.usage/0 at offset 7 (credit.state)")
            #expect(error?.reason.hasPrefix("unsupported snapshot format \(SnapshotCodec.formatVersion + 1)") == true)
            #expect(service.status.consumed == 0)
        } else {
            let (service, log) = try await Self.run(h, until: 2)
            #expect(service.status.restoredFromSnapshot == 1 && service.status.restoredFromStateTopic == 0)
            #expect(service.status.consumed == 2)
            let skipped = log.lines("state topic checkpoint is damaged, skipped")
            #expect(skipped.map { $0.metadata["next_offset"] } == ["7"])
            #expect(skipped.first?.metadata["reason"] == "checksum mismatch (corrupt or truncated)")
        }
    }
}
