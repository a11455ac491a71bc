import CreditEngine
import Kafka
import Logging

/// Holds expire without other traffic (contract §15): once a second (the loop's balances tick)
/// every partition held here and not replaying is asked which active holds the wall clock has
/// passed (`PartitionLedger.dueHolds`, one comparison while none has), and each gets a
/// `credit.hold.expired` (`HoldExpiry`) produced into the hold's own input partition — the
/// first input topic's, where §15 puts hold events, keyed by the account. The ledger applies it
/// in the account's order like any event; the record a release or an extension put before it
/// wins, and it changes nothing then.
///
/// A produced expiry is remembered until the ledger no longer has the hold due (the expiry, or
/// an earlier release or extension, was applied), so it is produced once, not every second.
/// It counts as produced (`ServiceStatus.holdExpiriesProduced`) only once the broker
/// acknowledged it with its offset (§14); one that failed, or was reported delivered without an
/// offset (see `OutputPublisher`), is forgotten, and the next pass produces it again. A new
/// owner — after a restart or a move — remembers nothing and produces again: every copy has the
/// same id, and the ledger applies it once.
final class HoldExpiryPass {
    private let output: OutputPublisher
    private let wallClock: WallClock
    private let counts: RecordCounts
    private let logger: Logger
    /// Produced and not yet applied, per partition: expiry id → the tag of its produce.
    private var produced: [TopicPartition: [String: UInt64]] = [:]
    /// Tags whose delivery report has not been read yet → the partition and expiry id.
    private var awaiting: [UInt64: (tp: TopicPartition, id: String)] = [:]
    /// The last produce failed: further failures are logged at debug until one succeeds.
    private var failing = false

    init(output: OutputPublisher, wallClock: @escaping WallClock, counts: RecordCounts, logger: Logger) {
        self.output = output
        self.wallClock = wallClock
        self.counts = counts
        self.logger = logger
    }

    /// One pass over the partitions held now: what was produced for a partition no longer held,
    /// or for a hold no longer due, is forgotten.
    func run<Parts: Sequence<PartitionState>>(_ parts: Parts) {
        readReports()
        let now = wallClock()
        var kept: [TopicPartition: [String: UInt64]] = [:]
        for st in parts where !st.isReplaying {
            let due = st.ledger.dueHolds(at: now)
            guard !due.isEmpty else { continue }
            let before = produced[st.tp] ?? [:]
            var still: [String: UInt64] = [:]
            for expiry in due {
                let id = expiry.id
                if let tag = before[id] ?? produce(expiry, id: id, to: st.tp, now: now) { still[id] = tag }
            }
            if !still.isEmpty { kept[st.tp] = still }
        }
        produced = kept
    }

    /// Produces one expiry; returns its tag, nil when the produce failed (the next pass tries again).
    private func produce(_ expiry: HoldExpiry, id: String, to tp: TopicPartition, now: Int64) -> UInt64? {
        let tag: UInt64
        do {
            tag = try output.publish(expiry, to: tp, timestampMs: now / 1_000_000)
        } catch {
            failed(id, tp, "\(error)")
            return nil
        }
        awaiting[tag] = (tp, id)
        logger.debug("hold expiry produced", metadata: ["partition": "\(tp)", "id": "\(id)"])
        return tag
    }

    /// The delivery reports of expiries that arrived since the last pass: an offset counts it;
    /// anything else forgets it, so the next pass produces it again if the hold is still due.
    private func readReports() {
        guard !output.deliveries.tagged.isEmpty else { return }
        let reports = output.deliveries.tagged
        output.deliveries.tagged.removeAll()
        for r in reports {
            guard let (tp, id) = awaiting.removeValue(forKey: r.tag) else { continue }
            if r.offset != nil {
                counts.holdExpiryProduced()
                if failing {
                    failing = false
                    logger.info("hold expiries are produced again", metadata: ["partition": "\(tp)"])
                }
                continue
            }
            if produced[tp]?[id] == r.tag { produced[tp]?[id] = nil }
            failed(id, tp, r.error.map { "\($0)" } ?? "reported delivered without an offset")
        }
    }

    private func failed(_ id: String, _ tp: TopicPartition, _ reason: String) {
        let metadata: Logger.Metadata = ["partition": "\(tp)", "id": "\(id)", "error": "\(reason)"]
        if failing {
            logger.debug("hold expiry not produced; the next pass tries again", metadata: metadata)
        } else {
            failing = true
            logger.warning("hold expiry not produced; the next pass tries again", metadata: metadata)
        }
    }
}
