import Crdkafka
import Synchronization

/// librdkafka's statistics (`statistics.interval.ms` > 0): every interval librdkafka's main
/// thread writes one JSON document of the client's state and hands it to the stats callback,
/// which runs wherever the client's reply queue is served — for the service's consumer and
/// producer, inside their polls on the consuming thread. So the callback only keeps a copy of
/// the latest document (one copy per interval, never per record); it is parsed when someone
/// asks (`KafkaStatistics.ofThisProcess()`: a `/metrics` scrape), on the asker's thread.
final class RDKafkaStatistics: Sendable {
    /// The latest document, as librdkafka wrote it.
    private let latest = Mutex<[UInt8]?>(nil)

    /// The clients of this process that emit statistics, by slot.
    private static let clients = Mutex<[ObjectIdentifier: RDKafkaStatistics]>([:])

    /// A slot when the properties turn statistics on (the last `statistics.interval.ms` wins,
    /// as in librdkafka), else nil.
    static func slot(for properties: [(String, String)]) -> RDKafkaStatistics? {
        guard let value = properties.last(where: { $0.0 == "statistics.interval.ms" })?.1,
              let ms = Int(value), ms > 0 else { return nil }
        return RDKafkaStatistics()
    }

    /// Registers the stats callback on `conf` (the client's context, reached through the
    /// opaque pointer, holds the slot).
    static func installCallback(_ conf: OpaquePointer) {
        rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
            guard let json, length > 0, let slot = RDKafkaClientContext.from(opaque)?.statistics else { return 0 }
            let bytes = [UInt8](UnsafeRawBufferPointer(start: json, count: length))
            slot.latest.withLock { $0 = bytes }
            return 0  // librdkafka frees its buffer
        }
    }

    /// Listed in `all()` from now on.
    func register() { Self.clients.withLock { $0[ObjectIdentifier(self)] = self } }

    /// No longer listed (the client is destroyed).
    func unregister() { _ = Self.clients.withLock { $0.removeValue(forKey: ObjectIdentifier(self)) } }

    /// The latest document of every registered client that has emitted one.
    static func all() -> [[UInt8]] {
        let slots = clients.withLock { Array($0.values) }
        return slots.compactMap { slot in slot.latest.withLock { $0 } }
    }
}
