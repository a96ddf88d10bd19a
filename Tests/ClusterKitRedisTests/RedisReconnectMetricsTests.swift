import ClusterKit
import ClusterKitRedis
import ClusterKitRedisTesting
import MetricsTestKit
import Testing

@Suite("Redis reconnect metrics", .serialized)
struct RedisReconnectMetricsTests {
    /// A cluster whose cache is on Redis counts its connection's reconnect after a server
    /// restart under `clusterkit_connection_reconnects{primitive=cache, adapter=redis}`, in
    /// the factory its `Observability` names (no global bootstrap).
    @Test func aServerRestartCountsOneReconnectPerConnection() async throws {
        let server = try await RedisServer.start()
        defer { Task { await server.stop() } }
        let metrics = TestMetrics()
        var registry = AdapterRegistry.builtIn
        registry.registerRedisAdapters()
        let configuration = try ClusterConfiguration(values: [
            "APP_NAME": "reconnects", "CACHE_DEFAULT_STORE": "redis", "REDIS_URL": server.url(query: "pool_size=1"),
        ])
        let cluster = try await Cluster(configuration: configuration, registry: registry,
                                        options: .init(observability: Observability(metricsFactory: metrics)))
        let cache = try cluster.cache("users")
        try await cache.set("a", "Ada")
        let reconnects = [("primitive", "cache"), ("adapter", "redis")]
        #expect(metrics.counterTotal(label: ClusterMetricNames.connectionReconnects, dimensions: reconnects) == 0,
                "the first connect is not a reconnect")

        try await server.kill()
        try await server.restart()
        let value = try await eventuallySucceeds { try await cache.get("a", as: String.self) }
        #expect(value == nil, "the server restarted without persistence")
        #expect(metrics.counterTotal(label: ClusterMetricNames.connectionReconnects, dimensions: reconnects) == 1)
        // The failed commands while it was down are cache errors, counted per operation.
        #expect(metrics.counterTotal(label: ClusterMetricNames.cacheErrors) >= 1)
        await cluster.shutdown()
    }
}
