/// The outcome of one produced record, reported on the thread that calls `poll`/`flush`.
public struct DeliveryReport: Sendable {
    /// The caller's tag given to `produce`.
    public var tag: UInt64
    public var error: KafkaError?
    public var partition: Int32
}
