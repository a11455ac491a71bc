import Foundation
import Synchronization

/// Runs blocking work (sockets, `Process` pipes, thread joins) on a thread of its own and
/// awaits its result, so that Swift's cooperative pool — two threads on a two-core machine —
/// stays free for the servers and services running in the same process.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

/// Runs `body(0)` … `body(count - 1)` at once, each on a thread of its own named `name-i`, and
/// waits for all of them; the first error thrown is rethrown once every thread has ended.
func onThreads(_ count: Int, name: String, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let failure = Mutex<(any Error)?>(nil)
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let thread = Thread {
            defer { group.leave() }
            do { try body(i) } catch { failure.withLock { if $0 == nil { $0 = error } } }
        }
        thread.name = "\(name)-\(i)"
        thread.start()
    }
    group.wait()
    if let error = failure.withLock({ $0 }) { throw error }
}

/// A thread started at once running `body`; `join()` waits until `body` has returned.
final class JoinableThread: Sendable {
    private let done = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Void) {
        let done = done
        Thread { body(); done.signal() }.start()
    }

    func join() { done.wait() }
}
