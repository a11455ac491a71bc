import Foundation

/// Runs blocking work (sockets, `Process` pipes, thread joins) on a thread of its own and
/// awaits its result, so that Swift's cooperative pool — two threads on a two-core machine —
/// stays free for the servers and services running in the same process.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
