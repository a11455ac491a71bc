import Synchronization

/// The service's counts behind a lock: written by the consuming thread (record counts) and the
/// snapshot writer (snapshot figures), read from anywhere.
package final class StatusBoard: Sendable {
    private let state = Mutex(ServiceStatus())
    package init() {}
    package func update(_ body: (inout ServiceStatus) -> Void) { state.withLock { body(&$0) } }
    package var current: ServiceStatus { state.withLock { $0 } }
}
