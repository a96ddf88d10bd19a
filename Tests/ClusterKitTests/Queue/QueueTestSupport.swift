import ClusterKit
import Synchronization
import Testing

/// Helpers shared by the queue tests.
enum QueueTestSupport {
    /// Polls `condition` (real time) until it holds; records an issue after `timeout`.
    static func waitUntil(_ what: String, timeout: Duration = .seconds(5),
                          sourceLocation: SourceLocation = #_sourceLocation,
                          _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            if ContinuousClock.now >= deadline {
                Issue.record("not true within \(timeout): \(what)", sourceLocation: sourceLocation)
                throw TimedOut()
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    struct TimedOut: Error {}

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Options with no retry delay, so retries are visible without moving the clock.
    static func immediateRetry(maxAttempts: Int = 3, timeout: Duration = .seconds(15)) -> QueuePublishOptions {
        QueuePublishOptions(maxAttempts: maxAttempts, timeout: timeout,
                            backoff: Backoff(initial: .zero, multiplier: 1, maximum: .zero, jitter: 0))
    }

    /// A signal a test opens once; waiting on it ignores task cancellation (to play a
    /// handler that does not cooperate).
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func open() {
            let waiters = state.withLock { state in
                state.open = true
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }

        func wait() async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let isOpen = state.withLock { state in
                    if !state.open { state.waiters.append(continuation) }
                    return state.open
                }
                if isOpen { continuation.resume() }
            }
        }
    }
}
