import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging
import Testing

/// The environment fails under the service — clear one-line errors, never
/// a partial snapshot trusted on restart, never a silent stop.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct EnvironmentFailureTests {
    static func tempDir(_ name: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("cm-env-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func snapshotFiles(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).filter { $0.contains(".snap") }
    }

    /// `ulimit -f 0`: every snapshot write fails with EFBIG. The service must stop with a
    /// one-line reason (not die of SIGXFSZ), leave no snapshot or temp file, and a restart
    /// with room to write must end with the right balances.
    @Test func fileSizeLimitStopsTheServiceWithAReasonAndARestartResumes() async throws {
        let logs = try Self.tempDir("efbig")
        defer { try? FileManager.default.removeItem(atPath: logs) }
        let broker = try await DevBroker(dir: logs, topics: ["ai.usage:4", "credit.alerts:2", "ai.usage.dlq:2", "credit.balances:2"])
        defer { Task { await broker.stop() } }
        let h = try ServiceHarness(partitions: 4, externalBootstrap: broker.bootstrap, snapshotInterval: 1)
        try h.produce(event("credit.plan.assigned", "fs", id: "p", time: "2026-11-01T00:00:00Z", data: #"{"plan":"trial"}"#), key: "fs")
        for i in 0..<3 { try h.produce(event("ai.usage", "fs", id: "u\(i)", time: "2026-11-02T00:00:0\(i)Z", data: #"{"action":"web_research"}"#), key: "fs") }

        // stderr through a pipe: the size limit applies to files, and the reason must get out.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "ulimit -f 0; exec \"$0\" run --config \"$1\"", Child.binary, h.configPath]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = ContinuousClock.now + .seconds(90)
        while p.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        if p.isRunning { p.terminate() }
        #expect(!p.isRunning || p.terminationStatus != 0)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationReason == .exit, "killed by a signal (SIGXFSZ?) — a silent stop")
        #expect(p.terminationStatus == 1, "status \(p.terminationStatus); stderr: \(stderr.suffix(1500))")
        let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("credit-meter: ") && last.contains("snapshot write failed") && last.contains("File too large"),
                "last line: \(last)")
        #expect(Self.snapshotFiles(h.dir + "/snapshots").isEmpty, "\(Self.snapshotFiles(h.dir + "/snapshots"))")

        // Restart with room: it replays from the start and ends with the right balance.
        let run = try Child(["run", "--config", h.configPath], logDir: logs, name: "run2")
        let until = ContinuousClock.now + .seconds(60)
        // No alert fires at 70 % left: wait for the first periodic snapshot instead.
        while Self.snapshotFiles(h.dir + "/snapshots").filter({ $0.hasSuffix(".snap") }).isEmpty && ContinuousClock.now < until {
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .milliseconds(500))
        run.signal(SIGTERM)
        #expect(await run.wait(timeout: .seconds(30)) == 0, "stderr: \(run.stderr.suffix(1500))")
        let inspect = try Child(["snapshot", "inspect", h.dir + "/snapshots", "--json", "--account", "fs"], logDir: logs, name: "inspect")
        #expect(await inspect.wait(timeout: .seconds(30)) == 0)
        #expect(inspect.stdout.contains(#""account":"fs","balance_credits":70,"#), "\(inspect.stdout.prefix(400))")
    }

    /// A full disk (a 64 KiB tmpfs): the write fails with ENOSPC and names it, no temp file is
    /// left, and restore falls back to the last complete snapshot. Needs mount rights (root).
    @Test func fullSnapshotFolderFailsCleanlyAndRestoreKeepsTheLastGoodSnapshot() throws {
        let dir = try Self.tempDir("enospc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]
        mount.standardError = FileHandle.nullDevice
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            // Without mount rights this case cannot be staged; the EFBIG test covers the path.
            return
        }
        defer {
            let u = Process()
            u.executableURL = URL(fileURLWithPath: "/bin/umount")
            u.arguments = [dir]
            try? u.run()
            u.waitUntilExit()
        }
        let config = try ServiceConfiguration.load(path: ServiceHarness.repoRoot.appendingPathComponent("configs/credit-meter.yaml").path,
                                                   environment: [:])
        let ledger = PartitionLedger(config: config.engine)
        let good = SnapshotCodec.encode(ledger, topic: "ai.usage", partition: 0, nextOffset: 5, metadata: 0)
        let store = SnapshotStore(dir: dir + "/snapshots", keep: 3)
        let tp = TopicPartition("ai.usage", 0)
        try store.write(good, for: tp, nextOffset: 5)
        // Fill the disk, then try a larger snapshot.
        _ = FileManager.default.createFile(atPath: dir + "/filler", contents: Data(count: 40 * 1024))
        let big = [UInt8](repeating: 7, count: 48 * 1024)
        #expect {
            try store.write(big, for: tp, nextOffset: 9)
        } throws: { error in
            "\(error)".contains("No space left on device") && !"\(error)".contains("\n")
        }
        #expect(Self.snapshotFiles(dir + "/snapshots").count == 1, "\(Self.snapshotFiles(dir + "/snapshots"))")
        let restored = try #require(try store.restore(tp, config: config.engine, logger: .init(label: "test")))
        #expect(restored.1.nextOffset == 5)
    }

    /// An unreadable rate-card folder or file: one line naming the path and the reason.
    /// (Tests run as root, where permission bits do not stop reads: a file where the folder
    /// should be, and a folder where a card should be, stand in for them.)
    @Test func unreadableRateCardsGiveOneLineNamingThePath() throws {
        let dir = try Self.tempDir("cards")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let configs = ServiceHarness.repoRoot.appendingPathComponent("configs").path
        func config(cards: String) throws -> String {
            let path = dir + "/c.yaml"
            try "kafka: { bootstrap_servers: embedded }\nrate_cards_dir: \(cards)\nprice_book: \(configs)/price-book.yaml\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        try "x".write(toFile: dir + "/not-a-folder", atomically: true, encoding: .utf8)
        #expect {
            _ = try ServiceConfiguration.load(path: try config(cards: dir + "/not-a-folder"), environment: [:])
        } throws: { error in
            let text = "\(error)"
            return text.contains("not-a-folder") && text.contains("rate-card folder cannot be read") && !text.contains("\n")
        }
        try FileManager.default.createDirectory(atPath: dir + "/cards/2026.yaml", withIntermediateDirectories: true)
        #expect {
            _ = try ServiceConfiguration.load(path: try config(cards: dir + "/cards"), environment: [:])
        } throws: { error in
            let text = "\(error)"
            return text.contains("2026.yaml") && text.contains("cannot be read") && !text.contains("\n")
        }
    }
}
