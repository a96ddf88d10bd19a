import CoreMetrics

/// The counters a ``WorkerIDLease`` reports to: successful renewals and lost leases
/// (`clusterkit_workerid_renewals`, `clusterkit_workerid_losses`, dimensions `primitive`
/// = `workerid` and `adapter`).
public struct WorkerIDLeaseMetrics: Sendable {
    let renewals: Counter
    let losses: Counter

    /// - Parameter adapter: the allocator's registered name, the `adapter` dimension.
    public init(adapter: String, observability: Observability = .init()) {
        let dimensions = [(ClusterMetricNames.Dimension.primitive, Primitive.workerID.rawValue),
                          (ClusterMetricNames.Dimension.adapter, adapter)]
        let factory = observability.resolvedMetricsFactory
        self.renewals = Counter(label: ClusterMetricNames.workerIDRenewals, dimensions: dimensions, factory: factory)
        self.losses = Counter(label: ClusterMetricNames.workerIDLosses, dimensions: dimensions, factory: factory)
    }
}
