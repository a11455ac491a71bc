import Foundation

/// Nanoseconds since 1970, UTC.
public typealias WallClock = @Sendable () -> Int64

/// The system's real-time clock (`CLOCK_REALTIME`): the one wall clock of the service — snapshot
/// stamps and age, ownership announcements, `/check`'s default time, when holds are due to
/// expire (§15; the expiry's event time is the hold's `expires_at`). The ledger never reads it
/// (it runs on event time); tests pass a clock they can move instead.
public let systemWallClock: WallClock = {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
