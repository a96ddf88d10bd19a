import ClusterKit
import MetricsTestKit
import Testing

@Suite("Cache metrics")
struct CacheMetricsTests {
    @Test func hitsAndMissesArePerCacheAndPerKey() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics)
        let users = try cluster.cache("users")
        let other = try cluster.cache("other")
        #expect(try await users.get("a", as: String.self) == nil)          // miss
        try await users.set("a", "Ada")
        #expect(try await users.get("a", as: String.self) == "Ada")        // hit
        _ = try await users.getMany(["a", "b", "c"], as: String.self)      // 1 hit, 2 misses
        #expect(try await users.wrap("d") { "computed" } == "computed")    // miss (then the flight's own miss)
        _ = try await other.get("x", as: String.self)                      // miss, in another cache

        let usersDimensions = dimensions(.cache, name: "users")
        #expect(total(metrics, ClusterMetricNames.cacheHits, usersDimensions) == 2)
        #expect(total(metrics, ClusterMetricNames.cacheMisses, usersDimensions) == 5)
        #expect(total(metrics, ClusterMetricNames.cacheHits, dimensions(.cache, name: "other")) == 0)
        #expect(total(metrics, ClusterMetricNames.cacheMisses, dimensions(.cache, name: "other")) == 1)
        await cluster.shutdown()
    }

    @Test func errorsAreCountedWithTheirOperation() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics)
        let users = try cluster.cache("users")
        await cluster.shutdown() // the store is closed: every operation throws
        await #expect(throws: CacheError.self) { _ = try await users.get("a", as: String.self) }
        await #expect(throws: CacheError.self) { try await users.set("a", "x") }
        let errors = dimensions(.cache, name: "users")
        #expect(total(metrics, ClusterMetricNames.cacheErrors, errors + [("operation", "get")]) == 1)
        #expect(total(metrics, ClusterMetricNames.cacheErrors, errors + [("operation", "set")]) == 1)
        #expect(total(metrics, ClusterMetricNames.cacheMisses, errors) == 0, "a failed get is neither hit nor miss")
    }

    @Test func disabledObservabilityLeavesTheAdaptersBare() async throws {
        let metrics = TestMetrics()
        let cluster = try await makeObservedCluster(metrics, observability: .disabled)
        #expect(!(cluster.caches.store is InstrumentedCacheStore))
        #expect(!(cluster.queue is InstrumentedMessageQueue))
        #expect(!(cluster.pubsub is InstrumentedPubSub))
        #expect(!(cluster.lock is InstrumentedDistributedLock))
        #expect(!(cluster.workerIDAllocator is InstrumentedWorkerIDAllocator))
        _ = try await cluster.cache("users").get("a", as: String.self)
        #expect(metrics.counters.isEmpty)
        await cluster.shutdown()

        let observed = try await makeObservedCluster(metrics)
        #expect(observed.caches.store is InstrumentedCacheStore)
        #expect(observed.queue is InstrumentedMessageQueue)
        await observed.shutdown()
    }
}
