import Crdkafka

/// Producer calls: topic handles, one record per `produce`, delivery reports served by
/// `poll`/`flush` through the delivery callback.
extension RDKafkaClient {
    static func installDeliveryCallback(_ conf: OpaquePointer) {
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let ctx = RDKafkaClientContext.from(opaque) else { return }
            let m = message.pointee
            var report = DeliveryReport(tag: UInt64(UInt(bitPattern: m._private)), partition: m.partition)
            if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                report.error = KafkaError(m.err)
            } else if m.offset >= 0 {
                report.offset = m.offset
            } else {
                // Counted delivered without an answer that placed it (see `DeliveryReport.unconfirmed`).
                report.unconfirmed = ProducedRecord(copying: KafkaMessage(RDKafkaMessage(UnsafeMutablePointer(mutating: message))))
            }
            ctx.onDelivery?(report)
        }
    }

    func newTopicHandle(_ name: String) -> OpaquePointer {
        rd_kafka_topic_new(handle, name, nil)
    }

    func destroyTopicHandle(_ rkt: OpaquePointer) {
        rd_kafka_topic_destroy(rkt)
    }

    /// Queues one record (librdkafka copies key, value and headers); `tag` comes back in its
    /// delivery report. A full queue is an error like any other (`isQueueFull`).
    func produce(_ topic: ProducerTopic, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
                 headers: [(String, UnsafeRawBufferPointer?)], timestampMs: Int64?, tag: UInt64) throws(KafkaError) {
        var hdrs: OpaquePointer?
        if !headers.isEmpty {
            hdrs = rd_kafka_headers_new(headers.count)
            for (name, v) in headers {
                _ = rd_kafka_header_add(hdrs, name, -1, v?.baseAddress, v?.count ?? 0)
            }
        }
        var vus = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 8)
        var n = 0
        vus[n].vtype = RD_KAFKA_VTYPE_RKT; vus[n].u.rkt = topic.handle; n += 1
        vus[n].vtype = RD_KAFKA_VTYPE_PARTITION; vus[n].u.i32 = partition ?? RD_KAFKA_PARTITION_UA; n += 1
        vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[n].u.i = RD_KAFKA_MSG_F_COPY; n += 1
        if let key {
            vus[n].vtype = RD_KAFKA_VTYPE_KEY
            vus[n].u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
            vus[n].u.mem.size = key.count
            n += 1
        }
        if let value {
            vus[n].vtype = RD_KAFKA_VTYPE_VALUE
            vus[n].u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
            vus[n].u.mem.size = value.count
            n += 1
        }
        if let hdrs { vus[n].vtype = RD_KAFKA_VTYPE_HEADERS; vus[n].u.headers = hdrs; n += 1 }
        if let timestampMs { vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP; vus[n].u.i64 = timestampMs; n += 1 }
        vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE; vus[n].u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(tag)); n += 1
        guard let error = rd_kafka_produceva(handle, &vus, n) else { return }  // the headers now belong to librdkafka
        if let hdrs { rd_kafka_headers_destroy(hdrs) }
        throw KafkaError(consuming: error, context: "produce to \(topic.name)")
    }

    /// Serves queued events (delivery reports); returns how many were served.
    func poll(timeoutMs: Int32) -> Int {
        Int(rd_kafka_poll(handle, timeoutMs))
    }

    /// Records queued or in flight (not yet acknowledged).
    var outstanding: Int { Int(rd_kafka_outq_len(handle)) }

    func flush(timeoutMs: Int32) throws(KafkaError) {
        let err = rd_kafka_flush(handle, timeoutMs)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "flush") }
    }
}

extension ProducedRecord {
    /// A copy of the record a delivery report is about (librdkafka still holds it).
    init(copying m: KafkaMessage) {
        self.init(topic: m.topic, partition: m.partition, key: m.key.map { Array($0) }, value: m.valueIsNull ? nil : Array(m.value),
                  headers: m.headers, timestampMs: m.timestampMs)
    }
}
