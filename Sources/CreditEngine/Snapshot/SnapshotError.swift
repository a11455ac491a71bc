/// Why a snapshot cannot be restored, typed by what a restore does about it (contract §14).
/// Each case carries the human-readable reason (logs and operators read it); the decision
/// is made on the case, never on the text.
public enum SnapshotError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are bad: a checksum that does not hold, a truncated file, a structure that
    /// cannot be read, or content no ledger could have produced (every refusal of restore
    /// validation). An older snapshot may still be good: fall back to it.
    case damaged(String)
    /// The bytes are sound, but this build or this configuration cannot take them: a format
    /// version newer than this build reads, a rate-card version the state refers to that is
    /// no longer configured or whose content changed, a plan or auto top-up pack the price
    /// book no longer has. Starting without the state would lose it: refuse to start.
    case incompatible(String)

    /// The reason, as logs and error lines show it.
    public var message: String {
        switch self {
        case .damaged(let reason), .incompatible(let reason): reason
        }
    }

    public var description: String { message }

    public var isDamaged: Bool {
        if case .damaged = self { return true }
        return false
    }
}
