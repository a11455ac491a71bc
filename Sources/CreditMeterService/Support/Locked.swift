import Synchronization

/// A value behind a lock, shareable across threads.
package final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    package init(_ value: Value) { mutex = Mutex(value) }
    package func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    package var value: Value { mutex.withLock { $0 } }
}
