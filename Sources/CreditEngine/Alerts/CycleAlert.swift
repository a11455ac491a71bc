/// One alert fired in the current cycle, for the account document's `alerts`.
public struct CycleAlert: Sendable, Equatable {
    /// Kept per cycle, newest; older ones drop out of the document (the alerts topic has them all).
    public static let capacity = 50
    public var time: Int64
    /// The `n` of its id.
    public var sequence: Int64
    /// `threshold_percent`.
    public var threshold: Int32
    /// Member budget alerts: the member's index in the partition's member table, else −1.
    public var member: Int32 = -1
    public var kind: AlertState.Kind

    public init(time: Int64, kind: AlertState.Kind, threshold: Int32, sequence: Int64, member: Int32 = -1) {
        self.time = time
        self.sequence = sequence
        self.threshold = threshold
        self.member = member
        self.kind = kind
    }
}
