/// Which partition a keyed record goes to, exactly as Java's default partitioner and
/// librdkafka's `murmur2_random` (the partitioner every producer in this project uses) choose
/// it: `(murmur2(key) & 0x7fffffff) % partitionCount`. Records are keyed by account, so this
/// is also where an account lives. Pure: no Foundation, no I/O.
public enum KeyPartitioner {
    /// Kafka's `Utils.murmur2` (seed 0x9747b28c), as a signed 32-bit value like Java's.
    public static func murmur2<Bytes: Sequence<UInt8>>(_ key: Bytes) -> Int32 {
        let data = Array(key)
        let m: UInt32 = 0x5bd1_e995
        let length = data.count
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let whole = length & ~3
        var i = 0
        while i < whole {
            var k = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            k &*= m
            k ^= k >> 24
            k &*= m
            h &*= m
            h ^= k
            i += 4
        }
        let rest = length & 3
        if rest == 3 { h ^= UInt32(data[whole + 2]) << 16 }
        if rest >= 2 { h ^= UInt32(data[whole + 1]) << 8 }
        if rest >= 1 {
            h ^= UInt32(data[whole])
            h &*= m
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition of `key` among `partitionCount` (> 0) partitions.
    public static func partition<Bytes: Sequence<UInt8>>(_ key: Bytes, count partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0, "a topic has at least one partition")
        return (murmur2(key) & 0x7fff_ffff) % partitionCount
    }

    /// The partition of an account (records are keyed by the account id's UTF-8 bytes).
    public static func partition(account: String, count partitionCount: Int32) -> Int32 {
        partition(account.utf8, count: partitionCount)
    }
}
