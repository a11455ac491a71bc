import Crdkafka
public import Logging

/// Topic administration over the wire (CreateTopics). Brokers that do not serve it (the
/// mock cluster) make `createTopics` throw a timeout; callers fall back to the mock's API
/// or to broker auto-creation.
public final class KafkaAdmin: @unchecked Sendable {
    let client: RDKafkaClient

    public init(properties: [(String, String)], logger: Logger) throws(KafkaError) {
        client = try RDKafkaClient(type: RD_KAFKA_PRODUCER, properties: properties, context: ClientContext(logger: logger))
    }

    public struct NewTopic: Sendable {
        public var name: String
        public var partitions: Int32
        public var replicationFactor: Int32
        public var config: [String: String]
        public init(name: String, partitions: Int32, replicationFactor: Int32 = 1, config: [String: String] = [:]) {
            self.name = name; self.partitions = partitions; self.replicationFactor = replicationFactor; self.config = config
        }
    }

    /// Creates topics; an existing topic is not an error. Returns the names created.
    @discardableResult
    public func createTopics(_ topics: [NewTopic], timeoutMs: Int32 = 10_000) throws(KafkaError) -> [String] {
        var errstr = [CChar](repeating: 0, count: 512)
        var handles: [OpaquePointer?] = []
        defer { for h in handles { rd_kafka_NewTopic_destroy(h) } }
        for t in topics {
            guard let nt = rd_kafka_NewTopic_new(t.name, t.partitions, t.replicationFactor, &errstr, errstr.count) else {
                throw KafkaError(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue,
                                 message: "topic \(t.name): " + String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            for (k, v) in t.config.sorted(by: { $0.key < $1.key }) { _ = rd_kafka_NewTopic_set_config(nt, k, v) }
            handles.append(nt)
        }
        let queue = rd_kafka_queue_new(client.handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
        handles.withUnsafeMutableBufferPointer { b in
            rd_kafka_CreateTopics(client.handle, b.baseAddress, b.count, options, queue)
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
