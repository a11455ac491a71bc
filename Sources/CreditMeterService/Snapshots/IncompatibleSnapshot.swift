import CreditEngine

/// A snapshot this build or this configuration cannot use (`SnapshotError.incompatible`: a
/// newer format, a rate-card version, plan or pack the configuration no longer has). The
/// service refuses to start rather than fall back to older state or start without it
/// (contract §14); the error is one line naming the snapshot and the reason.
public struct IncompatibleSnapshot: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file, or the state topic's checkpoint, that was refused.
    public let source: String
    public let reason: String

    public var description: String { "cannot restore \(source): \(reason)" }
}

extension SnapshotError {
    /// The decision of contract §14, by the error's case: a damaged snapshot's reason is
    /// returned (the caller logs it with `source` and uses older state); an incompatible
    /// snapshot stops the restore.
    func damageReason(of source: String) throws(IncompatibleSnapshot) -> String {
        switch self {
        case .damaged(let reason): return reason
        case .incompatible(let reason): throw IncompatibleSnapshot(source: source, reason: reason)
        }
    }
}
