import ClusterKit
import MetricsTestKit
import Testing

@Suite("Pub/sub metrics")
struct PubSubMetricsTests {
    @Test func publishedDeliveredAndDropped() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics)
        let reader = try await cluster.pubsub.subscribe("changes")
        let slow = try await cluster.pubsub.subscribe("changes", options: .init(bufferSize: 1))
        for index in 0..<3 { try await cluster.pubsub.publish("changes", "m\(index)") }

        var received: [String] = []
        for await message in reader {
            received.append(message.text)
            if received.count == 3 { break }
        }
        #expect(received == ["m0", "m1", "m2"])
        let named = dimensions(.pubsub, name: "changes")
        #expect(total(metrics, ClusterMetricNames.pubsubPublished, named) == 3)
        // Each subscription got 3; the one nobody read kept only the newest.
        #expect(await eventually {
            total(metrics, ClusterMetricNames.pubsubDelivered, named) == 6 && total(metrics, ClusterMetricNames.pubsubDropped, named) == 2
        })
        #expect(slow.droppedCount == 2)
        var iterator = slow.makeAsyncIterator()
        #expect(await iterator.next()?.text == "m2")
        reader.cancel()
        slow.cancel()
        await cluster.shutdown()
    }

    @Test func closingTheAdapterEndsItsSubscriptions() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics)
        let subscription = try await cluster.pubsub.subscribe("changes")
        await cluster.shutdown()
        #expect(subscription.isCancelled)
        var iterator = subscription.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }
}
