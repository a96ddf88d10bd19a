import CoreMetrics
import Synchronization

/// A ``PubSub`` that reports published, delivered and dropped messages per channel and
/// traces publish and subscribe, then does exactly what the wrapped adapter does.
///
/// Each subscription it returns is fed from the wrapped adapter's subscription by a small
/// forwarding task (to count deliveries) and has the buffer size asked for: a reader too
/// slow for the buffer loses the oldest messages as before, counted in
/// ``PubSubSubscription/droppedCount`` and in `clusterkit_pubsub_dropped`. Cancelling it
/// cancels the wrapped subscription; when the wrapped one ends (its adapter closed), it ends
/// too. ``close()`` cancels every subscription it returned before closing the adapter.
public final class InstrumentedPubSub: PubSub {
    /// The wrapped adapter.
    public let base: any PubSub
    private let scope: InstrumentationScope
    private let metrics: MetricsByName<ChannelMetrics>
    private let subscriptions = Mutex<[ObjectIdentifier: PubSubSubscription]>([:])

    struct ChannelMetrics: Sendable {
        let published: Counter
        let delivered: Counter
        let dropped: Counter
    }

    /// - Parameter adapter: the adapter's registered name, the `adapter` dimension.
    public init(_ base: any PubSub, adapter: String, observability: Observability = .init()) {
        self.base = base
        let scope = InstrumentationScope(.pubsub, adapter: adapter, observability: observability,
                                         errorsLabel: ClusterMetricNames.pubsubErrors)
        self.scope = scope
        self.metrics = MetricsByName { name in
            ChannelMetrics(published: scope.counter(ClusterMetricNames.pubsubPublished, name: name),
                           delivered: scope.counter(ClusterMetricNames.pubsubDelivered, name: name),
                           dropped: scope.counter(ClusterMetricNames.pubsubDropped, name: name))
        }
    }

    public var nodeID: NodeID { base.nodeID }
    public var capabilities: PubSubCapabilities { base.capabilities }

    public func publish(_ channel: String, _ payload: [UInt8], options: PubSubPublishOptions) async throws {
        try await scope.traced("publish", name: channel) {
            try await base.publish(channel, payload, options: options)
            metrics[channel].published.increment()
        }
    }

    public func subscribe(_ channel: String, options: PubSubSubscribeOptions) async throws -> PubSubSubscription {
        let inner = try await scope.traced("subscribe", name: channel) {
            try await ConnectionObserver.$metricsFactory.withValue(scope.factory) {
                // The forwarder empties the wrapped subscription as fast as it fills, so its
                // buffer is unbounded: drops happen only in the returned subscription, with
                // the caller's buffer size, where they are counted.
                var unbounded = options
                unbounded.bufferSize = .max
                return try await base.subscribe(channel, options: unbounded)
            }
        }
        return forward(inner, bufferSize: options.bufferSize, metrics: metrics[channel])
    }

    public func checkHealth() async throws {
        try await scope.traced("checkHealth") { try await base.checkHealth() }
    }

    public func close() async {
        let open = subscriptions.withLock { subscriptions in
            defer { subscriptions.removeAll() }
            return Array(subscriptions.values)
        }
        for subscription in open { subscription.cancel() }
        await base.close()
    }

    /// A subscription fed by `inner`, counting each hand-over.
    private func forward(_ inner: PubSubSubscription, bufferSize: Int, metrics: ChannelMetrics) -> PubSubSubscription {
        let outer = PubSubSubscription(channel: inner.channel, bufferSize: bufferSize) { inner.cancel() }
        let id = ObjectIdentifier(outer)
        subscriptions.withLock { $0[id] = outer }
        Task {
            for await message in inner {
                // Only this task delivers to `outer`, so a change of droppedCount across the
                // call is this message's doing.
                let droppedBefore = outer.droppedCount
                guard outer.deliver(message) else { break }
                metrics.delivered.increment()
                if outer.droppedCount > droppedBefore { metrics.dropped.increment() }
            }
            inner.cancel()
            outer.cancel()
            self.subscriptions.withLock { _ = $0.removeValue(forKey: id) }
        }
        return outer
    }
}
