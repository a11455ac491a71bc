import CreditEngine
import Kafka
import Logging

/// Where an assigned partition's state comes from: the newest of the local snapshot folder (a
/// cache when the state topic is set; used when at least as new) and the state topic's
/// checkpoint, else empty from the beginning of the input. State that would resume below the
/// input's log start is refused: the records in between are gone, and skipping them would be
/// silent loss (§13).
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
        if let (ledger, header, path) = try store.restore(tp, config: engine, logger: logger) {
            restored = PartitionState(tp: tp, ledger: ledger, nextOffset: header.nextOffset)
            fromCache = true
            cacheLine = ["partition": "\(tp)", "next_offset": "\(header.nextOffset)", "accounts": "\(header.accounts)", "path": "\(path)"]
        }
        // The state topic's checkpoint when it is newer than what the folder gave.
        if let found, let m = found.manifest {
            if let problem = found.problem {
                logger.error("state topic checkpoint unusable", metadata: [
                    "partition": "\(tp)", "next_offset": "\(m.nextOffset)", "reason": "\(problem)"])
            } else if let bytes = found.bytes, m.nextOffset > (restored?.nextOffset ?? .min),
                      let st = try decodeCheckpoint(bytes, tp: tp, nextOffset: m.nextOffset) {
                restored = st
                fromCache = false
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
            throw ServiceError("\(tp): no state found (state topic or snapshots) and the input topic starts at offset \(logStart), "
                               + "not 0: rebuilding from it would skip records 0..<\(logStart); refusing")
        }
        logger.info("no snapshot: starting from the beginning", metadata: ["partition": "\(tp)"])
        counts.restored(from: .beginning)
        return PartitionState(tp: tp, ledger: PartitionLedger(config: engine), nextOffset: KafkaOffset.beginning)
    }

    /// A checkpoint read from the state topic; a damaged one is reported and skipped, one
    /// refused for a configuration reason (a changed rate card) stops the service.
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
            guard error.isDamage else { throw error }
            logger.error("state topic checkpoint is corrupt, skipped", metadata: ["partition": "\(tp)", "reason": "\(error)"])
            return nil
        }
    }
}
