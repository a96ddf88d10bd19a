import ClusterKit
import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import Foundation
import Synchronization
import Testing

/// While the prefetch window is full the consumer's loop waits for its handlers to settle
/// (the broker sends nothing then). When no handler settles, per-message timeouts, pause and
/// stop must still be carried out: the wait is woken by them or ends at its backstop.
@Suite("RabbitMQ push consumer with a full prefetch window", .serialized)
struct RabbitMQFullWindowTests {
    private func node(prefetch: Int) async throws -> RabbitMQMessageQueue {
        let broker = try await RabbitMQBroker.shared()
        var url = try AMQPURL(parsing: broker.url())
        url.prefetch = prefetch
        return try await RabbitMQMessageQueue(settings: RabbitMQConnectionSettings(url: url),
                                              appName: "full-window-\(UInt32.random(in: 0 ... .max))",
                                              nodeID: NodeID("node-\(UInt32.random(in: 0 ... .max))"))
    }

    /// Prefetch 2 (and concurrency 2: the prefetch is never below it), both deliveries held
    /// by handlers that return only once cancelled: their timeouts still fire (the handlers
    /// see the cancellation) and both messages come back as attempt 2.
    @Test(.timeLimit(.minutes(1))) func perMessageTimeoutsFireWhileNoHandlerSettles() async throws {
        let queue = try await node(prefetch: 2)
        let attempts = Mutex<[String: [Int]]>([:])
        let cancelled = Atomic<Int>(0)
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 2)) { message in
            let text = String(decoding: message.body, as: UTF8.self)
            attempts.withLock { $0[text, default: []].append(message.attempt) }
            guard message.attempt == 1 else { return }
            try? await Task.sleep(for: .seconds(60))
            if Task.isCancelled { cancelled.add(1, ordering: .relaxed) }
        }
        let retryAtOnce = Backoff(initial: .milliseconds(10), multiplier: 1, maximum: .milliseconds(10), jitter: 0)
        for text in ["a", "b"] {
            try await queue.publish("jobs", Array(text.utf8), options: .init(timeout: .milliseconds(300), backoff: retryAtOnce))
        }
        #expect(try await waitUntil { attempts.withLock { $0 } == ["a": [1, 2], "b": [1, 2]] },
                "attempts seen: \(attempts.withLock { $0 })")
        #expect(try await waitUntil { cancelled.load(ordering: .relaxed) == 2 }, "timed-out handlers cancelled: \(cancelled.load(ordering: .relaxed))")
        #expect(try await waitUntil { try await queue.counts("jobs") == QueueCounts() })
        await consumer.stop(drainTimeout: .seconds(1))
        await queue.close()
    }

    /// Prefetch 2 (and concurrency 2), both deliveries held by handlers that return only once
    /// cancelled, and long timeouts: pause() returns, and stop() abandons the handlers after
    /// its drain timeout (cancelling them); every message is delivered to the next consumer.
    @Test(.timeLimit(.minutes(1))) func pauseAndStopAreCarriedOutWhileNoHandlerSettles() async throws {
        let queue = try await node(prefetch: 2)
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 2)) { _ in
            started.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(60))
            if Task.isCancelled { cancelled.add(1, ordering: .relaxed) }
        }
        for text in ["a", "b", "c"] {
            try await queue.publish("jobs", Array(text.utf8), options: .init(timeout: .seconds(60)))
        }
        #expect(try await waitUntil { started.load(ordering: .relaxed) == 2 })
        // Both would hang (until the time limit) if the waiting loop missed them.
        await consumer.pause()
        // The third message was never pushed to this consumer: the window stayed full.
        #expect(started.load(ordering: .relaxed) == 2)
        await consumer.stop(drainTimeout: .milliseconds(200))
        #expect(try await waitUntil { cancelled.load(ordering: .relaxed) == 2 }, "abandoned handlers cancelled: \(cancelled.load(ordering: .relaxed))")
        let seen = Mutex<[String]>([])
        let next = try await queue.consume("jobs", options: .init(concurrency: 2)) { message in
            seen.withLock { $0.append(String(decoding: message.body, as: UTF8.self)) }
        }
        #expect(try await waitUntil { seen.withLock { Set($0) } == ["a", "b", "c"] }, "delivered after the stop: \(seen.withLock { $0 })")
        await next.stop(drainTimeout: .seconds(1))
        await queue.close()
    }

    /// Acknowledgements settled behind a delivery still running are held for a later
    /// `basic.ack multiple` and sent one by one when the window fills or the hold limit
    /// passes. Prefetch 4, concurrency 4: one handler runs 600 ms while quick ones settle
    /// behind it, filling and reopening the window many times. Every message is handled once,
    /// as attempt 1 (an acknowledgement sent twice closes the channel: PRECONDITION_FAILED,
    /// and everything held would be redelivered), and nothing is left in flight.
    @Test(.timeLimit(.minutes(1))) func acknowledgementsHeldBehindARunningDeliveryGoOutOnce() async throws {
        let queue = try await node(prefetch: 4)
        let seen = Mutex<[String: [Int]]>([:])
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 4)) { message in
            let text = String(decoding: message.body, as: UTF8.self)
            seen.withLock { $0[text, default: []].append(message.attempt) }
            if text == "slow" { try await Task.sleep(for: .milliseconds(600)) }
        }
        let texts = ["slow"] + (0..<60).map { "quick \($0)" }
        for text in texts { try await queue.publish("jobs", Array(text.utf8)) }
        #expect(try await waitUntil { seen.withLock { $0.count } == texts.count }, "handled: \(seen.withLock { $0.count })")
        let drained = try await waitUntil { try await queue.counts("jobs") == QueueCounts() }
        let left = try await queue.counts("jobs")
        #expect(drained, "left: \(left)")
        try await Task.sleep(for: .milliseconds(200))
        let attempts = seen.withLock { $0 }
        #expect(attempts.count == texts.count && attempts.values.allSatisfy { $0 == [1] },
                "handled more than once: \(attempts.filter { $0.value != [1] })")
        await consumer.stop(drainTimeout: .seconds(1))
        await queue.close()
    }
}
