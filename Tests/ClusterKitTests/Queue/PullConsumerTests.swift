import ClusterKit
import ClusterKitConformance
import Testing

/// The consumer engine's guarantees that conformance cases cannot pin down with real time:
/// timeouts and drains enforced against handlers that ignore cancellation.
@Suite("PullConsumer")
struct PullConsumerTests {
    typealias Support = QueueTestSupport
    let backend = MemoryBackend()
    let clock = ManualClock()

    func node(_ name: String = "n1") -> MemoryMessageQueue<ManualClock> {
        MemoryMessageQueue(backend: backend, appName: "app", nodeID: NodeID(name), clock: clock)
    }

    @Test func timeoutRejectsAtTheDeadlineEvenIfTheHandlerIgnoresCancellation() async throws {
        let queue = node()
        let stuck = Support.Gate()
        let attempts = Collector<Int>()
        let consumer = try await queue.consume("jobs", options: .init(concurrency: 1, visibilityTimeout: .seconds(30))) { message in
            attempts.append(message.attempt)
            if message.attempt == 1 { await stuck.wait() }
        }
        try await queue.publish("jobs", Support.bytes("x"), options: Support.immediateRetry(timeout: .seconds(5)))
        try await Support.waitUntil("the first attempt to start") { attempts.count == 1 }
        // The claim renewer and the handler's timeout timer.
        try await Support.waitUntil("the timeout timer to be set") { clock.sleeperCount == 2 }
        clock.advance(by: .seconds(5))

        // Rejected at the deadline although the handler is still running; retry is visible at once.
        try await Support.waitUntil("the timed-out attempt to be rejected") {
            try await queue.counts("jobs") == QueueCounts(waiting: 1)
        }
        // The runaway handler keeps the only slot: nothing else is taken meanwhile.
        #expect(await consumer.inFlight == 1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(attempts.values == [1])
        #expect(try await queue.counts("jobs") == QueueCounts(waiting: 1))

        // Its late completion acknowledges nothing; the retry runs and is acknowledged.
        stuck.open()
        try await Support.waitUntil("the retry to be acknowledged") {
            try await queue.counts("jobs") == QueueCounts() && attempts.count == 2
        }
        #expect(attempts.values == [1, 2])
        await consumer.stop(drainTimeout: .zero)
    }

    @Test func stopReturnsAtTheDrainDeadlineAndLeavesTheMessageForRedelivery() async throws {
        let queue = node()
        let stuck = Support.Gate()
        let started = Support.Gate()
        let consumer = try await queue.consume("jobs", options: .init(visibilityTimeout: .seconds(30))) { _ in
            started.open()
            await stuck.wait()
        }
        try await queue.publish("jobs", Support.bytes("x"))
        await started.wait()
        try await Support.waitUntil("the renewer and timeout timer to sleep") { clock.sleeperCount == 2 }
        let stopper = Task { await consumer.stop(drainTimeout: .seconds(2)) }
        try await Support.waitUntil("the drain to wait on the clock") { clock.sleeperCount == 2 + 1 }
        clock.advance(by: .seconds(2))
        await stopper.value
        // Neither acknowledged nor rejected: in flight until its visibility timeout.
        #expect(try await queue.counts("jobs") == QueueCounts(inFlight: 1))
        stuck.open()
        try await Support.waitUntil("the abandoned handler to return") { await consumer.inFlight == 0 }
        #expect(try await queue.counts("jobs") == QueueCounts(inFlight: 1), "a late completion must not acknowledge")
        clock.advance(by: .seconds(30))
        #expect(try await queue.receive("jobs")?.message.attempt == 2)
    }

    @Test func pauseCancelsAWaitingPull() async throws {
        let queue = node()
        let seen = Collector<String>()
        let consumer = try await queue.consume("jobs", options: .init()) { seen.append($0.text) }
        // The renewer and the idle pull both sleep on the clock.
        try await Support.waitUntil("the consumer to wait for messages") { clock.sleeperCount == 2 }
        await consumer.pause()
        try await Support.waitUntil("the waiting pull to be cancelled") { clock.sleeperCount == 1 }
        try await queue.publish("jobs", Support.bytes("x"))
        try await Task.sleep(for: .milliseconds(50))
        #expect(seen.count == 0)
        #expect(try await queue.counts("jobs") == QueueCounts(waiting: 1))
        await consumer.resume()
        try await Support.waitUntil("the message after resume") { seen.count == 1 }
        await consumer.stop(drainTimeout: .zero)
    }

    @Test func stopIsIdempotentAndEndsPulling() async throws {
        let queue = node()
        let seen = Collector<String>()
        let consumer = try await queue.consume("jobs", options: .init()) { seen.append($0.text) }
        async let first: Void = consumer.stop(drainTimeout: .seconds(1))
        async let second: Void = consumer.stop(drainTimeout: .seconds(1))
        _ = await (first, second)
        await consumer.stop(drainTimeout: .zero)
        #expect(clock.sleeperCount == 0, "a stopped consumer must leave no timer behind")
        try await queue.publish("jobs", Support.bytes("x"))
        try await Task.sleep(for: .milliseconds(50))
        #expect(seen.count == 0)
    }
}
