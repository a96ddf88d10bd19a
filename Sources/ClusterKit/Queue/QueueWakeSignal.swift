import Synchronization

/// Wakes tasks waiting for "something changed" without lost wake-ups.
///
/// A waiter reads ``generation`` before it looks at the state it cares about, then calls
/// ``wait(after:)`` with that value: if anything notified in between, the wait returns at
/// once. Every wait also ends when its task is cancelled, and leaves no waiter behind.
/// Public so that adapters with a native consumer (Redis) can share it.
public final class QueueWakeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        /// Each continuation is resumed exactly once, by whoever removes it from here under
        /// the lock (``notifyAll()`` or the waiter's cancellation handler), so the unchecked
        /// kind is safe; it saves the checked kind's allocation per wait.
        var waiters: [UInt64: UnsafeContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Changes with every ``notifyAll()``.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes every current waiter and makes waits on older generations return at once.
    public func notifyAll() {
        let waiters = state.withLock { state -> [UnsafeContinuation<Void, Never>] in
            state.generation &+= 1
            if state.waiters.isEmpty { return [] }
            // Keeping the capacity spares the next wait a new dictionary.
            defer { state.waiters.removeAll(keepingCapacity: true) }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns after a notification later than `observed`, or when the task is cancelled.
    public func wait(after observed: UInt64) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.generation != observed || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Returns after a notification later than `observed`, when `sleep` returns (a timer), or
    /// when the task is cancelled, whichever comes first.
    public func wait(after observed: UInt64, orUntil sleep: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(after: observed) }
            group.addTask { await sleep() }
            await group.next()
            group.cancelAll()
        }
    }
}
