import CreditConfig
import CreditEngine
import CreditMeterService
import Foundation
import Kafka
import Logging

/// Figure 3: resident bytes per account, bytes per remembered id, and the snapshot of a million accounts.
extension Bench {
    // MARK: Memory, remembered ids, snapshots

    static func memory(accounts: Int, config: EngineConfiguration, dir: String, say: (String) -> Void) throws {
        let partitions = 16
        let before = ProcessStats.residentBytes()
        var ledgers = (0..<partitions).map { _ in PartitionLedger(config: config) }
        let decoder = EventDecoder()
        var rng = SplitMix64(seed: 11)
        var events = 0
        let plans = ["trial", "basic", "pro", "plus"]
        let actions = ["chat", "doc_search", "web_research", "summarize_thread"]
        let start = EventTime.parse("2026-11-01T00:00:00Z")!
        var buffer: [UInt8] = []
        buffer.reserveCapacity(512)
        func applyTo(_ ledger: PartitionLedger, account: String, _ json: String) {
            buffer.removeAll(keepingCapacity: true)
            buffer.append(contentsOf: json.utf8)
            buffer.withUnsafeBytes { v in
                guard let e = try? decoder.decode(v) else { return }
                account.utf8CString.withUnsafeBytes { k in
                    _ = ledger.apply(e, key: UnsafeRawBufferPointer(rebasing: k.dropLast()), recordTime: e.time)
                }
            }
        }
        for i in 0..<accounts {
            let account = "org-" + String(i)
            let ledger = ledgers[i % partitions]
            let t0 = start + Int64(i % 86_400) * EventTime.nanosPerSecond
            func apply(_ json: String) {
                applyTo(ledger, account: account, json)
                events += 1
            }
            apply("{\"specversion\":\"1.0\",\"id\":\"plan-\(i)\",\"source\":\"billing\",\"type\":\"credit.plan.assigned\",\"subject\":\"\(account)\",\"time\":\"\(EventTime.format(t0))\",\"data\":{\"plan\":\"\(plans[i % 4])\"}}")
            for k in 0..<3 {
                let t = EventTime.format(t0 + Int64(k + 1) * 3_600 * EventTime.nanosPerSecond)
                apply("{\"specversion\":\"1.0\",\"id\":\"evt-\(i)-\(k)-\(rng.next() % 1_000_000)\",\"source\":\"//ai.example/assistant\",\"type\":\"ai.usage\",\"subject\":\"\(account)\",\"time\":\"\(t)\",\"data\":{\"action\":\"\(actions[Int(rng.next() % 4)])\",\"capability\":\"assistant\",\"member\":\"u-\(rng.next() % 8)\",\"input_tokens\":\(rng.next() % 4000)}}")
            }
        }
        let after = ProcessStats.residentBytes()
        let ids = ledgers.reduce(0) { $0 + $1.dedupe.count }
        let idBytes = ledgers.reduce(0) { $0 + $1.dedupe.byteSize }
        say("memory: \(fmt(accounts)) accounts (plan + 3 usage events each, with capability and member): "
            + "\(Int(Double(after - before) / Double(accounts))) B resident per account (dedupe window included); "
            + "\(fmt(ids)) remembered ids in \(fmt(idBytes)) B = " + String(format: "%.1f", Double(idBytes) / Double(ids)) + " B per id")
        say("memory, where it goes (per account): " + memoryBreakdown(ledgers, resident: Double(after - before), dedupeBytes: idBytes))
        // Snapshot write and restore for all of them.
        let store = SnapshotStore(dir: dir + "/memory-snapshots", keep: 1)
        var encodeTime = Duration.zero
        var writeTime = Duration.zero
        var total = 0
        for (p, ledger) in ledgers.enumerated() {
            let t0 = ContinuousClock.now
            let bytes = SnapshotCodec.encode(ledger, topic: "ai.usage", partition: Int32(p), nextOffset: Int64(events), metadata: 0)
            let t1 = ContinuousClock.now
            try store.write(bytes, for: TopicPartition("ai.usage", Int32(p)), nextOffset: Int64(events))
            encodeTime += t1 - t0
            writeTime += ContinuousClock.now - t1
            total += bytes.count
        }
        MoveBench.pause(ledgers, apply: { ledger in
            let i = ledger.accountCount / 2
            applyTo(ledger, account: ledger.accountID(i), "{\"specversion\":\"1.0\",\"id\":\"pause-\(i)\",\"source\":\"//ai.example/assistant\",\"type\":\"ai.usage\",\"subject\":\"\(ledger.accountID(i))\",\"time\":\"\(EventTime.format(start + 86_400 * EventTime.nanosPerSecond))\",\"data\":{\"action\":\"chat\"}}")
        }, say: say)
        ledgers.removeAll()
        let r0 = ContinuousClock.now
        var restored = 0
        for p in 0..<partitions {
            let path = store.files(TopicPartition("ai.usage", Int32(p))).first!
            let data = [UInt8](FileManager.default.contents(atPath: path)!)
            let (ledger, _) = try SnapshotCodec.decode(data, config: config)
            restored += ledger.accountCount
        }
        let restoreTime = ContinuousClock.now - r0
        guard restored == accounts else { throw ServiceError("restored \(restored) of \(accounts) accounts") }
        say("snapshot of \(fmt(accounts)) accounts: \(fmt(total / 1_048_576)) MiB (\(total / accounts) B/account), encode \(ms(encodeTime)), "
            + "write+fsync \(ms(writeTime)), read+restore \(ms(restoreTime))")
    }

