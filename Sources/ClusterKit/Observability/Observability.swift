import CoreMetrics
import Tracing

/// How a ``Cluster`` reports what its adapters do: swift-metrics counters and timers,
/// swift-distributed-tracing spans, and the reconnect counter of backend connections.
///
/// When enabled (the default), every adapter the cluster resolves is wrapped in an
/// instrumenting decorator (``InstrumentedCacheStore``, ``InstrumentedPubSub``,
/// ``InstrumentedMessageQueue``, ``InstrumentedDistributedLock``,
/// ``InstrumentedWorkerIDAllocator``), so every backend — third-party ones included — reports
/// the same metrics without code of its own. The decorators change no semantics: each call
/// goes to the adapter unchanged (the lock's ``InstrumentedDistributedLock/acquire(_:ttl:timeout:)``
/// tries once before waiting, to tell contention apart).
///
/// The metric names and dimensions are listed in ``ClusterMetricNames``.
///
/// ## Cost
/// With nothing bootstrapped (swift-metrics' no-op factory, `NoOpTracer`) the adapters are
/// not wrapped at all (``wrapsAdapters``). Otherwise metric objects are created once per
/// (primitive, name) and reused, and spans are only started when a real tracer is present.
/// `clusterkit-observability-bench` measures the decorator on a memory cache `get` loop.
public struct Observability: Sendable {
    /// Whether adapters are instrumented. `false` builds the bare adapters and sends the
    /// worker-ID lease and connection counters nowhere.
    public var isEnabled: Bool
    /// Where metrics go; `nil` means `MetricsSystem.factory` as bootstrapped when the cluster
    /// is built (a no-op factory when the app bootstrapped nothing).
    public var metricsFactory: (any MetricsFactory)?
    /// The tracer for spans; `nil` means `InstrumentationSystem.tracer` when the cluster is
    /// built. A `NoOpTracer` turns tracing off.
    public var tracer: (any Tracer)?

    public init(isEnabled: Bool = true, metricsFactory: (any MetricsFactory)? = nil, tracer: (any Tracer)? = nil) {
        self.isEnabled = isEnabled
        self.metricsFactory = metricsFactory
        self.tracer = tracer
    }

    /// No decorators, no metrics, no spans.
    public static let disabled = Observability(isEnabled: false)

    /// The factory metrics are created with: the configured one, the global one, or a no-op
    /// factory when disabled.
    public var resolvedMetricsFactory: any MetricsFactory {
        guard isEnabled else { return NOOPMetricsHandler.instance }
        return metricsFactory ?? MetricsSystem.factory
    }

    /// Whether ``instrument(_:adapter:)`` wraps adapters: enabled, and something listens —
    /// a metrics factory other than swift-metrics' no-op one, or a tracer. With nothing
    /// bootstrapped the adapters stay bare and cost nothing extra.
    public var wrapsAdapters: Bool {
        isEnabled && (!(resolvedMetricsFactory is NOOPMetricsHandler) || resolvedTracer != nil)
    }

    /// The tracer spans are started with, or `nil` when tracing is off (disabled, or a
    /// `NoOpTracer`).
    public var resolvedTracer: (any Tracer)? {
        guard isEnabled else { return nil }
        let tracer = self.tracer ?? InstrumentationSystem.tracer
        return tracer is NoOpTracer ? nil : tracer
    }
}
