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

    @Test(arguments: CacheConformance.suite.caseNames)
    func cache(_ name: String) async {
        let backend = MemoryBackend()
        // The memory store trivially meets "two-level" (see MemoryCacheConformanceTests).
        let target = ConformanceTarget<any CacheStore>(label: "instrumented memory", capabilities: ["two-level"]) { options in
            InstrumentedCacheStore(MemoryCacheStore(backend: backend, appName: options.appName, nodeID: options.nodeID),
                                   adapter: "memory", observability: Self.observability)
        }
        expectPassed(await CacheConformance.suite.run(caseNamed: name, against: target))
    }

    @Test(arguments: QueueConformance.suite.caseNames)
    func queue(_ name: String) async {
        let backend = MemoryBackend()
        let target = ConformanceTarget<any MessageQueue>(label: "instrumented memory") { options in
            InstrumentedMessageQueue(MemoryMessageQueue(backend: backend, appName: options.appName, nodeID: options.nodeID),
                                     adapter: "memory", observability: Self.observability)
        }
        expectPassed(await QueueConformance.suite.run(caseNamed: name, against: target))
    }

    @Test(arguments: PubSubConformance.suite.caseNames)
    func pubsub(_ name: String) async {
        let backend = MemoryBackend()
        let target = ConformanceTarget<any PubSub>(label: "instrumented memory") { options in
            InstrumentedPubSub(MemoryPubSub(backend: backend, appName: options.appName, nodeID: options.nodeID),
                               adapter: "memory", observability: Self.observability)
        }
        expectPassed(await PubSubConformance.suite.run(caseNamed: name, against: target))
    }

    @Test(arguments: LockConformance.suite.caseNames)
    func lock(_ name: String) async {
        let backend = MemoryBackend()
        let target = ConformanceTarget<any DistributedLock>(label: "instrumented memory") { options in
            InstrumentedDistributedLock(MemoryLock(backend: backend, appName: options.appName, nodeID: options.nodeID),
                                        adapter: "memory", observability: Self.observability)
        }
        expectPassed(await LockConformance.suite.run(caseNamed: name, against: target))
    }

    @Test(arguments: WorkerIDConformance.suite.caseNames)
    func workerID(_ name: String) async {
        let backend = MemoryBackend()
        let target = ConformanceTarget<any WorkerIDAllocator>(label: "instrumented memory") { options in
            InstrumentedWorkerIDAllocator(
                MemoryWorkerIDAllocator(backend: backend, appName: options.appName, nodeID: options.nodeID,
                                        configuration: .init(maximumWorkerID: 31, leaseTTL: .milliseconds(400))),
                adapter: "memory", observability: Self.observability)
        }
        expectPassed(await WorkerIDConformance.suite.run(caseNamed: name, against: target))
    }
}
