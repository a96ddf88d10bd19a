import ClusterKit
import MetricsTestKit
import Synchronization
import Testing

@Suite("Queue metrics")
struct QueueMetricsTests {
    /// Retries come quickly, so the run is short.
    static let fastRetries = Backoff(initial: .milliseconds(5), multiplier: 1, maximum: .milliseconds(5), jitter: 0)

    @Test func aConsumerRunCountsEveryOutcome() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics)
        let queue = "emails"
        // "ok": succeeds; "flaky": fails once, then succeeds; "doomed": fails both of its attempts.
        try await cluster.queue.publish(queue, Array("ok".utf8), options: .init(maxAttempts: 3, backoff: Self.fastRetries))
        try await cluster.queue.publish(queue, Array("flaky".utf8), options: .init(maxAttempts: 3, backoff: Self.fastRetries))
        try await cluster.queue.publish(queue, Array("doomed".utf8), options: .init(maxAttempts: 2, backoff: Self.fastRetries))
        struct Failure: Error {}
        let consumer = try await cluster.queue.consume(queue, options: .init(concurrency: 2)) { message in
            if message.text == "doomed" || (message.text == "flaky" && message.attempt == 1) { throw Failure() }
        }
        let named = dimensions(.queue, name: queue)
        let settled = await eventually {
            total(metrics, ClusterMetricNames.queueProcessed, named) == 2 && total(metrics, ClusterMetricNames.queueFailed, named) == 3
        }
        #expect(settled)
        #expect(try await eventually { try await cluster.queue.counts(queue).dead == 1 })
        await consumer.stop(drainTimeout: .seconds(1))

        #expect(total(metrics, ClusterMetricNames.queuePublished, named) == 3)
        #expect(total(metrics, ClusterMetricNames.queueProcessed, named) == 2)
        #expect(total(metrics, ClusterMetricNames.queueFailed, named) == 3)
        #expect(total(metrics, ClusterMetricNames.queueRetried, named) == 2, "flaky's first attempt and doomed's first")
        #expect(total(metrics, ClusterMetricNames.queueDeadLettered, named) == 1, "doomed's last attempt")
        let durations = try metrics.expectTimer(ClusterMetricNames.queueHandlerDuration, named)
        #expect(durations.values.count == 5, "one duration per handler run")
        #expect(durations.values.allSatisfy { $0 >= 0 })
        await cluster.shutdown()
    }

    @Test func aHandlerThatOverrunsItsTimeoutCountsAsFailed() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics)
        try await cluster.queue.publish("slow", [1], options: .init(maxAttempts: 1, timeout: .milliseconds(30)))
        let consumer = try await cluster.queue.consume("slow") { _ in
            // Ignores cancellation on purpose: it returns after its timeout.
            let end = ContinuousClock.now + .milliseconds(120)
            while ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(10)) }
        }
        let named = dimensions(.queue, name: "slow")
        #expect(await eventually { total(metrics, ClusterMetricNames.queueFailed, named) == 1 })
        await consumer.stop(drainTimeout: .seconds(1))
        #expect(total(metrics, ClusterMetricNames.queueProcessed, named) == 0)
        #expect(total(metrics, ClusterMetricNames.queueDeadLettered, named) == 1)
        await cluster.shutdown()
    }

    @Test func pulledMessagesCountWhenSettled() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics)
        try await cluster.queue.publish("pull", [1], options: .init(maxAttempts: 2))
        try await cluster.queue.publish("pull", [2], options: .init(maxAttempts: 1))
        let first = try #require(try await cluster.queue.receive("pull"))
        try await cluster.queue.acknowledge(first)
        let second = try #require(try await cluster.queue.receive("pull"))
        try await cluster.queue.reject(second, reason: "no")
        let named = dimensions(.queue, name: "pull")
        #expect(total(metrics, ClusterMetricNames.queueProcessed, named) == 1)
        #expect(total(metrics, ClusterMetricNames.queueFailed, named) == 1)
        #expect(total(metrics, ClusterMetricNames.queueDeadLettered, named) == 1)
        // Rejecting twice fails: an error of the operation, not a failed attempt.
        await #expect(throws: QueueError.self) { try await cluster.queue.reject(second, reason: "twice") }
        #expect(total(metrics, ClusterMetricNames.queueFailed, named) == 1)
        #expect(total(metrics, ClusterMetricNames.queueErrors, named + [("operation", "reject")]) == 1)
        await cluster.shutdown()
    }
}
