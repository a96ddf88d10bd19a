import ClusterKit
import InMemoryTracing
import MetricsTestKit
import Testing
import Tracing

@Suite("Tracing")
struct TracingTests {
    @Test func adapterOperationsAreSpansWithTheirDimensions() async throws {
        let tracer = InMemoryTracer()
        let store = InstrumentedCacheStore(MemoryCacheStore(backend: MemoryBackend(), appName: "obs"), adapter: "memory",
                                           observability: Observability(metricsFactory: TestMetrics(), tracer: tracer))
        _ = try await store.get("users", "a")
        await store.close()
        await #expect(throws: CacheError.self) { try await store.set("users", "a", [1], ttl: nil) }

        let spans = tracer.finishedSpans
        #expect(spans.map(\.operationName) == ["cache.get", "cache.set"])
        let get = try #require(spans.first)
        #expect(get.attributes["clusterkit.primitive"]?.toSpanAttribute() == "cache")
        #expect(get.attributes["clusterkit.adapter"]?.toSpanAttribute() == "memory")
        #expect(get.attributes["clusterkit.name"]?.toSpanAttribute() == "users")
        #expect(spans.last?.errors.count == 1, "a thrown error is recorded on its span")
    }

    @Test func noSpansWithoutATracer() {
        #expect(Observability().resolvedTracer == nil, "nothing is bootstrapped in tests: the NoOpTracer turns spans off")
        #expect(Observability(tracer: NoOpTracer()).resolvedTracer == nil)
        #expect(Observability(isEnabled: false, tracer: InMemoryTracer()).resolvedTracer == nil)
        #expect(Observability(tracer: InMemoryTracer()).resolvedTracer != nil)
    }

    @Test func adaptersStayBareWhenNothingListens() {
        #expect(!Observability().wrapsAdapters, "no metrics backend and no tracer bootstrapped in tests")
        #expect(!Observability.disabled.wrapsAdapters)
        #expect(Observability(metricsFactory: TestMetrics()).wrapsAdapters)
        #expect(Observability(tracer: InMemoryTracer()).wrapsAdapters)
        #expect(!Observability(isEnabled: false, metricsFactory: TestMetrics(), tracer: InMemoryTracer()).wrapsAdapters)
        let store = MemoryCacheStore(backend: MemoryBackend(), appName: "obs")
        #expect(Observability().instrument(store, adapter: "memory") is MemoryCacheStore<ContinuousClock>)
        #expect(Observability(metricsFactory: TestMetrics()).instrument(store, adapter: "memory") is InstrumentedCacheStore)
    }
}
