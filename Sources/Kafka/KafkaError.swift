import Crdkafka

/// A librdkafka error, with librdkafka's own text. Every failing call becomes one of these;
/// nothing in this module ends the process.
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `rd_kafka_resp_err_t` code (negative: client-side, positive: broker).
    public var code: Int32
    public var message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    init(_ err: rd_kafka_resp_err_t, context: String? = nil) {
        let text = String(cString: rd_kafka_err2str(err))
        self.code = err.rawValue
        self.message = context.map { "\($0): \(text)" } ?? text
    }

    init(error: OpaquePointer, context: String? = nil) {
        let text = String(cString: rd_kafka_error_string(error))
        self.code = rd_kafka_error_code(error).rawValue
        self.message = context.map { "\($0): \(text)" } ?? text
        rd_kafka_error_destroy(error)
    }

    public var description: String { message }

    /// librdkafka's name for the code (e.g. `_TIMED_OUT`).
    public var name: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(code))) }

    public var isTimeout: Bool { code == RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue }
    public var isQueueFull: Bool { code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue }
}

/// librdkafka's version, e.g. "2.0.2".
public var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }
