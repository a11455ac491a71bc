package import CreditEngine
package import Kafka

/// The one path a record takes: decode (structured or binary mode) → ledger. The caller
/// sends what comes out to the outputs; everything that is bad input — a decode failure
/// (`.deadLetter`) or a ledger rejection (`.rejected`, with the event) alike — goes to the
/// dead-letter topic with `deadLetterReason`. Used by the service
/// and by replay, so both treat every record the same way; the ledger counts every outcome
/// (decode failures included), and those counts are the only ones the service reports.
package final class RecordPipeline {
    package enum Outcome {
        /// The ledger applied the event (`result` has the charge and the alerts to publish).
        case applied(DecodedEvent, ApplyResult)
        /// Seen within the dedupe window: nothing changed.
        case duplicate(DecodedEvent)
        /// Bad input that could not be decoded: to the dead-letter topic with this reason,
        /// nothing else changes.
        case deadLetter(reason: String)
        /// Bad input the ledger refused: to the dead-letter topic with the rejection's
        /// description, nothing else changes.
        case rejected(DecodedEvent, Rejection)

        /// The dead-letter reason of bad input; nil for an applied or duplicate record.
        package var deadLetterReason: String? {
            switch self {
            case .deadLetter(let reason): return reason
            case .rejected(_, let rejection): return rejection.description
            case .applied, .duplicate: return nil
            }
        }
    }

    private let decoder = EventDecoder()

    package init() {}

    /// Decodes `m` in whichever CloudEvents mode it is in. The event points into `m`.
    @inline(__always)
    package func decode(_ m: KafkaMessage) throws(DecodeFailure) -> DecodedEvent {
        if let attributes = BinaryModeAttributes.fromHeaders(m.forEachHeader) {
            return try decoder.decode(m.value, binary: attributes)
        }
        return try decoder.decode(m.value)
    }

    /// Applies an already decoded event of `m` to `ledger`.
    @inline(__always)
    package func apply(_ event: DecodedEvent, of m: KafkaMessage, to ledger: PartitionLedger) -> Outcome {
        let result = ledger.apply(event, key: m.key, recordTime: m.timestampMs.map { $0 * 1_000_000 })
        switch result.outcome {
        case .applied: return .applied(event, result)
        case .duplicate: return .duplicate(event)
        case .rejected(let rejection): return .rejected(event, rejection)
        }
    }

    /// Decode → ledger for one record.
    @inline(__always)
    package func process(_ m: KafkaMessage, into ledger: PartitionLedger) -> Outcome {
        if let key = m.key { ledger.prefetch(key: key) }
        let event: DecodedEvent
        do throws(DecodeFailure) {
            event = try decode(m)
        } catch {
            ledger.countDecodeFailure()
            return .deadLetter(reason: error.description)
        }
        return apply(event, of: m, to: ledger)
    }
}
