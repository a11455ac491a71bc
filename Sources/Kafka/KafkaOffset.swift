/// Logical offsets, for `KafkaConsumer.assign` and for reading ListOffsets answers.
public enum KafkaOffset {
    /// The partition's first record still kept.
    public static let beginning: Int64 = RDKafkaOffset.beginning
    /// The partition's end: the next record produced.
    public static let end: Int64 = RDKafkaOffset.end
}
