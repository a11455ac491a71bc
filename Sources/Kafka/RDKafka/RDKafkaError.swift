package import Crdkafka

/// `KafkaError`s from librdkafka's error codes and error objects, and the codes the Swift
/// side asks about.
extension KafkaError {
    /// An error code with librdkafka's text for it, after `context` when given.
    package init(_ err: rd_kafka_resp_err_t, context: String? = nil) {
        let text = String(cString: rd_kafka_err2str(err))
        self.init(code: err.rawValue, message: context.map { "\($0): \(text)" } ?? text)
    }

    /// Takes an `rd_kafka_error_t` (and destroys it).
    init(consuming error: OpaquePointer, context: String? = nil) {
        let text = String(cString: rd_kafka_error_string(error))
        self.init(code: rd_kafka_error_code(error).rawValue, message: context.map { "\($0): \(text)" } ?? text)
        rd_kafka_error_destroy(error)
    }

    /// A bad property or argument, with the text librdkafka wrote into its error buffer.
    init(invalidArgument message: String) {
        self.init(code: RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue, message: message)
    }

    var isQueueFull: Bool { code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue }

    /// The stored position is out of range (retention deleted it, or the topic was recreated).
    var isOffsetOutOfRange: Bool {
        code == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET.rawValue || code == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE.rawValue
    }
}

extension String {
    /// The NUL-terminated text librdkafka wrote into an error buffer.
    init(errorBuffer buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
