import ClusterKit
import Logging

/// Runs the conformance suites against the adapters a configuration selects, the way
/// `clusterkit conformance` does: each case gets fresh nodes built through the registry,
/// on one shared backend per suite, in a fresh app namespace.
///
/// Third-party adapter authors: register your adapter in a registry, select it in the
/// configuration (`CACHE_DEFAULT_STORE=yours`), and run this — or use
/// ``ConformanceTarget`` with the per-primitive suites directly.
public struct ConfiguredConformance: Sendable {
    public let configuration: ClusterConfiguration
    public let registry: AdapterRegistry
    public let logger: Logger

    /// The lease TTL given to worker-ID nodes, short so the expiry cases stay quick.
    public var workerIDLeaseTTL: Duration = .seconds(1)

    public init(configuration: ClusterConfiguration, registry: AdapterRegistry, logger: Logger = Logger(label: "clusterkit.conformance")) {
        self.configuration = configuration
        self.registry = registry
        self.logger = logger
    }

    /// Case names per primitive.
    public static func caseNames(for primitive: Primitive) -> [String] {
        switch primitive {
        case .cache: CacheConformance.suite.caseNames
        case .pubsub: PubSubConformance.suite.caseNames
        case .queue: QueueConformance.suite.caseNames
        case .lock: LockConformance.suite.caseNames
        case .workerID: WorkerIDConformance.suite.caseNames
        }
    }

    /// Checks that every selected adapter exists and its URL is well formed.
    public func validate(_ primitives: [Primitive]) throws(ConfigurationError) {
        for primitive in primitives { _ = try configuration.resolve(primitive, in: registry) }
    }

    /// Runs the suites of `primitives` in order (all cases, or only those named in `only`).
    public func run(
        _ primitives: [Primitive] = Primitive.allCases,
        only: Set<String>? = nil,
        progress: @escaping @Sendable (ConformanceResult) -> Void = { _ in }
    ) async throws(ConfigurationError) -> [ConformanceResult] {
        try validate(primitives)
        var results: [ConformanceResult] = []
        for primitive in primitives {
            let adapter = try configuration.resolve(primitive, in: registry)
            switch primitive {
            case .cache:
                results += await CacheConformance.suite.run(against: target(adapter) { try await $0.makeCache($1) }, only: only, progress: progress)
            case .pubsub:
                results += await PubSubConformance.suite.run(against: target(adapter) { try await $0.makePubSub($1) }, only: only, progress: progress)
            case .queue:
                results += await QueueConformance.suite.run(against: target(adapter) { try await $0.makeQueue($1) }, only: only, progress: progress)
            case .lock:
                results += await LockConformance.suite.run(against: target(adapter) { try await $0.makeLock($1) }, only: only, progress: progress)
            case .workerID:
                results += await WorkerIDConformance.suite.run(
                    against: target(adapter) { try await $0.makeWorkerIDAllocator($1) }, only: only, progress: progress)
            }
        }
        return results
    }

    /// A target whose nodes are built by the registry from this configuration, with the
    /// case's app name, on one memory backend per target.
    private func target<Adapter: Sendable>(
        _ adapter: ResolvedAdapter,
        make: @escaping @Sendable (AdapterRegistry, AdapterContext) async throws -> Adapter
    ) -> ConformanceTarget<Adapter> {
        let memory = MemoryBackend()
        let base = configuration
        let registry = registry
        let logger = logger
        let leaseTTL = workerIDLeaseTTL
        return ConformanceTarget(label: adapter.name, capabilities: adapter.registration.capabilities) { options in
            var configuration = base
            configuration.appName = options.appName
            configuration.workerIDLeaseTTL = leaseTTL
            let context = AdapterContext(primitive: adapter.primitive, adapterName: adapter.name, nodeID: options.nodeID,
                                         configuration: configuration, url: adapter.url, memory: memory, logger: logger)
            return try await make(registry, context)
        }
    }
}
