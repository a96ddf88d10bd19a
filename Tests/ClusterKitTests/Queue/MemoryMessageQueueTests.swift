import ClusterKit
import Logging
import Testing

/// Memory-specific behaviour, timed with a ManualClock.
@Suite("MemoryMessageQueue")
struct MemoryMessageQueueTests {
    typealias Support = QueueTestSupport
    let backend = MemoryBackend()
    let clock = ManualClock()

    func node(_ name: String = "n1", configuration: MemoryMessageQueue<ManualClock>.Configuration = .init()) -> MemoryMessageQueue<ManualClock> {
        MemoryMessageQueue(backend: backend, appName: "app", nodeID: NodeID(name), configuration: configuration, clock: clock)
    }

    @Test func delayedMessagesBecomeVisibleWhenDueInDueOrder() async throws {
        let queue = node()
        try await queue.publish("jobs", Support.bytes("late"), options: .init(delay: .seconds(20)))
        try await queue.publish("jobs", Support.bytes("early"), options: .init(delay: .seconds(10)))
        try await queue.publish("jobs", Support.bytes("tie"), options: .init(delay: .seconds(10)))
        #expect(try await queue.receive("jobs") == nil)
        #expect(try await queue.counts("jobs") == QueueCounts(delayed: 3))
        clock.advance(by: .seconds(9))
        #expect(try await queue.receive("jobs") == nil)
        clock.advance(by: .seconds(11))
        var order: [String] = []
        while let delivery = try await queue.receive("jobs") { order.append(delivery.message.text) }
        #expect(order == ["early", "tie", "late"])
    }

    @Test func expiredClaimGoesToAnotherNodeAndTheStaleDeliveryIsRefused() async throws {
        let (a, b) = (node("a"), node("b"))
        try await a.publish("jobs", Support.bytes("x"))
        let stale = try #require(try await a.receive("jobs", wait: .zero, visibilityTimeout: .seconds(5)))
        #expect(try await b.receive("jobs") == nil)
        clock.advance(by: .seconds(4))
        #expect(try await a.extendVisibility(stale, by: .seconds(5)))  // now held until t = 9 s
        clock.advance(by: .seconds(4))
        #expect(try await b.receive("jobs") == nil, "extended claim must hold until t = 9 s")
        clock.advance(by: .seconds(1))
        let current = try #require(try await b.receive("jobs"))
        #expect(current.message.id == stale.message.id)
        #expect(current.message.attempt == 2)

        let ackError = await #expect(throws: QueueError.self) { try await a.acknowledge(stale) }
        #expect(ackError?.code == .unknownDelivery)
        let rejectError = await #expect(throws: QueueError.self) { try await a.reject(stale, reason: "late") }
        #expect(rejectError?.code == .unknownDelivery)
        #expect(try await a.extendVisibility(stale, by: .seconds(5)) == false)
        #expect(try await b.counts("jobs") == QueueCounts(inFlight: 1))
        try await b.acknowledge(current)
        #expect(try await b.counts("jobs") == QueueCounts())
    }

    @Test func lateAcknowledgementCountsWhileNobodyTookTheMessageAgain() async throws {
        let queue = node()
        try await queue.publish("jobs", Support.bytes("x"))
        let delivery = try #require(try await queue.receive("jobs", wait: .zero, visibilityTimeout: .seconds(5)))
        clock.advance(by: .seconds(6))
        #expect(try await queue.counts("jobs") == QueueCounts(waiting: 1))
        try await queue.acknowledge(delivery)
        #expect(try await queue.counts("jobs") == QueueCounts())
    }

    @Test func expiryAfterTheLastAttemptDeadLetters() async throws {
        let queue = node()
        let id = try await queue.publish("jobs", Support.bytes("x"), options: .init(maxAttempts: 2))
        _ = try #require(try await queue.receive("jobs", wait: .zero, visibilityTimeout: .seconds(1)))
        clock.advance(by: .seconds(1))
        let second = try #require(try await queue.receive("jobs", wait: .zero, visibilityTimeout: .seconds(1)))
        #expect(second.message.attempt == 2)
        clock.advance(by: .seconds(1))
        #expect(try await queue.counts("jobs") == QueueCounts(dead: 1))
        let dead = try await queue.deadLetters("jobs")
        #expect(dead.map(\.message.id) == [id])
        #expect(dead.first?.message.attempt == 2)
        #expect(dead.first?.lastError.contains("visibility timeout") == true)
    }

