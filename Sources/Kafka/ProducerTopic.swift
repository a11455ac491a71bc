/// A topic to produce to: librdkafka's topic handle, made once per name by
/// `KafkaProducer.topic(_:)` and destroyed with the producer.
public struct ProducerTopic: @unchecked Sendable {
    let handle: OpaquePointer
    public let name: String
}