    /// The resident bytes per account split into what the account record and its heap arrays
    /// account for (each array: its capacity × element stride + a 32-byte header + 16 bytes of
    /// malloc overhead), the remembered ids, and the rest (id tables, intern tables, string
    /// arenas, allocator slack).
    static func memoryBreakdown(_ ledgers: [PartitionLedger], resident: Double, dedupeBytes: Int) -> String {
        func heap<T>(_ a: [T]) -> Int { a.capacity == 0 ? 0 : 48 + a.capacity * MemoryLayout<T>.stride }
        var n = 0, usage = 0, usageCells = 0, history = 0, historyEntries = 0, blocks = 0, alerts = 0, extras = 0
        for ledger in ledgers {
            for i in 0..<ledger.accountCount {
                guard let a = ledger.account(ledger.accountID(i)) else { continue }
                n += 1
                usage += heap(a.usage); usageCells += a.usage.count
                history += heap(a.history); historyEntries += a.history.count; blocks += heap(a.blocks); alerts += heap(a.cycleAlerts); extras += heap(a.extras)
            }
        }
        guard n > 0 else { return "no accounts" }
        let record = MemoryLayout<Account>.stride
        let per = { (x: Int) in String(x / n) + " B" }
        let known = n * record + usage + history + blocks + alerts + extras + dedupeBytes
        return "account record \(record) B (MemoryLayout<Account>.stride); usage cells " + per(usage)
            + " (" + String(format: "%.1f", Double(usageCells) / Double(n)) + " cells of \(MemoryLayout<UsageCell>.stride) B)"
            + "; history " + per(history) + " (" + String(format: "%.1f", Double(historyEntries) / Double(n)) + " entries of \(MemoryLayout<HistoryEntry>.stride) B)"
            + "; blocks " + per(blocks) + "; this cycle's alerts " + per(alerts) + "; extras " + per(extras)
            + "; remembered ids " + per(dedupeBytes) + "; the rest (id and intern tables, arenas, allocator) "
            + String(Int((resident - Double(known)) / Double(n))) + " B"
    }
}

extension SnapshotStore {
    /// (path, size) of every snapshot under a folder.
    static func snapshotFilesRecursive(_ dir: String) -> [(String, Int)] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        var out: [(String, Int)] = []
        while let p = e.nextObject() as? String {
            guard p.hasSuffix(".snap") else { continue }
            let full = "\(dir)/\(p)"
            out.append((full, (try? FileManager.default.attributesOfItem(atPath: full)[.size] as? Int) ?? 0))
        }
        return out
    }
}
