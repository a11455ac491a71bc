import Crdkafka

/// A topic partition, optionally with an offset.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)/\(partition)" }

    public static func < (a: TopicPartition, b: TopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }
}

/// Special offsets.
public enum KafkaOffset {
    public static let beginning: Int64 = Int64(RD_KAFKA_OFFSET_BEGINNING)
    public static let end: Int64 = Int64(RD_KAFKA_OFFSET_END)
    public static let stored: Int64 = Int64(RD_KAFKA_OFFSET_STORED)
    public static let invalid: Int64 = Int64(RD_KAFKA_OFFSET_INVALID)
}

/// Owns an `rd_kafka_topic_partition_list_t`.
final class RDKafkaTopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(capacity: Int = 1) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(capacity, 1)))
    }

    init(copying p: UnsafePointer<rd_kafka_topic_partition_list_t>) {
        pointer = rd_kafka_topic_partition_list_copy(p)
    }

    convenience init(_ entries: [(TopicPartition, Int64)]) {
        self.init(capacity: entries.count)
        for (tp, offset) in entries { add(tp, offset: offset) }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    func add(_ tp: TopicPartition, offset: Int64 = KafkaOffset.invalid) {
        let element = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)!
        element.pointee.offset = offset
    }

    static func entries(_ p: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [(TopicPartition, Int64, rd_kafka_resp_err_t)] {
        var out: [(TopicPartition, Int64, rd_kafka_resp_err_t)] = []
        for i in 0..<Int(p.pointee.cnt) {
            let e = p.pointee.elems[i]
            out.append((TopicPartition(String(cString: e.topic), e.partition), e.offset, e.err))
        }
        return out
    }

    var entries: [(TopicPartition, Int64, rd_kafka_resp_err_t)] { Self.entries(pointer) }
}
