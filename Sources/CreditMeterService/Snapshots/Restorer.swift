import CreditEngine
import Kafka
import Logging

/// Where an assigned partition's state comes from: the newest of the local snapshot folder (a
/// cache when the state topic is set; used when at least as new) and the state topic's
/// checkpoint, else empty from the beginning of the input. State that would resume below the
/// input's log start is refused: the records in between are gone, and skipping them would be
/// silent loss (§13).
///
/// A snapshot that cannot be read is judged by its error's type (§14): a damaged one — local
/// file or checkpoint — is logged with its reason and older state used instead (when every
/// local file is damaged: the state topic, or the input's beginning if it still starts at 0);
/// an incompatible one stops the restore with `IncompatibleSnapshot`.
struct Restorer {
    let store: SnapshotStore
    let stateTopic: StateTopic?
    let engine: EngineConfiguration
    let counts: RecordCounts
    let logger: Logger

    /// The state topic's newest checkpoints of these partitions (none without a state topic).
    func readStateTopic(_ tps: [TopicPartition]) throws -> [TopicPartition: StateTopic.Found] {
        guard let stateTopic else { return [:] }
        return try stateTopic.read(tps)
    }

    /// The state of `tp`. `found`: what the state topic holds for it; `logStart`: where the
    /// input partition starts now (nil: unknown).
    func restore(_ tp: TopicPartition, found: StateTopic.Found?, logStart: Int64?) throws -> PartitionState {
        var restored: PartitionState?
        var fromCache = false
        // The local folder first: its newest valid snapshot (damaged files fall back to older ones).
        var cacheLine: Logger.Metadata = [:]
        // What was there but could not be used, for the refusal below.
        var unusable: [String] = []
        if let (ledger, header, path) = try store.restore(tp, config: engine, logger: logger) {
            restored = PartitionState(tp: tp, ledger: ledger, nextOffset: header.nextOffset)
            fromCache = true
            cacheLine = ["partition": "\(tp)", "next_offset": "\(header.nextOffset)", "accounts": "\(header.accounts)", "path": "\(path)"]
        } else {
            let files = store.files(tp).count
            if files > 0 {
                logger.error("every local snapshot is damaged", metadata: ["partition": "\(tp)", "files": "\(files)"])
                unusable.append(files == 1 ? "its local snapshot is damaged" : "all \(files) local snapshots are damaged")
            }
        }
        // The state topic's checkpoint when it is newer than what the folder gave.
        if let found, let m = found.manifest {
            if let problem = found.problem {
                logger.error("state topic checkpoint unusable", metadata: [
                    "partition": "\(tp)", "next_offset": "\(m.nextOffset)", "reason": "\(problem)"])
                unusable.append("the state topic's checkpoint is unusable")
            } else if let bytes = found.bytes, m.nextOffset > (restored?.nextOffset ?? .min) {
                if let st = try decodeCheckpoint(bytes, tp: tp, nextOffset: m.nextOffset) {
                    restored = st
                    fromCache = false
                } else {
                    unusable.append("the state topic's checkpoint is damaged")
                }
            }
        }
        if let restored {
            if fromCache {
                logger.info("restored from snapshot", metadata: cacheLine)
                counts.restored(from: .snapshot)
                // The folder was newer than the state topic (a crash between the two writes, or
                // the state topic just turned on): checkpoint it with the next snapshot even if
                // no record arrives, so the state is never only on this instance's disk.
                if stateTopic != nil, (found?.manifest?.nextOffset ?? .min) < restored.nextOffset || found?.bytes == nil {
                    restored.requireCheckpoint()
                }
            }
            if let logStart, restored.nextOffset < logStart {
                throw ServiceError("\(tp): the newest state covers the input up to offset \(restored.nextOffset), but the topic now "
                                   + "starts at \(logStart) (records \(restored.nextOffset)..<\(logStart) were deleted); refusing to skip "
                                   + "them — restore newer state or raise the input's retention")
            }
            return restored
        }
        if let logStart, logStart > 0 {
            let state = unusable.isEmpty ? "no state found (state topic or snapshots)"
                : "no usable state (\(unusable.joined(separator: ", ")); the log says why)"
            throw ServiceError("\(tp): \(state) and the input topic starts at offset \(logStart), "
                               + "not 0: rebuilding from it would skip records 0..<\(logStart); refusing")
        }
        logger.info(unusable.isEmpty ? "no snapshot: starting from the beginning" : "no usable snapshot: starting from the beginning",
                    metadata: ["partition": "\(tp)"])
        counts.restored(from: .beginning)
        return PartitionState(tp: tp, ledger: PartitionLedger(config: engine), nextOffset: KafkaOffset.beginning)
    }

    /// A checkpoint read from the state topic; a damaged one is reported and skipped (nil),
    /// an incompatible one throws `IncompatibleSnapshot`.
    private func decodeCheckpoint(_ bytes: [UInt8], tp: TopicPartition, nextOffset: Int64) throws -> PartitionState? {
        do {
            let (ledger, header) = try SnapshotCodec.decode(bytes, config: engine)
            guard header.topic == tp.topic, header.partition == tp.partition, header.nextOffset == nextOffset else {
                logger.error("state topic checkpoint names another partition or offset, skipped", metadata: [
                    "partition": "\(tp)", "names": "\(header.topic)/\(header.partition)@\(header.nextOffset)"])
                return nil
            }
            logger.info("restored from the state topic", metadata: ["partition": "\(tp)", "next_offset": "\(nextOffset)",
                                                                  "accounts": "\(header.accounts)", "bytes": "\(bytes.count)"])
            counts.restored(from: .stateTopic)
            return PartitionState(tp: tp, ledger: ledger, nextOffset: nextOffset)
        } catch {
            let source = "the state topic's checkpoint of \(tp) at offset \(nextOffset)"
                + (stateTopic.map { " (\($0.topic))" } ?? "")
            let reason = try error.damageReason(of: source)
            logger.error("state topic checkpoint is damaged, skipped", metadata: [
                "partition": "\(tp)", "next_offset": "\(nextOffset)", "reason": "\(reason)"])
            return nil
        }
    }
}