    @Test func rejectWaitsForTheBackoffOnTheClock() async throws {
        let queue = node()
        let backoff = Backoff(initial: .seconds(10), multiplier: 2, maximum: .seconds(60), jitter: 0)
        try await queue.publish("jobs", Support.bytes("x"), options: .init(maxAttempts: 3, backoff: backoff))
        let first = try #require(try await queue.receive("jobs"))
        try await queue.reject(first, reason: "no")
        #expect(try await queue.counts("jobs") == QueueCounts(delayed: 1))
        clock.advance(by: .seconds(9))
        #expect(try await queue.receive("jobs") == nil)
        clock.advance(by: .seconds(1))
        let second = try #require(try await queue.receive("jobs"))
        #expect(second.message.attempt == 2)
        try await queue.reject(second, reason: "no")
        clock.advance(by: .seconds(19))  // the second retry waits 20 s
        #expect(try await queue.receive("jobs") == nil)
        clock.advance(by: .seconds(1))
        #expect(try await queue.receive("jobs")?.message.attempt == 3)
    }

    @Test func blockingReceiveReturnsNothingWhenItsWaitEnds() async throws {
        let queue = node()
        let waiting = Task { try await queue.receive("jobs", wait: .seconds(10), visibilityTimeout: .seconds(30)) }
        try await Support.waitUntil("the receive to sleep on the clock") { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(9))
        try await Support.waitUntil("the receive to sleep again") { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(1))
        #expect(try await waiting.value == nil)
    }

    @Test func blockingReceiveWakesWhenADelayedMessageFallsDue() async throws {
        let queue = node()
        try await queue.publish("jobs", Support.bytes("due"), options: .init(delay: .seconds(5)))
        let waiting = Task { try await queue.receive("jobs", wait: .seconds(60), visibilityTimeout: .seconds(30)) }
        try await Support.waitUntil("the receive to sleep on the clock") { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(5))
        #expect(try await waiting.value?.message.text == "due")
    }

    @Test func cancelledReceiveTakesNothingAndLeavesNoWaiter() async throws {
        let queue = node()
        let waiting = Task { try await queue.receive("jobs", wait: .seconds(60), visibilityTimeout: .seconds(30)) }
        try await Support.waitUntil("the receive to sleep on the clock") { clock.sleeperCount == 1 }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(clock.sleeperCount == 0)
        try await queue.publish("jobs", Support.bytes("x"))
        #expect(try await queue.counts("jobs") == QueueCounts(waiting: 1))
    }

    @Test func bodyOverTheConfiguredLimitIsRefused() async throws {
        let queue = node(configuration: .init(maximumBodySize: 4))
        let error = await #expect(throws: QueueError.self) { try await queue.publish("jobs", [1, 2, 3, 4, 5]) }
        #expect(error?.code == .messageTooLarge)
        try await queue.publish("jobs", [1, 2, 3, 4])
        #expect(try await queue.counts("jobs") == QueueCounts(waiting: 1))
    }

    @Test func closingWithoutDrainLeavesTheRunningMessageInFlightUntilItsVisibilityTimeout() async throws {
        let (crashing, survivor) = (node("crashing"), node("survivor"))
        let gate = Support.Gate()
        let started = Support.Gate()
        _ = try await crashing.consume("jobs", options: .init(visibilityTimeout: .seconds(30))) { _ in
            started.open()
            await gate.wait()  // ignores cancellation
        }
        try await crashing.publish("jobs", Support.bytes("x"))
        await started.wait()
        await crashing.close(drainTimeout: .zero)
        #expect(try await survivor.counts("jobs") == QueueCounts(inFlight: 1))
        #expect(try await survivor.receive("jobs") == nil)
        clock.advance(by: .seconds(30))
        let redelivered = try #require(try await survivor.receive("jobs"))
        #expect(redelivered.message.attempt == 2)
        gate.open()
        try await survivor.acknowledge(redelivered)
        #expect(try await survivor.counts("jobs") == QueueCounts())
    }

    @Test func registryBuildsNodesThatShareQueues() async throws {
        var registry = AdapterRegistry()
        registry.registerMemoryQueue()
        #expect(registry.names(for: .queue) == ["memory"])
        let configuration = try ClusterConfiguration(values: ["APP_NAME": "regapp"])
        func context(_ node: String) -> AdapterContext {
            AdapterContext(primitive: .queue, adapterName: "memory", nodeID: NodeID(node), configuration: configuration,
                           url: nil, memory: backend, logger: Logger(label: "test"))
        }
        let producer = try await registry.makeQueue(context("p"))
        let consumer = try await registry.makeQueue(context("c"))
        #expect(producer.capabilities == [])
        try await producer.publish("jobs", Support.bytes("shared"))
        #expect(try await consumer.receive("jobs")?.message.text == "shared")
        await producer.close()
        await consumer.close()
    }
}
