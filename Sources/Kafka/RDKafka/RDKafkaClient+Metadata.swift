import Crdkafka

/// Questions any client can ask the cluster: partition counts, watermarks, offsets by time.
extension RDKafkaClient {
    /// Number of partitions of each topic (metadata request).
    func partitionCounts(_ topics: [String], timeoutMs: Int32) throws(KafkaError) -> [String: Int32] {
        var out: [String: Int32] = [:]
        for topic in topics {
            let rkt = rd_kafka_topic_new(handle, topic, nil)
            defer { rd_kafka_topic_destroy(rkt) }
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let err = rd_kafka_metadata(handle, 0, rkt, &metadata, timeoutMs)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let md = metadata else { throw KafkaError(err, context: "metadata for \(topic)") }
            defer { rd_kafka_metadata_destroy(md) }
            for i in 0..<Int(md.pointee.topic_cnt) {
                let t = md.pointee.topics[i]
                if t.err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(t.err, context: "metadata for \(topic)") }
                out[String(cString: t.topic)] = t.partition_cnt
            }
        }
        return out
    }

    /// Low and high watermarks of a partition (asks the broker).
    func watermarks(_ tp: TopicPartition, timeoutMs: Int32) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, tp.topic, tp.partition, &low, &high, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "watermarks of \(tp)") }
        return (low, high)
    }

    /// Low and high watermarks as last seen in fetch responses (no request: never blocks);
    /// nil until a fetch for the partition has answered.
    func cachedWatermarks(_ tp: TopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(handle, tp.topic, tp.partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// For each partition, the earliest offset whose timestamp ≥ `timestampMs` (-1 / end when none).
    func offsetsForTimes(_ partitions: [TopicPartition], timestampMs: Int64, timeoutMs: Int32) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = RDKafkaTopicPartitionList(partitions.map { ($0, timestampMs) })
        let err = rd_kafka_offsets_for_times(handle, list.pointer, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "offsets for times") }
        var out: [TopicPartition: Int64] = [:]
        for (tp, offset, e) in list.entries {
            if e != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(e, context: "offsets for times of \(tp)") }
            out[tp] = offset
        }
        return out
    }
}
