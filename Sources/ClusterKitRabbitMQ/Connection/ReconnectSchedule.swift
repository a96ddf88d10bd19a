import ClusterKit

/// When a lost RabbitMQ connection may be replaced: the reconnect bookkeeping of the
/// publisher and the two consuming connections.
///
/// Each failed connect attempt counts and puts the next allowed attempt
/// ``Backoff/reconnect``'s delay for that count from now (50 ms doubling up to 5 s,
/// jittered); a successful one clears the count and the wait. ``lastError`` is the last
/// error seen (a failed attempt, or whatever else the owner records) and outlives a
/// success: it only ever explains a later failure (a timeout, a refused attempt).
struct ReconnectSchedule {
    /// Failed attempts since the last success.
    private(set) var failures = 0
    /// No attempt before this instant; `nil` when one may be made now.
    private(set) var nextAttemptAt: ContinuousClock.Instant?
    /// The last error recorded (see the type's documentation).
    var lastError: RabbitMQError?

    /// Whether a connect attempt may be made now.
    func allowsAttempt(now: ContinuousClock.Instant = .now) -> Bool {
        nextAttemptAt.map { $0 <= now } ?? true
    }

    /// Records a failed attempt: the next one waits for the backoff.
    mutating func failed(_ error: RabbitMQError) {
        failures += 1
        lastError = error
        nextAttemptAt = ContinuousClock.now.advanced(by: Backoff.reconnect.delay(forRetry: failures))
    }

    /// Records a successful attempt; `true` when it ended a run of failures (a reconnect
    /// worth logging).
    mutating func succeeded() -> Bool {
        defer {
            failures = 0
            nextAttemptAt = nil
        }
        return failures > 0
    }

    /// What an operation that needs the connection throws while the backoff holds.
    func waitingError(url: some CustomStringConvertible) -> RabbitMQError {
        lastError ?? RabbitMQError(code: .connectionLost, message: "reconnecting to \(url)")
    }
}
