package import CreditConfig
package import CreditEngine
import Foundation
package import Kafka
package import Logging

/// Partition state in Kafka (contract §13): writes checkpoints to `kafka.state_topic` and
/// reads them back on assignment. The layout is `StateLayout`'s.
///
/// Writes happen on the snapshot writer's queue with this object's own idempotent producer
/// (acks=all), so delivery reports are served on that queue, never on the consuming thread.
/// A checkpoint counts only once `flush` reports every record acknowledged; only then are the
/// group offsets committed (§8's rule, as for a snapshot file).
package final class StateTopic: @unchecked Sendable {
    let topic: String
    private let producer: KafkaProducer
    private let handle: ProducerTopic
    private let bootstrap: String
    private let kafka: ServiceConfiguration.Kafka
    private let logger: Logger
    private let failures = Locked<(count: Int, first: String?)>((0, nil))
    /// Records reported delivered without an offset (an implicit acknowledgement, which a
    /// broker that does not check sequence numbers can give for a record it never wrote):
    /// produced again before the checkpoint counts.
    private let unconfirmed = Locked<[ProducedRecord]>([])
    /// Records produced again because they were acknowledged without an offset.
    private let producedAgain = Locked(0)
    package var recordsProducedAgain: Int { producedAgain.value }
    /// The slot each partition's current manifest names (the next checkpoint goes to the other).
    private let slots = Locked<[TopicPartition: UInt8]>([:])
    private let stateParts = Locked<Int32?>(nil)

    init(topic: String, kafka: ServiceConfiguration.Kafka, bootstrap: String, logger: Logger) throws {
        self.topic = topic
        self.kafka = kafka
        self.bootstrap = bootstrap
        self.logger = logger
        let failures = self.failures
        let unconfirmed = self.unconfirmed
        producer = try KafkaProducer(properties: KafkaSettings.producer(kafka, bootstrap: bootstrap) + [
            // Chunks are ~512 KiB: batch them, and allow the default broker limit.
            ("linger.ms", "5"),
        ], logger: logger) { report in
            if let error = report.error {
                failures.withLock { if $0.first == nil { $0.first = "\(error)" }; $0.count += 1 }
            } else if let copy = report.unconfirmed {
                unconfirmed.withLock { $0.append(copy) }
            }
        }
        handle = producer.topic(topic)
    }

    /// The state topic's partition count (asked once).
    func statePartitions() throws -> Int32 {
        if let n = stateParts.value { return n }
        let counts = try producer.partitionCounts([topic], timeoutMs: 10_000)
        guard let n = counts[topic], n > 0 else {
            throw ServiceError("kafka.state_topic \(topic): the topic does not exist (create it compacted; see docs/operations.md)")
        }
        stateParts.withLock { $0 = n }
        return n
    }

    /// Writes one checkpoint and waits until the broker acknowledged all of it, each record with
    /// its offset (copies of records acknowledged without one are produced again and waited
    /// for: chunks and manifests are keyed, so a copy only repeats what its key already holds).
    func write(_ snapshot: [UInt8], for tp: TopicPartition, nextOffset: Int64, wallMillis: Int64) throws {
        let parts = try statePartitions()
        let slot: UInt8 = slots.withLock { 1 - ($0[tp] ?? 1) }
        let partition = StateLayout.statePartition(tp, stateParts: parts)
        let before = failures.value.count
        for r in StateLayout.records(snapshot, tp: tp, nextOffset: nextOffset, slot: slot, writtenAtMillis: wallMillis) {
            try Array(r.key.utf8).withUnsafeBytes { k in
                try r.value.withUnsafeBytes { v in try producer.produce(handle, partition: partition, key: k, value: v) }
            }
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            try producer.flush(timeoutMs: Int32(clamping: max(0, (deadline - ContinuousClock.now).milliseconds)))
            let again = unconfirmed.withLock { records in defer { records.removeAll() }; return records }
            if again.isEmpty || failures.value.count > before { break }
            logger.warning("state topic records reported delivered without an offset (implicitly acknowledged); producing them again",
                           metadata: ["count": "\(again.count)"])
            for record in again { try producer.produce(record) }
            producedAgain.withLock { $0 += again.count }
        }
        let after = failures.value
        if producer.outstanding > 0 { throw ServiceError("state topic \(topic): \(producer.outstanding) records not acknowledged in time") }
        if after.count > before { throw ServiceError("state topic \(topic): a checkpoint record was not delivered (\(after.first ?? "?"))") }
        slots.withLock { $0[tp] = slot }
    }

    /// What a restore found for one partition.
    struct Found {
        var manifest: StateLayout.Manifest?
        /// The checkpoint's bytes when complete.
        var bytes: [UInt8]?
        /// Why a manifest's checkpoint could not be used.
        var problem: String?
    }

    /// Reads the state partitions holding these input partitions, from their log start to
    /// their end, and returns each one's newest checkpoint. Remembers the slots the manifests
    /// name, so the next write never overwrites the checkpoint just read.
    func read(_ tps: [TopicPartition]) throws -> [TopicPartition: Found] {
        guard !tps.isEmpty else { return [:] }
        let parts = try statePartitions()
        let started = ContinuousClock.now
        let reader = try KafkaConsumer(properties: KafkaSettings.reader(kafka, bootstrap: bootstrap), logger: logger)
        var ends: [Int32: Int64] = [:]
        var starts: [TopicPartition: Int64] = [:]
        for p in Set(tps.map { StateLayout.statePartition($0, stateParts: parts) }) {
            let stp = TopicPartition(topic, p)
            let w = try reader.watermarks(stp, timeoutMs: 10_000)
            if w.high > w.low { ends[p] = w.high; starts[stp] = w.low }
        }
        var assembler = StateAssembler(tps)
        if !starts.isEmpty {
            try reader.assign(starts)
            var positions: [Int32: Int64] = [:]
            var lastProgress = ContinuousClock.now
            var lastRecord = ContinuousClock.now
            while ends.contains(where: { (positions[$0.key] ?? -1) + 1 < $0.value }) {
                let n = reader.poll(timeoutMs: 100, max: 4096) { m in
                    if let error = m.error {
                        if !m.isPartitionEOF { logger.warning("state topic read", metadata: ["error": "\(error)"]) }
                        return
                    }
                    positions[m.partition] = m.offset
                    assembler.ingest(key: m.key.map { Array($0) } ?? [], value: m.valueIsNull ? nil : Array(m.value))
                }
                let now = ContinuousClock.now
                if n > 0 { lastRecord = now }
                if now - lastRecord > .seconds(60) {
                    throw ServiceError("state topic \(topic): no records for 60 s while restoring (read \(assembler.recordsRead))")
                }
                if now - lastProgress > .seconds(2) {
                    logger.info("restoring from the state topic", metadata: ["records": "\(assembler.recordsRead)",
                                                                           "bytes": "\(assembler.bytesKept)"])
                    lastProgress = now
                }
            }
        }
        var out: [TopicPartition: Found] = [:]
        for tp in tps {
            switch assembler.outcome(tp) {
            case .none: out[tp] = Found()
            case .complete(let m, let bytes): out[tp] = Found(manifest: m, bytes: bytes)
            case .incomplete(let m, let why): out[tp] = Found(manifest: m, problem: why)
            }
            if let m = out[tp]?.manifest { slots.withLock { $0[tp] = m.slot } }
        }
        logger.info("state topic read", metadata: ["partitions": "\(tps.map(\.description))", "records": "\(assembler.recordsRead)",
                                                   "bytes": "\(assembler.bytesKept)",
                                                   "ms": "\((ContinuousClock.now - started).milliseconds)"])
        return out
    }
}

extension StateTopic {
    /// The newest complete checkpoint of each partition on the state topic, decoded (tests,
    /// tools): what a new owner would restore.
    package static func checkpoints(_ config: ServiceConfiguration, bootstrap: String, partitions tps: [TopicPartition],
                                    logger: Logger) throws -> [TopicPartition: (ledger: PartitionLedger, nextOffset: Int64)] {
        guard let topic = config.kafka.stateTopic else { throw ServiceError("kafka.state_topic is not set") }
        let st = try StateTopic(topic: topic, kafka: config.kafka, bootstrap: bootstrap, logger: logger)
        var out: [TopicPartition: (PartitionLedger, Int64)] = [:]
        for (tp, found) in try st.read(tps) {
            guard let bytes = found.bytes, let m = found.manifest else { continue }
            let (ledger, _) = try SnapshotCodec.decode(bytes, config: config.engine)
            out[tp] = (ledger, m.nextOffset)
        }
        return out
    }
}
