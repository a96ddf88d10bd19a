import ClusterKit
import ClusterKitConformance
import InMemoryTracing
import MetricsTestKit
import Testing

/// The decorators change no semantics: every conformance suite passes through them, on the
/// memory adapters, with metrics and a tracer attached.
@Suite("Conformance through the instrumenting decorators", .serialized)
struct InstrumentedConformanceTests {
    static let observability = Observability(metricsFactory: TestMetrics(), tracer: InMemoryTracer())

    /// Runs case `name` of `suite` against decorated memory nodes sharing one fresh backend.
    private func expectPasses<Adapter: Sendable>(
        _ suite: ConformanceSuite<Adapter>, _ name: String, capabilities: Set<String> = [],
        _ makeNode: @escaping @Sendable (MemoryBackend, ConformanceNodeOptions) -> Adapter
    ) async {
        let backend = MemoryBackend()
        let target = ConformanceTarget<Adapter>(label: "instrumented memory", capabilities: capabilities) { makeNode(backend, $0) }
        expectPassed(await suite.run(caseNamed: name, against: target))
    }

    @Test(arguments: CacheConformance.suite.caseNames)
    func cache(_ name: String) async {
        // The memory store trivially meets "two-level" (see MemoryCacheConformanceTests).
        await expectPasses(CacheConformance.suite, name, capabilities: ["two-level"]) { backend, options in
            InstrumentedCacheStore(MemoryCacheStore(backend: backend, appName: options.appName, nodeID: options.nodeID),
                                   adapter: "memory", observability: Self.observability)
        }
    }

    @Test(arguments: QueueConformance.suite.caseNames)
    func queue(_ name: String) async {
        await expectPasses(QueueConformance.suite, name) { backend, options in
            InstrumentedMessageQueue(MemoryMessageQueue(backend: backend, appName: options.appName, nodeID: options.nodeID),
                                     adapter: "memory", observability: Self.observability)
        }
    }

    @Test(arguments: PubSubConformance.suite.caseNames)
    func pubsub(_ name: String) async {
        await expectPasses(PubSubConformance.suite, name) { backend, options in
            InstrumentedPubSub(MemoryPubSub(backend: backend, appName: options.appName, nodeID: options.nodeID),
                               adapter: "memory", observability: Self.observability)
        }
    }

    @Test(arguments: LockConformance.suite.caseNames)
    func lock(_ name: String) async {
        await expectPasses(LockConformance.suite, name) { backend, options in
            InstrumentedDistributedLock(MemoryLock(backend: backend, appName: options.appName, nodeID: options.nodeID),
                                        adapter: "memory", observability: Self.observability)
        }
    }

    @Test(arguments: WorkerIDConformance.suite.caseNames)
    func workerID(_ name: String) async {
        await expectPasses(WorkerIDConformance.suite, name) { backend, options in
            InstrumentedWorkerIDAllocator(
                MemoryWorkerIDAllocator(backend: backend, appName: options.appName, nodeID: options.nodeID,
                                        configuration: .init(maximumWorkerID: 31, leaseTTL: .milliseconds(400))),
                adapter: "memory", observability: Self.observability)
        }
    }
}
