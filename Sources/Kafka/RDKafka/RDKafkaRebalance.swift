import Crdkafka
import Logging

/// The rebalance callback: librdkafka calls it inside a consumer poll, before an assignment
/// or revocation takes effect. It hands the event to the consumer's hook and then applies the
/// change itself — for an assignment, from the offsets the hook returned — incrementally
/// under the cooperative protocol, as a whole assignment under the eager one.
enum RDKafkaRebalance {
    static func installCallback(_ conf: OpaquePointer) {
        rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
            guard let rk, let partitions, let ctx = RDKafkaClientContext.from(opaque), let hook = ctx.onRebalance else { return }
            RDKafkaRebalance.rebalance(rk, err, partitions, hook: hook, ctx: ctx)
        }
    }

    private static func rebalance(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
                                  _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
                                  hook: (RebalanceEvent) -> [TopicPartition: Int64], ctx: RDKafkaClientContext) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let changed = RDKafkaTopicPartitionList.partitions(partitions)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            setOffsets(hook(.assigned(changed)), in: partitions)
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, partitions) {
                    ctx.logger.error("incremental assign failed: \(KafkaError(consuming: e))")
                    _ = hook(.revoked(changed, lost: true))
                }
            } else {
                let r = rd_kafka_assign(rk, partitions)
                if r != RD_KAFKA_RESP_ERR_NO_ERROR { ctx.logger.error("assign failed: \(KafkaError(r))") }
            }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            _ = hook(.revoked(changed, lost: rd_kafka_assignment_lost(rk) != 0))
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, partitions) {
                    ctx.logger.error("incremental unassign failed: \(KafkaError(consuming: e))")
                }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
        default:
            // The assignment is dropped: tell the owner, as for a lost assignment.
            ctx.logger.error("rebalance error: \(KafkaError(err))")
            _ = hook(.revoked(changed, lost: true))
            _ = rd_kafka_assign(rk, nil)
        }
    }

    /// Writes the chosen start offsets into librdkafka's list; partitions without one start
    /// from the committed offset, else `auto.offset.reset`.
    private static func setOffsets(_ offsets: [TopicPartition: Int64],
                                   in partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        guard !offsets.isEmpty else { return }
        for i in 0..<Int(partitions.pointee.cnt) {
            let e = partitions.pointee.elems[i]
            if let offset = offsets[TopicPartition(String(cString: e.topic), e.partition)] {
                partitions.pointee.elems[i].offset = offset
            }
        }
    }
}
