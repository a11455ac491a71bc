import Synchronization

/// A stop request, set by signal handling (or whoever owns a worker thread) and read by that
/// thread between its polls.
package final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    package init() {}
    package func request() { flag.store(true, ordering: .relaxed) }
    package var isRequested: Bool { flag.load(ordering: .relaxed) }
}
