/// A consumed record, borrowed from librdkafka: valid only inside the poll callback.
/// Nothing is copied; key, value and headers point into librdkafka's buffers. The accessors
/// are inlined into the caller (they are read once per record).
public struct KafkaMessage {
    @usableFromInline let message: RDKafkaMessage

    init(_ message: RDKafkaMessage) {
        self.message = message
    }

    /// Set when this is an error event rather than a record (e.g. partition EOF).
    @inlinable @inline(__always)
    public var error: KafkaError? { message.isError ? message.error : nil }

    @inlinable @inline(__always)
    public var isPartitionEOF: Bool { message.isPartitionEOF }

    /// librdkafka's topic handle: stable for the client's life, so callers can map it to their
    /// own topic index without building a String per record.
    @inlinable @inline(__always)
    public var topicHandle: OpaquePointer? { message.topicHandle }

    public var topic: String { message.topicName }

    @inlinable @inline(__always)
    public var partition: Int32 { message.partition }

    @inlinable @inline(__always)
    public var offset: Int64 { message.offset }

    @inlinable @inline(__always)
    public var key: UnsafeRawBufferPointer? { message.key }

    @inlinable @inline(__always)
    public var value: UnsafeRawBufferPointer { message.value }

    /// A tombstone: the record has no value at all (not an empty one).
    @inlinable @inline(__always)
    public var valueIsNull: Bool { message.valueIsNull }

    /// Record timestamp in milliseconds (create or log-append time), if any.
    @inlinable @inline(__always)
    public var timestampMs: Int64? { message.timestampMs }

    /// Calls `body` for each header (name, value; nil value for a null header).
    @inlinable @inline(__always)
    public func forEachHeader(_ body: (UnsafePointer<CChar>, UnsafeRawBufferPointer?) -> Void) {
        message.forEachHeader(body)
    }

    /// Headers copied out (for dead letters and tests).
    public var headers: [(String, [UInt8]?)] {
        var out: [(String, [UInt8]?)] = []
        forEachHeader { name, value in out.append((String(cString: name), value.map { Array($0) })) }
        return out
    }
}
