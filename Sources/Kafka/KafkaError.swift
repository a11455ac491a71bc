/// A librdkafka error, with librdkafka's own text. Every failing call becomes one of these;
/// nothing in this module ends the process.
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// librdkafka's error code (negative: raised by the client, positive: by a broker).
    public var code: Int32
    public var message: String

    package init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
