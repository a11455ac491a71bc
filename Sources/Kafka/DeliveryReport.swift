/// The outcome of one produced record, reported on the thread that calls `poll`/`flush`.
public struct DeliveryReport: Sendable {
    /// The caller's tag given to `produce`.
    public var tag: UInt64
    public var error: KafkaError?
    public var partition: Int32
    /// Where the broker wrote the record, from the answer to the request that carried it.
    /// Nil with an error, and for a record counted delivered without such an answer.
    public var offset: Int64?
    /// Set, with no error and no offset, when librdkafka counted the record delivered although
    /// no answer placed it: its idempotent producer acknowledges the records of a failed request
    /// of a partition implicitly once a later request of that partition succeeds, inferring from
    /// the producer sequence numbers a broker checks that the earlier ones were written first.
    /// A broker that does not check them (librdkafka's mock cluster) may never have written
    /// them. This copy produces the record again (`KafkaProducer.produce(_:)`).
    public var unconfirmed: ProducedRecord?
}
