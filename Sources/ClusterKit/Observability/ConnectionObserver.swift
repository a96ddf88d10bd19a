import CoreMetrics
import Logging
import Synchronization

/// The hook by which a backend connection reports reconnects
/// (`clusterkit_connection_reconnects`), for any adapter, first- or third-party.
///
/// A connection object creates one observer when it is created and calls
/// ``connected(logger:)`` each time it establishes a connection; every call after the
/// first counts as a reconnect. The dimensions are `adapter` (given here) and `primitive`,
/// read from the `primitive` metadata of the logger the adapter was given
/// (``AdapterContext/logger`` carries it), `unknown` when absent.
///
/// The metrics factory is taken, when the observer is created, from the task-local
/// ``metricsFactory`` — which `Cluster` binds to its ``Observability`` while it builds
/// adapters, and the instrumenting decorators bind around calls that may open connections
/// (`subscribe`, `receive`, `consume`) — or else from `MetricsSystem.factory`.
public final class ConnectionObserver: Sendable {
    /// The factory observers created in this task report to; `nil` = `MetricsSystem.factory`.
    @TaskLocal public static var metricsFactory: (any MetricsFactory)?

    private let adapter: String
    private let factory: any MetricsFactory
    private let hasConnected = Atomic<Bool>(false)
    private let reconnects = Mutex<Counter?>(nil)

    /// - Parameter adapter: the adapter name (`redis`, `rabbitmq`), the `adapter` dimension.
    public init(adapter: String) {
        self.adapter = adapter
        self.factory = Self.metricsFactory ?? MetricsSystem.factory
    }

    /// Records that a connection was established; from the second call on, counts a
    /// reconnect. Cheap; call it once per established connection, not per command.
    public func connected(logger: Logger) {
        guard hasConnected.exchange(true, ordering: .relaxed) else { return }
        let counter = reconnects.withLock { counter in
            if let counter { return counter }
            let primitive = logger[metadataKey: ClusterMetricNames.Dimension.primitive].map { "\($0)" } ?? "unknown"
            let made = Counter(label: ClusterMetricNames.connectionReconnects,
                               dimensions: [(ClusterMetricNames.Dimension.primitive, primitive),
                                            (ClusterMetricNames.Dimension.adapter, adapter)],
                               factory: factory)
            counter = made
            return made
        }
        counter.increment()
    }
}
