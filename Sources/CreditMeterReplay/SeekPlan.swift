import Kafka

/// Where a replay may start reading a partition, decided from the broker's offsets-for-times
/// answer — trusted only after checking the records around it. (The mock cluster answers -1
/// and Tansu 0 whatever the time; Apache Kafka answers correctly.)
public enum SeekPlan: Equatable, Sendable {
    /// Read from this offset (the answer checked out).
    case seek(Int64)
    /// Read the partition from its beginning.
    case scan(reason: String)

    /// - Parameters:
    ///   - answer: the broker's offset for `target` (-1: no record at or after it).
    ///   - low/high: the partition's watermarks.
    ///   - timestampAt: reads the record timestamp (ms) at an offset, nil if unreadable.
    public static func decide(answer: Int64?, targetMs: Int64, low: Int64, high: Int64,
                              timestampAt: (Int64) -> Int64?) -> SeekPlan {
        guard let answer else { return .scan(reason: "offsets-for-times failed") }
        if high <= low { return .seek(low) }  // empty partition
        if answer == -1 || answer == KafkaOffset.end {
            // "Nothing at or after target": true only if the last record is older.
            guard let last = timestampAt(high - 1), last < targetMs else {
                return .scan(reason: "broker answered \"none\" but the last record is not older than the target")
            }
            return .seek(high)
        }
        guard answer >= low, answer <= high else { return .scan(reason: "broker answered \(answer), outside [\(low), \(high)]") }
        if answer < high {
            guard let ts = timestampAt(answer), ts >= targetMs else {
                return .scan(reason: "the record at the broker's offset \(answer) is older than the target")
            }
        }
        if answer > low {
            guard let before = timestampAt(answer - 1), before < targetMs else {
                return .scan(reason: "the record before the broker's offset \(answer) is not older than the target")
            }
        }
        return .seek(answer)
    }
}
