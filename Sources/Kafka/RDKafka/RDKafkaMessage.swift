// Public: the accessors below are inlined into callers in other modules (one call per record
// and field otherwise), and inlinable code may only use publicly imported declarations.
public import Crdkafka

/// A borrowed `rd_kafka_message_t`: field reads, no copies. Valid while librdkafka owns the
/// message (inside the poll callback).
@usableFromInline
struct RDKafkaMessage {
    @usableFromInline let pointer: UnsafeMutablePointer<rd_kafka_message_t>

    @inlinable init(_ pointer: UnsafeMutablePointer<rd_kafka_message_t>) {
        self.pointer = pointer
    }

    /// An error event rather than a record.
    @inlinable var isError: Bool { pointer.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR }

    /// The event's error, with librdkafka's text for this message when it has one.
    @usableFromInline var error: KafkaError {
        let err = pointer.pointee.err
        if let s = rd_kafka_message_errstr(pointer) { return KafkaError(code: err.rawValue, message: String(cString: s)) }
        return KafkaError(err)
    }

    @inlinable var isPartitionEOF: Bool { pointer.pointee.err == RD_KAFKA_RESP_ERR__PARTITION_EOF }

    @inlinable var topicHandle: OpaquePointer? { pointer.pointee.rkt }

    @usableFromInline var topicName: String { pointer.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "" }

    @inlinable var partition: Int32 { pointer.pointee.partition }

    @inlinable var offset: Int64 { pointer.pointee.offset }

    @inlinable var key: UnsafeRawBufferPointer? {
        guard let k = pointer.pointee.key else { return nil }
        return UnsafeRawBufferPointer(start: k, count: pointer.pointee.key_len)
    }

    @inlinable var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: pointer.pointee.payload, count: pointer.pointee.payload == nil ? 0 : pointer.pointee.len)
    }

    @inlinable var valueIsNull: Bool { pointer.pointee.payload == nil }

    @inlinable var timestampMs: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(pointer, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? nil : ts
    }

    @inlinable @inline(__always)
    func forEachHeader(_ body: (UnsafePointer<CChar>, UnsafeRawBufferPointer?) -> Void) {
        var headers: OpaquePointer?
        guard rd_kafka_message_headers(pointer, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return }
        var i = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            if let name { body(name, value.map { UnsafeRawBufferPointer(start: $0, count: size) }) }
            i += 1
        }
    }
}
