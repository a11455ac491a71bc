import CreditEngine
import Kafka

/// The consuming loop's side of hold requests made over HTTP (§15): the hold events it applies
/// or dead-letters that a request waits for, answered after each poll's batch once the views
/// of their accounts are published — so that what a request was answered can be read back at
/// once — and the requests of a revoked partition told so. Only events whose `source` is
/// `HoldGateway.source` are looked at; an ordinary record costs the loop one branch
/// (`ApplyResult.hold` is nil) and this class nothing.
final class HoldAnswers {
    private let waiters: HoldWaiters
    private var due: [(st: PartitionState, account: Int, id: String, outcome: HoldWaiters.Outcome)] = []
    private static let source = Array(HoldGateway.source.utf8)

    init(waiters: HoldWaiters) {
        self.waiters = waiters
    }

    var hasDue: Bool { !due.isEmpty }

    /// A hold event was applied (`account` −1: the account has no state).
    func applied(_ e: DecodedEvent, _ report: HoldReport, account: Int, in st: PartitionState) {
        guard let id = waitedFor(e) else { return }
        due.append((st, account, id, .applied(report)))
    }

    /// A hold event was dead-lettered.
    func rejected(_ e: DecodedEvent, _ rejection: Rejection, in st: PartitionState) {
        guard let id = waitedFor(e) else { return }
        due.append((st, -1, id, .rejected(rejection)))
    }

    /// The event's id when a request waits for it.
    private func waitedFor(_ e: DecodedEvent) -> String? {
        guard e.type.isHold, e.source.elementsEqual(Self.source) else { return nil }
        let id = String(decoding: e.id, as: UTF8.self)
        return waiters.isWaiting(id) ? id : nil
    }

    /// Publishes the views of the accounts decided since the last call, then answers their requests.
    func answer(_ cadence: OutputCadence) {
        guard !due.isEmpty else { return }
        var accounts: [ObjectIdentifier: (st: PartitionState, indices: [Int])] = [:]
        for d in due where d.account >= 0 { accounts[ObjectIdentifier(d.st), default: (d.st, [])].indices.append(d.account) }
        for (st, indices) in accounts.values { cadence.publishViews(of: indices, in: st) }
        for d in due { waiters.resolve(d.id, d.outcome) }
        due.removeAll(keepingCapacity: true)
    }

    /// Partitions leaving: what was decided is answered, the rest is told the partition left.
    func revoked(_ tps: [TopicPartition], _ cadence: OutputCadence) {
        answer(cadence)
        waiters.revoked(tps)
    }
}
