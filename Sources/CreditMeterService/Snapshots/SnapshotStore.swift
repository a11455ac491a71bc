public import CreditEngine
import Foundation
public import Kafka
public import Logging

/// Snapshot files on disk: `<dir>/<topic>/<partition>/<next offset>.snap`, written atomically
/// (temp file, fsync, rename, fsync of the folder), `keep` newest kept per partition.
public struct SnapshotStore: Sendable {
    public let dir: String
    public let keep: Int

    public init(dir: String, keep: Int) {
        self.dir = dir
        self.keep = keep
    }

    func folder(_ tp: TopicPartition) -> String { "\(dir)/\(tp.topic)/\(tp.partition)" }

    static func fileName(nextOffset: Int64) -> String {
        let digits = String(nextOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".snap"
    }

    /// Writes one snapshot durably and prunes old ones. Returns the path.
    @discardableResult
    public func write(_ bytes: [UInt8], for tp: TopicPartition, nextOffset: Int64) throws -> String {
        Self.ignoreFileSizeSignal
        let folder = folder(tp)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = "\(folder)/\(Self.fileName(nextOffset: nextOffset))"
        // Unique per writer: instances sharing the folder (often all pid 1 in containers) must
        // never write or remove each other's temp files.
        let temp = "\(path).tmp-\(ProcessIdentity.hostAndPID)-\(UInt32.random(in: 0 ... .max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw POSIXFailure("open \(temp)") }
        var written = 0
        var failure: POSIXFailure?  // errno captured where the call failed, before close/unlink
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; failure = POSIXFailure("write \(temp)"); return }
                written += n
            }
            if fsync(fd) != 0 { failure = POSIXFailure("fsync \(temp)") }
        }
        if close(fd) != 0 && failure == nil { failure = POSIXFailure("close \(temp)") }
        if let failure { unlink(temp); throw failure }
        guard rename(temp, path) == 0 else { let f = POSIXFailure("rename \(temp)"); unlink(temp); throw f }
        let dfd = open(folder, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
        prune(folder)
        return path
    }

    /// Snapshot files of a partition, newest first.
    public func files(_ tp: TopicPartition) -> [String] {
        Self.snapshotFiles(in: folder(tp))
    }

    package static func snapshotFiles(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".snap") }.sorted(by: >).map { "\(folder)/\($0)" }
    }

    private func prune(_ folder: String) {
        let all = Self.snapshotFiles(in: folder)
        for old in all.dropFirst(keep) { unlink(old) }
        // Temp files left by a crash mid-write: removed once clearly abandoned.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for n in names where n.contains(".snap.tmp-") {
            let p = "\(folder)/\(n)"
            if let modified = (try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date,
               Date().timeIntervalSince(modified) > 600 {
                unlink(p)
            }
        }
    }

    /// A file-size limit (`ulimit -f`) must make a write fail with EFBIG — an error the
    /// service reports — not kill the process with SIGXFSZ, silently.
    static let ignoreFileSizeSignal: Void = { _ = signal(SIGXFSZ, SIG_IGN) }()

    /// The newest snapshot of `tp` that reads back cleanly under `config`; nil when there is
    /// none. A damaged file (`SnapshotError.damaged`) is logged with its path and reason and
    /// the next-older one tried; an incompatible one (`.incompatible`: a newer format, a
    /// changed or removed rate-card version) throws `IncompatibleSnapshot`, not a fallback.
    public func restore(_ tp: TopicPartition, config: EngineConfiguration, logger: Logger) throws -> (PartitionLedger, SnapshotCodec.Header, String)? {
        for path in files(tp) {
            guard let data = FileManager.default.contents(atPath: path) else {
                logger.error("snapshot unreadable, trying the previous one", metadata: ["path": "\(path)"])
                continue
            }
            let bytes = [UInt8](data)
            do {
                let header = try SnapshotCodec.header(bytes)
                guard header.topic == tp.topic, header.partition == tp.partition else {
                    logger.error("snapshot belongs to another partition, skipped", metadata: ["path": "\(path)"])
                    continue
                }
                let (ledger, full) = try SnapshotCodec.decode(bytes, config: config)
                return (ledger, full, path)
            } catch {
                let reason = try error.damageReason(of: path)
                logger.error("snapshot is damaged, falling back to the previous one", metadata: ["path": "\(path)", "reason": "\(reason)"])
                continue
            }
        }
        return nil
    }
}
