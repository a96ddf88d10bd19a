import CoreMetrics
import Synchronization
import Tracing

/// What one decorator reports under: the primitive and adapter (the base dimensions), the
/// metrics factory and the tracer (`nil` = no spans). Shared by the five decorators.
struct InstrumentationScope: Sendable {
    let primitive: Primitive
    let adapter: String
    let factory: any MetricsFactory
    let tracer: (any Tracer)?
    let errorsLabel: String

    init(_ primitive: Primitive, adapter: String, observability: Observability, errorsLabel: String) {
        self.primitive = primitive
        self.adapter = adapter
        self.factory = observability.resolvedMetricsFactory
        self.tracer = observability.resolvedTracer
        self.errorsLabel = errorsLabel
    }

    /// `primitive`, `adapter` and, when given, `name`.
    func dimensions(name: String? = nil) -> [(String, String)] {
        var dimensions = [(ClusterMetricNames.Dimension.primitive, primitive.rawValue),
                          (ClusterMetricNames.Dimension.adapter, adapter)]
        if let name { dimensions.append((ClusterMetricNames.Dimension.name, name)) }
        return dimensions
    }

    func counter(_ label: String, name: String? = nil) -> Counter {
        Counter(label: label, dimensions: dimensions(name: name), factory: factory)
    }

    func timer(_ label: String, name: String? = nil) -> Timer {
        Timer(label: label, dimensions: dimensions(name: name), factory: factory)
    }

    /// Runs `body` inside a span `<primitive>.<operation>` (only when a tracer is set) and,
    /// when `countingErrors`, counts a thrown error (other than cancellation) under
    /// ``errorsLabel``.
    @inline(__always)
    func traced<T>(_ operation: String, name: String? = nil, countingErrors: Bool = true,
                   _ body: () async throws -> T) async throws -> T {
        do {
            guard let tracer else { return try await body() }
            return try await tracer.withSpan("\(primitive.rawValue).\(operation)", ofKind: .client) { span in
                span.attributes["clusterkit.primitive"] = primitive.rawValue
                span.attributes["clusterkit.adapter"] = adapter
                if let name { span.attributes["clusterkit.name"] = name }
                return try await body()
            }
        } catch {
            if countingErrors, !(error is CancellationError) { countError(operation, name: name) }
            throw error
        }
    }

    /// Errors are rare: their counter is made when needed (factories reuse handlers by
    /// label and dimensions).
    func countError(_ operation: String, name: String?) {
        var dimensions = dimensions(name: name)
        dimensions.append((ClusterMetricNames.Dimension.operation, operation))
        Counter(label: errorsLabel, dimensions: dimensions, factory: factory).increment()
    }
}

/// Metric objects per name (cache, channel, queue), made on first use and kept, so the hot
/// path costs a string comparison (the name used last) or one dictionary lookup instead of
/// a factory call.
final class MetricsByName<Metrics: Sendable>: Sendable {
    private struct Made {
        var last: (name: String, metrics: Metrics)?
        var all: [String: Metrics] = [:]
    }

    private let make: @Sendable (String) -> Metrics
    private let made = Mutex(Made())

    init(_ make: @escaping @Sendable (String) -> Metrics) {
        self.make = make
    }

    subscript(_ name: String) -> Metrics {
        made.withLock { made in
            if let last = made.last, last.name == name { return last.metrics }
            let metrics: Metrics
            if let existing = made.all[name] {
                metrics = existing
            } else {
                metrics = make(name)
                made.all[name] = metrics
            }
            made.last = (name, metrics)
            return metrics
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max`.
    var nanosecondsForMetrics: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled &+ attoseconds / 1_000_000_000
    }
}
