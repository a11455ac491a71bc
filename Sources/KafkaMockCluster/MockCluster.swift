import Crdkafka
public import Kafka
public import Logging

/// librdkafka's in-process mock cluster (`rdkafka_mock.h`): a real Kafka wire protocol served
/// from threads of this process. Any client — in this process or another (kcat, Python) —
/// connects through `bootstrapServers` while this object lives.
///
/// For development and tests only: no library product exports this module; tools reach it
/// through `DevCluster`.
///
/// Limits (librdkafka 2.0.2): no CreateTopics (use `createTopic`), no compaction, no real
/// transactions, offsets-for-times answers -1, and each partition keeps only ~5 MiB.
public final class MockCluster: @unchecked Sendable {
    private let owner: RDKafkaClient
    private let cluster: OpaquePointer
    public let bootstrapServers: String

    public init(brokers: Int32 = 1, logger: Logger = Logger(label: "kafka.mock")) throws(KafkaError) {
        // A producer handle owns the cluster; it is never used to produce.
        owner = try RDKafkaClient(.producer(onDelivery: nil), properties: [("log_level", "3")], logger: logger)
        guard let mc = rd_kafka_mock_cluster_new(owner.handle, Int32(brokers)) else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__FAIL.rawValue, message: "could not start the mock cluster")
        }
        cluster = mc
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        if reserved { ReservedPorts.release(ports) }
    }

    /// The brokers' listening ports.
    var ports: [Int] { bootstrapServers.split(separator: ",").compactMap { $0.split(separator: ":").last.flatMap { Int($0) } } }
    private var reserved = false

    /// Creates a topic (the mock's own API: the wire CreateTopics is not served).
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "create topic \(name)") }
    }

    /// A broker taken down closes its listening socket and binds the same port again when it
    /// comes back up — and librdkafka 2.0.2 aborts the process if that port was taken meanwhile
    /// (any socket of the machine may get it as an ephemeral port). So before the first
    /// outage the cluster's ports are reserved (`ip_local_reserved_ports`: never handed out as
    /// ephemeral ports; explicit binds still work), when this process may do so (root).
    public func setBrokerDown(_ id: Int32) throws(KafkaError) {
        if !reserved { reserved = ReservedPorts.reserve(ports) }
        let err = rd_kafka_mock_broker_set_down(cluster, id)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "broker \(id) down") }
    }

    public func setBrokerUp(_ id: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_broker_set_up(cluster, id)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "broker \(id) up") }
    }

    public func setRoundTripTime(broker id: Int32, milliseconds: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_broker_set_rtt(cluster, id, milliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "broker \(id) rtt") }
    }

    /// Makes `broker` the coordinator of consumer group `group` (FindCoordinator answers it
    /// from now on; members talking to the old one get NOT_COORDINATOR and look it up again).
    public func setCoordinator(group: String, broker id: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_coordinator_set(cluster, "group", group, id)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "coordinator of \(group) → \(id)") }
    }

    /// Makes `broker` the leader of `topic`/`partition` (-1: no leader). Clients talking to the
    /// old leader get NOT_LEADER_FOR_PARTITION and refresh their metadata.
    public func setPartitionLeader(topic: String, partition: Int32, broker id: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_partition_set_leader(cluster, topic, partition, id)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "leader of \(topic)/\(partition) → \(id)") }
    }

    /// Kafka API keys used with error injection.
    public enum APIKey: Int16, CaseIterable, Sendable {
        case produce = 0, fetch = 1, listOffsets = 2, metadata = 3, offsetCommit = 8, offsetFetch = 9,
             findCoordinator = 10, joinGroup = 11, heartbeat = 12, leaveGroup = 13, syncGroup = 14, initProducerId = 22

        /// The protocol's name (`Produce`, `OffsetCommit`, …), matched without regard to case.
        public init?(name: String) {
            guard let key = Self.allCases.first(where: { "\($0)".lowercased() == name.lowercased() }) else { return nil }
            self = key
        }
    }

    /// The next `errors.count` requests of `api` that reach broker `id` fail with these error
    /// codes, in order — ahead of the cluster-wide errors of `pushRequestErrors`. Lets a test
    /// aim at one client's traffic (the brokers leading only that client's partitions).
    public func pushRequestErrors(_ api: APIKey, _ errors: [Int32], broker id: Int32) throws(KafkaError) {
        for code in errors {
            let err = cm_mock_broker_push_request_error(cluster, id, api.rawValue, rd_kafka_resp_err_t(rawValue: code))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "errors on broker \(id)") }
        }
    }

    /// The next `errors.count` requests of `api` fail with these error codes, in order.
    public func pushRequestErrors(_ api: APIKey, _ errors: [Int32]) {
        var codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        rd_kafka_mock_push_request_errors_array(cluster, api.rawValue, codes.count, &codes)
    }

    public func clearRequestErrors(_ api: APIKey) {
        rd_kafka_mock_clear_request_errors(cluster, api.rawValue)
    }
}
