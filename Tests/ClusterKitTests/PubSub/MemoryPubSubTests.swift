@testable import ClusterKit
import ClusterKitConformance
import Logging
import Testing

/// Behaviour specific to the memory adapter: synchronous fan-out, bounded buffers, limits,
/// debounce on an injected clock, close and registration.
@Suite("MemoryPubSub")
struct MemoryPubSubTests {
    let backend = MemoryBackend()
    let clock = ManualClock()

    func node(_ id: String, app: String = "app", configuration: MemoryPubSub<ManualClock>.Configuration = .init()) -> MemoryPubSub<ManualClock> {
        MemoryPubSub(backend: backend, appName: app, nodeID: NodeID(id), configuration: configuration, clock: clock)
    }

    /// Cancels `subscription` and returns what it had buffered (a finished stream still
    /// yields its buffer, so this shows exactly what was delivered before).
    func drain(_ subscription: PubSubSubscription) async -> [String] {
        subscription.cancel()
        var texts: [String] = []
        for await message in subscription { texts.append(message.text) }
        return texts
    }

    @Test func publishHasReachedEverySubscriptionWhenItReturns() async throws {
        let publisher = node("p")
        let other = node("o")
        let own = try await publisher.subscribe("sync")
        let remote = try await other.subscribe("sync")
        try await publisher.publish("sync", "one")
        try await publisher.publish("sync", "two")
        #expect(await drain(own) == ["one", "two"])
        #expect(await drain(remote) == ["one", "two"])
    }

    @Test func slowSubscriberLosesOldestBeyondItsBufferWithoutBlockingThePublisher() async throws {
        let publisher = node("p")
        let slow = try await publisher.subscribe("busy", options: PubSubSubscribeOptions(bufferSize: 3))
        let fast = try await publisher.subscribe("busy")
        for index in 0..<5 { try await publisher.publish("busy", "m\(index)") }
        #expect(slow.droppedCount == 2)
        #expect(fast.droppedCount == 0)
        #expect(await drain(slow) == ["m2", "m3", "m4"])
        #expect(await drain(fast) == ["m0", "m1", "m2", "m3", "m4"])
    }

    @Test func payloadLimitIsEnforced() async throws {
        let publisher = node("p", configuration: .init(maxPayloadSize: 10))
        let subscription = try await publisher.subscribe("limit")
        try await publisher.publish("limit", [UInt8](repeating: 1, count: 10), options: .init())
        let error = await #expect(throws: PubSubError.self) {
            try await publisher.publish("limit", [UInt8](repeating: 1, count: 11), options: .init())
        }
        #expect(error?.code == .payloadTooLarge)
        let delivered = await drainBytes(subscription)
        #expect(delivered.map(\.count) == [10])
    }

    func drainBytes(_ subscription: PubSubSubscription) async -> [[UInt8]] {
        subscription.cancel()
        var payloads: [[UInt8]] = []
        for await message in subscription { payloads.append(message.payload) }
        return payloads
    }

    @Test func debounceRunsOnTheInjectedClock() async throws {
        let publisher = node("p")
        let subscriber = node("s")
        let debounced = try await subscriber.subscribe("refresh", options: PubSubSubscribeOptions(debounce: .seconds(1)))
        for _ in 0..<5 { try await publisher.publish("refresh", "roles") }
        try await eventually("the debounce timer is asleep", timeout: .seconds(2), interval: .milliseconds(1)) { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(1))
        var iterator = debounced.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.text == "roles")
        #expect(first?.publisherID == NodeID("p"))
        #expect(await drain(debounced) == [])
    }

    @Test func closeCancelsSubscriptionsAndPendingDebounces() async throws {
        let publisher = node("p")
        let subscriber = node("s")
        let debounced = try await subscriber.subscribe("refresh", options: PubSubSubscribeOptions(debounce: .seconds(1)))
        let plain = try await subscriber.subscribe("refresh")
        try await publisher.publish("refresh", "roles")
        try await eventually("the debounce timer is asleep", timeout: .seconds(2), interval: .milliseconds(1)) { clock.sleeperCount == 1 }

        await subscriber.close()
        #expect(debounced.isCancelled && plain.isCancelled)
        #expect(subscriber.subscriptionCount == 0)
        try await eventually("the debounce timer was cancelled", timeout: .seconds(2), interval: .milliseconds(1)) { clock.sleeperCount == 0 }
        clock.advance(by: .seconds(5))
        try await publisher.publish("refresh", "after-close")
        #expect(await drain(debounced) == [])
        #expect(await drain(plain) == ["roles"])
        await #expect(throws: PubSubError.closed) { try await subscriber.publish("refresh", "x") }
        await #expect(throws: PubSubError.closed) { try await subscriber.subscribe("refresh") }
        await subscriber.close()
    }

    @Test func nodesLeaveTheBusOnCloseAndWhenDropped() async throws {
        let bus = MemoryPubSubBus.shared(in: backend)
        let kept = node("kept")
        let closed = node("closed")
        var orphan: PubSubSubscription?
        do {
            let dropped = node("dropped")
            orphan = try await dropped.subscribe("c")
            #expect(bus.memberCount(appName: "app") == 3)
        }
        #expect(bus.memberCount(appName: "app") == 2)
        #expect(orphan?.isCancelled == true, "dropping a node ends its subscriptions (a reader must not wait forever)")
        await closed.close()
        #expect(bus.memberCount(appName: "app") == 1)
        await kept.close()
        #expect(bus.memberCount(appName: "app") == 0)
    }

    @Test func appsAreSeparateOnOneBackendAndBackendsAreSeparateClusters() async throws {
        let (a, b, p) = (node("a", app: "one"), node("b", app: "two"), node("p", app: "one"))
        let inApp = try await a.subscribe("c")
        let inOtherApp = try await b.subscribe("c")
        let otherBackend = MemoryPubSub(backend: MemoryBackend(), appName: "one", nodeID: NodeID("c"), clock: clock)
        let inOtherBackend = try await otherBackend.subscribe("c")
        try await p.publish("c", "hello")
        #expect(await drain(inApp) == ["hello"])
        #expect(await drain(inOtherApp) == [])
        #expect(await drain(inOtherBackend) == [])
    }

    @Test func registrationBuildsANodeOnTheContextsBackend() async throws {
        var registry = AdapterRegistry()
        registry.registerMemoryPubSub()
        #expect(registry.names(for: .pubsub) == ["memory"])
        #expect(try registry.registration(for: .pubsub, named: "memory", variable: "PUBSUB_ADAPTER").isNetworked == false)

        let configuration = try ClusterConfiguration(values: ["APP_NAME": "registered"])
        func context(_ id: String) -> AdapterContext {
            AdapterContext(primitive: .pubsub, adapterName: "memory", nodeID: NodeID(id), configuration: configuration,
                           url: nil, memory: backend, logger: Logger(label: "test"))
        }
        let first = try await registry.makePubSub(context("one"))
        let second = try await registry.makePubSub(context("two"))
        #expect(first.nodeID == NodeID("one"))
        #expect(first.capabilities.isEmpty)
        let subscription = try await second.subscribe("registered")
        try await first.publish("registered", "hi")
        #expect(await drain(subscription) == ["hi"])
        let direct = MemoryPubSub(backend: backend, appName: "registered")
        let directSubscription = try await direct.subscribe("registered")
        try await first.publish("registered", "also")
        #expect(await drain(directSubscription) == ["also"])
        await first.close()
        await second.close()
    }
}
