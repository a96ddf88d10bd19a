import Logging
import ServiceLifecycle
import Synchronization

/// One node of a cluster: the five primitives, built from configuration.
///
/// ```swift
/// var registry = AdapterRegistry.builtIn          // memory adapters
/// // registry.registerRedisAdapters()             // from ClusterKitRedis, when linked
/// let configuration = try await ClusterConfiguration.fromEnvironment()
/// let cluster = try await Cluster(configuration: configuration, registry: registry)
/// let users = try cluster.cache("users")
/// let id = try await cluster.ids.next()
/// ```
///
/// ## Lifecycle
/// - `init` resolves every adapter first (a typo or malformed URL fails before anything
///   connects), logs the chosen adapters once, builds them, and leases a worker ID, so IDs
///   can be issued as soon as it returns. If any step fails, what was built is closed.
/// - ``run()`` (a swift-service-lifecycle `Service`) owns the background work: it renews the
///   worker-ID lease until graceful shutdown, then calls ``shutdown()``.
/// - ``shutdown()`` drains queue consumers (``Configuration/drainTimeout``), closes
///   subscriptions, releases the worker-ID lease and closes every connection. Idempotent.
public final class Cluster: Service, Sendable {
    /// Options that are not environment variables.
    public struct Configuration: Sendable {
        /// How long graceful shutdown waits for running queue handlers.
        public var drainTimeout: Duration
        /// The snowflake layout of ``Cluster/ids``.
        public var snowflakeLayout: SnowflakeLayout
        /// Metrics and tracing of the adapters (on by default, to the global factory and tracer).
        public var observability: Observability

        public init(drainTimeout: Duration = .seconds(10), snowflakeLayout: SnowflakeLayout = .nocobase,
                    observability: Observability = .init()) {
            self.drainTimeout = drainTimeout
            self.snowflakeLayout = snowflakeLayout
            self.observability = observability
        }
    }

    /// This node's identity (pub/sub publisher ID, queue consumer name).
    public let nodeID: NodeID
    /// The settings it was built from.
    public let configuration: ClusterConfiguration
    /// The adapter chosen for each primitive, with its (redacted-on-print) URL.
    public let adapters: [Primitive: ResolvedAdapter]
    /// Named caches over the selected cache store.
    public let caches: CacheManager
    /// Cluster sync signals.
    public let pubsub: any PubSub
    /// The shared work queue.
    public let queue: any MessageQueue
    /// Distributed locks.
    public let lock: any DistributedLock
    /// The worker-ID allocator (``workerIDLease`` holds this node's lease).
    public let workerIDAllocator: any WorkerIDAllocator
    /// This node's worker-ID lease, renewed by ``run()``.
    public let workerIDLease: WorkerIDLease
    /// Snowflake IDs under this node's worker ID; refuses to issue while no lease is held.
    public let ids: SnowflakeGenerator

    private let options: Configuration
    private let logger: Logger
    private let isShutDown = Mutex(false)

