import Crdkafka
import Logging

/// Consumer calls: the subscription or explicit assignment, polling, offsets, close.
extension RDKafkaClient {
    func subscribe(_ topics: [String]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(topics.map { (TopicPartition($0, RD_KAFKA_PARTITION_UA), RDKafkaOffset.invalid) })
        let err = rd_kafka_subscribe(handle, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "subscribe") }
    }

    func unsubscribe() throws(KafkaError) {
        let err = rd_kafka_unsubscribe(handle)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "unsubscribe") }
    }

    func assign(_ partitions: [TopicPartition: Int64]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(partitions)
        let err = rd_kafka_assign(handle, list.pointer)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "assign") }
    }

    /// The current assignment.
    func assignment() throws(KafkaError) -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let err = rd_kafka_assignment(handle, &list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { throw KafkaError(err, context: "assignment") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return RDKafkaTopicPartitionList.partitions(list)
    }

    /// Up to `max` messages from the consumer queue, each destroyed after `body` returns;
    /// waits at most `timeoutMs` for the first. One message per call of
    /// `rd_kafka_consumer_poll`: librdkafka 2.0.2's batch call can hand back messages fetched
    /// before a seek or a rebalance (fixed upstream in 2.1), the single call drops those.
    @inline(__always)
    func poll(timeoutMs: Int32, max: Int, _ body: (RDKafkaMessage) throws -> Void) rethrows -> Int {
        var n = 0
        var wait = timeoutMs
        while n < max, let m = rd_kafka_consumer_poll(handle, wait) {
            defer { rd_kafka_message_destroy(m) }
            n += 1
            wait = 0
            try body(RDKafkaMessage(m))
        }
        return n
    }

    /// Commits these offsets synchronously; a partition's own error is thrown too.
    func commit(_ offsets: [TopicPartition: Int64]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets)
        let err = rd_kafka_commit(handle, list.pointer, 0)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else { throw KafkaError(err, context: "commit") }
        for (tp, _, e) in list.entries where e != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(e, context: "commit \(tp)")
        }
    }

    func committed(_ partitions: [TopicPartition], timeoutMs: Int32) throws(KafkaError) -> [TopicPartition: Int64] {
        let list = RDKafkaTopicPartitionList(partitions.map { ($0, RDKafkaOffset.invalid) })
        let err = rd_kafka_committed(handle, list.pointer, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "committed offsets") }
        var out: [TopicPartition: Int64] = [:]
        for (tp, offset, _) in list.entries { out[tp] = offset }
        return out
    }

    /// Leaves the group (the final revocation runs through the rebalance callback) and stops
    /// fetching; a failure is logged.
    func closeConsumer() {
        let err = rd_kafka_consumer_close(handle)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { context.logger.warning("consumer close: \(KafkaError(err))") }
    }
}
