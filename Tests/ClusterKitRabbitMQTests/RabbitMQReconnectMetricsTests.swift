import ClusterKit
import ClusterKitRabbitMQ
import ClusterKitRabbitMQTesting
import MetricsTestKit
import Synchronization
import Testing

@Suite("RabbitMQ reconnect metrics", .serialized)
struct RabbitMQReconnectMetricsTests {
    /// When the broker drops every connection, the cluster's publisher and its consumer's
    /// connection reconnect, and each reconnect is counted under
    /// `clusterkit_connection_reconnects{primitive=queue, adapter=rabbitmq}` in the factory its
    /// `Observability` names — the consumer's connection too, although it is opened by
    /// `consume`, after the cluster was built.
    @Test func connectionsClosedByTheBrokerCountAsReconnects() async throws {
        let broker = try await RabbitMQBroker.shared()
        let metrics = TestMetrics()
        var registry = AdapterRegistry.builtIn
        registry.registerRabbitMQAdapters()
        let configuration = try ClusterConfiguration(values: [
            "APP_NAME": "reconnects-\(UInt32.random(in: 0 ... .max))", "QUEUE_ADAPTER": "rabbitmq",
            "QUEUE_ADAPTER_RABBITMQ_URL": broker.url(),
        ])
        let cluster = try await Cluster(configuration: configuration, registry: registry,
                                        options: .init(drainTimeout: .seconds(2), observability: Observability(metricsFactory: metrics)))
        let handled = Mutex<[String]>([])
        let consumer = try await cluster.queue.consume("jobs") { message in handled.withLock { $0.append(message.text) } }
        try await cluster.queue.publish("jobs", Array("before".utf8))
        let reconnects = [("primitive", "queue"), ("adapter", "rabbitmq")]
        #expect(await waitUntil { handled.withLock { $0 } == ["before"] })
        #expect(metrics.counterTotal(label: ClusterMetricNames.connectionReconnects, dimensions: reconnects) == 0,
                "first connects are not reconnects")

        try broker.closeAllConnections()
        // The publish retries through the publisher's reconnect; the consumer reconnects on its own.
        try await cluster.queue.publish("jobs", Array("after".utf8), options: .init(maxAttempts: 5))
        #expect(await waitUntil { handled.withLock { $0.contains("after") } })
        #expect(await waitUntil {
            metrics.counterTotal(label: ClusterMetricNames.connectionReconnects, dimensions: reconnects) >= 2
        }, "the publisher and the consumer connection each reconnect once: \(metrics.counters(label: ClusterMetricNames.connectionReconnects).map { "\($0.dimensions) \($0.totalValue)" })")
        await consumer.stop(drainTimeout: .seconds(2))
        await cluster.shutdown()
    }

    private func waitUntil(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}
