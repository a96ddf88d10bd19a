import ClusterKit
import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import Synchronization
import Testing

/// A push consumer whose failed attempt cannot be recorded (the re-publish fails) hands the
/// delivery back to the queue after its backoff instead of holding it until its connection
/// ends.
@Suite("RabbitMQ push consumer: a failure that cannot be recorded", .serialized)
struct RabbitMQUnrecordedFailureTests {
    struct Failed: Error {}

    struct Run: Sendable {
        let text: String
        let attempt: Int
        let at: ContinuousClock.Instant
    }

    /// The dead-letter queue is deleted under a running consumer, so the re-publish that
    /// records the last attempt's failure comes back unroutable. The delivery goes back to
    /// the queue once its backoff (300 ms) is over and is redelivered, as attempt 2, on the
    /// same live connection (left unacknowledged it would wait for the connection to end,
    /// and this test would time out); the deliveries settled behind it are acknowledged
    /// once each, and nothing is left in the queue or in flight.
    @Test(.timeLimit(.minutes(1))) func aDeliveryWhoseFailureCannotBeRecordedIsRedeliveredAfterItsBackoff() async throws {
        let app = "unrecorded-\(UInt32.random(in: 0 ... .max))"
        let queue = try await makeRabbitMQNode(appName: app)
        let broker = try await RabbitMQBroker.shared()
        let runs = Mutex<[Run]>([])
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 2)) { message in
            let text = String(decoding: message.body, as: UTF8.self)
            runs.withLock { $0.append(Run(text: text, attempt: message.attempt, at: .now)) }
            if text == "fails", message.attempt == 1 { throw Failed() }
        }
        // The publisher declares the topology with its first message; then the dead-letter
        // queue goes (the publisher does not declare it again on this connection).
        try await queue.publish("jobs", Array("warm".utf8))
        #expect(try await waitUntil { runs.withLock { $0.count } == 1 })
        try broker.control(["delete_queue", "\(app):queue:jobs:dead"])

        let backoff = Backoff(initial: .milliseconds(300), multiplier: 1, maximum: .milliseconds(300), jitter: 0)
        try await queue.publish("jobs", Array("fails".utf8), options: .init(maxAttempts: 1, backoff: backoff))
        let quick = (0..<20).map { "quick \($0)" }
        for text in quick { try await queue.publish("jobs", Array(text.utf8)) }

        let handled = try await waitUntil(.seconds(15)) { runs.withLock { $0.count } >= 2 + quick.count + 1 }
        let drained = try await waitUntil { try await queue.counts("jobs") == QueueCounts() }
        let left = try await queue.counts("jobs")
        #expect(handled && drained, "runs: \(runs.withLock { $0.map { ($0.text, $0.attempt) } }), left: \(left)")
        // Nothing more may come (a delivery acknowledged twice closes the channel, and
        // everything held would be redelivered as attempt 2).
        try await Task.sleep(for: .milliseconds(300))
        let seen = runs.withLock { $0 }
        let failing = seen.filter { $0.text == "fails" }
        #expect(failing.map(\.attempt) == [1, 2], "\(failing.map(\.attempt))")
        if failing.count == 2 {
            #expect(failing[1].at - failing[0].at >= .milliseconds(300), "redelivered before its backoff: \(failing[1].at - failing[0].at)")
        }
        #expect(seen.filter { $0.text.hasPrefix("quick") }.map(\.attempt) == quick.map { _ in 1 })
        await consumer.stop(drainTimeout: .seconds(1))
        await queue.close()
    }
}
