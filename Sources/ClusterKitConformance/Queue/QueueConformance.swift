import ClusterKit
import Synchronization

/// The conformance suite every ``MessageQueue`` adapter must pass (memory, Redis, RabbitMQ,
/// third-party).
///
/// Cases use only the protocol, real time with small durations (a 300 ms visibility
/// timeout where a claim is meant to lapse, 1 s where a consumer must keep it, 30–150 ms
/// backoffs, 200 ms handler timeouts) and tolerant assertions, so that they hold on
/// networked backends and on a loaded machine too. Nodes are adapter instances on one shared backend,
/// each case in its own app namespace.
///
/// The `durable` capability (messages whose publish returned survive a backend restart) has
/// no case here: restarting the backend cannot be expressed through the protocol. Adapters
/// that declare it prove it with their own restart test (Redis, RabbitMQ).
public enum QueueConformance {
    /// Optional capabilities of queue adapters and what each means.
    public static let capabilities: [String: String] = [
        "durable": "Messages whose publish returned survive a backend restart and are processed at least once; duplicates only with attempt > 1. Needs a backend restart hook, so it is checked by each durable adapter's own tests, not by a case of this suite.",
    ]

    /// Every case, grouped by theme.
    public static let suite = ConformanceSuite<any MessageQueue>(
        primitive: .queue,
        capabilities: capabilities,
        cases: roundTripCases + acknowledgementCases + retryCases + visibilityCases + delayCases + consumerCases
            + shutdownCases + countCases
    )
}

// MARK: Shared fixtures

extension QueueConformance {
    typealias Case = ConformanceCase<any MessageQueue>

    /// Each case has its own app namespace, so one queue name serves every case.
    static let queueName = "jobs"
    /// For claims a case wants to lapse: short enough to keep cases fast, long enough for a
    /// networked round trip.
    static let visibility: Duration = .milliseconds(300)
    /// For claims a consumer must keep (the default of ``consumerOptions``): renewed every
    /// third, so only a stall of over ~650 ms between renewals (a loaded CI machine, a slow
    /// backend) could let one lapse and turn a legitimate at-least-once redelivery into a
    /// false failure of an exactly-once or timing check. With 300 ms, a 200 ms stall did.
    static let claimVisibility: Duration = .seconds(1)
    /// A fixed 30 ms retry delay.
    static let fastBackoff = Backoff(initial: .milliseconds(30), multiplier: 1, maximum: .milliseconds(30), jitter: 0)

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func consumerOptions(concurrency: Int = 1, gate: (@Sendable () -> Bool)? = nil,
                                visibilityTimeout: Duration = claimVisibility) -> QueueConsumerOptions {
        QueueConsumerOptions(concurrency: concurrency, gate: gate, visibilityTimeout: visibilityTimeout, gateInterval: .milliseconds(50))
    }

    static func publishOptions(maxAttempts: Int = 3, timeout: Duration = .seconds(5), delay: Duration? = nil,
                               backoff: Backoff = fastBackoff, headers: [String: String] = [:]) -> QueuePublishOptions {
        QueuePublishOptions(delay: delay, maxAttempts: maxAttempts, timeout: timeout, backoff: backoff, headers: headers)
    }

    /// Receives a message or fails the case saying `what` was expected.
    static func receiveOrFail(_ node: any MessageQueue, wait: Duration = .seconds(3), visibilityTimeout: Duration = visibility,
                              _ what: String) async throws -> QueueDelivery {
        guard let delivery = try await node.receive(queueName, wait: wait, visibilityTimeout: visibilityTimeout) else {
            throw ConformanceFailure("\(what): receive(wait: \(wait)) returned nothing")
        }
        return delivery
    }

    /// Fails unless `counts` of the queue equal `expected`, eventually (networked adapters may
    /// settle asynchronously).
    static func expectCounts(_ node: any MessageQueue, _ expected: QueueCounts, _ what: String,
                             timeout: Duration = .seconds(3)) async throws {
        var last = QueueCounts()
        do {
            try await eventually(what, timeout: timeout) {
                last = try await node.counts(queueName)
                return last == expected
            }
        } catch is ConformanceFailure {
            throw ConformanceFailure("\(what): expected counts \(expected), got \(last)")
        }
    }

    static func elapsed(since start: ContinuousClock.Instant) -> Duration { ContinuousClock.now - start }

    /// A boolean shared with handlers and gates.
    final class Flag: Sendable {
        private let value = Mutex(false)
        init(_ initial: Bool = false) { value.withLock { $0 = initial } }
        var isSet: Bool { value.withLock { $0 } }
        func set(_ newValue: Bool = true) { value.withLock { $0 = newValue } }
    }

    /// Counts handlers running at once and remembers the most seen.
    final class ConcurrencyProbe: Sendable {
        private let state = Mutex((current: 0, maximum: 0))
        func enter() {
            state.withLock {
                $0.current += 1
                $0.maximum = max($0.maximum, $0.current)
            }
        }
        func leave() { state.withLock { $0.current -= 1 } }
        var maximum: Int { state.withLock { $0.maximum } }
    }

    /// What a handler saw of one delivery.
    struct Seen: Sendable, Hashable {
        let id: QueueMessageID
        let text: String
        let attempt: Int
        let node: String

        init(_ message: QueueMessage, node: String = "") {
            id = message.id
            text = message.text
            attempt = message.attempt
            self.node = node
        }
    }
}
