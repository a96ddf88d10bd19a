import ClusterKit
import ClusterKitConformance
import Synchronization
import Testing

/// The routing rules and bookkeeping a transport gets from the dispatcher.
@Suite("PubSubLocalDispatcher")
struct PubSubLocalDispatcherTests {
    let me = NodeID("me")
    let other = NodeID("other")

    func drain(_ subscription: PubSubSubscription) async -> [PubSubMessage] {
        subscription.cancel()
        var messages: [PubSubMessage] = []
        for await message in subscription { messages.append(message) }
        return messages
    }

    @Test func routingOptionsDecideWhichNodesReceive() async throws {
        let dispatcher = PubSubLocalDispatcher(nodeID: me, clock: ContinuousClock())
        let subscription = try dispatcher.subscribe("c", options: .init())
        #expect(dispatcher.dispatch(PubSubEnvelope(channel: "c", payload: [1], publisherID: me)) == 1)
        #expect(dispatcher.dispatch(PubSubEnvelope(channel: "c", payload: [2], publisherID: other)) == 1)
        #expect(dispatcher.dispatch(PubSubEnvelope(channel: "c", payload: [3], publisherID: me, skipSelf: true)) == 0)
        #expect(dispatcher.dispatch(PubSubEnvelope(channel: "c", payload: [4], publisherID: other, skipSelf: true)) == 1)
        #expect(dispatcher.dispatch(PubSubEnvelope(channel: "c", payload: [5], publisherID: me, onlySelf: true)) == 1)
        #expect(dispatcher.dispatch(PubSubEnvelope(channel: "c", payload: [6], publisherID: other, onlySelf: true)) == 0)
        #expect(dispatcher.dispatch(PubSubEnvelope(channel: "elsewhere", payload: [7], publisherID: me)) == 0)
        let messages = await drain(subscription)
        #expect(messages.map(\.payload) == [[1], [2], [4], [5]])
        #expect(messages.map(\.isFromSelf) == [true, false, false, true])
    }

    @Test func envelopeValidationRejectsBadChannelsAndConflictingOptions() {
        #expect(throws: PubSubError.conflictingOptions) {
            try PubSubEnvelope(validating: "c", payload: [], publisherID: me, options: .init(skipSelf: true, onlySelf: true))
        }
        #expect(throws: PubSubError.self) {
            try PubSubEnvelope(validating: "bad channel", payload: [], publisherID: me, options: .init())
        }
        #expect((try? PubSubEnvelope(validating: "ok", payload: [9], publisherID: me, options: .init(skipSelf: true)))?.skipSelf == true)
    }

    @Test func tracksChannelsAndReportsChanges() async throws {
        let changes = Mutex(0)
        let dispatcher = PubSubLocalDispatcher(nodeID: me, clock: ContinuousClock()) { changes.withLock { $0 += 1 } }
        let a1 = try dispatcher.subscribe("a", options: .init())
        let a2 = try dispatcher.subscribe("a", options: .init())
        let b = try dispatcher.subscribe("b", options: .init(debounce: .seconds(10)))
        #expect(dispatcher.subscribedChannels == ["a", "b"])
        #expect(dispatcher.subscriptionCount == 3)
        a1.cancel()
        #expect(dispatcher.subscribedChannels == ["a", "b"])
        a2.cancel()
        a2.cancel()
        #expect(dispatcher.subscribedChannels == ["b"])
        #expect(changes.withLock { $0 } == 5, "3 subscribes + 2 removals, the repeated cancel() is not a change")
        dispatcher.close()
        #expect(b.isCancelled)
        #expect(dispatcher.subscribedChannels.isEmpty)
        #expect(changes.withLock { $0 } == 6)
        #expect(throws: PubSubError.closed) { try dispatcher.subscribe("a", options: .init()) }
        #expect(dispatcher.dispatch(PubSubEnvelope(channel: "b", payload: [1], publisherID: me)) == 0)
        dispatcher.close()
        #expect(changes.withLock { $0 } == 6, "closing twice changes nothing")
    }

    @Test func stoppingTheReadingTaskCancelsTheSubscription() async throws {
        let dispatcher = PubSubLocalDispatcher(nodeID: me, clock: ContinuousClock())
        let subscription = try dispatcher.subscribe("c", options: .init())
        let reader = Task { for await _ in subscription {} }
        reader.cancel()
        await reader.value
        try await eventually("the subscription is cancelled with its reading task", timeout: .seconds(2)) {
            subscription.isCancelled && dispatcher.subscriptionCount == 0
        }
    }
}