    /// Builds a node. See the type's documentation for what happens, in order.
    ///
    /// - Parameters:
    ///   - memory: the in-process backend of the memory adapters; nodes given the same
    ///     instance form one in-process cluster (tests, the demo). Ignored by networked
    ///     adapters.
    public init(
        configuration: ClusterConfiguration,
        registry: AdapterRegistry = .builtIn,
        options: Configuration = .init(),
        nodeID: NodeID? = nil,
        memory: MemoryBackend = MemoryBackend(),
        logger: Logger = Logger(label: "clusterkit")
    ) async throws {
        let nodeID = nodeID ?? configuration.nodeID ?? NodeID.generate()
        var logger = logger
        logger[metadataKey: "node"] = "\(nodeID)"
        // The worker ID this node holds when a message is logged (adapters get it too).
        let workerIDLogValue = WorkerIDLogValue()
        logger[metadataKey: "worker"] = .stringConvertible(workerIDLogValue)
        self.nodeID = nodeID
        self.configuration = configuration
        self.options = options

        var resolved: [Primitive: ResolvedAdapter] = [:]
        for primitive in Primitive.allCases {
            resolved[primitive] = try configuration.resolve(primitive, in: registry)
        }
        self.adapters = resolved
        Self.logChoice(resolved, logger: logger)

        func context(_ primitive: Primitive) -> AdapterContext {
            let adapter = resolved[primitive]!
            return AdapterContext(primitive: primitive, adapterName: adapter.name, nodeID: nodeID, configuration: configuration,
                                  url: adapter.url, memory: memory, logger: logger)
        }
        let observability = options.observability
        /// Builds an adapter with connections reporting reconnects to `observability`.
        func build<Adapter>(_ make: () async throws -> Adapter) async throws -> Adapter {
            try await ConnectionObserver.$metricsFactory.withValue(observability.resolvedMetricsFactory) { try await make() }
        }
        var built: [any ClusterAdapter] = []
        do {
            let cache = observability.instrument(try await build { try await registry.makeCache(context(.cache)) },
                                                 adapter: resolved[.cache]!.name)
            built.append(cache)
            let pubsub = observability.instrument(try await build { try await registry.makePubSub(context(.pubsub)) },
                                                  adapter: resolved[.pubsub]!.name)
            built.append(pubsub)
            let queue = observability.instrument(try await build { try await registry.makeQueue(context(.queue)) },
                                                 adapter: resolved[.queue]!.name)
            built.append(queue)
            let lock = observability.instrument(try await build { try await registry.makeLock(context(.lock)) },
                                                adapter: resolved[.lock]!.name)
            built.append(lock)
            let allocatorName = resolved[.workerID]!.name
            let allocator = observability.instrument(try await build { try await registry.makeWorkerIDAllocator(context(.workerID)) },
                                                     adapter: allocatorName)
            built.append(allocator)

            guard options.snowflakeLayout.canEncode(workerIDs: allocator.range) else {
                throw ConfigurationError(code: .invalidValue, message: "\(ClusterSettings.workerIDMax.name)=\(allocator.range.upperBound) does not fit the snowflake layout (\(options.snowflakeLayout)): its largest worker ID is \(options.snowflakeLayout.maximumWorkerID)")
            }
            var leaseLogger = logger
            leaseLogger[metadataKey: "primitive"] = "workerid"
            leaseLogger[metadataKey: "adapter"] = "\(allocatorName)"
            let lease = WorkerIDLease(allocator: allocator, logger: leaseLogger,
                                      metrics: WorkerIDLeaseMetrics(adapter: allocatorName, observability: observability))
            workerIDLogValue.attach(lease)
            _ = try await lease.acquire()

            self.caches = CacheManager(store: cache)
            self.pubsub = pubsub
            self.queue = queue
            self.lock = lock
            self.workerIDAllocator = allocator
            self.workerIDLease = lease
            self.ids = SnowflakeGenerator(layout: options.snowflakeLayout, lease: lease)
            self.logger = logger
        } catch {
            for adapter in built.reversed() { await adapter.close() }
            throw error
        }
    }

    /// The cache called `name` (`[A-Za-z0-9_.-]+`).
    public func cache(_ name: String) throws(CacheError) -> Cache {
        try caches.cache(name)
    }

    /// The worker ID this node holds now, or `nil` while it has none (lost, released).
    public var workerID: Int? { workerIDLease.workerID }

    /// Renews the worker-ID lease until graceful shutdown (or cancellation), then shuts the
    /// node down.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await self.workerIDLease.maintain()
                } catch is CancellationError {
                } catch {
                    self.logger.error("worker-ID lease maintenance stopped", metadata: ["error": "\(error)"])
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        // Shut down in a task of its own: when run() was cancelled (a ServiceGroup whose
        // other service failed), a cancelled context must not cut the lease release and
        // the consumers' drain short.
        await Task { await self.shutdown() }.value
    }

    /// Drains consumers, closes subscriptions, releases the worker-ID lease and closes every
    /// adapter. Idempotent; later calls return at once.
    public func shutdown() async {
        let first = isShutDown.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        await queue.close(drainTimeout: options.drainTimeout)
        await pubsub.close()
        await workerIDLease.release()
        await lock.close()
        await caches.store.close()
        await workerIDAllocator.close()
        logger.debug("node shut down")
    }

    // MARK: Logging the choice once

    private static let warnedDefaults = Mutex<Set<String>>([])

    private static func logChoice(_ resolved: [Primitive: ResolvedAdapter], logger: Logger) {
        var metadata: Logger.Metadata = [:]
        for primitive in Primitive.allCases {
            guard let adapter = resolved[primitive] else { continue }
            metadata[primitive.rawValue] = "\(adapter.name)\(adapter.url.map { " \($0)" } ?? "")"
            if adapter.usesDefaultURL, let url = adapter.url {
                let variables = adapter.registration.urlName.map {
                    ClusterSettings.urlVariables(for: primitive, urlName: $0).joined(separator: " or ")
                } ?? ""
                let isNew = warnedDefaults.withLock { $0.insert("\(primitive):\(url)").inserted }
                if isNew {
                    logger.warning("no URL configured for \(primitive); using the default \(url) (set \(variables))")
                }
            }
        }
        logger.info("clusterkit adapters", metadata: metadata)
    }
}
