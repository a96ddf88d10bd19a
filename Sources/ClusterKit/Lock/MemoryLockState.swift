import Synchronization

/// The lock table of one ``MemoryBackend`` (component `lock`), shared by every
/// ``MemoryLock`` node built from it. All nodes of one backend must use the same clock:
/// expiries are instants of that clock.
final class MemoryLockState<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    static var componentKey: String { "lock" }

    private let table = Mutex(MemoryLockTable<Instant>())

    /// Runs `body` under the table's mutex, then resumes the waiters it woke (outside the
    /// mutex).
    func update<R>(_ body: (inout MemoryLockTable<Instant>, inout MemoryLockTable<Instant>.Wakeups) -> R) -> R {
        let (result, wakeups) = table.withLock { table in
            var wakeups: MemoryLockTable<Instant>.Wakeups = []
            let result = body(&table, &wakeups)
            return (result, wakeups)
        }
        for continuation in wakeups { continuation.resume() }
        return result
    }
}
