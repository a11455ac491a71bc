public import CreditEngine
import CreditMeterService
import Foundation
public import Kafka

/// `credit-meter snapshot inspect`: what a snapshot file — or a snapshots folder's newest
/// valid state — holds. Needs no configuration: snapshots describe their own plans and
/// rate-card versions.
public enum SnapshotInspector {
    public struct Loaded {
        public let tp: TopicPartition
        public let nextOffset: Int64
        public let writtenAtMillis: Int64
        public let ledger: PartitionLedger
        public let path: String
        public let bytes: Int
    }

    /// PATH is one `.snap` file, or a snapshots folder (each partition's newest valid file).
    public static func load(_ path: String) throws -> [Loaded] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ServiceError("\(path): no such file or folder")
        }
        if !isDirectory.boolValue { return [try loadFile(path)] }
        var out: [Loaded] = []
        var failures: [String] = []
        for folder in partitionFolders(path) {
            var loaded: Loaded?
            for file in SnapshotStore.snapshotFiles(in: folder) {
                do { loaded = try loadFile(file); break } catch { failures.append("\(file): \(error)") }
            }
            if let loaded { out.append(loaded) }
        }
        if out.isEmpty { throw ServiceError(failures.first ?? "\(path): holds no snapshots") }
        return out.sorted { $0.tp < $1.tp }
    }

    static func loadFile(_ path: String) throws -> Loaded {
        guard let data = FileManager.default.contents(atPath: path) else { throw ServiceError("\(path): cannot be read") }
        let bytes = [UInt8](data)
        do {
            let config = try SnapshotCodec.detachedConfiguration(bytes)
            let (ledger, header) = try SnapshotCodec.decode(bytes, config: config, verifyRateCards: false)
            return Loaded(tp: TopicPartition(header.topic, header.partition), nextOffset: header.nextOffset,
                          writtenAtMillis: header.metadata, ledger: ledger, path: path, bytes: bytes.count)
        } catch {
            throw ServiceError("\(path): \(error)")
        }
    }

    /// `<dir>/<topic>/<partition>/` folders.
    static func partitionFolders(_ dir: String) -> [String] {
        var out: [String] = []
        let topics = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for t in topics.sorted() {
            let parts = (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(t)")) ?? []
            for p in parts.sorted() where Int32(p) != nil { out.append("\(dir)/\(t)/\(p)") }
        }
        return out
    }

    /// `{"offsets": {"topic/partition": next_offset, …}, "accounts": [account document, …]}`.
    public static func json(_ loaded: [Loaded], account: String?) -> String {
        var w = JSONWriter(capacity: 1 << 16)
        w.beginObject()
        w.key("offsets"); w.beginObject()
        for l in loaded { w.key(l.tp.description); w.integer(l.nextOffset) }
        w.endObject()
        w.key("accounts"); w.beginArray()
        for l in loaded {
            for i in 0..<l.ledger.accountCount where account == nil || l.ledger.accountID(i) == account {
                l.ledger.writeAccountDocument(i, into: &w)
            }
        }
        w.endArray()
        w.endObject()
        return w.string
    }

    public static func text(_ loaded: [Loaded], account: String?) -> String {
        var lines: [String] = []
        for l in loaded {
            // The stamp is the writer's (not validated by the codec): formatted only when it can be a time.
            let written = l.writtenAtMillis > 0 && l.writtenAtMillis <= Int64.max / 1_000_000 ? EventTime.format(l.writtenAtMillis * 1_000_000) : "?"
            let audit = l.ledger.audit()
            lines.append("\(l.tp)  next offset \(l.nextOffset)  \(l.ledger.accountCount) accounts  \(l.ledger.dedupe.count) remembered ids  "
                         + "\(l.bytes) bytes  written \(written)  audit \(audit.isClean ? "conserved" : "FAILED")  (\(l.path))")
            if let account, let i = l.ledger.accountIndex(account) {
                lines.append(String(decoding: l.ledger.accountDocument(i), as: UTF8.self))
            }
        }
        if account == nil {
            var total = AuditReport()
            for l in loaded { let a = l.ledger.audit(); total.balance += a.balance; total.charged += a.charged; total.accounts += a.accounts }
            lines.append("total: \(total.accounts) accounts, balance \(total.balance) millicredits, charged \(total.charged) millicredits")
        }
        return lines.joined(separator: "\n")
    }

    /// Remembered rate-card versions whose content differs from `config` (the service would refuse to start).
    public static func rateCardConflicts(dir: String, config: EngineConfiguration) -> [String] {
        var out: [String] = []
        for folder in partitionFolders(dir) {
            guard let newest = SnapshotStore.snapshotFiles(in: folder).first,
                  let data = FileManager.default.contents(atPath: newest),
                  let header = try? SnapshotCodec.header([UInt8](data)) else { continue }
            for v in config.rateCards.changedVersions(comparedTo: header.rateCardHashes) {
                out.append("rate-card version \(v) differs from the one used by \(newest); a used version is immutable — add a new version instead")
            }
        }
        return out
    }
}
