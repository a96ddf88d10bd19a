import ClusterKit
import MetricsTestKit

/// A memory cluster whose metrics go to `metrics` (injected, never bootstrapped globally,
/// so suites running in parallel do not see each other's counts).
func makeObservedCluster(_ metrics: TestMetrics, observability: Observability? = nil, appName: String = "obs") async throws -> Cluster {
    let configuration = try ClusterConfiguration(values: ["APP_NAME": appName])
    let options = Cluster.Configuration(drainTimeout: .seconds(2),
                                        observability: observability ?? Observability(metricsFactory: metrics))
    return try await Cluster(configuration: configuration, options: options)
}

/// The total of counter `label` with these dimensions (0 when it was never made).
func total(_ metrics: TestMetrics, _ label: String, _ dimensions: [(String, String)]) -> Int64 {
    metrics.counterTotal(label: label, dimensions: dimensions)
}

/// `primitive`, `adapter` (and `name`) dimensions as ClusterKit sets them.
func dimensions(_ primitive: Primitive, adapter: String = "memory", name: String? = nil) -> [(String, String)] {
    var dimensions = [("primitive", primitive.rawValue), ("adapter", adapter)]
    if let name { dimensions.append(("name", name)) }
    return dimensions
}

/// Polls `condition` every 10 ms for up to `timeout`; returns whether it became true.
func eventually(within timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}
