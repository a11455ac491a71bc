/// A group rebalance, delivered on the polling thread *before* librdkafka applies it, so the
/// caller can act (snapshot what it is losing, restore what it gains) while it still can.
public enum RebalanceEvent: Sendable {
    case assigned([TopicPartition])
    case revoked([TopicPartition], lost: Bool)
}
