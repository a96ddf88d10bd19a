import ClusterKit
import Synchronization
import Testing

/// Waits (in real time, bounded) until `condition` holds: lets tests wait for tasks to reach
/// a state (queued, sleeping on the manual clock) before advancing the clock.
func waitUntil(_ what: String, timeout: Duration = .seconds(5),
               sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !condition() {
        if clock.now >= deadline {
            Issue.record("not true within \(timeout): \(what)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// Whether a task has finished, for checking that a waiter is still waiting.
final class Flag: Sendable {
    private let value = Mutex(false)
    init() {}
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Several memory lock nodes sharing one backend and one manual clock.
struct ManualLockCluster {
    let backend = MemoryBackend()
    let clock = ManualClock()

    func node(_ appName: String = "app") -> MemoryLock<ManualClock> {
        MemoryLock(backend: backend, appName: appName, clock: clock)
    }
}
