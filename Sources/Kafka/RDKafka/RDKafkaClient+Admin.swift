import Crdkafka

/// Admin calls: CreateTopics over the wire.
extension RDKafkaClient {
    /// Creates topics (replication factor 1); an existing topic is not an error. Returns the
    /// names created.
    func createTopics(_ topics: [(name: String, partitions: Int32)], timeoutMs: Int32) throws(KafkaError) -> [String] {
        var errstr = [CChar](repeating: 0, count: 512)
        var handles: [OpaquePointer?] = []
        defer { for h in handles { rd_kafka_NewTopic_destroy(h) } }
        for t in topics {
            guard let nt = rd_kafka_NewTopic_new(t.name, t.partitions, 1, &errstr, errstr.count) else {
                throw KafkaError(invalidArgument: "topic \(t.name): " + String(errorBuffer: errstr))
            }
            handles.append(nt)
        }
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
        handles.withUnsafeMutableBufferPointer { b in
            rd_kafka_CreateTopics(handle, b.baseAddress, b.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 1000) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, context: "create topics")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "create topics") }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, context: "create topics: no result")
        }
        var count = 0
        let results = rd_kafka_CreateTopics_result_topics(result, &count)
        var created: [String] = []
        for i in 0..<count {
            guard let r = results?[i] else { continue }
            let name = String(cString: rd_kafka_topic_result_name(r))
            let e = rd_kafka_topic_result_error(r)
            if e == RD_KAFKA_RESP_ERR_NO_ERROR { created.append(name) }
            else if e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { throw KafkaError(e, context: "create topic \(name)") }
        }
        return created
    }
}
