import Crdkafka

/// Owns an `rd_kafka_topic_partition_list_t`.
final class RDKafkaTopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(_ entries: [(TopicPartition, Int64)]) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))
        for (tp, offset) in entries {
            rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)!.pointee.offset = offset
        }
    }

    /// The entries sorted by partition, so librdkafka sees a stable order.
    convenience init(_ offsets: [TopicPartition: Int64]) {
        self.init(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    var entries: [(TopicPartition, Int64, rd_kafka_resp_err_t)] { Self.entries(pointer) }

    static func entries(_ p: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [(TopicPartition, Int64, rd_kafka_resp_err_t)] {
        (0..<Int(p.pointee.cnt)).map { i in
            let e = p.pointee.elems[i]
            return (TopicPartition(String(cString: e.topic), e.partition), e.offset, e.err)
        }
    }

    static func partitions(_ p: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartition] {
        entries(p).map(\.0)
    }
}

/// librdkafka's logical offsets.
enum RDKafkaOffset {
    static let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING)
    static let end = Int64(RD_KAFKA_OFFSET_END)
    /// No offset: what a list entry starts as, and what `committed` answers for a partition
    /// the group never committed.
    static let invalid = Int64(RD_KAFKA_OFFSET_INVALID)
}
