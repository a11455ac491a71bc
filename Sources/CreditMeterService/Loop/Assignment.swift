import Kafka

/// The partitions this instance holds and has restored, and the per-record lookup of a
/// record's partition (the last one found is remembered: records come in runs per partition).
/// Changed only in the rebalance callbacks, after the state machine said so. A value held
/// inline by the loop, so the per-record lookup costs what a field of the loop would.
struct Assignment {
    private var held: [TopicPartition: PartitionState] = [:]
    private var last: (handle: OpaquePointer?, partition: Int32, state: PartitionState)?

    var states: Dictionary<TopicPartition, PartitionState>.Values { held.values }
    var isEmpty: Bool { held.isEmpty }
    var count: Int { held.count }

    subscript(tp: TopicPartition) -> PartitionState? { held[tp] }

    /// The held partition of `m`, if any.
    @inline(__always)
    mutating func state(for m: KafkaMessage) -> PartitionState? {
        let handle = m.topicHandle
        let partition = m.partition
        if let last, last.handle == handle && last.partition == partition { return last.state }
        guard let s = held[TopicPartition(m.topic, partition)] else { return nil }
        last = (handle, partition, s)
        return s
    }

    mutating func add(_ st: PartitionState) {
        held[st.tp] = st
        last = nil
    }

    /// Removes these partitions; returns those that were held.
    mutating func remove(_ tps: [TopicPartition]) -> [PartitionState] {
        last = nil
        return tps.compactMap { held.removeValue(forKey: $0) }
    }
}
